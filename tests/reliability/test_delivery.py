"""Proof of delivery: no input offset is committed past a record the broker did not take.

Four faults, each on the real broker: a topic that refuses the worker's event, and a changelog
that refuses a bucket's state (in both the worker must stop with exit code 5 before committing,
and a restart must deliver everything); a process that dies right after writing a bucket's
state (the state must still reach the changelog, so that a worker on another pod, restoring
only from the changelog, knows the version); and a process killed with state its local
database never got (the table's RocksDB writes no WAL: the changelog must give it back).
Beside them: a topic deleted under the worker, a local store that fails, and an update
merged as a rebalance begins (its original's event re-sent after it must not leave
``stories.latest`` a version behind).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.integration.scenario import fixture_inputs
from tests.reliability.harness import REPORT
from tests.support.kafka_io import (
    Record,
    all_committed,
    alter_topic_config,
    committed_and_ends,
    create_topic,
    produce,
    read_all,
)
from tests.support.local_store import local_buckets
from tests.support.waiting import wait_until
from tests.support.worker import Names, WorkerProcess
from workers.core.keys import raw_sha256
from workers.stream.delivery import EXIT_DELIVERY_FAILED
from workers.stream.expiry import META_PREFIX
from workers.stream.fatal import EXIT_STATE_STORE_FAILED
from workers.stream.state import decode_state

pytestmark = pytest.mark.reliability

Spawn = Callable[..., WorkerProcess]

PARTITIONS = 4
# Both seeds on one raw partition, so the worker sees them in the order they are produced.
SEED_KEY = b"seed"
EXIT_FAULT_INJECTED = 9  # WIRE_FAULT_INJECTION=exit-after-state-write (agents.py)
REFUSED_LINE = "the broker did not take a record to"
STORE_FAILED_LINE = "the table's local store could not"
# The broker says only "[Error 10] MessageSizeTooLargeError": the line names the record's size.
SIZE_REFUSAL = "MessageSizeTooLargeError: a batch holding a "
SIZE_NAMED = r"a [\d,]+-byte record is over the topic's max\.message\.bytes"


def _seeds() -> tuple[bytes, bytes]:
    """(original, update) of the seed story."""
    update, original = fixture_inputs()[:2]
    return original, update


def _repartition_topic(names: Names) -> str:
    return f"{names.app_id}.items-by-story"  # Settings.repartition_topic


def _changelog_topic(names: Names) -> str:
    return f"{names.app_id}-story-buckets-changelog"  # topics.changelog_topic


def _seeds_until_it_stops(
    bootstrap: str, names: Names, worker: WorkerProcess
) -> tuple[int, float, str]:
    """Start ``worker``, feed it both seeds, and wait for it to stop by itself: its exit
    code, how long after the seeds it stopped, and its log."""
    original, update = _seeds()
    worker.start().wait_ready()
    produce(bootstrap, names.raw, [original, update], keys=[SEED_KEY, SEED_KEY])
    started = time.monotonic()
    code = worker.wait_exit(timeout=120)
    return code, time.monotonic() - started, worker.log_path.read_text(errors="replace")


def _wait_all_committed(
    bootstrap: str, names: Names, topics: list[str], worker: WorkerProcess
) -> None:
    """Wait until the group has committed every record of ``topics``: nothing left to redo."""

    def committed() -> bool:
        return all_committed(bootstrap, names.app_id, topics)

    wait_until(committed, 60, f"{topics} committed to their ends", 0.5, on_timeout=worker.log_tail)


def _drained(worker: WorkerProcess, inputs: int) -> bool:
    """``inputs`` raw items consumed, and each parsed one merged: an event, a re-send or a
    duplicate (events count once the broker has them)."""
    metrics = worker.metrics()
    merged = sum(v for k, v in metrics.items() if k.startswith("wire_ingest_events_emitted_total"))
    merged += metrics.get("wire_ingest_events_resent_total", 0)
    merged += metrics.get("wire_ingest_duplicates_total", 0)
    consumed = metrics.get("wire_ingest_items_consumed_total", 0)
    return consumed >= inputs and merged >= metrics.get("wire_ingest_items_parsed_total", 0)


def _distinct_events(records: list[Record]) -> list[dict[str, Any]]:
    """Events by eventId in order of first appearance; a repeat must carry the same bytes."""
    by_id: dict[str, bytes] = {}
    for record in records:
        assert record.value is not None
        event_id = orjson.loads(record.value)["eventId"]
        first = by_id.setdefault(event_id, record.value)
        assert first == record.value, f"eventId {event_id} was emitted with other bytes"
    return [orjson.loads(value) for value in by_id.values()]


def _has_event(event_type: str) -> Callable[[list[Record]], bool]:
    def seen(records: list[Record]) -> bool:
        return any(orjson.loads(r.value or b"{}").get("eventType") == event_type for r in records)

    return seen


def _assert_created_then_updated(events: list[dict[str, Any]]) -> str:
    """Exactly the seed story's two versions: created (1), then updated (2). Its story key."""
    summary = [(e["eventType"], e["storyKey"], e["version"]) for e in events]
    assert [e["eventType"] for e in events] == ["story.created", "story.updated"], summary
    assert len({e["storyKey"] for e in events}) == 1, summary
    assert [e["version"] for e in events] == [1, 2], summary
    return str(events[0]["storyKey"])


