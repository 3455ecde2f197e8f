"""The two agents: parse (stateless, per raw partition) and merge (stateful, per story bucket).

Both are thin: they move bytes between Kafka and :mod:`workers.core.pipeline`. Every error for
one message is caught here and becomes a DLQ record, because an exception escaping a Faust
agent acks the message and drops it. Concurrency stays 1 (faust-streaming #606).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import orjson
from faust.exceptions import ConsumerNotStarted

from workers.core import keys
from workers.core.events import Source
from workers.core.formats import (
    FORMAT_HEADER,
    INPUT_HEADERS,
    RECEIVED_AT_HEADER,
    received_time,
)
from workers.core.merge import Bucket, Outcome
from workers.core.pipeline import apply, dlq_record, dumps, parse_input, route_key
from workers.core.rejects import Reject, RejectReason
from workers.core.retention import admit, advance
from workers.stream.app import WireApp
from workers.stream.delivery import STALL_CHECK_S, DeliveryFailedError, stall_warner
from workers.stream.fatal import (
    EXIT_DEAD_LETTER_FAILED,
    EXIT_FAULT_INJECTION,
    EXIT_GROUP_FAILED,
    EXIT_STATE_FORMAT,
    EXIT_TOPIC_CONFLICT,
    stop,
)
from workers.stream.group import GroupWatch, describe_failure
from workers.stream.partitioner import layout_partition
from workers.stream.positions import InputPositions, Replays
from workers.stream.records import (
    Forwarded,
    RecordError,
    decode_forwarded,
    decode_wire_input,
    encode_forwarded,
)
from workers.stream.state import (
    BucketState,
    Pending,
    StateFormatError,
    decode_state,
    encode_state,
)
from workers.stream.store_size import local_store_bytes, volume_bytes
from workers.stream.table_store import flush_partition
from workers.stream.topics import changelog_topic, partition_counts, running_layout_conflict

log = logging.getLogger(__name__)

# How often a worker compares the state topics' partition counts in its Kafka client's
# metadata with the layout (the client refreshes that metadata every 5 minutes).
LAYOUT_CHECK_S = 2.0


def kafka_time(message: Any) -> float | None:
    """The message's Kafka timestamp in seconds, or None when it has none: a record without
    one (-1, which Faust gives as -0.001 s) would otherwise read as 1970."""
    timestamp = getattr(message, "timestamp", None)
    return float(timestamp) if timestamp is not None and timestamp > 0 else None


def _source_of(message: Any, raw: bytes) -> Source:
    timestamp = kafka_time(message)
    return Source(
        raw_sha256=keys.raw_sha256(raw),
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        timestamp_ms=int(timestamp * 1000) if timestamp else None,
    )


def _nothing(_message: Any) -> None:
    pass


class Progress:
    """What the agents are doing: messages in flight, and the last offset done per partition.

    The lag gauge reads ``done``; a graceful stop waits for ``in_flight`` to reach zero.
    """

    def __init__(self) -> None:
        self.done: dict[tuple[str, int], int] = {}
        # The Kafka timestamp (s) of the last message done per partition: how far behind the
        # wire the worker is, while that partition has lag.
        self.done_at: dict[tuple[str, int], float] = {}
        # Where each input partition was read from after the last rebalance (positions.py),
        # and when (time.time()).
        self.starts: dict[tuple[str, int], int] = {}
        self.started_at: dict[tuple[str, int], float] = {}
        # Per input partition since reading started there: the client's fetch position after
        # the latest fetch, and the offset of the last record fetched (positions.py). A
        # transaction's marker takes an offset no agent sees: only these tell that every
        # record before the end was done, when the last done is not the end's offset - 1.
        self.fetched_to: dict[tuple[str, int], int] = {}
        self.last_fetched: dict[tuple[str, int], int] = {}
        self.rebalance_started: float | None = None  # time.monotonic() at the last start
        self.in_flight = 0
        self.recovered = False  # set after the first rebalance's table recovery
        self.replays = Replays()  # offsets handled since the rebalance (positions.py)
        # Agents that died outside the per-message guard, with the error: readiness fails
        # until the agent (restarted by Faust's supervisor) finishes a message again.
        self.crashed: dict[str, str] = {}
        # Told of each message an agent starts on (InputPositions.on_message_start).
        self.starting: Callable[[Any], None] = _nothing

    def mark(self, message: Any) -> None:
        where = (message.topic, message.partition)
        self.done[where] = message.offset
        timestamp = kafka_time(message)
        if timestamp:
            self.done_at[where] = timestamp

    def read_from(self, topic: str, partition: int, offset: int, now: float) -> None:
        """Reading of an input partition starts (again) at ``offset`` after a rebalance: what
        was done there before counts no more (another worker may have read on meanwhile)."""
        where = (topic, partition)
        self.starts[where] = offset
        self.started_at[where] = now
        self.done.pop(where, None)
        self.done_at.pop(where, None)
        self.fetched_to.pop(where, None)
        self.last_fetched.pop(where, None)

    def fetched(self, topic: str, partition: int, position: int, last_record: int | None) -> None:
        """A fetch returned: the client's position there now, and the offset of the last of
        the records it returned there (None: none)."""
        where = (topic, partition)
        self.fetched_to[where] = position
        if last_record is not None:
            self.last_fetched[where] = last_record

    def lag(
        self, assigned: Iterable[tuple[str, int]], highwater: Callable[[str, int], int | None]
    ) -> Iterator[tuple[str, int, int]]:
        """(topic, partition, messages not done yet) for assigned partitions whose end is known.

        ``highwater``: the partition's high watermark. Counted from the later of the last
        message done + 1 and where reading started after the last rebalance; before
        anything is done (a stuck or dead agent), from the start. Offsets are not records: a
        transaction's commit or abort marker, and the records of an aborted transaction,
        hold offsets no agent sees. So a partition whose fetch reached the high watermark,
        with every record fetched there done, has no lag, whatever the offsets say (else the
        last marker of a producer's transactions would count as a message not done, for
        ever). Short of it, such offsets count: an upper bound. A transaction left open
        stops a read-committed fetch short of the high watermark, so its records, and every
        record after it, count: a hung producer shows as lag, and as time behind.
        """
        for topic, partition in assigned:
            high = highwater(topic, partition)
            if high is None:
                continue
            where = (topic, partition)
            done = self.done.get(where)
            positions = [done + 1] if done is not None else []
            start = self.starts.get(where)
            if start is not None:
                positions.append(start)
            if positions:
                behind = max(high - max(positions), 0)
                if behind and self._all_fetched_done(where, high, done):
                    behind = 0
                yield topic, partition, behind

    def _all_fetched_done(self, where: tuple[str, int], end: int, done: int | None) -> bool:
        """Whether the fetch there reached ``end`` and every record it returned is done."""
        if self.fetched_to.get(where, -1) < end:
            return False
        last = self.last_fetched.get(where)
        return last is None or (done is not None and done >= last)

    def seconds_behind(self, lags: Iterable[tuple[str, int, int]], now: float) -> float:
        """Now minus the Kafka time of the last message done, on partitions with lag; 0 when
        none has lag. An upper bound: the next message is no older than the last one. On a
        partition with lag where nothing was done since reading started there, the time since
        it started (a lower bound): a stuck agent makes it grow with the clock."""
        behind = [0.0]
        for topic, partition, count in lags:
            if count <= 0:
                continue
            done_at = self.done_at.get((topic, partition))
            since = done_at if done_at is not None else self.started_at.get((topic, partition))
            if since is not None:
                behind.append(now - since)
        return max(behind)


async def handle_raw(wire: WireApp, message: Any, value: bytes | None) -> None:
    """Parse one raw message and forward it by story bucket, or dead-letter it."""
    metrics = wire.metrics
    raw = value if isinstance(value, bytes) else b""
    source = _source_of(message, raw)
    metrics.consumed.inc()
    started = time.perf_counter()
    timestamp = kafka_time(message)
    headers = input_headers(message)
    try:
        parsed = parse_input(
            raw,
            wire.settings.max_item_bytes,
            received_at=(
                received_time(headers.get(RECEIVED_AT_HEADER))
                or (datetime.fromtimestamp(timestamp, UTC) if timestamp else None)
            ),
            hint=headers.get(FORMAT_HEADER),
        )
    except Exception:  # parse_input never raises; this guards the guard
        log.exception("parse failed at %s:%s:%s", message.topic, message.partition, message.offset)
        metrics.agent_errors.labels("parse").inc()
        parsed = Reject(RejectReason.INTERNAL_ERROR, "parse raised")
    metrics.processing_by_stage["parse"].observe(time.perf_counter() - started)
    if isinstance(parsed, Reject):
        await dead_letter(wire, parsed, raw, source, headers)
        return
    metrics.parsed.inc(len(parsed))  # items: a NewsML-G2 newsMessage holds several
    for item in parsed:  # one, or each item of a NewsML-G2 newsMessage
        # The wire bytes and headers travel along: a merge-side DLQ record keeps them.
        record = encode_forwarded(Forwarded(item, source, raw, headers))
        key = route_key(item).encode()
        await send(wire, wire.items, key, record, layout_partition(key, wire.settings.partitions))


def input_headers(message: Any) -> dict[str, str]:
    """The input headers (``wire-format``, ``wire-received-at``) a raw message carries."""
    found: dict[str, str] = {}
    headers = getattr(message, "headers", None) or ()
    pairs = headers.items() if isinstance(headers, dict) else headers
    for name, value in pairs:
        if name in INPUT_HEADERS and isinstance(value, bytes | str):
            text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
            if text.strip():
                found[name] = text.strip()
    return found


async def handle_item(wire: WireApp, message: Any, key: bytes, value: bytes) -> None:
    """Merge one parsed version into its bucket's state and emit the event (see state.py)."""
    metrics = wire.metrics
    started = time.perf_counter()
    try:
        forwarded = decode_forwarded(value)
    except RecordError as exc:
        metrics.agent_errors.labels("merge").inc()
        reject = Reject(RejectReason.INTERNAL_ERROR, f"unreadable repartition record: {exc}")
        raw, origin, headers = _wire_input(message, value)
        await dead_letter(wire, reject, raw, origin, headers)
        return
    item, source = forwarded.item, forwarded.source
    partition = message.partition
    try:
        stored = decode_state(stored_value(wire.table, key))
        clock = wire.expiry.clock(partition)
    except StateFormatError as exc:
        stop(f"cannot read the table's state: {exc}", EXIT_STATE_FORMAT)
    state = stored or BucketState(Bucket())
    committed = _committed_offset(wire, message)
    stream_time = advance(clock.stream_time, item, source.timestamp_ms)
    replayed = state.pending_for(partition, message.offset)
    if replayed is not None and _same_input(replayed, source):
        # Our own earlier attempt at this input: its state made it, its events and its
        # changelog record may not have. Write the state again (the changelog gets it even
        # if the first write reached only the local store), then send the events again.
        # Before admission: stream time may have passed the retention since that attempt,
        # and an input whose events may be lost must not be refused as expired.
        log.info("re-sending the events of %s:%s", partition, message.offset)
        wire.table[key] = encode_state(state)
        _after_item(wire, partition, stream_time, committed)
        newest = _newest_events(state)
        for story_key, data in replayed.events:
            await _emit(wire, story_key.encode(), data, source, None, latest=newest[story_key])
        return
    expired = admit(stored.bucket if stored else None, item, stream_time, wire.retention)
    if expired is not None:
        raw, origin, headers = _wire_input(message, value)
        await dead_letter(wire, expired, raw, origin, headers)
        _after_item(wire, partition, stream_time, committed)
        return
    applied = apply(state.bucket, item, source)
    metrics.processing_by_stage["merge"].observe(time.perf_counter() - started)
    new_stories = len(applied.bucket.stories) - len(state.bucket.stories)
    new_buckets = int(stored is None)
    if not applied.events:
        metrics.duplicates.inc()
        if applied.state_changed:  # a re-delivery that taught the bucket a provider id
            wire.table[key] = encode_state(state.advance(applied.bucket, None, committed))
        _after_item(wire, partition, stream_time, committed, new_buckets=0, new_stories=new_stories)
        return
    sent = tuple((event["storyKey"], dumps(event)) for event in applied.events)
    pending = Pending(partition, message.offset, sent)
    encoded = encode_state(state.advance(applied.bucket, pending, committed))
    budget = wire.settings.max_state_bytes
    if len(encoded) > budget:
        # One more version would make a changelog record the broker may refuse on every
        # restart: refuse the version instead, with its wire bytes, and change nothing.
        raw, origin, headers = _wire_input(message, value)
        detail = f"the bucket's state would take {len(encoded)} bytes, over {budget}"
        reject = Reject(RejectReason.STATE_TOO_LARGE, detail)
        await dead_letter(wire, reject, raw, origin, headers)
        _after_item(wire, partition, stream_time, committed)
        return
    wire.table[key] = encoded
    _after_item(
        wire,
        partition,
        stream_time,
        committed,
        new_buckets=new_buckets,
        new_stories=new_stories,
    )
    if wire.settings.fault_injection == "exit-after-state-write":
        # Reliability suite only: the store has the state (flushed, as RocksDB may do at any
        # write); nothing else has left.
        flush_partition(wire.table, partition)
        stop("fault injection: exiting right after a state write", EXIT_FAULT_INJECTION)
    for (story_key, data), event in zip(sent, applied.events, strict=True):
        await _emit(wire, story_key.encode(), data, source, event["eventType"])
    if applied.outcome is Outcome.BACKFILLED:
        metrics.backfills.inc()
    elif applied.outcome is Outcome.DUPLICATE:  # a re-delivery that regrouped other stories
        metrics.duplicates.inc()


