"""The worker end to end on the real broker: topics, merged state, DLQ, metrics."""

from __future__ import annotations

import shutil
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from tests.integration.scenario import comparable, expected_for, fixture_inputs
from tests.support.kafka_io import (
    create_topic,
    produce,
    read_all,
    stored_batches,
    topic_configs,
)
from tests.support.schemas import validate_dlq, validate_event
from tests.support.waiting import wait_until
from tests.support.worker import Names, WorkerProcess
from workers.core.events import EVENT_TYPE_NAMES

pytestmark = pytest.mark.integration

Spawn = Callable[..., WorkerProcess]

PARTITIONS = 4


def _wait_drained(workers: list[WorkerProcess], inputs: int, timeout: float = 120.0) -> None:
    """Every input consumed, and every parsed one merged (as an event or a duplicate)."""

    def total(name: str) -> float:
        return sum(
            sum(v for k, v in w.metrics().items() if k.split("{")[0] == name) for w in workers
        )

    def drained() -> bool:
        consumed = total("wire_ingest_items_consumed_total")
        parsed = total("wire_ingest_items_parsed_total")
        merged = total("wire_ingest_events_emitted_total") + total("wire_ingest_duplicates_total")
        return consumed >= inputs and merged >= parsed

    def logs() -> str:
        return "\n\n".join(f"--- {w.log_path.name}\n{w.log_tail(80)}" for w in workers)

    wait_until(drained, timeout, f"{inputs} inputs processed", interval=0.25, on_timeout=logs)


def _check_outputs(bootstrap: str, names: Names, expected: object) -> dict[str, dict]:
    from tests.integration.scenario import Expected

    assert isinstance(expected, Expected)
    events = [orjson.loads(r.value) for r in read_all(bootstrap, names.events)]
    latest_records = read_all(bootstrap, names.latest)
    dlq_records = read_all(bootstrap, names.dlq)
    dlq = [orjson.loads(r.value) for r in dlq_records]
    # A DLQ record's Kafka key is its raw sha256 (README, "Events"): a re-sent item's
    # records share it.
    assert [r.key for r in dlq_records] == [d["rawSha256"].encode() for d in dlq]

    for event in events:
        validate_event(event)
    for record in dlq:
        validate_dlq(record)

    # One event per distinct version, none for duplicates.
    assert len(events) == expected.event_count
    assert len({e["eventId"] for e in events}) == len(events)

    # stories.latest: one key per story, and its newest value is what a replay gives.
    latest: dict[str, dict] = {}
    for record in latest_records:
        assert record.key is not None
        value = orjson.loads(record.value)
        assert record.key.decode() == value["storyKey"]
        latest[value["storyKey"]] = value
    assert set(latest) == set(expected.latest)
    for key, event in expected.latest.items():
        assert comparable(latest[key]) == comparable(event), key

    # Every reject is in the DLQ with its reason and its bytes.
    assert Counter(r["reason"] for r in dlq) == expected.reject_reasons
    expected_hashes = Counter(r["rawSha256"] for r in expected.replay.result.rejects)
    assert Counter(r["rawSha256"] for r in dlq) == expected_hashes
    return latest


