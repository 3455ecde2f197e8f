"""Bucket expiry by stream time through the real worker on the real broker.

One worker, one merge partition (``WIRE_PARTITIONS=1``: every bucket shares one stream clock)
and a retention of 0.05 days (72 minutes). Story A (Gabrovo) is published at 08:00 and updated
at 08:10 on 10.02.2026 (Sofia, winter time); story B (Pleven) at 11:00 moves stream time three
hours on, and the sweep deletes A's bucket (a changelog tombstone). A second update of A
(11:05) then finds no bucket and a first-published time older than the retention: it is
dead-lettered as ``expired`` with its wire bytes, never merged into a fresh story that would
start A's versions again at 1. A second worker on an empty state directory restores the table
from the changelog: its gauges come from the partition record (1 bucket, 1 story), and the
restored stream time refuses A's original as ``expired`` too.

The items are invented text in the BTA wire layout (headline, author, place line, timestamp
line with the ``ОБНОВЕНА`` time of an update, ``(БТА)``, paragraphs, sign-off); each is parsed
here first, so a layout mistake fails before any Kafka traffic.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from tests.support.kafka_io import (
    Record,
    all_committed,
    create_topic,
    list_topics,
    produce,
    read_all,
)
from tests.support.schemas import dlq_raw_bytes, validate_dlq, validate_event
from tests.support.waiting import wait_until
from tests.support.worker import Names, WorkerProcess
from workers.core import keys
from workers.core.model import WireItem
from workers.core.pipeline import parse_raw
from workers.stream.expiry import PartitionClock, meta_key

pytestmark = pytest.mark.integration

Spawn = Callable[..., WorkerProcess]

RETENTION_ENV = {"WIRE_STATE_RETENTION_DAYS": "0.05"}  # 1.2 hours of stream time
RETENTION = timedelta(days=0.05)

# A: Gabrovo, first published 10.02.2026 08:00 Sofia (06:00 UTC), updated 08:10.
A_ORIGINAL = """\
Габрово получава нова автобусна линия до индустриалната зона

Мария Стоянова
Габрово,
10.02.2026 08:00
(БТА)
От началото на март Община Габрово пуска нова автобусна линия, която ще свързва \
централната автогара с индустриалната зона в северната част на града.

Автобусите ще тръгват на всеки тридесет минути в делнични дни, съобщиха от общината.

/МС/
""".encode()

A_UPDATE = """\
ОБНОВЕНА Новата автобусна линия в Габрово ще има и вечерни курсове

Мария Стоянова
Габрово,
10.02.2026 08:00 | ОБНОВЕНА 10.02.2026 08:10
(БТА)
От началото на март Община Габрово пуска нова автобусна линия, която ще свързва \
централната автогара с индустриалната зона в северната част на града.

Автобусите ще тръгват на всеки тридесет минути в делнични дни, съобщиха от общината.

Последният курс ще бъде в 22:30 часа, за да могат да се прибират и работниците от \
вечерната смяна, уточни кметът.

/МС/
""".encode()

# A again, three hours later: by then its bucket has expired.
A_LATE_UPDATE = """\
ОБНОВЕНА Габровската линия до индустриалната зона ще минава и през кв. Младост

Мария Стоянова
Габрово,
10.02.2026 08:00 | ОБНОВЕНА 10.02.2026 11:05
(БТА)
От началото на март Община Габрово пуска нова автобусна линия, която ще свързва \
централната автогара с индустриалната зона в северната част на града.

Автобусите ще тръгват на всеки тридесет минути в делнични дни, съобщиха от общината.

Последният курс ще бъде в 22:30 часа, за да могат да се прибират и работниците от \
вечерната смяна, уточни кметът.

След искане на живущите маршрутът ще включва и спирка в квартал Младост.

/МС/
""".encode()

# B: Pleven, first published 10.02.2026 11:00 Sofia (09:00 UTC).
B_ORIGINAL = """\
Плевенският драматичен театър открива сезона с нова постановка

Иван Петков
Плевен,
10.02.2026 11:00
(БТА)
Драматичният театър в Плевен ще открие пролетния си сезон с постановка по пиеса на \
млад български автор, съобщиха от театъра.

Премиерата е насрочена за края на месеца, а билетите вече се продават онлайн.