def _same_input(pending: Pending, source: Source) -> bool:
    """Whether an outbox entry was made from this very input, as its events' source says.

    Its offset alone can mislead: a committed entry stays until its bucket is written again,
    and a re-created (or truncated) repartition topic hands that offset to another record.
    Read only for an input that has an entry at its offset: a replay.
    """
    wanted = source.to_dict()
    for _, data in pending.events:
        sent = orjson.loads(data).get("source") or {}
        if any(sent.get(field) != wanted.get(field) for field in _INPUT_FIELDS):
            return False
    return True


# What names a wire input in an event's source: its bytes and where they were read.
_INPUT_FIELDS = ("rawSha256", "topic", "partition", "offset", "file")


def _after_item(
    wire: WireApp,
    partition: int,
    stream_time: datetime,
    committed: int | None,
    *,
    new_buckets: int = 0,
    new_stories: int = 0,
) -> None:
    """Count what the arrival changed, let stream time expire buckets, update the gauges."""
    expired = wire.expiry.after_item(
        partition,
        stream_time,
        new_buckets=new_buckets,
        new_stories=new_stories,
        committed=committed,
    )
    metrics = wire.metrics
    if expired:
        metrics.expired.inc(expired)
    metrics.stories.set(wire.expiry.stories())
    metrics.buckets.set(wire.expiry.buckets())


