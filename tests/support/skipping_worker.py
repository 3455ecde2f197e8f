"""``wire-ingest worker`` with faust-streaming's end-of-recovery fetch race forced on it.

Faust can fetch an input partition's records while its set of active partitions is
momentarily empty and discard them, past the fetch position (positions.py, race 1); its own
seek back to the committed offsets repairs that only when the drop came first. This launcher
makes the unrepaired case happen every time a rebalance's recovery ends: right after that
seek, every raw partition with an unread record is moved one record past its committed offset
(logged as ``FAULT skipped``), and any raw record Faust fetches before the rebalance is over
is discarded (``FAULT dropped``). A worker that does not put its inputs back itself stalls on
those records, or (Faust's commit steps over the hole) loses them.

Run as ``python -m tests.support.skipping_worker worker`` with the worker's environment.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from typing import Any

from faust.transport.consumer import Consumer

log = logging.getLogger("tests.support.skipping_worker")


def install(raw_topic: str) -> None:
    faust_seek = Consumer.perform_seek
    faust_getmany = Consumer.getmany

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

    async def getmany_dropping(self: Any, timeout: float) -> AsyncIterator[Any]:
        async for tp, message in faust_getmany(self, timeout):
            if self.app.rebalancing and tp.topic == raw_topic:
                log.warning("FAULT dropped %s[%d]@%d", tp.topic, tp.partition, message.offset)
                continue
            yield tp, message

    Consumer.perform_seek = perform_seek_then_skip  # type: ignore[method-assign]
    Consumer.getmany = getmany_dropping  # type: ignore[method-assign]


if __name__ == "__main__":
    from workers.cli import main

    install(os.environ["WIRE_TOPIC_RAW"])
    raise SystemExit(main())