def test_a_record_the_broker_refuses_stops_the_worker_without_committing(
    kafka_bootstrap: str, names: Names, spawn: Spawn
) -> None:
    """An events topic that takes nothing over 2000 bytes refuses the seed's event.

    aiokafka's ``flush()`` returns after such a batch failed, and Faust would then commit the
    input: the event would be lost for good. The worker must instead stop at once with exit
    code 5 and one log line, and leave the repartition offsets uncommitted, so that a restart
    (once the topic takes the record) processes the seeds again and delivers both events.
    """
    original, update = _seeds()
    create_topic(kafka_bootstrap, names.raw, PARTITIONS)
    create_topic(kafka_bootstrap, names.events, PARTITIONS, {"max.message.bytes": "2000"})
    worker = spawn()
    code, stopped_after, log = _seeds_until_it_stops(kafka_bootstrap, names, worker)
    assert code == EXIT_DELIVERY_FAILED, f"exit code {code}:\n{worker.log_tail()}"
    assert f"{REFUSED_LINE} {names.events} ({SIZE_REFUSAL}" in log, worker.log_tail()
    assert re.search(SIZE_NAMED, log), worker.log_tail()
    assert log.count(REFUSED_LINE) == 1, worker.log_tail()
    assert "Traceback (most recent call last)" not in log, worker.log_tail(200)

    # Nothing committed past the seeds on the repartition topic: they are processed again.
    offsets = committed_and_ends(kafka_bootstrap, names.app_id, _repartition_topic(names))
    with_records = {p: v for p, v in offsets.items() if v[2] > v[1]}
    assert with_records, f"no parsed item reached the repartition topic: {offsets}"
    for partition, (committed, _start, end) in with_records.items():
        assert committed is None or committed < end, (
            f"partition {partition} committed {committed} of {end} records: {offsets}"
        )
    dlq = [orjson.loads(r.value or b"{}") for r in read_all(kafka_bootstrap, names.dlq)]
    seeds = {raw_sha256(original), raw_sha256(update)}
    assert not [r for r in dlq if r.get("rawSha256") in seeds], f"seeds dead-lettered: {dlq}"
    assert not dlq, f"unexpected DLQ records: {dlq}"

    # The topic takes big records again; a worker on the same state and names delivers all.
    alter_topic_config(kafka_bootstrap, names.events, {"max.message.bytes": "16777216"})
    restarted_log_from = len(worker.log_path.read_bytes())
    again = spawn()
    restarted = time.monotonic()
    again.start()
    records = read_all(
        kafka_bootstrap, names.events, until=_has_event("story.updated"), timeout=120
    )
    recovery = time.monotonic() - restarted
    story_key = _assert_created_then_updated(_distinct_events(records))

    def newest_is_version_2(latest: list[Record]) -> bool:
        mine = [orjson.loads(r.value or b"{}") for r in latest if r.key == story_key.encode()]
        return bool(mine) and mine[-1]["version"] == 2

    latest = read_all(kafka_bootstrap, names.latest, until=newest_is_version_2, timeout=60)
    assert newest_is_version_2(read_all(kafka_bootstrap, names.latest)), latest
    assert again.alive(), again.log_tail()
    again_log = worker.log_path.read_bytes()[restarted_log_from:].decode(errors="replace")
    assert REFUSED_LINE not in again_log
    REPORT.append(
        {
            "scenario": "broker refuses an event",
            "items in": 2,
            "exit code": code,
            "stopped after s": round(stopped_after, 1),
            "recovery s": round(recovery, 1),
        }
    )