def _newest_events(state: BucketState) -> dict[str, bytes]:
    """Each story's event of the newest input in the bucket's outbox.

    A re-send of an older input must not leave its event last on ``stories.latest``: after a
    rebalance the re-read re-sends the inputs handled before it began, and skips the later
    ones handled while it ran (positions.py), whose events went out first. Every input past
    the committed offset that made events is in the outbox, so its newest event of a story
    is the story's.
    The outbox is in the order the bucket took its inputs (:meth:`BucketState.advance`
    appends), which offsets are not once a re-created topic reuses them.
    """
    newest: dict[str, bytes] = {}
    for entry in state.outbox:
        newest.update(entry.events)
    return newest


async def _emit(
    wire: WireApp,
    story_key: bytes,
    data: bytes,
    source: Source,
    event_type: str | None,
    *,
    latest: bytes | None = None,
) -> None:
    """Send to both output topics (``latest``: another event for ``stories.latest``, the
    story's newest when an older one is re-sent); count and time the event when the broker
    has it."""
    metrics = wire.metrics
    await send(wire, wire.latest, story_key, data if latest is None else latest)
    pending = await send(wire, wire.events, story_key, data)

    def on_acked() -> None:
        metrics.last_event.set(time.time())
        if event_type is not None:
            counter = metrics.events_by_type.get(event_type)
            (counter or metrics.events.labels(event_type)).inc()
        else:
            metrics.events_resent.inc()
        if source.timestamp_ms:
            metrics.latency.observe(max(time.time() - source.timestamp_ms / 1000, 0.0))

    when_acked(pending, on_acked)


