"""Where each input partition is read from after a rebalance: two faust-streaming races mended.

At the end of a rebalance's table recovery, faust-streaming 0.15:

1. can drop records fetched while its set of active partitions is momentarily empty: the
   fetch then returns every partition's records, and those of partitions not yet active are
   discarded, past the fetch position. Its own seek back to the committed offsets covers
   only partitions whose committed offset is above 0, and only drops that came before it. A
   partition left past a dropped record stalls there, or loses it silently once a later
   record there is committed. So after every rebalance this sensor stops the fetch, puts
   EVERY input partition back at its committed offset (the earliest offset when it has none,
   as ``auto_offset_reset=earliest`` promises), forgets Faust's last read offset there (it
   discards fetched records below it), and resumes the fetch.
2. resumes the input partitions before it seeks them to their committed offsets, so records
   processed in between come again, and the repositioning above brings back whatever was
   handled before it. :class:`Replays` remembers the offsets this process handled since the
   rebalance, and the agents skip exactly those (never "everything below the newest": a
   record dropped by race 1 must still be read).

Both are at-least-once safe: a re-read record is processed again or skipped as a replay, and
the outbox re-sends any event whose input was not committed (state.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Any

import faust
from aiokafka.errors import KafkaError

log = logging.getLogger(__name__)

REPOSITION_ATTEMPTS = 3  # the fetch stays stopped meanwhile
REPOSITION_BACKOFF_S = 0.5  # times the attempt number: 1.5 s of back-off in all


class Replays:
    """Offsets handled since the last rebalance, per input partition, to skip exact replays."""

    def __init__(self) -> None:
        self._seen: dict[tuple[str, int], set[int]] = {}

    def clear(self) -> None:
        self._seen.clear()

    def seen(self, topic: str, partition: int, offset: int) -> bool:
        return offset in self._seen.get((topic, partition), ())

    def add(self, topic: str, partition: int, offset: int, committed: int | None) -> None:
        offsets = self._seen.setdefault((topic, partition), set())
        offsets.add(offset)
        if committed is not None and len(offsets) > 256:
            # A rewind never goes below the committed offset: forget what lies below it.
            offsets.difference_update([o for o in offsets if o < committed])


class InputPositions(faust.Sensor):
    """After each rebalance: every input partition is read again from its committed offset."""

    def __init__(
        self,
        app: Any,
        topics: set[str],
        replays: Replays,
        starts: dict[tuple[str, int], int] | None = None,
        on_rebalance_start: Callable[[], None] | None = None,
    ) -> None:
        super().__init__()
        self._app = app
        self._topics = topics
        self._replays = replays
        # Where each input partition is read from (committed or earliest offset): the lag of
        # a partition none of whose messages was finished yet (a stuck or dead agent).
        self._starts = starts if starts is not None else {}
        self._on_rebalance_start = on_rebalance_start
        self._rebalances = 0  # rebalances started: a repositioning older than the last yields
        self.repositioning: asyncio.Task[None] | None = None

    def on_rebalance_start(self, app: Any) -> Any:
        self._rebalances += 1
        self._replays.clear()  # another worker may have handled our new partitions
        if self._on_rebalance_start is not None:
            self._on_rebalance_start()
        return super().on_rebalance_start(app)

    def on_rebalance_end(self, app: Any, state: Any) -> None:
        super().on_rebalance_end(app, state)
        assigned = [tp for tp in app.consumer.assignment() if tp.topic in self._topics]
        if not assigned:
            return
        # Stopped here, before the loop runs again: no fetched batch is delivered from now
        # until every partition is back where it must be read from.
        app.consumer.stop_flow()
        # Held here: the loop keeps only a weak reference to a task.
        self.repositioning = app.loop.create_task(self.reposition(assigned, self._rebalances))

    async def reposition(self, tps: list[Any], rebalance: int) -> None:
        """Seek ``tps`` to their committed (else earliest) offsets, then resume the fetch.

        A rebalance started meanwhile owns the flow: it resumes the fetch itself, and its own
        end repositions again.
        """
        app = self._app
        consumer = app.consumer

        def superseded() -> bool:
            return rebalance != self._rebalances

        try:
            for attempt in range(1, REPOSITION_ATTEMPTS + 1):
                try:
                    await self._seek_back(tps, superseded)
                    return
                except (KafkaError, TimeoutError, OSError) as exc:  # the broker away or slow
                    if attempt == REPOSITION_ATTEMPTS or superseded():
                        log.warning(
                            "could not reposition %s (%s: %s); the next rebalance will",
                            _describe(dict.fromkeys(tps)),
                            type(exc).__name__,
                            exc,
                        )
                        return
                    await asyncio.sleep(REPOSITION_BACKOFF_S * attempt)
        finally:
            if not superseded() and not app.rebalancing:
                consumer.resume_flow()

    async def _seek_back(self, tps: list[Any], superseded: Callable[[], bool]) -> None:
        consumer = self._app.consumer
        earliest = await consumer.earliest_offsets(*tps)
        if superseded():
            return
        committed = getattr(consumer, "_committed_offset", {})
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
        read = getattr(consumer, "_read_offset", None)
        for tp, offset in offsets.items():
            self._starts[(tp.topic, tp.partition)] = offset
            if read is not None:
                # Faust discards a fetched record below the offset it last read there.
                read.pop(tp, None)
        log.info("input partitions read from: %s", _describe(offsets))


def _describe(offsets: Mapping[Any, int | None]) -> str:
    """``topic[partition@offset ...]`` per topic: one short log line for many partitions."""
    by_topic: dict[str, list[str]] = {}
    for tp, offset in sorted(offsets.items()):
        where = str(tp.partition) if offset is None else f"{tp.partition}@{offset}"
        by_topic.setdefault(tp.topic, []).append(where)
    return ", ".join(f"{topic}[{' '.join(where)}]" for topic, where in by_topic.items())
