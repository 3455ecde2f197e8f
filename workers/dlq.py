"""``wire-ingest dlq``: list, show and re-produce dead-lettered records after a fix.

Every DLQ record carries the original bytes of what was refused (``rawBase64``) and why
(``reason``). After the cause is fixed (a parser change, a larger limit), ``dlq replay``
sends those bytes back to the raw topic, exactly as they first arrived, with the input
headers they came with (``wire-format``) and their first arrival time
(``wire-received-at``), so the worker reads them as it read them first, in the order they
first arrived and on the partitions they came on. The DLQ topic is read up to its end
offsets at the start of the command (records dead-lettered meanwhile wait for the next run),
partition by partition, only where the selection can match (``--partition``, ``--offset``,
``--since``), and one record at a time: memory holds what a replay sends, not the topic.
Only whole wire inputs go (their ``rawSha256`` and ``rawSize`` checked), each once per run;
a record the broker refuses is named and stays on the DLQ (exit 5).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import heapq
import sys
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaConnectionError, KafkaError

from workers.core.formats import INPUT_HEADERS, RECEIVED_AT_HEADER, received_time
from workers.core.keys import raw_sha256
from workers.produce import EXIT_NOT_TAKEN, MissingTopicError, NotSentError, send_values
from workers.settings import Settings, load_or_report
from workers.stream.delivery import describe
from workers.stream.kafka_client import client_kwargs, unreachable
from workers.stream.topics import refuse_output

# The reason ``list`` and ``show`` give a record that is not a DLQ record of wire-ingest.
UNREADABLE = "unreadable"


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One DLQ record and where it is on the DLQ topic."""

    partition: int
    offset: int
    timestamp_ms: int
    record: dict[str, Any]

    @property
    def reason(self) -> str:
        return str(self.record.get("reason", "?"))

    @property
    def position(self) -> str:
        """Where the record is on the DLQ topic: partition:offset."""
        return f"{self.partition}:{self.offset}"

    @property
    def at(self) -> datetime:
        return datetime.fromtimestamp(self.timestamp_ms / 1000, tz=UTC)

    @property
    def source(self) -> dict[str, Any]:
        """Where the refused input was read (``{}`` for a record that names no readable one)."""
        source = self.record.get("source")
        return source if isinstance(source, dict) else {}

    @property
    def origin(self) -> tuple[str, int, int] | None:
        """The topic, partition and offset the input was read at (None: not from Kafka)."""
        source = self.source
        topic, partition, offset = (
            source.get("topic"),
            source.get("partition"),
            source.get("offset"),
        )
        if isinstance(topic, str) and isinstance(partition, int) and isinstance(offset, int):
            return topic, partition, offset
        return None

    @property
    def first_arrival_ms(self) -> int:
        """The input's Kafka time when it first arrived, else the dead letter's own."""
        first = self.source.get("timestampMs")
        return first if isinstance(first, int) else self.timestamp_ms

    def replayable(
        self, internal_topics: Collection[str] = ()
    ) -> tuple[bytes, None] | tuple[None, str]:
        """The original bytes, or why they cannot be sent again: a record that kept only a
        prefix (``rawTruncated``), holds no readable ``rawBase64``, or whose bytes do not
        match the ``rawSha256`` and ``rawSize`` it names (they would not be the input); or
        one read from ``internal_topics`` (the repartition topic): the worker dead-letters
        a record of its own that it cannot read as it is, and those bytes are not a wire
        input."""
        topic = self.source.get("topic")
        if topic is not None and topic in internal_topics:
            return None, (
                f"its bytes are a record of the worker's own topic {topic} that could not be "
                "read, not a wire input"
            )
        if self.record.get("rawTruncated"):
            return None, (
                "only a prefix of its bytes was kept (rawTruncated); the whole value is on "
                "the raw topic at its source"
            )
        try:
            raw = base64.b64decode(self.record["rawBase64"], validate=True)
        except (KeyError, TypeError, ValueError, binascii.Error):
            return None, "it holds no readable rawBase64 (not a DLQ record of wire-ingest?)"
        sha, size = self.record.get("rawSha256"), self.record.get("rawSize")
        if (sha is not None and sha != raw_sha256(raw)) or (size is not None and size != len(raw)):
            return None, "its bytes do not match its rawSha256 and rawSize"
        return raw, None

    def input_headers(self) -> list[tuple[str, bytes]]:
        """The headers to send the input again with: those it came with, and a
        ``wire-received-at`` of its first arrival (its Kafka time) unless it came with one
        that reads, so that times without a year are read as they were, not against the day
        of the replay. (The worker took an unreadable one for the Kafka time too.)"""
        kept = self.record.get("headers")
        found = {
            str(name): str(value)
            for name, value in (kept.items() if isinstance(kept, dict) else ())
            if name in INPUT_HEADERS
        }
        if received_time(found.get(RECEIVED_AT_HEADER)) is None:
            found.pop(RECEIVED_AT_HEADER, None)
            first_arrival = self.source.get("timestampMs")
            if isinstance(first_arrival, int):
                when = datetime.fromtimestamp(first_arrival / 1000, tz=UTC)
                found[RECEIVED_AT_HEADER] = when.isoformat()
        return [(name, value.encode()) for name, value in found.items()]

    def line(self) -> str:
        """One readable line: where, when, why, and where the input first was."""
        source = self.source
        origin = (
            f"{source.get('topic')}:{source.get('partition')}:{source.get('offset')}"
            if "topic" in source
            else source.get("file", "?")
        )
        detail = str(self.record.get("detail", ""))
        detail = detail if len(detail) <= 100 else detail[:99] + "…"
        size = self.record.get("rawSize")
        return (
            f"{self.partition}:{self.offset} {self.at:%Y-%m-%dT%H:%M:%SZ} {self.reason:18} "
            f"{size if isinstance(size, int) else '?':>8} B from {origin} | {detail}"
        )


