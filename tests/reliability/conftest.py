"""Fault-injection scenarios: fixtures and the summary table printed after the run."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.reliability.harness import REPORT
from tests.support.worker import Names, WorkerProcess

REPORT_FILE = Path(__file__).resolve().parents[2] / ".cache" / "reliability-report.json"


@pytest.fixture
def names() -> Names:
    return Names.fresh("rel")


@pytest.fixture
def spawn(tmp_path: Path, names: Names) -> Iterator[Callable[..., WorkerProcess]]:
    """Start workers against a bootstrap; every one is stopped when the test ends."""
    started: list[WorkerProcess] = []

    def make(bootstrap: str, label: str = "w", **kwargs: Any) -> WorkerProcess:
        env = {"WIRE_SESSION_TIMEOUT_S": "10", **kwargs.pop("extra_env", {})}
        worker = WorkerProcess(
            bootstrap=bootstrap,
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


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not REPORT:
        return
    columns = list(dict.fromkeys(k for row in REPORT for k in row))
    widths = {c: max(len(c), *(len(str(row.get(c, ""))) for row in REPORT)) for c in columns}
    terminalreporter.section("reliability scenarios")
    terminalreporter.write_line("  ".join(c.ljust(widths[c]) for c in columns))
    for row in REPORT:
        terminalreporter.write_line(
            "  ".join(str(row.get(c, "")).ljust(widths[c]) for c in columns)
        )
    REPORT_FILE.parent.mkdir(parents=True, exist_ok=True)
    REPORT_FILE.write_text(json.dumps(REPORT, indent=2, ensure_ascii=False))