def when_acked(pending: asyncio.Future[Any], action: Callable[[], None]) -> None:
    """Run ``action`` once the broker has the record; a record it refused counts nothing
    (the delivery tracker stops the worker before the input is committed)."""

    def on_done(future: asyncio.Future[Any]) -> None:
        if not future.cancelled() and future.exception() is None:
            action()

    pending.add_done_callback(on_done)


def stored_value(table: Any, key: bytes) -> bytes | None:
    """A bucket's stored value, read once.

    Faust's ``Table.get`` reads RocksDB twice (``key in store``, then ``store[key]``: the
    whole value each time); its store's own ``get`` reads once. Both read the partition of
    the message in hand.
    """
    store = getattr(table, "data", table)  # the table's store; a plain mapping in unit tests
    value: bytes | None = store.get(key)
    return value


def _committed_offset(wire: WireApp, message: Any) -> int | None:
    """The committed offset of the message's partition, if the consumer knows it yet."""
    committed = getattr(wire.app.consumer, "_committed_offset", None)
    if committed is None:
        return None
    value = committed.get(message.tp)
    return value if isinstance(value, int) else None


async def dead_letter(
    wire: WireApp,
    reject: Reject,
    raw: bytes,
    source: Source,
    headers: dict[str, str] | None = None,
) -> None:
    """Send the DLQ record; it is counted as rejected once the broker has it."""
    record = dlq_record(reject, raw, source, wire.version, headers)
    pending = await send(wire, wire.dlq, source.raw_sha256.encode(), dumps(record))
    when_acked(pending, wire.metrics.rejected.labels(reject.reason.value).inc)