def test_a_local_store_that_fails_stops_the_worker_without_dead_lettering(
    kafka_bootstrap: str, names: Names, spawn: Spawn
) -> None:
    """The state volume is full: RocksDB refuses every write once a flush failed.

    Injected at the store (``WIRE_FAULT_INJECTION=fail-state-write``, the error RocksDB
    raises then). It used to make each input an ``internal_error`` DLQ record while the disk
    stayed full, the worker running on, and the changelog record queued before the failed
    write kept a state whose events never left. The worker must stop at once with exit code
    10 and one line, dead-letter nothing and commit nothing; once the disk is mended, a
    restart on the same state delivers both events.
    """
    create_topic(kafka_bootstrap, names.raw, PARTITIONS)
    worker = spawn(extra_env={"WIRE_FAULT_INJECTION": "fail-state-write"})
    code, stopped_after, log = _seeds_until_it_stops(kafka_bootstrap, names, worker)
    assert code == EXIT_STATE_STORE_FAILED, f"exit code {code}:\n{worker.log_tail()}"
    failed = [line for line in log.splitlines() if STORE_FAILED_LINE in line]
    assert len(failed) == 1, worker.log_tail()
    assert "[CRITICAL]" in failed[0], failed
    assert "No space left on device" in failed[0], failed
    assert "Traceback (most recent call last)" not in log, worker.log_tail(200)
    offsets = committed_and_ends(kafka_bootstrap, names.app_id, _repartition_topic(names))
    for partition, (committed, _start, end) in offsets.items():
        assert committed is None or committed < end or end == 0, (
            f"partition {partition} committed {committed} of {end} records: {offsets}"
        )
    dlq = [orjson.loads(r.value or b"{}") for r in read_all(kafka_bootstrap, names.dlq)]
    assert not dlq, f"dead-lettered for a local fault: {dlq}"

    restarted_log_from = len(worker.log_path.read_bytes())
    again = spawn()  # the disk mended: the same state dir, no fault
    restarted = time.monotonic()
    again.start()
    records = read_all(
        kafka_bootstrap, names.events, until=_has_event("story.updated"), timeout=120
    )
    recovery = time.monotonic() - restarted
    _assert_created_then_updated(_distinct_events(records))
    assert again.alive(), again.log_tail()
    assert STORE_FAILED_LINE not in worker.log_path.read_bytes()[restarted_log_from:].decode(
        errors="replace"
    )
    assert not read_all(kafka_bootstrap, names.dlq)
    REPORT.append(
        {
            "scenario": "the local store fails",
            "items in": 2,
            "exit code": code,
            "stopped after s": round(stopped_after, 1),
            "recovery s": round(recovery, 1),
        }
    )


