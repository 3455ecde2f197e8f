"""Where each input partition is read from after a rebalance: faust-streaming races mended.

At the end of a rebalance's table recovery, faust-streaming 0.15:

1. can drop fetched input records: while its set of active partitions is momentarily
   empty, a fetch returns every partition's records and those not yet active are discarded,
   past the fetch position. Its own seek back to the committed offsets covers only
   partitions committed above 0, and only drops that came before it. Worse, its commit
   steps over such a hole (a single missing record at the committed offset, or any when
   nothing was committed), so a dropped record is lost once a later one is committed.
   So no input offset is committed from the start of a rebalance until its inputs are
   back: at its end the fetch is stopped, the sensor waits until no fetch is in flight and
   no fetched batch is still being handed to the agents, drops what waits in the agents'
   buffers (it comes again), puts EVERY input partition back at
   its committed offset (the earliest when it has none, as ``auto_offset_reset=earliest``
   promises), forgets what Faust noted there since (last read offset, acks, gaps), and
   resumes. Each partition's commits stay held until the first record read there again is
   done, so no ack of a record handled before the seek carries a commit past one not read
   again yet (or, when the committed offset lies past the log's end, until Faust's own
   commit logic passes it).
2. resumes the input partitions before it seeks them, so records handled in between come
   again, as do those handled before the repositioning. :class:`Replays` remembers the
   offsets this process handled since the rebalance, and the agents skip exactly those
   (never "everything below the newest": a dropped record must still be read).

Both are at-least-once safe: a re-read record is processed again or skipped as a replay, and
the outbox re-sends any event whose input was not committed (state.py). The Faust internals
used here are those of the faust-streaming line ``pyproject.toml`` allows;
``tests/unit/stream/test_positions.py`` and a fault-injection test against the real broker
(``tests/reliability/test_faults.py``) check them.

The same watch on the fetches tells the lag gauges where each fetch left each input
partition (:func:`fetch_positions`), which the offsets alone do not say when transaction
markers hold some of them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from typing import Any

import faust
from aiokafka.errors import KafkaError

from workers.stream.fatal import EXIT_REPOSITION_FAILED, stop
from workers.stream.kafka_client import aiokafka_consumer

log = logging.getLogger(__name__)

REPOSITION_TIMEOUT_S = 30.0  # one attempt; the fetch stays stopped until one succeeds
REPOSITION_BACKOFF_S = 0.5  # after a failed attempt, doubled each time up to the maximum
REPOSITION_BACKOFF_MAX_S = 5.0


class Replays:
    """Offsets handled since the last rebalance, per input partition, to skip exact replays."""

    def __init__(self) -> None:
        self._seen: dict[tuple[str, int], set[int]] = {}
        # The committed offset each partition's offsets were last pruned at: pruning scans
        # the whole set, which holds every offset handled since that commit (hundreds to
        # thousands at full speed), so it runs once per commit, not once per message.
        self._pruned_at: dict[tuple[str, int], int] = {}

    def clear(self) -> None:
        self._seen.clear()
        self._pruned_at.clear()

    def seen(self, topic: str, partition: int, offset: int) -> bool:
        return offset in self._seen.get((topic, partition), ())

    def add(self, topic: str, partition: int, offset: int, committed: int | None) -> None:
        where = (topic, partition)
        offsets = self._seen.setdefault(where, set())
        offsets.add(offset)
        if (
            committed is not None
            and len(offsets) > 256
            and committed > self._pruned_at.get(where, -1)
        ):
            # A rewind never goes below the committed offset: forget what lies below it.
            # (Offsets handled after that commit are all at or above it.)
            self._pruned_at[where] = committed
            offsets.difference_update([o for o in offsets if o < committed])


class FetchWatch:
    """Whether Faust's fetch loop has a fetch in flight or a fetched batch still being delivered.

    Wraps one consumer's ``_getmany`` (a fetch from the client's thread) and ``getmany`` (a
    batch handed to the agents record by record); the latter must be wrapped before Faust's
    fetcher starts, which keeps the function it found then.
    """

    def __init__(self, on_fetched: Callable[[Any], None] | None = None) -> None:
        self._busy = 0
        # Told the records of each fetch as it returns (the lag gauges: Progress.fetched).
        self._on_fetched = on_fetched
        self._fetched_failed = False  # logged once: it would fail at every fetch
        self._quiet = asyncio.Event()
        self._quiet.set()
        self.consumer: Any = None
        # Per input partition since its last seek: the first message delivered there (None
        # until one is), and whether an agent has started on it; InputPositions holds the
        # partition's commits until then, and until that message is done.
        self.first_delivered: dict[Any, Any] = {}
        self.first_started: set[Any] = set()

    def _enter(self) -> None:
        self._busy += 1
        self._quiet.clear()

    def _leave(self) -> None:
        self._busy -= 1
        if self._busy == 0:
            self._quiet.set()

    async def quiet(self) -> None:
        """Return once nothing fetched can still reach an agent (with the flow stopped)."""
        while self._busy:
            await self._quiet.wait()

    def install(self, consumer: Any) -> None:
        fetch = consumer._getmany
        batches = consumer.getmany

        async def watched_fetch(*args: Any, **kwargs: Any) -> Any:
            self._enter()
            try:
                records = await fetch(*args, **kwargs)
            finally:
                self._leave()
            if self._on_fetched is not None:
                try:
                    self._on_fetched(records)
                except Exception:  # it feeds gauges: never the reason a fetch fails
                    if not self._fetched_failed:
                        log.exception("could not note a fetch's positions for the lag gauges")
                    self._fetched_failed = True
            return records

        async def watched_batches(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
            delivering = False
            try:
                async for item in batches(*args, **kwargs):
                    if not delivering:
                        delivering = True
                        self._enter()
                    tp, message = item
                    if self.first_delivered.get(tp, -1) is None:
                        self.first_delivered[tp] = message
                    yield item
            finally:
                if delivering:
                    self._leave()

        consumer._getmany = watched_fetch
        consumer.getmany = watched_batches
        self.consumer = consumer


class InputPositions(faust.Sensor):
    """After each rebalance: every input partition is read again from its committed offset."""

    def __init__(
        self,
        app: Any,
        topics: set[str],
        replays: Replays,
        on_read_from: Callable[[str, int, int], None] | None = None,
        on_rebalance_start: Callable[[], None] | None = None,
        *,
        on_fetched: Callable[[str, int, int, int | None], None] | None = None,
        on_rebalance_end: Callable[[], None] | None = None,
    ) -> None:
        super().__init__()
        self._app = app
        self._topics = topics
        self._replays = replays
        # Told (topic, partition, offset) where each input partition is read from after a
        # rebalance (committed or earliest offset): the lag gauges count from there.
        self._on_read_from = on_read_from
        self._on_rebalance_start = on_rebalance_start
        # Told first at each rebalance's end, before any input of the new assignment is read.
        self._on_rebalance_end = on_rebalance_end
        self._rebalances = 0  # rebalances started: a repositioning older than the last yields
        # Told (topic, partition, fetch position, last record's offset or None) for each
        # input partition after every fetch: where the records end, transaction markers aside.
        self._on_fetched = on_fetched
        self._watch = FetchWatch(self._fetched if on_fetched is not None else None)
        self.holding_commits = False
        self.repositioning: asyncio.Task[None] | None = None

    def _fetched(self, records: Mapping[Any, Any]) -> None:
        assert self._on_fetched is not None
        last = {tp: batch[-1].offset for tp, batch in records.items() if batch}
        for topic, partition, position in fetch_positions(self._app.consumer):
            if topic in self._topics:
                self._on_fetched(topic, partition, position, last.get((topic, partition)))

    def _install(self, consumer: Any) -> None:
        """Watch the consumer's fetches, and hold its input commits while asked to."""
        if self._watch.consumer is consumer:
            return
        self._watch.install(consumer)
        new_offset = consumer._new_offset

        watch = self._watch

        def new_offset_unless_held(tp: Any) -> Any:
            # Returning None commits nothing there and leaves its acks for a later commit.
            if tp.topic in self._topics:
                if self.holding_commits:
                    return None
                if tp in watch.first_delivered:
                    # Acks of records handled before the seek could carry a commit past a
                    # record not read again yet: held until the first one read is done
                    # (and those acks forgotten when an agent starts on it).
                    first = watch.first_delivered[tp]
                    if first is None or tp not in watch.first_started:
                        return None
                    if first.offset not in consumer._acked_index[tp] and not _below_committed(
                        consumer._committed_offset, tp, first.offset
                    ):
                        return None
                    del watch.first_delivered[tp]
                    watch.first_started.discard(tp)
                    _no_record_before(consumer._committed_offset, tp, first.offset)
            return new_offset(tp)

        consumer._new_offset = new_offset_unless_held

    def on_rebalance_start(self, app: Any) -> Any:
        # Held until the inputs are back. Faust forgets the acks of revoked partitions before
        # its commit at revocation, so this holds back nothing of theirs.
        # Counted before it holds: this runs on the consumer's thread, and a release on the
        # event loop checks the count after it lets go (_release_commits).
        self._rebalances += 1
        self.holding_commits = True
        self._install(app.consumer)  # before the fetcher starts: recovery starts it
        self._replays.clear()  # another worker may have handled our new partitions
        if self._on_rebalance_start is not None:
            self._on_rebalance_start()
        return super().on_rebalance_start(app)

    def on_rebalance_end(self, app: Any, state: Any) -> None:
        if self._on_rebalance_end is not None:
            self._on_rebalance_end()
        rebalance = self._rebalances
        super().on_rebalance_end(app, state)
        assigned = [tp for tp in app.consumer.assignment() if tp.topic in self._topics]
        if not assigned:
            self._watch.first_delivered = {}
            self._watch.first_started = set()
            self._release_commits(rebalance)
            return
        # Stopped here, before the loop runs again: no fetched batch is delivered from now
        # until every partition is back where it must be read from.
        app.consumer.stop_flow()
        # Held here: the loop keeps only a weak reference to a task.
        # The count read at this end's start: a rebalance that started since (on the consumer's
        # thread, during stop_flow, say) supersedes this repositioning before it seeks.
        self.repositioning = app.loop.create_task(self.reposition(assigned, rebalance))

    async def reposition(self, tps: list[Any], rebalance: int) -> None:
        """Seek ``tps`` to their committed (else earliest) offsets, then resume the fetch.

        Broker errors are retried for as long as it takes: reading on from a wrong position
        could lose a record. A rebalance started meanwhile owns the flow: it resumes the
        fetch itself, and its own end repositions again.
        """
        app = self._app

        def superseded() -> bool:
            return rebalance != self._rebalances or bool(getattr(app, "should_stop", False))

        backoff = REPOSITION_BACKOFF_S
        try:
            while not superseded():
                try:
                    await asyncio.wait_for(
                        self._seek_back(tps, superseded, rebalance), REPOSITION_TIMEOUT_S
                    )
                    return
                except (KafkaError, TimeoutError, OSError) as exc:  # the broker away or slow
                    log.warning(
                        "could not reposition %s (%s: %s); trying again in %.1f s",
                        _describe(dict.fromkeys(tps)),
                        type(exc).__name__,
                        exc,
                        backoff,
                    )
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, REPOSITION_BACKOFF_MAX_S)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - a bug: stop rather than read on from anywhere
            if superseded():
                return  # the client stopping or reassigning under us: the next end repeats
            stop(
                f"cannot reposition the input partitions after a rebalance: "
                f"{type(exc).__name__}: {exc}",
                EXIT_REPOSITION_FAILED,
            )
        finally:
            if not superseded() and not app.rebalancing:
                app.consumer.resume_flow()

    def on_message_start(self, message: Any) -> None:
        """An agent starts on ``message`` (before it is handled or skipped as a replay).

        The first message delivered on a partition since the seek: every ack noted there
        now is of a record delivered before the seek, as an agent takes its records in order
        and Faust acks each before it hands out the next. Those records come again from the
        seek and are acked again then. Left in place, an ack ahead of the records read again
        would let Faust's commit, which steps over a single missing offset, pass a record
        that Faust dropped and that is not handled yet; and an ack at the first offset would
        end the partition's hold before the record read again is done.
        """
        watch = self._watch
        tp = message.tp
        if watch.first_delivered.get(tp) is message and tp not in watch.first_started:
            watch.first_started.add(tp)
            watch.consumer._acked.pop(tp, None)
            watch.consumer._acked_index.pop(tp, None)

    def _release_commits(self, rebalance: int) -> None:
        """Let input commits go, unless a rebalance started since ``rebalance``: one may
        start on the consumer's thread at any moment, and it counts itself before it holds,
        so a count checked after the release never leaves its hold undone."""
        self.holding_commits = False
        if rebalance != self._rebalances:
            self.holding_commits = True

    async def _seek_back(
        self, tps: list[Any], superseded: Callable[[], bool], rebalance: int
    ) -> None:
        consumer = self._app.consumer
        await self._watch.quiet()
        # What waits in the agents' buffers was fetched before the seek and comes again
        # from it. Dropped here, with the hand-overs still waiting for room, none of it is
        # handled after a record read again (its ack would outlive on_message_start's).
        self._app.flow_control.clear()
        earliest = await consumer.earliest_offsets(*tps)
        if superseded():
            return
        committed = consumer._committed_offset
        offsets: dict[Any, int] = {}
        for tp in tps:
            first = earliest.get(tp)
            done = committed.get(tp)
            if done is not None and (first is None or done >= first):
                offsets[tp] = done
            elif first is not None:
                offsets[tp] = first  # never committed, or its records expired since
        await consumer.seek_wait(offsets)
        if superseded():
            return
        for tp in tps:
            # What Faust noted there since the rebalance: records come again from here. It
            # discards a fetched record below the last read offset, and its acks and gaps
            # would let a commit step over a record that was dropped.
            consumer._read_offset.pop(tp, None)
            consumer._acked.pop(tp, None)
            consumer._acked_index.pop(tp, None)
            consumer._gap.pop(tp, None)
        if self._on_read_from is not None:
            for tp, offset in offsets.items():
                self._on_read_from(tp.topic, tp.partition, offset)
        self._watch.first_delivered = dict.fromkeys(tps)
        self._watch.first_started = set()
        self._release_commits(rebalance)
        log.info("input partitions read from: %s", _describe(offsets))