async def send(
    wire: WireApp, topic: Any, key: bytes, value: bytes, partition: int | None = None
) -> asyncio.Future[Any]:
    """Send one record and hand its delivery future to the tracker (see delivery.py).

    A send that raises before it has a future (a record over the producer's size limit, a
    closed producer) will never be delivered: the tracker stops the worker, and the
    exception goes on so that this input is not finished either.

    The record goes straight to Faust's producer (aiokafka's future, the default partitioner
    on the key, as ``Topic.send`` would, unless ``partition`` names one): ``Topic.send`` wraps
    each record in Faust's message and callback objects, which nothing here uses, at a cost
    per record of the same order as the producer's own.
    """
    name = topic.get_topic_name()
    try:
        pending = await wire.app.producer.send(
            name, key, value, partition=partition, timestamp=None, headers=None
        )
        future: asyncio.Future[Any] = asyncio.ensure_future(pending)  # aiokafka's, as it is
    except Exception as exc:
        wire.delivery.fail(name, exc)
        raise DeliveryFailedError(f"sending to {name} failed: {exc!r}") from exc
    wire.delivery.track(future, name, len(key) + len(value))
    return future


Handler = Callable[[WireApp, Any], Awaitable[None]]


async def _raw_event(wire: WireApp, event: Any) -> None:
    await handle_raw(wire, event.message, event.value)


async def _item_event(wire: WireApp, event: Any) -> None:
    await handle_item(wire, event.message, event.key, event.value)


async def run_guarded(wire: WireApp, stream: Any, agent: str, handle: Handler) -> None:
    """The agent loop: one message at a time; any error becomes a DLQ record, never a crash."""
    progress = wire.progress
    consumer = wire.app.consumer
    async for event in stream.events():
        message = event.message
        progress.starting(message)
        if progress.replays.seen(message.topic, message.partition, message.offset):
            # Handled already since the rebalance; Faust rewound (positions.py). Done all
            # the same: the lag gauges count from it.
            progress.mark(message)
            continue
        progress.in_flight += 1
        try:
            await handle(wire, event)
        except DeliveryFailedError:
            raise  # never dead-letter a message whose output was lost: the worker stops
        except Exception:  # an exception escaping a Faust agent would drop the message
            log.exception(
                "%s agent error at %s; dead-lettering the message", agent, event.message.tp
            )
            wire.metrics.agent_errors.labels(agent).inc()
            await _dead_letter_failed(wire, event, agent)
        finally:
            progress.in_flight -= 1
        progress.mark(message)
        wire.metrics.last_item.set(time.time())
        if progress.crashed:
            progress.crashed.pop(agent, None)
        committed = getattr(consumer, "_committed_offset", {}).get(message.tp)
        progress.replays.add(message.topic, message.partition, message.offset, committed)


