"""The two agents: parse (stateless, per raw partition) and merge (stateful, per story bucket).

Both are thin: they move bytes between Kafka and :mod:`workers.core.pipeline`. Every error for
one message is caught here and becomes a DLQ record, because an exception escaping a Faust
agent acks the message and drops it. Concurrency stays 1 (faust-streaming #606).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import orjson

from workers.core import keys
from workers.core.events import Source
from workers.core.merge import Bucket, Outcome
from workers.core.model import WireItem
from workers.core.pipeline import apply, dlq_record, dumps, parse_raw, route_key
from workers.core.rejects import Reject, RejectReason
from workers.stream.app import WireApp
from workers.stream.state import BucketState, Pending, decode_state, encode_state, story_count

log = logging.getLogger(__name__)


def _source_of(message: Any, raw: bytes) -> Source:
    timestamp = getattr(message, "timestamp", None)
    return Source(
        raw_sha256=keys.raw_sha256(raw),
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        timestamp_ms=int(timestamp * 1000) if timestamp else None,
    )


class Progress:
    """What the agents are doing: messages in flight, and the last offset done per partition.

    The lag gauge reads ``done``; a graceful stop waits for ``in_flight`` to reach zero.
    """

    def __init__(self) -> None:
        self.done: dict[tuple[str, int], int] = {}
        self.in_flight = 0
        self.recovered = False  # set after the first rebalance's table recovery

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
    """Merge one parsed version into its bucket's state and emit the event (see state.py)."""
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
    state = decode_state(wire.table.get(key)) or BucketState(Bucket())
    applied = apply(state.bucket, item, source)
    metrics.processing.labels("merge").observe(time.perf_counter() - started)
    committed = _committed_offset(wire, message)
    if not applied.events:
        replayed = state.pending_for(message.partition, message.offset)
        if replayed is not None:
            # Our own earlier attempt at this input: its state made it, its events may not have.
            log.info("re-sending the events of %s:%s", message.partition, message.offset)
            for story_key, data in replayed.events:
                await _emit(wire, story_key.encode(), data, source, None)
            return
        metrics.duplicates.inc()
        if applied.state_changed:  # a re-delivery that taught the bucket a provider id
            wire.table[key] = encode_state(state.advance(applied.bucket, None, committed))
        return
    sent = tuple((event["storyKey"], dumps(event)) for event in applied.events)
    pending = Pending(message.partition, message.offset, sent)
    wire.table[key] = encode_state(state.advance(applied.bucket, pending, committed))
    for (story_key, data), event in zip(sent, applied.events, strict=True):
        await _emit(wire, story_key.encode(), data, source, event["eventType"])
    if applied.outcome is Outcome.BACKFILLED:
        metrics.backfills.inc()
    # Stories come and go only here: a new one, or one merged into another.
    metrics.stories.inc(len(applied.bucket.stories) - len(state.bucket.stories))


async def _emit(
    wire: WireApp, story_key: bytes, data: bytes, source: Source, event_type: str | None
) -> None:
    """Send to both output topics; count and time the event when the broker has it."""
    metrics = wire.metrics
    latest = await wire.latest.send(key=story_key, value=data)
    pending = await wire.events.send(key=story_key, value=data)
    del latest  # flushed with everything else before the input offset is committed

    def on_acked(future: asyncio.Future[Any]) -> None:
        if future.cancelled() or future.exception() is not None:
            return  # the commit's flush will raise; the input is then processed again
        if event_type is not None:
            metrics.events.labels(event_type).inc()
        else:
            metrics.events_resent.inc()
        if source.timestamp_ms:
            metrics.latency.observe(max(time.time() - source.timestamp_ms / 1000, 0.0))

    pending.add_done_callback(on_acked)


def _committed_offset(wire: WireApp, message: Any) -> int | None:
    """The committed offset of the message's partition, if the consumer knows it yet."""
    committed = getattr(wire.app.consumer, "_committed_offset", None)
    if committed is None:
        return None
    value = committed.get(message.tp)
    return value if isinstance(value, int) else None


async def dead_letter(wire: WireApp, reject: Reject, raw: bytes, source: Source) -> None:
    wire.metrics.rejected.labels(reject.reason.value).inc()
    record = dlq_record(reject, raw, source, wire.version)
    pending = await wire.dlq.send(key=source.raw_sha256.encode(), value=dumps(record))
    del pending  # flushed before the offset is committed


Handler = Callable[[WireApp, Any], Awaitable[None]]


async def _raw_event(wire: WireApp, event: Any) -> None:
    await handle_raw(wire, event.message, event.value)


async def _item_event(wire: WireApp, event: Any) -> None:
    await handle_item(wire, event.message, event.key, event.value)


async def run_guarded(wire: WireApp, stream: Any, agent: str, handle: Handler) -> None:
    """The agent loop: one message at a time; any error becomes a DLQ record, never a crash."""
    progress = wire.progress
    async for event in stream.events():
        progress.in_flight += 1
        try:
            await handle(wire, event)
        except Exception:  # an exception escaping a Faust agent would drop the message
            log.exception(
                "%s agent error at %s; dead-lettering the message", agent, event.message.tp
            )
            wire.metrics.agent_errors.labels(agent).inc()
            value = event.value if isinstance(event.value, bytes) else b""
            reject = Reject(RejectReason.INTERNAL_ERROR, f"{agent} agent error")
            await dead_letter(wire, reject, value, _source_of(event.message, value))
        finally:
            progress.in_flight -= 1
        progress.mark(event.message)


def register_agents(wire: WireApp) -> None:
    app = wire.app

    @app.agent(wire.raw, name="parse", concurrency=1)
    async def parse_agent(stream: Any) -> None:
        await run_guarded(wire, stream, "parse", _raw_event)

    @app.agent(wire.items, name="merge", concurrency=1)
    async def merge_agent(stream: Any) -> None:
        if wire.settings.fault_injection == "crash-merge-agent":
            # Reliability suite only: an agent dying outside the guard, as a bug would.
            async for _event in stream.events():
                raise RuntimeError("fault injection: merge agent crashed")
        await run_guarded(wire, stream, "merge", _item_event)

    async def after_rebalance() -> None:
        """Runs once per rebalance, after its recovery: count the stories of our partitions."""
        wire.metrics.rebalances.inc()
        wire.progress.recovered = True
        wire.metrics.stories.set(sum(story_count(v) for v in wire.table.values() if v))

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
            done = wire.progress.done.get((tp.topic, tp.partition))
            position = done + 1 if done is not None else None
            if position is not None:
                yield tp.topic, tp.partition, max(high - position, 0)

    wire.metrics.watch_lag(lag)
