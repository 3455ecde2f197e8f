"""A real worker on the session's broker, with a little traffic, for the metrics checks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.kafka_io import produce
from tests.support.waiting import wait_until
from tests.support.worker import Names, WorkerProcess

SEEDS = Path(__file__).resolve().parents[2] / "seeds"
PARTITIONS = 4


@pytest.fixture(scope="module")
def busy_worker(
    kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WorkerProcess]:
    """A worker that has parsed, merged and rejected input, so every metric has samples."""
    tmp = tmp_path_factory.mktemp("deploy-worker")
    names = Names.fresh("deploy")
    worker = WorkerProcess(
        bootstrap=kafka_bootstrap,
        names=names,
        state_dir=tmp / "state",
        log_path=tmp / "worker.log",
        partitions=PARTITIONS,
    )
    worker.start()
    try:
        worker.wait_ready(timeout=60)
        # Two versions of one story and one item that is not text: events, a reject, and
        # consumed offsets on several partitions (lag is reported after the first message).
        values = [p.read_bytes() for p in sorted(SEEDS.glob("*.txt"))] + [b"\x00\x01binary"]
        produce(kafka_bootstrap, names.raw, values, partitions=PARTITIONS)

        def processed() -> bool:
            samples = worker.metrics()
            total = {
                name: sum(v for k, v in samples.items() if k.split("{")[0] == name)
                for name in (
                    "wire_ingest_items_consumed_total",
                    "wire_ingest_events_emitted_total",
                    "wire_ingest_items_rejected_total",
                )
            }
            lag = any(k.startswith("wire_ingest_consumer_lag_messages{") for k in samples)
            return (
                total["wire_ingest_items_consumed_total"] >= len(values)
                and total["wire_ingest_events_emitted_total"] >= 1
                and total["wire_ingest_items_rejected_total"] >= 1
                and lag
            )

        wait_until(processed, 45, "the worker to process its input", 0.2, worker.log_tail)
        yield worker
    finally:
        try:
            worker.stop(timeout=20)
        except AssertionError:
            worker.kill()