@dataclass(frozen=True, slots=True)
class Selection:
    """Which records a command works on: by reason, by time, by position."""

    reasons: frozenset[str] = frozenset()
    since: datetime | None = None
    until: datetime | None = None
    partition: int | None = None
    offset: int | None = None

    def __call__(self, letter: DeadLetter) -> bool:
        return (
            (not self.reasons or letter.reason in self.reasons)
            and (self.since is None or letter.at >= self.since)
            and (self.until is None or letter.at < self.until)
            and (self.partition is None or letter.partition == self.partition)
            and (self.offset is None or letter.offset == self.offset)
        )


# A partition that gives no record for this long although its end is ahead (no leader, say)
# ends the command rather than hang it: three times the client's request timeout (40 s),
# within which a healthy broker answers a fetch of the largest records.
READ_STALL_S = 120.0


class NoSuchPartitionError(LookupError):
    """``--partition`` names a partition the DLQ topic does not have."""


class DlqReadError(RuntimeError):
    """The DLQ could not be read up to its end offsets."""


async def read_dead_letters(
    settings: Settings, topic: str, selection: Selection, each: Callable[[DeadLetter], None]
) -> None:
    """Hand ``each`` the selected records of the DLQ topic up to its end offsets now,
    partition by partition in offset order. Only the partitions and the offsets the
    selection can match are read; each record is dropped once handed over."""
    consumer = AIOKafkaConsumer(
        enable_auto_commit=False,
        # Records deleted by retention during the read: go on from the oldest left.
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=32 * 1024 * 1024,
        **client_kwargs(settings),
    )
    try:
        await consumer.start()  # inside: a client that cannot start is closed all the same
        partitions = consumer.partitions_for_topic(topic)
        if partitions is None:
            await consumer._client.force_metadata_update()
            partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            raise MissingTopicError(topic)
        tps = [
            TopicPartition(topic, p)
            for p in sorted(partitions)
            if selection.partition is None or p == selection.partition
        ]
        if not tps:
            raise NoSuchPartitionError(
                f"{topic} has partitions 0-{max(partitions)}, not {selection.partition}"
            )
        ends = await consumer.end_offsets(tps)
        starts = await _first_offsets(consumer, tps, selection)
        for tp in tps:
            start, end = starts.get(tp), ends[tp]
            if selection.offset is not None:
                end = min(end, selection.offset + 1)
            if start is None or start >= end:
                continue
            # One partition at a time: an assigned partition is fetched in the background
            # from wherever it stands, and its records would be held until they are read.
            consumer.assign([tp])
            consumer.seek(tp, start)
            await _read_partition(consumer, tp, end, selection, each)
    finally:
        await consumer.stop()


