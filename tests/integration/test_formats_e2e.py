"""Every wire format through the worker on the real broker, as a replay reads them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from tests.integration.test_worker_e2e import _wait_drained
from tests.support.fixtures import FORMATS_DIR, FORMATS_RECEIVED_AT, SEED_ITEMS, format_items
from tests.support.kafka_io import create_topic, produce, read_all
from tests.support.schemas import validate_dlq, validate_event
from tests.support.waiting import wait_until
from tests.support.worker import Names, WorkerProcess
from workers.core import keys
from workers.core.pipeline import parse_input
from workers.replay import Replayer

pytestmark = pytest.mark.integration

Spawn = Callable[..., WorkerProcess]
PARTITIONS = 4
# The IPTC samples are years old: the longest retention the worker takes keeps all but the
# oldest (2016), which the replay tests read instead.
RETENTION_DAYS = 3660


def test_every_format_through_the_worker_gives_the_stories_a_replay_gives(
    kafka_bootstrap: str, names: Names, spawn: Spawn
) -> None:
    paths = [*SEED_ITEMS, *(p for p in format_items() if "listing1" not in p.name)]
    inputs = [path.read_bytes() for path in paths]
    replayer = Replayer(retention=timedelta(days=RETENTION_DAYS), received_at=FORMATS_RECEIVED_AT)
    for path in paths:
        assert replayer.feed_file(path).reject is None, path
    expected = {key: event["item"] for key, event in replayer.result.latest_by_story().items()}
    # A header names the format of one input; another names a format nobody knows.
    headers: list[list[tuple[str, bytes]]] = [[] for _ in inputs]
    headers[paths.index(FORMATS_DIR / "iptc7901" / "01-original.txt")] = [
        ("wire-format", b"iptc7901")
    ]
    inputs.append(inputs[0])
    headers.append([("wire-format", b"telex")])
    # A receive-time header wins over the Kafka time: this year-end item then reads as 2031's.
    year_end = (FORMATS_DIR / "anpa1312" / "05-year-end.txt").read_bytes()
    later = datetime(2031, 12, 20, tzinfo=UTC)
    inputs.append(year_end)
    headers.append([("wire-received-at", later.isoformat().encode())])
    parsed = parse_input(year_end, received_at=later)
    assert isinstance(parsed, tuple)
    [moved] = parsed
    moved_key = keys.base_story_key(moved)
    assert moved_key.startswith("ap-20311231")

    create_topic(kafka_bootstrap, names.raw, PARTITIONS)
    worker = spawn(extra_env={"WIRE_STATE_RETENTION_DAYS": str(RETENTION_DAYS)}).start()
    worker.wait_ready()
    # The Kafka timestamp is the receive time the 7901 and ANPA trailers take their year from.
    produce(
        kafka_bootstrap,
        names.raw,
        inputs,
        partitions=PARTITIONS,
        timestamp_ms=int(FORMATS_RECEIVED_AT.timestamp() * 1000),
        headers=headers,
    )
    # A NewsML-G2 newsMessage is one input and two items: count items, not inputs.
    _wait_drained([worker], len(inputs))

    events = [orjson.loads(r.value) for r in read_all(kafka_bootstrap, names.events)]
    for event in events:
        validate_event(event)
    latest: dict[str, dict[str, object]] = {}
    for record in read_all(kafka_bootstrap, names.latest):
        value = orjson.loads(record.value)
        latest[value["storyKey"]] = value["item"]
    assert latest.keys() == expected.keys() | {moved_key}
    for key, item in expected.items():
        assert latest[key] == item, key  # the same story, versions and canonical item
    assert {event["storyKey"] for event in events} == set(expected) | {moved_key}
    canceled = [e for e in events if e["eventType"] == "story.canceled"]
    assert len(canceled) == 4  # the kills of G2, ninjs, 7901 and ANPA, whatever their order

    [dlq] = [orjson.loads(r.value) for r in read_all(kafka_bootstrap, names.dlq)]
    validate_dlq(dlq)
    assert dlq["reason"] == "unknown_format"
    assert "'telex'" in dlq["detail"]
    assert dlq["headers"] == {"wire-format": "telex"}  # `dlq replay` sends it again

    def counted() -> float:  # as the broker acknowledges the DLQ record
        return worker.metrics().get("wire_ingest_items_rejected_total{reason=unknown_format}", 0)

    wait_until(lambda: counted() >= 1, 30, "the reject counted", interval=0.25)
    assert counted() == 1
    assert worker.stop() < 15
