"""Fetched messages handed to the streams without four tasks each.

Faust's consumer hands every fetched message to the streams through
``await self.wait_first(callback(message), self.suspend_flow.wait())``: a rebalance sets
``suspend_flow`` and so interrupts a handoff that waits for room in a full stream buffer.
``Service.wait_first`` makes a task of each of its arguments, adds two more for the
service's stop and crash events, waits for the first to finish and cancels the rest: four
tasks, an ``asyncio.wait`` and at least two turns of the event loop per message and hop
(34.8 µs per message in isolation, BENCHMARKS.md round 9), while the callback
(``Conductor.on_message``) nearly always finishes without waiting at all: the message goes
into a stream buffer with room in it.

So the consumer's ``wait_first`` first runs its first argument, when that is a coroutine, up
to its first wait. Finished there, it returns what ``wait_first`` would have returned, and no
task was made. Otherwise the coroutine goes on, from where it waits, inside Faust's own
``wait_first``, racing ``suspend_flow`` and the service's events exactly as before. Every
other call (an event, a timeout) goes straight to Faust's. In the bench this took the
worker from 538 to 749 items/s (BENCHMARKS.md, round 10).

That first step runs in the fetch loop's task, not in a task of its own. A timeout started
there would belong to the fetch loop's task, and when it fired it would cancel the fetch
loop (``asyncio.timeout``, and ``asyncio.wait_for`` from Python 3.12, cancel the current
task). The one timeout on the way is the conductor's wait for Faust's producer buffer to
ebb (``ProducerBuffer.flush_atmost``), taken only while more than its mark of records wait;
``inline_ok`` says when the first step cannot reach it, and otherwise the handoff goes
Faust's way, in a task of its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Generator
from typing import Any

from mode.services import WaitResults

WaitFirst = Callable[..., Awaitable[Any]]


class Resumed:
    """A coroutine already stepped to its first wait, awaitable from there on.

    Re-yields what the coroutine yielded to whichever task awaits this, and passes back what
    the task sends or throws (a cancellation included), as if the task had run it all along.
    """

    def __init__(self, coro: Coroutine[Any, Any, Any], yielded: Any) -> None:
        self._coro = coro
        self._yielded = yielded

    def __await__(self) -> Generator[Any, Any, Any]:
        coro, yielded = self._coro, self._yielded
        while True:
            try:
                sent = yield yielded
            except GeneratorExit:
                coro.close()  # this awaitable is being closed: so is the coroutine
                raise
            except BaseException as exc:  # noqa: BLE001 - everything goes on into the coroutine
                try:
                    yielded = coro.throw(exc)
                except StopIteration as finished:
                    return finished.value
            else:
                try:
                    yielded = coro.send(sent)
                except StopIteration as finished:
                    return finished.value


def below_ebb_mark(buffer: Any) -> Callable[[], bool]:
    """Whether Faust's producer ``buffer`` holds no more than its mark: then the conductor's
    ``wait_until_ebb`` returns at once, without its timeout."""

    def inline_ok() -> bool:
        return bool(buffer.size <= buffer.max_messages)

    return inline_ok


def _close(others: tuple[Any, ...]) -> None:
    """Close the coroutines never started: nothing waits for them any more."""
    for other in others:
        if asyncio.iscoroutine(other):
            other.close()


def install(consumer: Any, inline_ok: Callable[[], bool]) -> None:
    """Give ``consumer`` a ``wait_first`` that runs a first coroutine up to its first wait,
    in the caller's task, whenever ``inline_ok()``."""
    faust_wait_first: WaitFirst = consumer.wait_first

    async def wait_first(*coros: Any, timeout: Any = None) -> Any:
        first = coros[0] if coros else None
        if timeout is not None or not asyncio.iscoroutine(first) or not inline_ok():
            return await faust_wait_first(*coros, timeout=timeout)
        try:
            yielded = first.send(None)
        except StopIteration as finished:
            _close(coros[1:])
            if consumer._stopped.is_set() or consumer._crashed.is_set():
                return WaitResults([], [], True)
            return WaitResults([first], [finished.value], False)
        except BaseException:
            _close(coros[1:])  # the error goes on, as Faust's own wait_first passes it on
            raise
        resumed = Resumed(first, yielded)
        done, results, stopped = await faust_wait_first(resumed, *coros[1:])
        # The caller's own coroutine among the winners, as Faust's wait_first names it.
        return WaitResults([first if won is resumed else won for won in done], results, stopped)

    consumer.wait_first = wait_first
