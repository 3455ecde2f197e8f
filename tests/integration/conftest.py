"""Fixtures for tests against the real broker: private topic names and worker processes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.worker import Names, WorkerProcess

WorkerFactory = Callable[..., WorkerProcess]


@pytest.fixture
def names() -> Names:
    return Names.fresh()


@pytest.fixture
def worker_factory(kafka_bootstrap: str, names: Names, tmp_path: Path) -> Iterator[WorkerFactory]:
    """Start workers of this test's app; all are stopped (or killed) when the test ends."""
    started: list[WorkerProcess] = []

    def make(label: str = "w", **kwargs: object) -> WorkerProcess:
        worker = WorkerProcess(
            bootstrap=kafka_bootstrap,
            names=names,
            state_dir=tmp_path / f"state-{label}",
            log_path=tmp_path / f"worker-{label}.log",
            **kwargs,  # type: ignore[arg-type]
        )
        started.append(worker)
        return worker

    yield make
    for worker in started:
        if worker.alive():
            try:
                worker.stop(timeout=20)
            except AssertionError:
                worker.kill()