def _below_committed(committed: dict[Any, int | None], tp: Any, first: int) -> bool:
    """Whether reading went on below the committed offset, where Faust takes no ack.

    The seek to a committed offset past the partition's last record (the topic re-created
    with the group's offsets kept, or a log truncated by an unclean leader election) lands
    on the earliest offset (``auto_offset_reset``). The first record's ack never comes, so
    the hold ends here, and commits go on as Faust's own would: once records past the
    committed offset are done. Those read below it are done again after a restart.
    """
    done = committed.get(tp)
    if done is None or first >= done:
        return False
    log.warning(
        "%s[%d]: read from offset %d, below its committed offset %d (the topic re-created "
        "or truncated?); records are handled from there, and committed once past %d",
        tp.topic,
        tp.partition,
        first,
        done,
        done,
    )
    return True


def _no_record_before(committed: dict[Any, int | None], tp: Any, first: int) -> None:
    """Note that no record lies between the committed offset and the first one read after the
    seek, once that one is done.

    Faust commits nothing while its lowest ack is more than one past the committed offset.
    Read from the committed offset, the first record delivered is the first that exists:
    those before it expired (the seek went to the earliest offset, or retention moved it on
    before the fetch), were compacted away, or are transaction markers. Without this, such a
    partition would commit nothing until the next rebalance, which reads the same offset.

    Load-bearing, as Faust drops acks below the committed offset: it holds because a seek
    empties aiokafka's buffer for the partition and drops fetch results for another position,
    :meth:`FetchWatch.quiet` lets no fetched batch through past the seek, and an offset out of
    range resets to the earliest (``consumer_auto_offset_reset``, app.py), never the latest.
    """
    done = committed.get(tp)
    if done is not None and first > done:
        committed[tp] = first