def test_records_for_a_deleted_topic_are_timed_and_delivered_once_it_is_back(
    kafka_bootstrap: str, names: Names, spawn: Spawn
) -> None:
    """``stories.events`` deleted under a running worker: aiokafka retries the event in
    silence and every commit waits. The gauges show how many records wait and for how long
    (WireIngestDeliveryStalled reads them); once the topic is back, the event is delivered,
    the gauges fall to 0, and the worker goes on."""
    from tests.support.kafka_io import delete_topic, list_topics

    original, update = _seeds()
    create_topic(kafka_bootstrap, names.raw, PARTITIONS)
    worker = spawn()
    worker.start().wait_ready()
    produce(kafka_bootstrap, names.raw, [original], keys=[SEED_KEY])
    read_all(kafka_bootstrap, names.events, until=_has_event("story.created"), timeout=60)
    delete_topic(kafka_bootstrap, names.events)
    wait_until(
        lambda: names.events not in list_topics(kafka_bootstrap), 30, "the events topic deleted"
    )

    produce(kafka_bootstrap, names.raw, [update], keys=[SEED_KEY])

    def stuck() -> bool:
        metrics = worker.metrics()
        return (
            metrics["wire_ingest_records_unacknowledged"] >= 1
            and metrics["wire_ingest_oldest_unacknowledged_seconds"] >= 5
        )

    wait_until(stuck, 60, "the update's event waiting", on_timeout=worker.log_tail)
    assert worker.alive()
    create_topic(kafka_bootstrap, names.events, PARTITIONS)
    records = read_all(
        kafka_bootstrap, names.events, until=_has_event("story.updated"), timeout=120
    )
    assert [orjson.loads(r.value or b"{}")["eventType"] for r in records] == ["story.updated"]

    def settled() -> bool:
        metrics = worker.metrics()
        return metrics["wire_ingest_oldest_unacknowledged_seconds"] == 0

    wait_until(settled, 60, "nothing waiting any more", on_timeout=worker.log_tail)
    assert worker.alive()


def test_state_written_before_a_crash_reaches_the_changelog_on_restart(
    kafka_bootstrap: str, names: Names, spawn: Spawn
) -> None:
    """A crash between the state write and its changelog record must not lose the version.

    W1 dies right after writing the seed original's state to its local store: neither the
    changelog record nor the event left. W2, on the same disk, finds the version already known
    and its outbox entry, so it re-sends the event, and writes the state again so that the
    changelog gets it. W3, on an empty disk (the partition moved to another pod), knows the
    story only through the changelog. Without that second write the changelog would lack the
    version: W3 would emit the update as a new story (a second ``story.created``), then take
    the re-delivered original for an older version of it (``story.backfilled``) instead of a
    duplicate. W2 is checked directly too: the changelog must hold the bucket once it stops.
    """
    original, update = _seeds()
    create_topic(kafka_bootstrap, names.raw, PARTITIONS)
    w1 = spawn("w", extra_env={"WIRE_FAULT_INJECTION": "exit-after-state-write"})
    w1.start().wait_ready()
    produce(kafka_bootstrap, names.raw, [original], keys=[SEED_KEY])
    code = w1.wait_exit(timeout=120)
    assert code == EXIT_FAULT_INJECTED, f"exit code {code}:\n{w1.log_tail()}"
    # The fault as promised: the state reached only W1's local store.
    assert read_all(kafka_bootstrap, names.events) == []
    assert read_all(kafka_bootstrap, _changelog_topic(names)) == []

    w2 = spawn("w")  # the same state dir, no fault
    w2.start()
    read_all(kafka_bootstrap, names.events, until=_has_event("story.created"), timeout=120)
    wait_until(
        lambda: w2.metrics().get("wire_ingest_events_resent_total", 0) >= 1,
        30,
        "W2 to count its re-sent event",
        on_timeout=w2.log_tail,
    )
    # W2 may also have re-read the original from the raw topic (W1 died before committing
    # it): wait until all of its input is committed, so W3 sees only the inputs below.
    _wait_all_committed(kafka_bootstrap, names, [names.raw, _repartition_topic(names)], w2)
    assert w2.stop() < 15
    changelog = read_all(kafka_bootstrap, _changelog_topic(names))
    assert changelog, "W2 re-sent the event but the bucket state never reached the changelog"

    produce(kafka_bootstrap, names.raw, [update, original], keys=[SEED_KEY, SEED_KEY])
    w3 = spawn("w3")  # a new, empty state dir: the changelog is all it has
    restarted = time.monotonic()
    w3.start().wait_ready()
    wait_until(lambda: _drained(w3, 2), 120, "W3 to merge both inputs", on_timeout=w3.log_tail)
    recovery = time.monotonic() - restarted
    records = read_all(kafka_bootstrap, names.events)
    events = _distinct_events(records)
    summary = [(e["eventType"], e["version"], e["eventId"]) for e in events]
    assert sum(e["eventType"] == "story.created" for e in events) == 1, summary
    _assert_created_then_updated(events)
    assert w3.metrics()["wire_ingest_duplicates_total"] >= 1
    REPORT.append(
        {
            "scenario": "exit after state write",
            "items in": 3,
            "exit code": code,
            "duplicate events": len(records) - len(events),
            "recovery s": round(recovery, 1),
        }
    )


