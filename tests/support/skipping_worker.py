"""``wire-ingest worker`` with faust-streaming's end-of-recovery fetch race forced on it.

Faust can fetch an input partition's records while its set of active partitions is
momentarily empty and discard them, past the fetch position (positions.py, race 1). Its own
seek back to the committed offsets repairs that only when the drop came first. This launcher
makes the unrepaired case happen every time: right after that seek, at the end of each
rebalance's recovery, every raw partition with an unread record is moved one record past its
committed offset, and the fault is logged as ``FAULT skipped``. A worker that does not put
its inputs back itself stalls on that record, or loses it.

Run as ``python -m tests.support.skipping_worker worker`` with the worker's environment.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from faust.transport.consumer import Consumer

log = logging.getLogger("tests.support.skipping_worker")


def install(raw_topic: str) -> None:
    faust_seek = Consumer.perform_seek

    async def perform_seek_then_skip(self: Any) -> None:
        await faust_seek(self)
        if not self.app.rebalancing:  # the seek of a fetch with the flow stopped
            return
        committed = self._committed_offset
        tps = [tp for tp in self.assignment() if tp.topic == raw_topic and committed.get(tp)]
        if not tps:
            return
        highwaters = await self.highwaters(*tps)
        skip = {tp: committed[tp] + 1 for tp in tps if (highwaters.get(tp) or 0) > committed[tp]}
        if skip:
            await self.seek_wait(skip)
            for tp, offset in sorted(skip.items()):
                log.warning("FAULT skipped %s[%d]@%d", tp.topic, tp.partition, offset - 1)

    Consumer.perform_seek = perform_seek_then_skip  # type: ignore[method-assign]


if __name__ == "__main__":
    from workers.cli import main

    install(os.environ["WIRE_TOPIC_RAW"])
    raise SystemExit(main())