async def _first_offsets(
    consumer: AIOKafkaConsumer, tps: list[TopicPartition], selection: Selection
) -> dict[TopicPartition, int]:
    """Where reading starts in each partition; a partition the selection cannot match has
    none (its offset is gone, or no record was dead-lettered at or after ``since``)."""
    firsts: dict[TopicPartition, int] = await consumer.beginning_offsets(tps)
    if selection.offset is not None:
        firsts = {tp: selection.offset for tp, first in firsts.items() if selection.offset >= first}
    if selection.since is not None:
        since_ms = max(int(selection.since.timestamp() * 1000), 0)  # the broker takes no earlier
        found = await consumer.offsets_for_times(dict.fromkeys(firsts, since_ms))
        firsts = {
            tp: max(first, at.offset)
            for tp, first in firsts.items()
            if (at := found.get(tp)) is not None
        }
    return firsts


async def _read_partition(
    consumer: AIOKafkaConsumer,
    tp: TopicPartition,
    end: int,
    selection: Selection,
    each: Callable[[DeadLetter], None],
) -> None:
    position = await consumer.position(tp)
    progressed = time.monotonic()
    while position < end:
        batch = await consumer.getmany(tp, timeout_ms=1000)
        for message in batch.get(tp, ()):
            if message.offset < end:
                letter = _letter(message)
                if selection(letter):
                    each(letter)
        now, before = time.monotonic(), position
        position = await consumer.position(tp)
        if position > before:
            progressed = now
        elif now - progressed > READ_STALL_S:
            raise DlqReadError(
                f"no records from {tp.topic} partition {tp.partition} for {READ_STALL_S:g} s "
                f"(at offset {position} of {end})"
            )


def _letter(message: Any) -> DeadLetter:
    try:
        record = orjson.loads(message.value or b"")
    except orjson.JSONDecodeError:
        record = {"reason": UNREADABLE, "detail": "not a DLQ record of wire-ingest"}
    # A JSON value without a reason (an event, on a topic named by mistake) is none either.
    if not isinstance(record, dict) or "reason" not in record:
        record = {"reason": UNREADABLE, "detail": "not a DLQ record of wire-ingest"}
    return DeadLetter(message.partition, message.offset, message.timestamp, record)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def parse_time(text: str) -> datetime:
    """An ISO 8601 time; without a zone it is UTC."""
    when = datetime.fromisoformat(text)
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def run(action: str, selection: Selection, topic: str | None, to_topic: str | None) -> int:
    """``list``, ``show`` or ``replay`` the selected records; one stderr line on a failure."""
    settings = load_or_report()
    if settings is None:
        return 2
    source = topic or settings.topic_dlq
    target = to_topic or settings.topic_raw
    if action == "replay" and (refusal := refuse_output("dlq", settings, target)) is not None:
        print(refusal, file=sys.stderr)
        return 2
    try:
        if action == "replay":
            return _replay(settings, selection, source, target)
        selected = 0

        def each(letter: DeadLetter) -> None:
            nonlocal selected
            selected += 1
            if action == "list":
                sys.stdout.write(letter.line() + "\n")
            else:
                doc = {"partition": letter.partition, "offset": letter.offset, **letter.record}
                sys.stdout.buffer.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n")

        try:
            asyncio.run(read_dead_letters(settings, source, selection, each))
        except BrokenPipeError:  # `wire-ingest dlq list | head` is fine
            sys.stderr.close()
            return 0
        if action == "list":
            print(f"dlq: {_count(selected, 'record')} selected on {source}", file=sys.stderr)
            return 0
        if not selected:
            print(f"dlq: no records selected on {source}", file=sys.stderr)
            return 1
        return 0
    except NoSuchPartitionError as exc:
        print(f"dlq: {exc}", file=sys.stderr)
        return 2
    except MissingTopicError as exc:
        print(f"dlq: the topic {exc} does not exist at {settings.kafka_bootstrap}", file=sys.stderr)
        return 3
    except KafkaConnectionError as exc:
        print(f"dlq: {unreachable(settings, exc)}", file=sys.stderr)
        return 4
    except (KafkaError, DlqReadError) as exc:  # refused (authorisation), timed out, no leader
        print(f"dlq: Kafka did not serve {source}: {describe(exc)}", file=sys.stderr)
        return 4