def _local_buckets(state_dir: Path) -> dict[bytes, bytes]:
    """The bucket states a new reader of a stopped worker's databases finds: flushed writes."""
    return {k: v for states in local_buckets(state_dir).values() for k, v in states.items()}


def test_state_a_crash_took_from_the_local_store_comes_back_from_the_changelog(
    kafka_bootstrap: str, names: Names, spawn: Spawn
) -> None:
    """The table's RocksDB writes no WAL (table_store.py): a SIGKILL loses what it had not
    flushed, on that disk only.

    W1 merges the seed original and stops: a stop flushes, so its database holds the bucket.
    W2, on the same disk, merges the update and is killed once its input is committed: its
    database still holds the bucket of one version, as the update's state was in memory only.
    W3, on the same disk, must restore that state from the changelog, past the offset its
    database recorded: the update, delivered again, is then a duplicate and sends nothing.
    Had W3 kept to its database, it would send the update's event again, with another source.
    """
    original, update = _seeds()
    create_topic(kafka_bootstrap, names.raw, PARTITIONS)
    inputs = [names.raw, _repartition_topic(names)]
    w1 = spawn("w")
    w1.start().wait_ready()
    produce(kafka_bootstrap, names.raw, [original], keys=[SEED_KEY])
    read_all(kafka_bootstrap, names.events, until=_has_event("story.created"), timeout=120)
    _wait_all_committed(kafka_bootstrap, names, inputs, w1)
    assert w1.stop() < 15
    ((key, stored),) = _local_buckets(w1.state_dir).items()
    state = decode_state(stored)
    assert state is not None
    assert len(state.bucket.versions) == 1

    w2 = spawn("w", extra_env={"WIRE_STORE_FLUSH_S": "3600"})  # no timed flush before the kill
    w2.start().wait_ready()
    produce(kafka_bootstrap, names.raw, [update], keys=[SEED_KEY])
    read_all(kafka_bootstrap, names.events, until=_has_event("story.updated"), timeout=120)
    _wait_all_committed(kafka_bootstrap, names, inputs, w2)
    w2.kill()
    # The fault as promised: this disk lost the update's state, which the changelog has.
    assert _local_buckets(w2.state_dir)[key] == stored
    sent = read_all(kafka_bootstrap, names.events)

    w3 = spawn("w")
    restarted = time.monotonic()
    w3.start().wait_ready()
    produce(kafka_bootstrap, names.raw, [update], keys=[SEED_KEY])
    wait_until(lambda: _drained(w3, 1), 120, "W3 to merge the update", on_timeout=w3.log_tail)
    recovery = time.monotonic() - restarted
    _wait_all_committed(kafka_bootstrap, names, inputs, w3)
    assert w3.metrics().get("wire_ingest_duplicates_total", 0) == 1
    records = read_all(kafka_bootstrap, names.events)
    assert len(records) == len(sent), "W3 sent an event for the update again"
    _assert_created_then_updated(_distinct_events(records))
    REPORT.append(
        {
            "scenario": "kill with unflushed state",
            "items in": 3,
            "duplicate events": len(records) - len(_distinct_events(records)),
            "recovery s": round(recovery, 1),
        }
    )


