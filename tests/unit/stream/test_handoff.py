"""The consumer's handoff of a message: no task when the stream takes it at once, Faust's race
with ``suspend_flow`` when it has to wait."""

from __future__ import annotations

import asyncio
import warnings
from typing import Any

import pytest
from mode import Service

from workers.stream.handoff import Resumed, below_ebb_mark, install


class Consumer(Service):
    """A mode service, as Faust's consumer is, with the event a rebalance sets."""

    def __init__(self) -> None:
        super().__init__()
        self.suspend_flow = asyncio.Event()


def _consumer(inline_ok: bool = True) -> Consumer:
    consumer = Consumer()
    install(consumer, lambda: inline_ok)
    return consumer


def test_a_message_taken_at_once_is_handed_over_without_a_turn_of_the_loop() -> None:
    async def scenario() -> None:
        consumer = _consumer()
        delivered: list[str] = []

        async def on_message(message: str) -> str:
            delivered.append(message)
            return "queued"

        callback = on_message("m1")
        handoff = consumer.wait_first(callback, consumer.suspend_flow.wait())
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # the unused suspend_flow wait is closed, not leaked
            with pytest.raises(StopIteration) as finished:
                handoff.send(None)  # one step, no yield: no task, no turn of the loop
        result = finished.value.value
        assert delivered == ["m1"]
        assert (result.done, result.results, result.stopped) == ([callback], ["queued"], False)

    asyncio.run(scenario())


def test_a_handoff_that_waits_goes_on_where_it_waited() -> None:
    async def scenario() -> None:
        consumer = _consumer()
        room = asyncio.get_running_loop().create_future()
        steps: list[str] = []

        async def on_message() -> str:
            steps.append("full")
            value = await room  # a full stream buffer
            steps.append(f"put after {value}")
            return "queued"

        callback = on_message()
        waiting = asyncio.ensure_future(consumer.wait_first(callback, consumer.suspend_flow.wait()))
        await asyncio.sleep(0)
        assert steps == ["full"]
        assert not waiting.done()
        room.set_result("a get")
        result = await waiting
        assert steps == ["full", "put after a get"]
        assert result.done == [callback]
        assert result.results[0] == "queued"
        assert not result.stopped

    asyncio.run(scenario())


def test_a_rebalance_interrupts_a_waiting_handoff() -> None:
    async def scenario() -> None:
        consumer = _consumer()
        outcome: list[str] = []

        async def on_message() -> None:
            try:
                await asyncio.get_running_loop().create_future()  # never room
            except asyncio.CancelledError:
                outcome.append("cancelled")
                raise

        waiting = asyncio.ensure_future(
            consumer.wait_first(on_message(), consumer.suspend_flow.wait())
        )
        await asyncio.sleep(0)
        consumer.suspend_flow.set()  # Consumer.stop_flow() at a rebalance
        result = await waiting
        await asyncio.sleep(0)
        assert outcome == ["cancelled"]
        assert len(result.done) == 1
        assert not result.stopped

    asyncio.run(scenario())


@pytest.mark.parametrize("waits_first", [False, True])
def test_an_error_in_the_handoff_reaches_the_fetch_loop(waits_first: bool) -> None:
    async def scenario() -> None:
        consumer = _consumer()

        async def on_message() -> None:
            if waits_first:
                await asyncio.sleep(0)
            raise ValueError("undecodable")

        with pytest.raises(ValueError, match="undecodable"):
            await consumer.wait_first(on_message(), consumer.suspend_flow.wait())

    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        asyncio.run(scenario())


def test_a_stopped_consumer_reports_stopped_as_fausts_wait_first_does() -> None:
    async def scenario() -> Any:
        consumer = _consumer()
        consumer._stopped.set()

        async def on_message() -> str:
            return "queued"

        return await consumer.wait_first(on_message(), consumer.suspend_flow.wait())

    result = asyncio.run(scenario())
    assert (result.done, result.results, result.stopped) == ([], [], True)


def test_events_and_timeouts_go_to_fausts_own_wait_first() -> None:
    async def scenario() -> None:
        consumer = _consumer()
        resume = asyncio.Event()
        asyncio.get_running_loop().call_soon(resume.set)
        result = await consumer.wait_first(resume)  # Consumer.wait(can_resume_flow)
        assert result.done == [resume]
        assert not result.stopped

        async def never() -> None:
            await asyncio.get_running_loop().create_future()

        timed_out = await consumer.wait_first(never(), timeout=0.01)
        assert timed_out.done == []
        assert timed_out.stopped

    asyncio.run(scenario())


@pytest.mark.parametrize("inline_ok", [True, False])
def test_the_handoff_runs_in_the_fetch_loops_task_only_while_inline_ok(inline_ok: bool) -> None:
    async def scenario() -> None:
        consumer = _consumer(inline_ok)
        ran_in: list[asyncio.Task[Any] | None] = []

        async def on_message() -> None:
            ran_in.append(asyncio.current_task())

        await consumer.wait_first(on_message(), consumer.suspend_flow.wait())
        assert (ran_in == [asyncio.current_task()]) is inline_ok

    asyncio.run(scenario())


def test_a_timeout_in_a_handoff_not_run_inline_leaves_the_fetch_loop_alone() -> None:
    """Why ``inline_ok``: the conductor's wait for the producer buffer to ebb has a timeout,
    which inline would cancel the fetch loop's own task when it fired."""

    async def scenario(inline_ok: bool) -> str:
        consumer = _consumer(inline_ok)

        async def on_message() -> str:
            try:
                async with asyncio.timeout(0.01):
                    await asyncio.get_running_loop().create_future()  # the buffer never ebbs
            except TimeoutError:
                return "gave up waiting, delivered"
            return "unreachable"

        try:
            result = await consumer.wait_first(on_message(), consumer.suspend_flow.wait())
        except asyncio.CancelledError:
            return "fetch loop cancelled"
        return str(result.results[0])

    assert asyncio.run(scenario(inline_ok=False)) == "gave up waiting, delivered"
    assert asyncio.run(scenario(inline_ok=True)) == "fetch loop cancelled"


def test_below_ebb_mark_follows_the_buffer() -> None:
    class Buffer:
        max_messages = 100
        size = 100

    buffer = Buffer()
    inline_ok = below_ebb_mark(buffer)
    assert inline_ok()
    buffer.size = 101
    assert not inline_ok()


def test_closing_a_resumed_handoff_closes_its_coroutine() -> None:
    closed: list[bool] = []

    async def on_message() -> None:
        try:
            await asyncio.sleep(0)
        finally:
            closed.append(True)

    coro = on_message()
    yielded = coro.send(None)
    steps = Resumed(coro, yielded).__await__()
    next(steps)
    steps.close()
    assert closed == [True]
