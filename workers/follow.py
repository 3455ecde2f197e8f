"""``wire-ingest follow``: print canonical events as they arrive (for people, not pipelines)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from asyncio import FIRST_COMPLETED
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaConnectionError

from workers.produce import MissingTopicError
from workers.settings import Settings, load_or_report
from workers.stream.kafka_client import client_kwargs, unreachable

# How many times, half a second apart, follow asks for a topic before it says it is missing.
TOPIC_LOOKS = 6
# After this long without a record, follow asks the broker for the topic's end offsets, and
# says so on stderr when no answer comes within ANSWER_WAIT_S (and again once one comes): the
# consumer itself waits through an outage without a word, like a quiet topic.
QUIET_CHECK_S = 30.0
ANSWER_WAIT_S = 10.0
# How much of a headline, detail or first line a line shows.
SHOWN_CHARS = 90
# Characters a terminal acts on rather than shows (C0 and C1 controls, DEL; the bidirectional
# overrides and isolates, which reorder what follows them), written as escapes instead: any
# record of any topic may hold them, and one could recolour or retitle the terminal.
_UNSHOWN = {
    code: f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
    for code in (
        *range(0x20),
        *range(0x7F, 0xA0),
        *range(0x202A, 0x202F),
        *range(0x2066, 0x206A),
    )
}


def shown(text: str, limit: int = SHOWN_CHARS) -> str:
    """``text`` safe for a terminal line: controls escaped, cut at ``limit`` with "…"."""
    text = text.translate(_UNSHOWN)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def describe_record(value: bytes) -> str:
    """One readable line per record: an event, a DLQ record, or anything else (``--topic``
    may name any topic, the raw one too)."""
    try:
        decoded = orjson.loads(value)
    except orjson.JSONDecodeError:
        decoded = None
    if isinstance(decoded, dict) and "eventType" in decoded:
        return describe(decoded)
    if isinstance(decoded, dict) and "reason" in decoded and "rawSha256" in decoded:
        detail = str(decoded.get("detail") or "")
        return f"{'dead letter':17} {shown(str(decoded['reason']), 40)} | {shown(detail)}"
    first_line = value[:400].decode("utf-8", "replace").strip().split("\n", 1)[0]
    return f"{'record':17} {len(value)} bytes | {shown(first_line)}"


def describe(event: dict[str, Any]) -> str:
    """One readable line per event."""
    item = event.get("item", {})
    headline = (item.get("headlines") or [{}])[0].get("value", "")
    changes = event.get("changes") or {}
    added = len(changes.get("paragraphsAdded") or [])
    removed = len(changes.get("paragraphsRemoved") or [])
    delta = f" +{added}/-{removed} paragraphs" if changes else ""
    kind = shown(str(event.get("eventType", "?")), 40)
    key = shown(str(event.get("storyKey", "?")), 120)
    version = shown(str(event.get("version")), 20)
    return f"{kind:17} {key} v{version}{delta} | {shown(str(headline))}"


async def _follow(settings: Settings, topic: str, as_json: bool, from_beginning: bool) -> None:
    consumer = AIOKafkaConsumer(
        enable_auto_commit=False,
        auto_offset_reset="earliest" if from_beginning else "latest",
        max_partition_fetch_bytes=32 * 1024 * 1024,
        **client_kwargs(settings),
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await consumer.start()  # inside: a client that cannot start is closed all the same
        partitions = consumer.partitions_for_topic(topic)
        # A topic being created has no leaders for a moment, and its metadata shows no
        # partitions yet: look a few times before calling it missing.
        for _ in range(TOPIC_LOOKS):
            if partitions or stop.is_set():
                break
            await asyncio.sleep(0.5)
            await consumer._client.force_metadata_update()
            partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            raise MissingTopicError(topic)
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        if from_beginning:
            await consumer.seek_to_beginning(*tps)
        quiet_since = loop.time()
        unanswered = False
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=500)
            if not batch and loop.time() - quiet_since < QUIET_CHECK_S:
                continue
            answered = bool(batch) or await _answers(consumer, tps, stop)
            quiet_since = loop.time()
            if answered == unanswered and not stop.is_set():
                unanswered = not answered
                print(
                    f"follow: Kafka at {settings.kafka_bootstrap} "
                    + (
                        f"has not answered for {ANSWER_WAIT_S:.0f} s; following on (Ctrl-C ends)"
                        if unanswered
                        else "answers again"
                    ),
                    file=sys.stderr,
                    flush=True,
                )
            for records in batch.values():
                for record in records:
                    if record.value is None:
                        continue
                    if as_json:
                        sys.stdout.buffer.write(record.value + b"\n")
                    else:
                        sys.stdout.write(describe_record(record.value) + "\n")
            sys.stdout.flush()
    finally:
        await consumer.stop()


async def _answers(
    consumer: AIOKafkaConsumer, partitions: list[TopicPartition], stop: asyncio.Event
) -> bool:
    """Whether the broker gives the partitions' end offsets within :data:`ANSWER_WAIT_S`
    (True as well when ``stop`` comes first: Ctrl-C does not wait for the answer)."""
    ask = asyncio.ensure_future(consumer.end_offsets(partitions))
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait([ask, stopped], timeout=ANSWER_WAIT_S, return_when=FIRST_COMPLETED)
    finally:
        stopped.cancel()
    if stop.is_set() and not ask.done():
        ask.cancel()
        return True
    if not ask.done():
        ask.cancel()
        return False
    return ask.exception() is None


def follow(topic: str | None, as_json: bool, from_beginning: bool) -> int:
    settings = load_or_report()
    if settings is None:
        return 2
    target = topic or settings.topic_events
    try:
        with contextlib.suppress(BrokenPipeError):
            asyncio.run(_follow(settings, target, as_json, from_beginning))
    except MissingTopicError:
        print(
            f"follow: the topic {target} does not exist at {settings.kafka_bootstrap}, or "
            "this client may not read it (the worker creates its topics when it starts)",
            file=sys.stderr,
        )
        return 3
    except KafkaConnectionError as exc:
        print(f"follow: {unreachable(settings, exc)}", file=sys.stderr)
        return 4
    return 0