/ИП/
""".encode()

SOFIA_WINTER = timedelta(hours=2)


def _sofia(day: int, hour: int, minute: int) -> datetime:
    return datetime(2026, 2, day, hour, minute, tzinfo=UTC) - SOFIA_WINTER


def _parsed(raw: bytes) -> WireItem:
    item = parse_raw(raw)
    assert isinstance(item, WireItem), item
    return item


def _metric(worker: WorkerProcess, name: str) -> float:
    """A metric summed over its labels (0 when it has no sample yet)."""
    return sum(v for k, v in worker.metrics().items() if k.split("{")[0] == name)


def _expired_rejects(worker: WorkerProcess) -> float:
    return worker.metrics().get("wire_ingest_items_rejected_total{reason=expired}", 0.0)


def _changelog_topic(names: Names) -> str:
    return f"{names.app_id}-story-buckets-changelog"  # Faust: <app id>-<table name>-changelog


def _repartition_topic(names: Names) -> str:
    return f"{names.app_id}.items-by-story"  # Settings.repartition_topic


def _wait_committed(bootstrap: str, names: Names, worker: WorkerProcess) -> None:
    """Every raw and repartition record handled and its offset committed.

    The sweep keeps a bucket whose outbox still holds an uncommitted input's events (their
    replay must stay possible), so A's bucket can only expire once A's inputs are committed.
    """
    topics = [names.raw, _repartition_topic(names)]

    def committed() -> bool:
        return all_committed(bootstrap, names.app_id, topics)

    wait_until(committed, 60, f"{topics} committed to their ends", 0.25, on_timeout=worker.log_tail)


def _events(bootstrap: str, names: Names) -> list[dict[str, Any]]:
    return [orjson.loads(r.value or b"") for r in read_all(bootstrap, names.events)]


def _dlq(bootstrap: str, names: Names, at_least: int) -> list[dict[str, Any]]:
    """The DLQ records, once there are ``at_least``, then read to the topic's end."""
    read_all(bootstrap, names.dlq, until=lambda records: len(records) >= at_least, timeout=60)
    return [orjson.loads(r.value or b"") for r in read_all(bootstrap, names.dlq)]


def _check_expired_record(record: dict[str, Any], raw: bytes) -> None:
    validate_dlq(record)
    assert record["reason"] == "expired", record
    assert dlq_raw_bytes(record) == raw
    assert record["rawSha256"] == keys.raw_sha256(raw)
    assert record["source"]["topic"].endswith(".wire.raw"), record["source"]


def _check_latest_never_goes_back(records: list[Record]) -> None:
    last: dict[bytes, int] = defaultdict(int)
    for record in records:
        assert record.key is not None
        assert record.value is not None
        value = orjson.loads(record.value)
        assert record.key.decode() == value["storyKey"]
        assert value["version"] >= last[record.key], (record.key, value["version"])
        last[record.key] = value["version"]


def _bucket_records(changelog: list[Record], key: bytes) -> list[bytes | None]:
    return [r.value for r in changelog if r.key == key]


