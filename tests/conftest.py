"""Shared pytest fixtures."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.broker import LocalBroker, free_port
from tests.support.worker import Names, WorkerProcess


@pytest.fixture(scope="session")
def local_broker() -> Iterator[LocalBroker | None]:
    """The session's own Kafka broker, or None when ``KAFKA_BOOTSTRAP`` names an external one.

    Started only when a test first asks for it (directly or through ``kafka_bootstrap``), on a
    free loopback port with a fresh data dir; stopped and its data removed at session end,
    whatever the test outcomes. Tests that stop or kill it must ``start()`` it again before
    they finish: ``start()`` is idempotent and comes back on the same data after
    ``stop(keep_data=True)`` or ``kill()``.
    """
    if os.environ.get("KAFKA_BOOTSTRAP"):
        yield None
        return
    broker = LocalBroker(free_port())
    try:
        broker.stop()  # drop data a crashed earlier session may have left for this port
        broker.start()
        yield broker
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def kafka_bootstrap(local_broker: LocalBroker | None) -> str:
    """Bootstrap address of the broker under test: ``$KAFKA_BOOTSTRAP`` or the local broker."""
    if local_broker is None:
        return os.environ["KAFKA_BOOTSTRAP"]
    return local_broker.bootstrap


@pytest.fixture
def names() -> Names:
    """This test's private app id and topic names."""
    return Names.fresh()


@pytest.fixture
def spawn(
    request: pytest.FixtureRequest, names: Names, tmp_path: Path
) -> Iterator[Callable[..., WorkerProcess]]:
    """Make worker processes of this test's app; all are stopped (or killed) at the end.

    ``spawn(label="w", bootstrap=None, **kwargs)``: the bootstrap defaults to the session's
    broker; ``kwargs`` go to :class:`WorkerProcess` (``extra_env`` is merged over a 10 s
    consumer-group session timeout, so a killed worker's partitions move on quickly).
    """
    started: list[WorkerProcess] = []

    def make(label: str = "w", bootstrap: str | None = None, **kwargs: Any) -> WorkerProcess:
        env = {"WIRE_SESSION_TIMEOUT_S": "10", **kwargs.pop("extra_env", {})}
        worker = WorkerProcess(
            bootstrap=bootstrap or request.getfixturevalue("kafka_bootstrap"),
            names=names,
            state_dir=tmp_path / f"state-{label}",
            log_path=tmp_path / f"worker-{label}.log",
            extra_env=env,
            **kwargs,
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
