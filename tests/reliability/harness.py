"""Run a scenario's inputs through real workers, then account for every input."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from tests.support.fixtures import CORPUS_RETENTION
from tests.support.kafka_io import produce, read_all
from tests.support.worker import Names
from workers.core.events import Source
from workers.core.keys import raw_sha256
from workers.replay import Replayer

REPORT: list[dict[str, Any]] = []


@dataclass
class Accounting:
    """What the topics hold compared with a replay of the same inputs."""

    inputs: int
    expected_versions: int
    events: int
    lost: list[tuple[str, str]]
    spurious: list[tuple[str, str]]
    duplicate_events: int
    non_identical_duplicates: int
    stories_wrong: list[str]
    dlq_records: int
    rejects_missing: int
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def lost_count(self) -> int:
        return len(self.lost) + len(self.stories_wrong) + self.rejects_missing

    def assert_nothing_lost(self) -> None:
        assert not self.lost, f"{len(self.lost)} versions never emitted: {self.lost[:5]}"
        assert not self.spurious, f"events for versions nobody sent: {self.spurious[:5]}"
        assert self.non_identical_duplicates == 0, "an eventId was emitted with other bytes"
        assert not self.stories_wrong, (
            f"latest differs from replay: {self.stories_wrong[:5]}; "
            + "; ".join(self.notes.get("stories wrong", []))
        )
        assert self.rejects_missing == 0, f"{self.rejects_missing} rejects not in the DLQ"


def expected_replay(values: list[bytes]) -> Replayer:
    """The replay of ``values`` as the worker will see them, produced about now: each with
    a Kafka timestamp of now, which caps how far a version dated in the future (a year
    garbled to 2825) moves stream time, as the worker's record timestamps do."""
    replayer = Replayer(retention=CORPUS_RETENTION)
    now_ms = time.time_ns() // 1_000_000
    for index, raw in enumerate(values):
        replayer.feed(raw, Source(raw_sha256(raw), file=f"input-{index}", timestamp_ms=now_ms))
    return replayer


def expected_pairs(replayer: Replayer) -> set[tuple[str, str]]:
    """(story key, content hash) of every version the replay ended with.

    A story's last event lists the versions it keeps in full; an older update it folded
    (a story keeps 10 in full) is taken from the event its arrival caused, whose story key
    does not depend on arrival order for a story that long.
    """
    listed = {
        (key, version["contentHash"])
        for key, event in replayer.result.latest_by_story().items()
        for version in event["history"]
    }
    hashes = {content_hash for _, content_hash in listed}
    folded = {
        (event["storyKey"], event["trigger"]["contentHash"])
        for event in replayer.result.events
        if event["trigger"]["contentHash"] not in hashes
    }
    return listed | folded


def wait_for_outputs(
    bootstrap: str,
    names: Names,
    replayer: Replayer,
    timeout: float,
    on_timeout: Callable[[], str] | None = None,
) -> None:
    """Wait until every expected version has an event and every reject a DLQ record."""
    want = expected_pairs(replayer)
    want_rejects = len(replayer.result.rejects)

    def seen(records: list[Any]) -> bool:
        got = set()
        for record in records:
            event = orjson.loads(record.value)
            got.add((event["storyKey"], event["trigger"]["contentHash"]))
        return want <= got

    try:
        read_all(bootstrap, names.events, until=seen, timeout=timeout)
        read_all(
            bootstrap,
            names.dlq,
            until=lambda rs: (
                len({orjson.loads(r.value)["rawSha256"] for r in rs})
                >= len({r["rawSha256"] for r in replayer.result.rejects})
            ),
            timeout=timeout,
        )
    except AssertionError as exc:
        extra = on_timeout() if on_timeout else ""
        raise AssertionError(f"{exc}\n{extra}") from None
    del want_rejects


