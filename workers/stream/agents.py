"""The two agents: parse (stateless, per raw partition) and merge (stateful, per story bucket).

Both are thin: they move bytes between Kafka and :mod:`workers.core.pipeline`. Every error for
one message is caught here and becomes a DLQ record, because an exception escaping a Faust
agent acks the message and drops it. Concurrency stays 1 (faust-streaming #606).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from typing import Any

import orjson
from aiokafka.errors import KafkaError

from workers.core import keys
from workers.core.events import Source
from workers.core.merge import Outcome
from workers.core.model import WireItem
from workers.core.pipeline import (
    apply,
    decode_bucket,
    dlq_record,
    dumps,
    encode_bucket,
    parse_raw,
    route_key,
)
from workers.core.rejects import Reject, RejectReason
from workers.stream.app import WireApp

log = logging.getLogger(__name__)

SEND_RETRY_MAX_S = 5.0


async def send_acked(topic: Any, key: bytes | None, value: bytes) -> None:
    """Send and wait for the broker's ack, retrying while Kafka is unavailable.

    Returning only once the record is durable is what lets the merge agent update its state
    afterwards without ever having state that is ahead of the events it emitted.
    """
    delay = 0.1
    while True:
        try:
            pending = await topic.send(key=key, value=value)
            await pending
            return
        except KafkaError as exc:
            log.warning("send to %s failed (%s); retrying in %.1fs", topic, exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, SEND_RETRY_MAX_S)


def _source_of(message: Any, raw: bytes) -> Source:
    timestamp = getattr(message, "timestamp", None)
    return Source(
        raw_sha256=keys.raw_sha256(raw),
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        timestamp_ms=int(timestamp * 1000) if timestamp else None,
    )


class Offsets:
    """Last processed offset per partition, for the consumer-lag gauge."""

    def __init__(self) -> None:
        self.done: dict[tuple[str, int], int] = {}

    def mark(self, message: Any) -> None:
        self.done[(message.topic, message.partition)] = message.offset


async def handle_raw(wire: WireApp, message: Any, value: bytes | None) -> None:
    """Parse one raw message and forward it by story bucket, or dead-letter it."""
    metrics = wire.metrics
    raw = value if isinstance(value, bytes) else b""
    source = _source_of(message, raw)
    metrics.consumed.inc()
    started = time.perf_counter()
    try:
        parsed = parse_raw(raw, wire.settings.max_item_bytes)
    except Exception:  # parse_raw never raises; this guards the guard
        log.exception("parse failed at %s:%s:%s", message.topic, message.partition, message.offset)
        metrics.agent_errors.labels("parse").inc()
        parsed = Reject(RejectReason.INTERNAL_ERROR, "parse raised")
    metrics.processing.labels("parse").observe(time.perf_counter() - started)
    if isinstance(parsed, Reject):
        await dead_letter(wire, parsed, raw, source)
        return
    metrics.parsed.inc()
    payload = dumps({"item": parsed.to_dict(), "source": source.to_dict()})
    pending = await wire.items.send(key=route_key(parsed).encode(), value=payload)
    del pending  # flushed before the raw offset is committed


async def handle_item(wire: WireApp, message: Any, key: bytes, value: bytes) -> None:
    """Merge one parsed version into its bucket's state and emit the event."""
    metrics = wire.metrics
    started = time.perf_counter()
    try:
        payload = orjson.loads(value)
        item = WireItem.from_dict(payload["item"])
        source = Source.from_dict(payload["source"])
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        metrics.agent_errors.labels("merge").inc()
        reject = Reject(RejectReason.INTERNAL_ERROR, f"unreadable repartition record: {exc}")
        await dead_letter(wire, reject, value, _source_of(message, value))
        return
    applied = apply(decode_bucket(wire.table.get(key)), item, source)
    metrics.processing.labels("merge").observe(time.perf_counter() - started)
    if applied.event is None:
        metrics.duplicates.inc()
        return
    data = dumps(applied.event)
    story_key = applied.story_key.encode()
    await asyncio.gather(
        send_acked(wire.events, story_key, data), send_acked(wire.latest, story_key, data)
    )
    # Only now does state move on: a crash before this line replays the message and re-emits
    # the byte-identical event (same eventId); a crash after it finds a duplicate and emits none.
    wire.table[key] = encode_bucket(applied.bucket)
    metrics.events.labels(applied.event["eventType"]).inc()
    if applied.outcome is Outcome.BACKFILLED:
        metrics.backfills.inc()
    if applied.outcome is Outcome.CREATED:
        metrics.stories.inc()
    if source.timestamp_ms:
        metrics.latency.observe(max(time.time() - source.timestamp_ms / 1000, 0.0))


async def dead_letter(wire: WireApp, reject: Reject, raw: bytes, source: Source) -> None:
    wire.metrics.rejected.labels(reject.reason.value).inc()
    record = dlq_record(reject, raw, source, wire.version)
    pending = await wire.dlq.send(key=source.raw_sha256.encode(), value=dumps(record))
    del pending  # flushed before the offset is committed


def register_agents(wire: WireApp) -> None:
    offsets = Offsets()
    app = wire.app

    @app.agent(wire.raw, name="parse", concurrency=1)
    async def parse_agent(stream: Any) -> None:
        async for event in stream.events():
            try:
                await handle_raw(wire, event.message, event.value)
            except Exception:  # never let one message kill the agent
                log.exception("parse agent error; dead-lettering the message")
                wire.metrics.agent_errors.labels("parse").inc()
                raw = event.value if isinstance(event.value, bytes) else b""
                reject = Reject(RejectReason.INTERNAL_ERROR, "parse agent error")
                await dead_letter(wire, reject, raw, _source_of(event.message, raw))
            offsets.mark(event.message)

    @app.agent(wire.items, name="merge", concurrency=1)
    async def merge_agent(stream: Any) -> None:
        async for event in stream.events():
            try:
                await handle_item(wire, event.message, event.key, event.value)
            except Exception:
                log.exception("merge agent error; dead-lettering the message")
                wire.metrics.agent_errors.labels("merge").inc()
                reject = Reject(RejectReason.INTERNAL_ERROR, "merge agent error")
                value = event.value if isinstance(event.value, bytes) else b""
                await dead_letter(wire, reject, value, _source_of(event.message, value))
            offsets.mark(event.message)

    async def after_rebalance() -> None:
        """Runs once per rebalance, after its recovery: count the stories of our partitions."""
        wire.metrics.rebalances.inc()
        wire.metrics.stories.set(sum(v.count(b'{"key":') for v in wire.table.values() if v))

    wire.table.on_recover(after_rebalance)

    def lag() -> Iterable[tuple[str, int, int]]:
        consumer = app.consumer
        consumed = {wire.settings.topic_raw, wire.settings.repartition_topic}
        for tp in consumer.assignment():
            if tp.topic not in consumed:
                continue
            try:
                high = consumer.highwater(tp)
            except (KeyError, AssertionError, AttributeError):  # not fetched yet / reassigned
                high = None
            if high is None:
                continue
            done = offsets.done.get((tp.topic, tp.partition))
            position = done + 1 if done is not None else None
            if position is not None:
                yield tp.topic, tp.partition, max(high - position, 0)

    wire.metrics.watch_lag(lag)
