"""The watch on the consumer group's coordination (the broker's side: test_faults.py)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from aiokafka.errors import KafkaError

from workers.stream.group import coordination_failure, describe_failure


def _consumer(task: Any) -> Any:
    coordinator = SimpleNamespace(_coordination_task=task)
    return SimpleNamespace(
        _thread=SimpleNamespace(_consumer=SimpleNamespace(_coordinator=coordinator))
    )


def test_only_an_error_that_ended_the_coordination_is_a_failure() -> None:
    async def run() -> None:
        async def fails() -> None:
            raise KafkaError("Unexpected error during coordination AssertionError()")

        async def waits() -> None:
            await asyncio.sleep(3600)

        async def returns() -> None:
            return None

        failed, waiting, ended = (asyncio.ensure_future(f()) for f in (fails, waits, returns))
        cancelled = asyncio.ensure_future(waits())
        await asyncio.sleep(0)
        cancelled.cancel()
        await asyncio.gather(failed, ended, cancelled, return_exceptions=True)
        assert isinstance(coordination_failure(_consumer(failed)), KafkaError)
        assert coordination_failure(_consumer(waiting)) is None  # still coordinating
        assert coordination_failure(_consumer(ended)) is None  # closed with the consumer
        assert coordination_failure(_consumer(cancelled)) is None  # a stop
        assert coordination_failure(SimpleNamespace()) is None  # not started
        waiting.cancel()

    asyncio.run(run())


def test_the_line_names_the_error_and_a_shared_instance_id() -> None:
    try:
        try:
            raise AssertionError
        except AssertionError as exc:
            raise KafkaError("Unexpected error during coordination AssertionError()") from exc
    except KafkaError as error:
        caught = error
    assert describe_failure(caught, None) == (
        "the consumer group's coordination stopped (KafkaError: Unexpected error during "
        "coordination AssertionError(), from AssertionError); no partition can be read"
    )
    assert describe_failure(caught, "wire-0").endswith(
        "from AssertionError); no partition can be read. Is another process of the group "
        "using WIRE_INSTANCE_ID=wire-0? Each needs its own"
    )
    # Another cause says nothing of the id.
    assert describe_failure(RuntimeError("boom"), "wire-0") == (
        "the consumer group's coordination stopped (RuntimeError: boom); no partition can be read"
    )
