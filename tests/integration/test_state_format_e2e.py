"""State this release cannot read stops the worker with exit code 6, on the real broker.

README, "Upgrades": a release that finds a stored format it cannot read stops at the first
such value, in one line that says so, instead of guessing. Each test writes the value into
the table's changelog before the worker starts, as a newer release would have left it, and
the worker's recovery restores it into RocksDB as it is: a partition's own record (read as
the recovery ends) and a bucket's state (read when a version of that bucket arrives).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from tests.support.kafka_io import produce
from tests.support.worker import Names, WorkerProcess
from workers.core.model import WireItem
from workers.core.pipeline import parse_raw, route_key
from workers.settings import Settings
from workers.stream.expiry import meta_key
from workers.stream.fatal import EXIT_STATE_FORMAT
from workers.stream.partitioner import layout_partition
from workers.stream.topics import changelog_topic, ensure_topics

pytestmark = pytest.mark.integration

Spawn = Callable[..., WorkerProcess]

PARTITIONS = 4
UNKNOWN_FORMAT = 99
SEED = Path(__file__).parents[2] / "seeds" / "000_3b5780341c97b251.txt"


def _create_topics(bootstrap: str, names: Names) -> str:
    """The worker's topics, made by the worker's own code; the changelog's name."""
    settings = Settings.from_env({**names.env(), "KAFKA_BOOTSTRAP": bootstrap})
    asyncio.run(ensure_topics(settings))
    return changelog_topic(settings)


def _stopped_with_exit_6(worker: WorkerProcess, said: str) -> None:
    code = worker.wait_exit(timeout=120)
    log = worker.log_path.read_text(errors="replace")
    assert code == EXIT_STATE_FORMAT, log[-3000:]
    lines = [line for line in log.splitlines() if "cannot read the table's state" in line]
    assert len(lines) == 1, log[-3000:]  # one line, no traceback behind it
    assert said in lines[0], lines[0]
    assert "Traceback" not in log


def test_a_partition_record_of_an_unknown_format_stops_the_start_with_exit_6(
    kafka_bootstrap: str, names: Names, spawn: Spawn
) -> None:
    changelog = _create_topics(kafka_bootstrap, names)
    record = orjson.dumps({"format": UNKNOWN_FORMAT, "streamTime": None, "buckets": 0})
    # Partition 2's own record, in partition 2 of the changelog (its RocksDB database).
    produce(kafka_bootstrap, changelog, [record], keys=[meta_key(2)], partition=2)
    worker = spawn().start()
    _stopped_with_exit_6(worker, f"a partition record has state format {UNKNOWN_FORMAT}")


def test_a_bucket_of_an_unknown_format_stops_the_worker_with_exit_6_when_it_is_read(
    kafka_bootstrap: str, names: Names, spawn: Spawn
) -> None:
    raw = SEED.read_bytes()
    item = parse_raw(raw)
    assert isinstance(item, WireItem), item
    key = route_key(item).encode()  # the bucket the worker will read for this item
    changelog = _create_topics(kafka_bootstrap, names)
    # Where the worker keeps this bucket: the changelog partition of its layout.
    partition = layout_partition(key, PARTITIONS)
    value = orjson.dumps([UNKNOWN_FORMAT, [], [], [], []])
    produce(kafka_bootstrap, changelog, [value], keys=[key], partition=partition)
    worker = spawn().start()
    worker.wait_ready()  # the recovery restored the value; nothing has read it yet
    produce(kafka_bootstrap, names.raw, [raw])
    _stopped_with_exit_6(worker, f"a stored bucket has state format {UNKNOWN_FORMAT}")
