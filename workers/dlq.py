"""``wire-ingest dlq``: list, show and re-produce dead-lettered records after a fix.

Every DLQ record carries the original bytes of what was refused (``rawBase64``) and why
(``reason``). After the cause is fixed (a parser change, a larger limit), ``dlq replay``
sends those bytes back to the raw topic, exactly as they first arrived, with the input
headers they came with (``wire-format``) and their first arrival time (``wire-received-at``),
so the worker reads them as it read them first. The DLQ topic is read from its beginning to
its end offsets at the start of the command: records dead-lettered meanwhile wait for the
next run. Only whole bytes go (their ``rawSha256`` and ``rawSize`` checked), each input once
per run; a record the broker refuses is named and stays on the DLQ (exit 5).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaConnectionError

from workers.core.formats import INPUT_HEADERS, RECEIVED_AT_HEADER, received_time
from workers.core.keys import raw_sha256
from workers.produce import EXIT_NOT_TAKEN, MissingTopicError, send_values
from workers.settings import Settings, load_or_report
from workers.stream.delivery import describe
from workers.stream.kafka_client import client_kwargs, unreachable


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

    def replayable(self) -> tuple[bytes, None] | tuple[None, str]:
        """The original bytes, or why they cannot be sent again: a record that kept only a
        prefix (``rawTruncated``), holds no readable ``rawBase64``, or whose bytes do not
        match the ``rawSha256`` and ``rawSize`` it names (they would not be the input)."""
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
            first_arrival = (self.record.get("source") or {}).get("timestampMs")
            if isinstance(first_arrival, int):
                when = datetime.fromtimestamp(first_arrival / 1000, tz=UTC)
                found[RECEIVED_AT_HEADER] = when.isoformat()
        return [(name, value.encode()) for name, value in found.items()]

    def line(self) -> str:
        """One readable line: where, when, why, and where the input first was."""
        source = self.record.get("source") or {}
        origin = (
            f"{source.get('topic')}:{source.get('partition')}:{source.get('offset')}"
            if "topic" in source
            else source.get("file", "?")
        )
        detail = str(self.record.get("detail", ""))[:100]
        return (
            f"{self.partition}:{self.offset} {self.at:%Y-%m-%dT%H:%M:%SZ} {self.reason:18} "
            f"{self.record.get('rawSize', '?'):>8} B from {origin} | {detail}"
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


async def read_dead_letters(settings: Settings, topic: str) -> list[DeadLetter]:
    """Every record of the DLQ topic up to its end offsets now, in partition and offset order."""
    consumer = AIOKafkaConsumer(
        enable_auto_commit=False,
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
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        letters: list[DeadLetter] = []
        remaining = {tp for tp in tps if ends[tp] > 0}
        while remaining:
            batch = await consumer.getmany(*remaining, timeout_ms=1000)
            for tp, records in batch.items():
                letters += [_letter(m) for m in records if m.offset < ends[tp]]
            for tp in list(remaining):
                if await consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
        return sorted(letters, key=lambda d: (d.partition, d.offset))
    finally:
        await consumer.stop()


def _letter(message: Any) -> DeadLetter:
    try:
        record = orjson.loads(message.value or b"")
    except orjson.JSONDecodeError:
        record = {"reason": "unreadable", "detail": "not a DLQ record of wire-ingest"}
    if not isinstance(record, dict):
        record = {"reason": "unreadable", "detail": "not a DLQ record of wire-ingest"}
    return DeadLetter(message.partition, message.offset, message.timestamp, record)


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
    try:
        letters = [d for d in asyncio.run(read_dead_letters(settings, source)) if selection(d)]
        if action == "list":
            _print_lines(d.line() for d in letters)
            print(f"dlq: {len(letters)} records selected on {source}", file=sys.stderr)
            return 0
        if action == "show":
            for letter in letters:
                doc = {"partition": letter.partition, "offset": letter.offset, **letter.record}
                sys.stdout.buffer.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n")
            return 0 if letters else 1
        return _replay(settings, letters, source, target)
    except MissingTopicError as exc:
        print(f"dlq: the topic {exc} does not exist at {settings.kafka_bootstrap}", file=sys.stderr)
        return 3
    except KafkaConnectionError as exc:
        print(f"dlq: {unreachable(settings, exc)}", file=sys.stderr)
        return 4


def _replay(settings: Settings, letters: list[DeadLetter], source: str, target: str) -> int:
    """Send the original bytes of each selected record to ``target``, in DLQ order.

    Records that would send the same bytes with the same headers again (an input whose
    several items were each refused, a value dead-lettered twice) go once. Nothing is kept
    between runs: a second run sends its selection again.
    """
    if not letters:
        print(f"dlq: no records selected on {source}; nothing re-produced", file=sys.stderr)
        return 0
    sending: list[DeadLetter] = []
    values: list[tuple[bytes | None, bytes]] = []
    headers: list[list[tuple[str, bytes]]] = []
    seen: set[tuple[bytes, tuple[tuple[str, bytes], ...]]] = set()
    kept_out = repeats = 0
    for letter in letters:
        raw, why_not = letter.replayable()
        if raw is None:
            kept_out += 1
            print(f"dlq: not replaying {letter.position}: {why_not}", file=sys.stderr)
            continue
        input_headers = letter.input_headers()
        same = (raw, tuple(input_headers))
        if same in seen:
            repeats += 1
            continue
        seen.add(same)
        sending.append(letter)
        values.append((None, raw))
        headers.append(input_headers)
    outcomes = asyncio.run(send_values(settings, target, values, headers)) if values else []
    failed = 0
    for letter, error in zip(sending, outcomes, strict=True):
        if error is not None:
            failed += 1
            print(
                f"dlq: the broker did not take {letter.position} ({describe(error)}); "
                "it stays on the DLQ",
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
        f"dlq: {len(outcomes) - failed} records re-produced to {target} with their original bytes"
        + "".join(f"; {note}" for note in notes),
        file=sys.stderr,
    )
    if failed:
        return EXIT_NOT_TAKEN
    return 1 if kept_out else 0


def _print_lines(lines: Iterable[str]) -> None:
    out = sys.stdout  # looked up at call time: a default argument would keep an old stream
    for line in lines:
        out.write(line + "\n")