@dataclass(frozen=True, slots=True)
class _Resend:
    """What a replay sends for one record: its bytes and headers, and where and when it
    first came."""

    position: str
    first_arrival_ms: int
    raw: bytes
    headers: list[tuple[str, bytes]]
    origin: tuple[str, int, int] | None  # its source topic, partition and offset


def _in_first_arrival_order(resends: list[_Resend]) -> list[_Resend]:
    """The inputs of each source partition in their offset order (what the worker first
    read), the partitions merged by first arrival time (producers' clocks may disagree
    within a partition, its offsets never do); inputs without a Kafka source by time."""
    by_partition: dict[tuple[str, int] | None, list[_Resend]] = {}
    for resend in resends:
        where = resend.origin[:2] if resend.origin is not None else None
        by_partition.setdefault(where, []).append(resend)
    for group in by_partition.values():
        group.sort(key=lambda r: r.origin[2] if r.origin is not None else r.first_arrival_ms)
    return list(heapq.merge(*by_partition.values(), key=lambda r: r.first_arrival_ms))


def _replay(settings: Settings, selection: Selection, source: str, target: str) -> int:
    """Send the original bytes of each selected record to ``target``, in the order the
    inputs first arrived, each to the partition it first came on when ``target`` is the
    topic it came from (so that an original goes before its update, as it first came).

    Records that would send the same bytes with the same headers again (an input whose
    several items were each refused, a value dead-lettered twice) go once. Nothing is kept
    between runs: a second run sends its selection again.
    """
    internal = {settings.repartition_topic}
    resends: list[_Resend] = []
    seen: set[tuple[str, tuple[tuple[str, bytes], ...]]] = set()
    selected = kept_out = repeats = 0

    def each(letter: DeadLetter) -> None:
        nonlocal selected, kept_out, repeats
        selected += 1
        raw, why_not = letter.replayable(internal)
        if raw is None:
            kept_out += 1
            print(f"dlq: not replaying {letter.position}: {why_not}", file=sys.stderr)
            return
        input_headers = letter.input_headers()
        same = (raw_sha256(raw), tuple(input_headers))
        if same in seen:
            repeats += 1
            return
        seen.add(same)
        resends.append(
            _Resend(letter.position, letter.first_arrival_ms, raw, input_headers, letter.origin)
        )

    asyncio.run(read_dead_letters(settings, source, selection, each))
    if not selected:
        print(f"dlq: no records selected on {source}; nothing re-produced", file=sys.stderr)
        return 0
    resends = _in_first_arrival_order(resends)
    outcomes = (
        asyncio.run(
            send_values(
                settings,
                target,
                [(None, r.raw) for r in resends],
                [r.headers for r in resends],
                # Each to the partition it came on, when sent back to the topic it came from.
                [r.origin[1] if r.origin and r.origin[0] == target else None for r in resends],
            )
        )
        if resends
        else []
    )
    failed = 0
    for resend, error in zip(resends, outcomes, strict=True):
        if error is not None:
            failed += 1
            refused = (
                "it was not sent"
                if isinstance(error, NotSentError)
                else "the broker did not take it"
            )
            print(
                f"dlq: {resend.position}: {refused} ({describe(error)}); it stays on the DLQ",
                file=sys.stderr,
            )
    notes = [
        f"{count} {what}"
        for count, what in (
            (repeats, "repeats sent once"),
            (kept_out, "left out"),
            (failed, "not taken by the broker"),
        )
        if count
    ]
    print(
        f"dlq: {_count(len(outcomes) - failed, 'record')} re-produced to {target} with "
        f"{'its' if len(outcomes) - failed == 1 else 'their'} original bytes"
        + "".join(f"; {note}" for note in notes),
        file=sys.stderr,
    )
    if failed:
        return EXIT_NOT_TAKEN
    return 1 if kept_out else 0
