"""Where each input partition is read from after a rebalance: two faust-streaming races mended.

At the end of a rebalance's table recovery, faust-streaming 0.15:

1. can drop records buffered for a partition while its set of active partitions is
   momentarily empty, and then seeks only partitions whose committed offset is above 0
   (aiokafka's ``seek_to_committed``). A partition with no committed offset is left past the
   dropped records: a stall, or a silent loss once a later record there is committed. So
   after every rebalance this sensor puts each input partition without a committed offset
   back at its earliest offset, which is what ``auto_offset_reset=earliest`` promises.
2. resumes the input partitions before it seeks them to their committed offsets, so records
   processed in between come again. :class:`Replays` remembers the offsets this process
   handled since the rebalance, and the agents skip exactly those (never "everything below
   the newest": a record dropped by race 1 must still be read).

Both are at-least-once safe: a re-read record is processed again or skipped as a replay, and
the outbox re-sends any event whose input was not committed (state.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import faust

log = logging.getLogger(__name__)


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
    """After each rebalance: input partitions without a committed offset start at the earliest."""

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

    def on_rebalance_start(self, app: Any) -> Any:
        self._replays.clear()  # another worker may have handled our new partitions
        if self._on_rebalance_start is not None:
            self._on_rebalance_start()
        return super().on_rebalance_start(app)

    def on_rebalance_end(self, app: Any, state: Any) -> None:
        super().on_rebalance_end(app, state)
        consumer = app.consumer
        committed = getattr(consumer, "_committed_offset", {})
        assigned = [tp for tp in consumer.assignment() if tp.topic in self._topics]
        uncommitted = [tp for tp in assigned if committed.get(tp) is None]
        for tp in assigned:
            if committed.get(tp) is not None:
                self._starts[(tp.topic, tp.partition)] = committed[tp]
        if uncommitted:
            generation = app.consumer_generation_id
            app.loop.create_task(self._from_earliest(uncommitted, generation))

    async def _from_earliest(self, tps: list[Any], generation: int) -> None:
        app = self._app
        try:
            earliest = await app.consumer.earliest_offsets(*tps)
            if app.consumer_generation_id != generation:
                return  # another rebalance came first; its own end repeats this
            offsets = {tp: offset for tp, offset in earliest.items() if offset is not None}
            await app.consumer.seek_wait(offsets)
            for tp, offset in offsets.items():
                self._starts[(tp.topic, tp.partition)] = offset
            log.info("read from the earliest offset: %s", sorted(map(str, offsets)))
        except asyncio.CancelledError:
            raise
        except Exception:  # a rebalance in between: the next one repeats this
            log.warning("could not reposition %s; the next rebalance will", tps, exc_info=True)