def test_a_bucket_expires_by_stream_time_and_stays_expired_after_a_restore(
    kafka_bootstrap: str, names: Names, spawn: Spawn
) -> None:
    # 0. The items parse, with the times and buckets the scenario is built on.
    a0, a1, a2, b0 = (_parsed(raw) for raw in (A_ORIGINAL, A_UPDATE, A_LATE_UPDATE, B_ORIGINAL))
    t0 = _sofia(10, 8, 0)
    assert [i.is_update for i in (a0, a1, a2, b0)] == [False, True, True, False]
    assert {a0.first_created, a1.first_created, a2.first_created} == {t0}
    assert a1.version_created == t0 + timedelta(minutes=10)
    assert a2.version_created == t0 + timedelta(hours=3, minutes=5)
    assert b0.first_created == b0.version_created == t0 + timedelta(hours=3)
    a_bucket = keys.bucket_key(a0)
    b_bucket = keys.bucket_key(b0)
    assert a_bucket == "bta:20260210T0600Z"
    assert b_bucket == "bta:20260210T0900Z"
    assert {keys.bucket_key(a1), keys.bucket_key(a2)} == {a_bucket}
    # B moves stream time past A's retention; A's late update is older than it too.
    assert a1.version_created < b0.version_created - RETENTION
    assert a2.first_created < a2.version_created - RETENTION

    create_topic(kafka_bootstrap, names.raw, 1)
    first = spawn("first", partitions=1, extra_env=RETENTION_ENV).start()
    first.wait_ready()

    # 1. A's original and its update: two events.
    produce(kafka_bootstrap, names.raw, [A_ORIGINAL, A_UPDATE], partitions=1)
    wait_until(
        lambda: _metric(first, "wire_ingest_events_emitted_total") >= 2,
        120,
        "A's two events",
        0.25,
        on_timeout=first.log_tail,
    )
    assert _metric(first, "wire_ingest_buckets_expired_total") == 0
    assert first.metrics()["wire_ingest_buckets_in_state"] == 1
    assert first.metrics()["wire_ingest_stories_in_state"] == 1
    _wait_committed(kafka_bootstrap, names, first)

    # 2. B, three hours on: the sweep expires A's bucket.
    produce(kafka_bootstrap, names.raw, [B_ORIGINAL], partitions=1)
    wait_until(
        lambda: (
            _metric(first, "wire_ingest_events_emitted_total") >= 3
            and _metric(first, "wire_ingest_buckets_expired_total") >= 1
        ),
        120,
        "B's event and A's bucket expired",
        0.25,
        on_timeout=first.log_tail,
    )
    assert _metric(first, "wire_ingest_buckets_expired_total") == 1

    # 3. A's late update: no event, a DLQ record "expired" with its exact wire bytes.
    produce(kafka_bootstrap, names.raw, [A_LATE_UPDATE], partitions=1)
    wait_until(
        lambda: _expired_rejects(first) >= 1,
        120,
        "A's late update refused as expired",
        0.25,
        on_timeout=first.log_tail,
    )
    dlq = _dlq(kafka_bootstrap, names, 1)
    assert len(dlq) == 1, [r["reason"] for r in dlq]
    _check_expired_record(dlq[0], A_LATE_UPDATE)
    assert "expired" in dlq[0]["detail"]

    # 4. Events, stories.latest, changelog and gauges.
    events = _events(kafka_bootstrap, names)
    for event in events:
        validate_event(event)
    assert [(e["eventType"], e["version"]) for e in events] == [
        ("story.created", 1),
        ("story.updated", 2),
        ("story.created", 1),
    ]
    a_story, b_story = events[0]["storyKey"], events[2]["storyKey"]
    assert events[1]["storyKey"] == a_story != b_story
    assert a_story == keys.base_story_key(a0)
    assert b_story == keys.base_story_key(b0)
    assert len({e["eventId"] for e in events}) == 3
    latest = read_all(kafka_bootstrap, names.latest)
    _check_latest_never_goes_back(latest)
    assert {r.key for r in latest} == {a_story.encode(), b_story.encode()}

    changelog_topic = _changelog_topic(names)
    assert changelog_topic in list_topics(kafka_bootstrap)
    changelog = read_all(kafka_bootstrap, changelog_topic)
    a_records = _bucket_records(changelog, a_bucket.encode())
    assert len(a_records) >= 2, a_records  # the original's state, then the update's
    assert None not in a_records[:-1], a_records
    assert a_records[-1] is None, "no tombstone for A's expired bucket"
    b_records = _bucket_records(changelog, b_bucket.encode())
    assert b_records
    assert None not in b_records
    clock = PartitionClock.decode(_bucket_records(changelog, meta_key(0))[-1])
    assert clock == PartitionClock(a2.version_created, buckets=1, stories=1)

    metrics = first.metrics()
    assert metrics["wire_ingest_buckets_in_state"] == 1
    assert metrics["wire_ingest_stories_in_state"] == 1
    assert metrics["wire_ingest_buckets_expired_total"] == 1
    assert metrics["wire_ingest_items_consumed_total"] == 4
    assert metrics["wire_ingest_duplicates_total"] == 0
    _wait_committed(kafka_bootstrap, names, first)
    assert first.stop() < 15

    # 5. A new worker on an empty state directory: the changelog is all it has.
    second = spawn("second", partitions=1, extra_env=RETENTION_ENV)
    assert second.state_dir != first.state_dir
    assert not second.state_dir.exists()
    second.start().wait_ready()
    wait_until(
        lambda: second.metrics().get("wire_ingest_rebalances_total", 0) >= 1,
        60,
        "the second worker's table recovery",
        0.25,
        on_timeout=second.log_tail,
    )
    wait_until(
        lambda: (
            second.metrics().get("wire_ingest_buckets_in_state") == 1
            and second.metrics().get("wire_ingest_stories_in_state") == 1
        ),
        60,
        "the restored gauges to read 1 bucket and 1 story",
        0.25,
        on_timeout=lambda: f"{second.metrics_text()}\n{second.log_tail()}",
    )

    # The restored stream time refuses A's original too.
    produce(kafka_bootstrap, names.raw, [A_ORIGINAL], partitions=1)
    wait_until(
        lambda: _expired_rejects(second) >= 1,
        120,
        "A's original refused as expired after the restore",
        0.25,
        on_timeout=second.log_tail,
    )
    dlq = _dlq(kafka_bootstrap, names, 2)
    assert len(dlq) == 2, [r["reason"] for r in dlq]
    _check_expired_record(dlq[1], A_ORIGINAL)
    assert _events(kafka_bootstrap, names) == events
    metrics = second.metrics()
    assert metrics["wire_ingest_items_consumed_total"] == 1
    assert _metric(second, "wire_ingest_events_emitted_total") == 0
    assert metrics["wire_ingest_duplicates_total"] == 0
    assert metrics["wire_ingest_buckets_in_state"] == 1
    assert metrics["wire_ingest_stories_in_state"] == 1
    assert metrics["wire_ingest_buckets_expired_total"] == 0
    assert second.stop() < 15