async def _dead_letter_failed(wire: WireApp, event: Any, agent: str) -> None:
    """Dead-letter the message an agent failed on, or stop the worker at once.

    An error escaping here would end the agent, and Faust would ack the message on its way
    out: committed, neither handled nor dead-lettered. Stopping without a commit reads it
    again at the next start.
    """
    try:
        value = event.value if isinstance(event.value, bytes) else b""
        raw, source, headers = _failed_input(wire, event.message, value)
        reject = Reject(RejectReason.INTERNAL_ERROR, f"{agent} agent error")
        await dead_letter(wire, reject, raw, source, headers)
    except DeliveryFailedError:
        raise  # the delivery tracker stops the worker
    except Exception as exc:  # noqa: BLE001 - any error here would lose the message
        stop(
            f"cannot dead-letter the message the {agent} agent failed on at "
            f"{event.message.tp}:{event.message.offset} ({type(exc).__name__}: {exc}); "
            "stopping without committing it",
            EXIT_DEAD_LETTER_FAILED,
        )


def _failed_input(
    wire: WireApp, message: Any, value: bytes
) -> tuple[bytes, Source, dict[str, str]]:
    """What the dead letter of a message an agent failed on keeps.

    A repartition record gives the wire bytes it carries. A raw message is kept as it came,
    even if its bytes happen to read as a record: they are the input, and a record read out
    of them would put other bytes and another origin in the dead letter.
    """
    if message.topic == wire.items.get_topic_name():
        return _wire_input(message, value)
    return value, _source_of(message, value), input_headers(message)


def _wire_input(message: Any, value: bytes) -> tuple[bytes, Source, dict[str, str]]:
    """The wire bytes, their origin and input headers behind a message: a repartition record
    carries them all."""
    try:
        return decode_wire_input(value)
    except RecordError:
        return value, _source_of(message, value), input_headers(message)  # a raw message


@asynccontextmanager
async def _watched(wire: WireApp, agent: str) -> AsyncIterator[None]:
    """Record an agent's death: Faust logs it and restarts the actor, but the worker must not
    look ready meanwhile (a dead merge agent parses everything and emits nothing)."""
    try:
        yield
    except DeliveryFailedError:
        raise  # the worker is stopping already (delivery.py)
    except Exception as exc:
        wire.progress.crashed[agent] = f"{type(exc).__name__}: {exc}"
        wire.metrics.agent_crashes.labels(agent).inc()
        log.error("the %s agent died: %s; the worker is not ready", agent, exc)
        raise