def account(bootstrap: str, names: Names, values: list[bytes], replayer: Replayer) -> Accounting:
    from tests.integration.scenario import comparable

    events_raw = read_all(bootstrap, names.events)
    by_id: dict[str, bytes] = {}
    duplicates = non_identical = 0
    got: set[tuple[str, str]] = set()
    for record in events_raw:
        assert record.value is not None
        event = orjson.loads(record.value)
        got.add((event["storyKey"], event["trigger"]["contentHash"]))
        previous = by_id.get(event["eventId"])
        if previous is not None:
            duplicates += 1
            non_identical += previous != record.value
        by_id[event["eventId"]] = record.value
    want = expected_pairs(replayer)

    # A story's last record, as a consumer of the compacted topic is left with (a key is in
    # one partition, read in offset order): a late older version counts as wrong.
    latest: dict[str, dict[str, Any]] = {}
    latest_at: dict[str, Any] = {}
    for record in read_all(bootstrap, names.latest):
        value = orjson.loads(record.value)
        latest[value["storyKey"]] = value
        latest_at[value["storyKey"]] = record
    expected_latest = replayer.result.latest_by_story()
    wrong = [
        key
        for key, event in expected_latest.items()
        if key not in latest or comparable(latest[key]) != comparable(event)
    ]
    # What a failure shows of the first few: enough to tell an older version written late
    # (its record's time) from a story whose state was set back (its history).
    wrong_detail = [
        _story_difference(key, expected_latest[key], latest.get(key), latest_at.get(key))
        for key in wrong[:3]
    ]

    dlq = [orjson.loads(r.value) for r in read_all(bootstrap, names.dlq)]
    dlq_hashes = Counter(r["rawSha256"] for r in dlq)
    missing = sum(1 for r in replayer.result.rejects if r["rawSha256"] not in dlq_hashes)
    return Accounting(
        inputs=len(values),
        expected_versions=len(want),
        events=len(events_raw),
        lost=sorted(want - got),
        spurious=sorted(got - want),
        duplicate_events=duplicates,
        non_identical_duplicates=non_identical,
        stories_wrong=wrong,
        dlq_records=len(dlq),
        rejects_missing=missing,
        notes={"stories wrong": wrong_detail} if wrong_detail else {},
    )


def _story_difference(
    key: str, expected: dict[str, Any], got: dict[str, Any] | None, record: Any
) -> str:
    def versions(event: dict[str, Any]) -> list[str]:
        return [version["contentHash"][:8] for version in event["history"]]

    if got is None:
        return f"{key}: nothing on stories.latest"
    return (
        f"{key}: version {got['version']} {versions(got)} at {record.partition}@{record.offset} "
        f"(made {record.timestamp_ms}), replay version {expected['version']} {versions(expected)}"
    )


def report(scenario: str, accounting: Accounting, recovery_s: float | None, **extra: Any) -> None:
    """One row of the suite's table (printed at the end of the pytest run)."""
    REPORT.append(
        {
            "scenario": scenario,
            "items in": accounting.inputs,
            "lost": accounting.lost_count,
            "duplicate events": accounting.duplicate_events,
            "DLQ records": accounting.dlq_records,
            "recovery s": None if recovery_s is None else round(recovery_s, 1),
            **extra,
        }
    )


class Feeder(threading.Thread):
    """Produces values in chunks at a steady pace, so faults land mid-stream.

    ``allow(n)`` holds the feed once ``n`` values are sent, until the test allows more: a
    scenario whose faults take long on a slow machine still has input left for each.
    """

    def __init__(
        self, bootstrap: str, topic: str, values: list[bytes], chunk: int, pause_s: float
    ) -> None:
        super().__init__(daemon=True)
        self.bootstrap, self.topic, self.values = bootstrap, topic, values
        self.chunk, self.pause_s = chunk, pause_s
        self.sent = 0
        self.error: BaseException | None = None
        self._allowed = len(values)
        self._more = threading.Condition()

    def allow(self, count: int) -> None:
        """Let the feed go on up to ``count`` values (at most the chunk that crosses it)."""
        with self._more:
            self._allowed = count
            self._more.notify_all()

    def run(self) -> None:
        try:
            for start in range(0, len(self.values), self.chunk):
                with self._more:
                    self._more.wait_for(lambda start=start: start < self._allowed)
                part = self.values[start : start + self.chunk]
                self._produce_retrying(part)
                self.sent += len(part)
                time.sleep(self.pause_s)  # pacing the feed, not waiting for anything
        except BaseException as exc:  # surfaced by the test through .error
            self.error = exc

    def _produce_retrying(self, part: list[bytes], deadline_s: float = 180.0) -> None:
        """A newsroom producer retries while the broker is away (re-sends are duplicates)."""
        give_up = time.monotonic() + deadline_s
        while True:
            try:
                produce(self.bootstrap, self.topic, part, partitions=4)
                return
            except Exception:
                if time.monotonic() > give_up:
                    raise
                time.sleep(1.0)  # back-off between attempts against a stopped broker