def test_end_to_end_matches_replay(kafka_bootstrap: str, names: Names, spawn: Spawn) -> None:
    inputs = fixture_inputs()
    expected = expected_for(inputs)
    create_topic(kafka_bootstrap, names.raw, PARTITIONS)
    worker = spawn().start()
    worker.wait_ready()

    started = time.time()
    produce(kafka_bootstrap, names.raw, inputs, partitions=PARTITIONS)
    _wait_drained([worker], len(inputs))
    _check_outputs(kafka_bootstrap, names, expected)

    def rejects_counted() -> bool:  # counted as the broker acknowledges each DLQ record
        counted = worker.metrics()
        return all(
            counted.get(f"wire_ingest_items_rejected_total{{reason={reason}}}") == count
            for reason, count in expected.reject_reasons.items()
        )

    wait_until(rejects_counted, 30, "the rejects counted", interval=0.25)
    metrics = worker.metrics()
    assert metrics["wire_ingest_items_consumed_total"] == len(inputs)
    assert metrics["wire_ingest_items_parsed_total"] == len(inputs) - sum(
        expected.reject_reasons.values()
    )
    for reason, count in expected.reject_reasons.items():
        assert metrics[f"wire_ingest_items_rejected_total{{reason={reason}}}"] == count
    assert metrics["wire_ingest_duplicates_total"] == expected.duplicates
    emitted = Counter(e["eventType"] for e in expected.replay.result.events)
    # Four raw partitions may order a story's versions otherwise than the replay: updated and
    # backfilled may trade places, the total may not.
    assert sum(
        metrics[f"wire_ingest_events_emitted_total{{type={t}}}"] for t in EVENT_TYPE_NAMES
    ) == sum(emitted.values())
    assert metrics["wire_ingest_events_emitted_total{type=story.created}"] == len(expected.latest)
    assert (
        metrics["wire_ingest_backfills_total"]
        == metrics["wire_ingest_events_emitted_total{type=story.backfilled}"]
    )
    assert metrics["wire_ingest_stories_in_state"] == len(expected.replay.result.live_stories())
    assert metrics["wire_ingest_end_to_end_latency_seconds_count"] == sum(emitted.values())
    assert metrics["wire_ingest_processing_seconds_count{stage=parse}"] == len(inputs)
    assert any(k.startswith("wire_ingest_build_info") for k in metrics)
    lag = {k: v for k, v in metrics.items() if k.startswith("wire_ingest_consumer_lag_messages")}
    assert lag
    assert all(v == 0 for v in lag.values()), lag
    assert metrics["wire_ingest_seconds_behind"] == 0
    assert metrics[f"wire_ingest_assigned_partitions{{topic={names.raw}}}"] == PARTITIONS
    assert metrics[f"wire_ingest_assigned_partitions{{topic={names.app_id}.items-by-story}}"] == (
        PARTITIONS
    )
    assert metrics["wire_ingest_last_event_timestamp_seconds"] >= started
    assert metrics["wire_ingest_last_item_timestamp_seconds"] >= started
    assert metrics["wire_ingest_rebalance_seconds_count"] >= 1  # the first assignment
    assert metrics["wire_ingest_ready"] == 1
    assert worker.stop() < 15
    _check_compressed(kafka_bootstrap, names)


def _check_compressed(bootstrap: str, names: Names) -> None:
    """Every topic the worker writes holds zstd batches (WIRE_COMPRESSION's default): those
    of whole items and stories at under half the bytes of their records, the saving
    BENCHMARKS.md measures; the DLQ's few short records of this input at less than theirs."""
    share_at_most = {
        names.events: 0.5,
        names.latest: 0.5,
        f"{names.app_id}.items-by-story": 0.5,
        f"{names.app_id}-story-buckets-changelog": 0.5,
        names.dlq: 0.9,
    }
    for topic, share in share_at_most.items():
        records, batches = stored_batches(bootstrap, topic)
        assert records, topic
        codecs = Counter(batch.codec for batch in batches)
        # aiokafka's pure-Python batch builder sends a batch as it is when compressing would
        # not shrink it (its compiled one always compresses): "none" may be among them.
        assert codecs["zstd"] >= 1, (topic, codecs)
        assert set(codecs) <= {"zstd", "none"}, (topic, codecs)
        payload = sum(len(r.key or b"") + len(r.value or b"") for r in records)
        stored = sum(batch.size for batch in batches)
        assert stored < payload * share, (topic, stored, payload)


def test_restart_restores_state_from_changelog(
    kafka_bootstrap: str, names: Names, spawn: Spawn
) -> None:
    seeds = fixture_inputs()[:2]
    update, original = seeds
    create_topic(kafka_bootstrap, names.raw, PARTITIONS)
    first = spawn("first").start()
    first.wait_ready()
    produce(kafka_bootstrap, names.raw, [original], partitions=PARTITIONS)
    _wait_drained([first], 1)
    assert first.stop() < 15

    produce(kafka_bootstrap, names.raw, [update, original], partitions=PARTITIONS)
    # A new state directory: the story can only be known through the changelog.
    second = spawn("second").start()
    second.wait_ready()
    _wait_drained([second], 2)

    records = read_all(kafka_bootstrap, names.events)
    # At least once: the second worker may process an input again before its offset is
    # committed; the outbox then sends the same event again, byte for byte.
    by_id: dict[str, bytes] = {}
    for record in records:
        event_id = orjson.loads(record.value)["eventId"]
        assert by_id.setdefault(event_id, record.value) == record.value
    events = [orjson.loads(value) for value in by_id.values()]
    assert [e["eventType"] for e in events] == ["story.created", "story.updated"]
    assert len({e["storyKey"] for e in events}) == 1
    assert [e["version"] for e in events] == [1, 2]
    metrics = second.metrics()
    # At least once: a rebalance while the second worker joins may hand it an input again
    # before its offset is committed; that may repeat work, never an event.
    assert metrics["wire_ingest_items_consumed_total"] >= 2
    assert metrics["wire_ingest_duplicates_total"] >= 1
    assert metrics["wire_ingest_stories_in_state"] == 1
    # Its RocksDB store, rebuilt from the changelog, is on disk and measured, and so is the
    # volume it is on.
    assert metrics["wire_ingest_state_bytes"] > 0
    assert (
        metrics["wire_ingest_state_volume_size_bytes"] == shutil.disk_usage(second.state_dir).total
    )
    assert (
        0
        < metrics["wire_ingest_state_volume_free_bytes"]
        < metrics["wire_ingest_state_volume_size_bytes"]
    )