def register_agents(wire: WireApp) -> None:
    app = wire.app

    @app.agent(wire.raw, name="parse", concurrency=1)
    async def parse_agent(stream: Any) -> None:
        async with _watched(wire, "parse"):
            await run_guarded(wire, stream, "parse", _raw_event)

    @app.agent(wire.items, name="merge", concurrency=1)
    async def merge_agent(stream: Any) -> None:
        async with _watched(wire, "merge"):
            if wire.settings.fault_injection == "crash-merge-agent":
                # Reliability suite only: an agent dying outside the guard, as a bug would.
                async for _event in stream.events():
                    raise RuntimeError("fault injection: merge agent crashed")
            await run_guarded(wire, stream, "merge", _item_event)

    async def after_rebalance() -> None:
        """Runs once per rebalance, after its recovery: count the stories of our partitions."""
        wire.metrics.rebalances.inc()
        wire.progress.recovered = True
        started = wire.progress.rebalance_started
        if started is not None:
            wire.metrics.rebalance_seconds.observe(time.monotonic() - started)
            wire.progress.rebalance_started = None
        # Each partition's own record has its counts: no pass over the buckets.
        assigned = [
            tp.partition
            for tp in app.consumer.assignment()
            if tp.topic == wire.settings.repartition_topic
        ]
        try:
            wire.expiry.reload(assigned)
        except StateFormatError as exc:
            stop(f"cannot read the table's state: {exc}", EXIT_STATE_FORMAT)
        wire.metrics.stories.set(wire.expiry.stories())
        wire.metrics.buckets.set(wire.expiry.buckets())

    wire.table.on_recover(after_rebalance)
    inputs = {wire.settings.topic_raw, wire.settings.repartition_topic}

    state_topics = (wire.settings.repartition_topic, changelog_topic(wire.settings))

    def check_layout() -> None:
        """Stop before reading an assignment in which a state topic grown by hand no longer
        pairs each repartition partition with its changelog partition; the start check
        refuses the same topics. Fails closed: an error here would leave Faust's rebalance
        half done (its sensors and the repositioning skipped)."""
        consumer = app.consumer
        try:
            conflict = running_layout_conflict(
                wire.settings,
                partition_counts(consumer, state_topics),
                ((tp.topic, tp.partition) for tp in consumer.assignment()),
            )
        except ConsumerNotStarted:
            return  # nothing assigned, nothing read yet
        except Exception as exc:  # noqa: BLE001 - see above
            conflict = f"cannot check them ({type(exc).__name__}: {exc})"
        if conflict is not None:
            stop(f"the story state's topics changed while running: {conflict}", EXIT_TOPIC_CONFLICT)

    async def watch_layout() -> None:
        # Between rebalances too: a worker that is not the group's leader may be given no
        # rebalance for the change (aiokafka watches the topics' counts on the leader only).
        check_layout()

    app.timer(LAYOUT_CHECK_S)(watch_layout)

    def group_failed(error: BaseException) -> None:
        stop(describe_failure(error, wire.settings.instance_id), EXIT_GROUP_FAILED)

    app.sensors.add(GroupWatch(app, group_failed))

    def rebalance_starts() -> None:
        wire.progress.rebalance_started = time.monotonic()
        check_layout()

    def read_from(topic: str, partition: int, offset: int) -> None:
        wire.progress.read_from(topic, partition, offset, time.time())

    positions = InputPositions(
        app,
        inputs,
        wire.progress.replays,
        read_from,
        rebalance_starts,
        on_fetched=wire.progress.fetched,
        on_rebalance_end=check_layout,
    )
    app.sensors.add(positions)
    wire.progress.starting = positions.on_message_start

    consumed = {wire.settings.topic_raw, wire.settings.repartition_topic}
    progress: Progress = wire.progress

    def lag() -> Iterable[tuple[str, int, int]]:
        partitions = {
            (tp.topic, tp.partition): tp for tp in app.consumer.assignment() if tp.topic in consumed
        }

        def highwater(topic: str, partition: int) -> int | None:
            try:
                high: int | None = app.consumer.highwater(partitions[(topic, partition)])
            except (KeyError, AssertionError, AttributeError):  # not fetched yet / reassigned
                return None
            return high

        return progress.lag(partitions, highwater)

    wire.metrics.watch_lag(lag)

    def seconds_behind() -> float:
        return progress.seconds_behind(lag(), time.time())

    def assigned(topic: str) -> Callable[[], float]:
        def count() -> float:
            try:
                return float(sum(1 for tp in app.consumer.assignment() if tp.topic == topic))
            except (AttributeError, AssertionError):  # consumer not started yet
                return 0.0

        return count

    wire.metrics.behind.set_function(seconds_behind)
    wire.metrics.state_bytes.set_function(lambda: float(local_store_bytes(wire.table)))
    wire.metrics.unacknowledged.set_function(lambda: float(len(wire.delivery.pending)))
    wire.metrics.oldest_unacknowledged.set_function(wire.delivery.oldest_wait_s)
    warn_if_stalled = stall_warner(wire.delivery)

    async def watch_deliveries() -> None:
        warn_if_stalled()

    app.timer(STALL_CHECK_S)(watch_deliveries)
    state_dir = wire.settings.state_dir
    wire.metrics.state_volume_size.set_function(lambda: volume_bytes(state_dir)[0])
    wire.metrics.state_volume_free.set_function(lambda: volume_bytes(state_dir)[1])
    for topic in (wire.settings.topic_raw, wire.settings.repartition_topic):
        wire.metrics.assigned.labels(topic).set_function(assigned(topic))
