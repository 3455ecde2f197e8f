"""The graceful stop: no commit covers a message that was only buffered."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from workers.stream.runner import drain_and_commit


def test_a_graceful_stop_empties_the_stream_buffers_before_it_commits() -> None:
    calls: list[str] = []

    class Consumer:
        def stop_flow(self) -> None:
            calls.append("stop_flow")

        async def commit(self) -> None:
            calls.append("commit")

    class FlowControl:
        def suspend(self) -> None:
            calls.append("suspend")

        def clear(self) -> None:
            calls.append("clear buffers")

    progress = SimpleNamespace(in_flight=1)

    async def go() -> None:
        async def finish_in_hand() -> None:
            await asyncio.sleep(0.05)
            calls.append("message in hand done")
            progress.in_flight = 0

        finishing = asyncio.ensure_future(finish_in_hand())
        wire: Any = SimpleNamespace(
            app=SimpleNamespace(consumer=Consumer(), flow_control=FlowControl()),
            progress=progress,
        )
        await drain_and_commit(wire, timeout_s=5.0)
        await finishing

    asyncio.run(go())
    assert calls == [
        "stop_flow",
        "suspend",
        "clear buffers",
        "message in hand done",
        "commit",
        "commit",
    ]