def test_a_changelog_record_the_broker_refuses_stops_the_worker_without_committing(
    kafka_bootstrap: str, names: Names, spawn: Spawn
) -> None:
    """A changelog that takes nothing over 1000 bytes refuses the seed bucket's state (~10 KB).

    Table writes reach the changelog through Faust's ProducerBuffer (``send_soon``), not
    through the worker's own sends: if the flush before a commit did not wait for them, Faust
    would commit the input past a state record the changelog never got, and a worker restoring
    from the changelog alone would not know the version. W1 must instead stop at once with
    exit code 5 and one log line naming the changelog, and leave the repartition offsets
    uncommitted. Once the changelog takes big records, W2 on the same disk processes the seeds
    again: both versions have their event (a repeated eventId carries the same bytes), the
    story's newest record on ``stories.latest`` is version 2, and the changelog holds the
    bucket with both versions. W3, on an empty disk (restored from the changelog alone), gets
    both seeds again: they must be two duplicates and no new record, where a changelog without
    the state would make W3 emit the seeds as a new story.
    """
    original, update = _seeds()
    changelog = _changelog_topic(names)
    create_topic(kafka_bootstrap, names.raw, PARTITIONS)
    # As topics.py would create it, but refusing any batch over 1000 bytes. The partition's own
    # record (~100 bytes) may pass alone, or be refused with the state in one batch.
    compact = {"cleanup.policy": "compact"}
    create_topic(kafka_bootstrap, changelog, PARTITIONS, {**compact, "max.message.bytes": "1000"})
    w1 = spawn("w")
    w1.start().wait_ready()
    produce(kafka_bootstrap, names.raw, [original, update], keys=[SEED_KEY, SEED_KEY])

    started = time.monotonic()
    code = w1.wait_exit(timeout=120)
    stopped_after = time.monotonic() - started
    log = w1.log_path.read_text(errors="replace")
    assert code == EXIT_DELIVERY_FAILED, f"exit code {code}:\n{w1.log_tail()}"
    assert f"{REFUSED_LINE} {changelog} ({SIZE_REFUSAL}" in log, w1.log_tail()
    assert re.search(SIZE_NAMED, log), w1.log_tail()
    assert log.count(REFUSED_LINE) == 1, w1.log_tail()
    assert "Traceback (most recent call last)" not in log, w1.log_tail(200)
    # The fault as promised: no bucket's state reached the changelog.
    stored = [r.key for r in read_all(kafka_bootstrap, changelog)]
    assert all(k is not None and k.startswith(META_PREFIX.encode()) for k in stored), stored

    # Nothing committed past the seeds on the bucket's repartition partition.
    repartitioned = read_all(kafka_bootstrap, _repartition_topic(names))
    assert repartitioned, "no parsed seed reached the repartition topic"
    (bucket_key,) = {r.key for r in repartitioned}
    (partition,) = {r.partition for r in repartitioned}
    offsets = committed_and_ends(kafka_bootstrap, names.app_id, _repartition_topic(names))
    committed, _start, end = offsets[partition]
    assert committed is None or committed < end, (
        f"partition {partition} committed {committed} of {end} records: {offsets}"
    )
    dlq = [orjson.loads(r.value or b"{}") for r in read_all(kafka_bootstrap, names.dlq)]
    assert not dlq, f"unexpected DLQ records: {dlq}"

    # The changelog takes big records again (the overrides are replaced: keep compaction).
    alter_topic_config(kafka_bootstrap, changelog, {**compact, "max.message.bytes": "16777216"})
    from_w1 = {(r.partition, r.offset) for r in read_all(kafka_bootstrap, names.latest)}
    restarted_log_from = len(w1.log_path.read_bytes())
    w2 = spawn("w")  # the same state dir
    restarted = time.monotonic()
    w2.start()
    records = read_all(
        kafka_bootstrap, names.events, until=_has_event("story.updated"), timeout=120
    )
    recovery = time.monotonic() - restarted
    story_key = _assert_created_then_updated(_distinct_events(records))

    def versions_on_latest(skip: set[tuple[int, int]] | None = None) -> list[int]:
        """The story's versions on stories.latest in order, but for the records in ``skip``."""
        latest = read_all(kafka_bootstrap, names.latest)
        return [
            orjson.loads(r.value or b"{}")["version"]
            for r in latest
            if r.key == story_key.encode() and (r.partition, r.offset) not in (skip or set())
        ]

    wait_until(
        lambda: versions_on_latest()[-1:] == [2],
        60,
        "version 2 as the story's newest record on stories.latest",
        on_timeout=w2.log_tail,
    )
    # W2 replays in input order: what it writes to stories.latest never goes back.
    from_w2 = versions_on_latest(skip=from_w1)
    assert from_w2 == sorted(from_w2), versions_on_latest()
    _wait_all_committed(kafka_bootstrap, names, [names.raw, _repartition_topic(names)], w2)
    assert w2.alive(), w2.log_tail()
    assert w2.stop() < 15
    w2_log = w1.log_path.read_bytes()[restarted_log_from:].decode(errors="replace")
    assert REFUSED_LINE not in w2_log, w2.log_tail()
    bucket = [r.value for r in read_all(kafka_bootstrap, changelog) if r.key == bucket_key]
    assert bucket, "W2 delivered the events but the bucket's state never reached the changelog"
    state = decode_state(bucket[-1])
    assert state is not None
    assert len(state.bucket.versions) == 2, state

    # A worker with only the changelog: the re-delivered seeds are duplicates, nothing new.
    events_before = len(read_all(kafka_bootstrap, names.events))
    latest_before = len(read_all(kafka_bootstrap, names.latest))
    produce(kafka_bootstrap, names.raw, [original, update], keys=[SEED_KEY, SEED_KEY])
    w3 = spawn("w3")  # a new, empty state dir
    w3.start().wait_ready()
    wait_until(lambda: _drained(w3, 2), 120, "W3 to merge both inputs", on_timeout=w3.log_tail)
    assert w3.metrics()["wire_ingest_duplicates_total"] >= 2, w3.log_tail()
    after = read_all(kafka_bootstrap, names.events)
    summary = [(e["eventType"], e["version"]) for e in _distinct_events(after)]
    assert len(after) == events_before, f"W3 emitted for known versions: {summary}"
    assert len(read_all(kafka_bootstrap, names.latest)) == latest_before
    assert not read_all(kafka_bootstrap, names.dlq)
    REPORT.append(
        {
            "scenario": "changelog refuses a state",
            "items in": 4,
            "exit code": code,
            "duplicate events": len(after) - len(_distinct_events(after)),
            "stopped after s": round(stopped_after, 1),
            "recovery s": round(recovery, 1),
        }
    )


