"""``wire-ingest worker`` whose first update is merged while a rebalance begins.

A rebalance's re-read starts at the committed offsets. The inputs handled before the
rebalance began come again and their outbox events are re-sent; those handled while it ran
are skipped (positions.py, race 2). An original handled before it and its update handled
while it ran straddle it: the update's event went out first, the original's is re-sent
after it. This launcher makes that happen every time:

- no input offset is ever committed (so the original comes again);
- before it merges the first update, it asks the consumer to rejoin its group, and waits
  until the rebalance has begun (logged as ``FAULT straddled``), then merges it. Faust's
  revocation waits for that message to be done, and the rebalance goes on.

A worker that re-sends the original's event as the story's newest leaves ``stories.latest``
a version behind.

Run as ``python -m tests.support.straddling_worker worker`` with the worker's environment.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from faust.transport.consumer import Consumer

from workers.stream import agents
from workers.stream.records import decode_forwarded

log = logging.getLogger("tests.support.straddling_worker")
REBALANCE_WAIT_S = 30.0


def install() -> None:
    async def never_commit(self: Any, *args: Any, **kwargs: Any) -> bool:
        return False

    Consumer.commit = never_commit  # type: ignore[method-assign]
    merge = agents.handle_item
    straddled = False

    async def merge_straddling(wire: Any, message: Any, key: bytes, value: bytes) -> None:
        nonlocal straddled
        if not straddled and decode_forwarded(value).item.is_update:
            straddled = True
            consumer = wire.app.consumer

            async def rejoin() -> None:
                consumer._thread._ensure_consumer()._coordinator.request_rejoin()

            await consumer._thread.call_thread(rejoin)
            loop = asyncio.get_running_loop()
            deadline = loop.time() + REBALANCE_WAIT_S
            while wire.progress.rebalance_started is None:
                if loop.time() > deadline:
                    raise RuntimeError("the rebalance did not begin")
                await asyncio.sleep(0.05)
            log.warning("FAULT straddled %d@%d", message.partition, message.offset)
        await merge(wire, message, key, value)

    agents.handle_item = merge_straddling  # type: ignore[assignment]


if __name__ == "__main__":
    from workers.cli import main

    install()
    raise SystemExit(main())