def _describe(offsets: Mapping[Any, int | None]) -> str:
    """``topic[partition@offset ...]`` per topic: one short log line for many partitions."""
    by_topic: dict[str, list[str]] = {}
    for tp, offset in sorted(offsets.items()):
        where = str(tp.partition) if offset is None else f"{tp.partition}@{offset}"
        by_topic.setdefault(tp.topic, []).append(where)
    return ", ".join(f"{topic}[{' '.join(where)}]" for topic, where in by_topic.items())


def fetch_positions(consumer: Any) -> Iterator[tuple[str, int, int]]:
    """(topic, partition, position) for each assigned partition with a known fetch position.

    A transaction's commit or abort marker takes an offset of its own that no agent ever
    sees: the position tells the lag gauges when the fetch has passed the last of them
    (``Progress.lag``).

    The position is the offset after the last record the client handed to Faust, and after
    any transaction markers and aborted records it skipped there: it reaches the high
    watermark once everything before it was handed over. The client thread moves it only
    inside Faust's own fetch, so read right after one it belongs to that fetch's records.
    aiokafka keeps it in its partition states (private, read here as they are); none found,
    this yields nothing and the lag gauges count offsets, as they did.
    """
    client = aiokafka_consumer(consumer)
    subscription = getattr(getattr(client, "_subscription", None), "subscription", None)
    states = getattr(getattr(subscription, "assignment", None), "_tp_state", None)
    if not states:
        return
    for tp, state in list(states.items()):
        # Read once: the client thread may clear it meanwhile (a seek, an offset reset).
        position = getattr(state, "_position", None)
        if position is not None:
            yield tp.topic, tp.partition, position