def test_two_workers_share_the_partitions(kafka_bootstrap: str, names: Names, spawn: Spawn) -> None:
    inputs = fixture_inputs()
    expected = expected_for(inputs)
    create_topic(kafka_bootstrap, names.raw, PARTITIONS)
    one, two = spawn("one").start(), spawn("two").start()
    one.wait_ready()
    two.wait_ready()

    # Both must own raw partitions before input flows, or this would test one worker twice.
    def split() -> bool:
        parts = [w.raw_partitions() for w in (one, two)]
        return all(parts) and sorted(parts[0] + parts[1]) == list(range(PARTITIONS))

    wait_until(split, 60, "both workers to own raw partitions")
    one.wait_ready()
    two.wait_ready()
    produce(kafka_bootstrap, names.raw, inputs, partitions=PARTITIONS)
    _wait_drained([one, two], len(inputs))
    _check_outputs(kafka_bootstrap, names, expected)
    consumed = [w.metrics()["wire_ingest_items_consumed_total"] for w in (one, two)]
    assert sum(consumed) == len(inputs)
    assert all(c > 0 for c in consumed), consumed


def test_produce_to_a_missing_topic_is_one_line_and_exit_3(
    kafka_bootstrap: str,
    names: Names,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from tests.support.fixtures import SEED_ORIGINAL
    from workers.cli import main

    monkeypatch.setenv("KAFKA_BOOTSTRAP", kafka_bootstrap)
    missing = f"{names.raw}-missing"
    assert main(["produce", "--topic", missing, str(SEED_ORIGINAL)]) == 3
    err = capsys.readouterr().err
    assert err == (
        f"produce: the topic {missing} does not exist at {kafka_bootstrap} (the worker creates "
        "its topics when it starts; create others first)\n"
    )
    create_topic(kafka_bootstrap, missing, 1)
    assert main(["produce", "--topic", missing, str(SEED_ORIGINAL)]) == 0
    records, batches = stored_batches(kafka_bootstrap, missing)
    assert len(records) == 1
    # The raw topic is the newsroom's: written uncompressed, as any release reads it (README,
    # "Upgrades"), although the seed's text would shrink under zstd.
    assert [batch.codec for batch in batches] == ["none"]


def test_produce_sends_the_files_of_one_call_to_one_partition_in_order(
    kafka_bootstrap: str,
    names: Names,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """The worker reads them in the order given: an original before its update."""
    from workers.cli import main

    monkeypatch.setenv("KAFKA_BOOTSTRAP", kafka_bootstrap)
    create_topic(kafka_bootstrap, names.raw, PARTITIONS)
    files = []
    for n in range(12):
        path = tmp_path / f"item-{n:02d}.txt"
        path.write_bytes(f"item {n}".encode())
        files.append(path)
    assert main(["produce", "--topic", names.raw, *map(str, files)]) == 0
    assert main(["produce", "--topic", names.raw, *map(str, reversed(files))]) == 0
    records = read_all(kafka_bootstrap, names.raw)
    assert len(records) == 2 * len(files)
    for sent in (files, list(reversed(files))):
        values = [path.read_bytes() for path in sent]
        calls = [
            [r for r in records if r.partition == partition]
            for partition in {r.partition for r in records}
        ]
        assert any(
            [r.value for r in call][i : i + len(values)] == values
            for call in calls
            for i in range(len(call))
        ), "the files of one call are not on one partition in the order given"


def test_a_topic_the_broker_refuses_stops_the_worker_with_the_broker_s_reason(
    kafka_bootstrap: str, names: Names, capsys: pytest.CaptureFixture[str]
) -> None:
    """WIRE_REPLICATION_FACTOR=3 on one broker: the reason in one line, exit 3, no waiting."""
    import time

    from workers.settings import Settings
    from workers.stream.runner import run_worker

    env = {**names.env(), "KAFKA_BOOTSTRAP": kafka_bootstrap, "WIRE_REPLICATION_FACTOR": "3"}
    started = time.monotonic()
    assert run_worker(Settings.from_env(env)) == 3
    assert time.monotonic() - started < 30
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith("wire-ingest: refusing to start: the broker refused to create ")
    assert err.count("InvalidReplicationFactorError") == 1, err  # said once for every topic
    assert f"{names.raw}, {names.events}, " in err


def test_topics_are_created_with_their_chosen_settings(kafka_bootstrap: str, names: Names) -> None:
    import asyncio

    from workers.settings import Settings
    from workers.stream.topics import changelog_topic, ensure_topics

    env = {**names.env(), "KAFKA_BOOTSTRAP": kafka_bootstrap, "WIRE_RAW_RETENTION_DAYS": "2"}
    settings = Settings.from_env(env)
    asyncio.run(ensure_topics(settings))
    wanted = ["retention.ms", "cleanup.policy", "max.message.bytes"]
    raw = topic_configs(kafka_bootstrap, names.raw, wanted)
    assert raw["retention.ms"] == str(2 * 86_400_000)
    assert raw["max.message.bytes"] == str(16 * 1024 * 1024)
    assert topic_configs(kafka_bootstrap, names.dlq, wanted)["retention.ms"] == str(30 * 86_400_000)
    assert topic_configs(kafka_bootstrap, names.latest, wanted)["cleanup.policy"] == "compact"
    changelog = topic_configs(kafka_bootstrap, changelog_topic(settings), wanted)
    assert changelog["cleanup.policy"] == "compact"


def test_the_first_start_on_a_new_broker_logs_no_error(
    spawn: Callable[..., WorkerProcess],
) -> None:
    """A new broker has no coordinator for any group until asked for one: Faust's consumer
    used to log "Group Coordinator Request failed" as an ERROR on every clean first start,
    which an on-call reader cannot tell from a broker in trouble."""
    from tests.support.broker import LocalBroker, free_port

    broker = LocalBroker(free_port())
    try:
        broker.stop()  # drop data a crashed earlier run may have left for this port
        broker.start()
        worker = spawn("fresh", bootstrap=broker.bootstrap).start()
        worker.wait_ready()
        log = worker.log_path.read_text(errors="replace")
        errors = [line for line in log.splitlines() if "ERROR" in line]
        assert not errors, worker.log_tail()
        assert worker.stop() < 15
    finally:
        broker.stop()


def test_an_aborted_transaction_on_the_raw_topic_never_becomes_a_story(
    kafka_bootstrap: str, names: Names, spawn: Callable[..., WorkerProcess]
) -> None:
    """A newsroom system that writes in transactions: what it aborts was never sent, and
    the commit marker after its last item is no message left to do for the lag gauges."""
    import asyncio

    from aiokafka import AIOKafkaProducer

    from tests.support.fixtures import (
        FORMATS_DIR,
        SEED_ORIGINAL,
        SEED_ORIGINAL_HEADLINE,
        SEED_UPDATED,
    )

    identity = FORMATS_DIR.parent / "identity"
    aborted, committed = SEED_ORIGINAL.read_bytes(), (identity / "twin-b.txt").read_bytes()
    create_topic(kafka_bootstrap, names.raw, PARTITIONS)

    async def send_in_transactions(*batches: tuple[bytes, bool]) -> None:
        """Each (value, commit) in a transaction of its own, on partition 0."""
        producer = AIOKafkaProducer(
            bootstrap_servers=kafka_bootstrap, transactional_id=f"{names.raw}-newsroom"
        )
        await producer.start()
        try:
            for value, commit in batches:
                await producer.begin_transaction()
                await producer.send_and_wait(names.raw, value, partition=0)
                if commit:
                    await producer.commit_transaction()
                else:
                    await producer.abort_transaction()
        finally:
            await producer.stop()

    asyncio.run(send_in_transactions((aborted, False), (committed, True)))
    produce(kafka_bootstrap, names.raw, [SEED_UPDATED.read_bytes()], partitions=1)
    # Partition 0 ends with a commit marker: the re-delivered update (a duplicate) is its
    # last record, one offset before the end.
    asyncio.run(send_in_transactions((SEED_UPDATED.read_bytes(), True)))
    worker = spawn(partitions=PARTITIONS).start()
    worker.wait_ready()
    _wait_drained([worker], inputs=3)
    events = [orjson.loads(r.value) for r in read_all(kafka_bootstrap, names.events)]
    headlines = {v["headline"] for e in events for v in e["history"]}
    assert len(events) == 2, headlines
    assert SEED_ORIGINAL_HEADLINE not in headlines
    assert worker.metrics()["wire_ingest_items_consumed_total"] == 3
    assert worker.metrics()["wire_ingest_duplicates_total"] == 1

    def raw_lag() -> dict[str, float]:
        return {
            name: value
            for name, value in worker.metrics().items()
            if name.startswith("wire_ingest_consumer_lag_messages{") and names.raw in name
        }

    # Nothing is left to do: the gauges say so once the fetch after the last record returns.
    wait_until(
        lambda: len(raw_lag()) == PARTITIONS and not any(raw_lag().values()),
        30.0,
        "no lag on the raw topic",
        on_timeout=lambda: f"{raw_lag()}",
    )
    assert worker.metrics()["wire_ingest_seconds_behind"] == 0.0