def test_an_update_merged_as_a_rebalance_begins_stays_last_on_latest(
    kafka_bootstrap: str, names: Names, spawn: Spawn
) -> None:
    """README, "Delivery guarantees", "The outbox": a rebalance's re-read re-sends the events
    of the inputs handled before it began and skips those handled while it ran. The launcher
    merges the seed original before a rebalance and its update as the rebalance begins, and
    commits nothing, so the original's event alone is re-sent, after the update's:
    ``stories.events`` gets it again byte for byte, and ``stories.latest`` must still end on
    the update's event."""
    original, update = _seeds()
    create_topic(kafka_bootstrap, names.raw, PARTITIONS)
    worker = spawn(module="tests.support.straddling_worker")
    worker.start().wait_ready()
    produce(kafka_bootstrap, names.raw, [original, update], keys=[SEED_KEY, SEED_KEY])
    wait_until(
        lambda: worker.metrics().get("wire_ingest_events_resent_total", 0) >= 1,
        120,
        "the original's event re-sent after the rebalance",
        on_timeout=worker.log_tail,
    )
    # Both raw inputs read twice (nothing was committed), each one merged: then the two
    # outputs hold all they will.
    wait_until(lambda: _drained(worker, 4), 60, "every input merged", on_timeout=worker.log_tail)
    assert "FAULT straddled" in worker.log_tail(10_000)
    assert worker.metrics()["wire_ingest_events_resent_total"] == 1  # the update was skipped
    read_all(kafka_bootstrap, names.latest, until=lambda r: len(r) >= 3)
    records = read_all(kafka_bootstrap, names.events)
    events = _distinct_events(records)
    _assert_created_then_updated(events)
    assert [orjson.loads(r.value or b"{}")["version"] for r in records] == [1, 2, 1]
    latest = read_all(kafka_bootstrap, names.latest)
    assert [orjson.loads(r.value or b"{}")["version"] for r in latest] == [1, 2, 2]
    assert latest[-1].value == records[1].value  # the update's event, byte for byte
