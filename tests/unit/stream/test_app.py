"""The Faust app as the worker configures it."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from workers.settings import Settings
from workers.stream.app import create_app

A_YEAR_AT_100K_MESSAGES_A_SECOND = 100_000 * 366 * 24 * 3600


def test_the_fetch_loop_never_stops_to_commit_by_count(tmp_path: Path) -> None:
    """Faust's fetch loop commits, and hands out nothing meanwhile, every n acked messages;
    the worker commits on its timer only, so n is out of any run's reach."""
    app = create_app(Settings(state_dir=tmp_path)).app

    assert app.conf.broker_commit_interval == 1.0
    assert app.consumer._commit_every > A_YEAR_AT_100K_MESSAGES_A_SECOND


def test_the_consumer_hands_a_message_over_without_a_task(tmp_path: Path) -> None:
    """The handoff of handoff.py is the one the worker's consumer uses."""
    consumer = create_app(Settings(state_dir=tmp_path)).app.consumer

    async def on_message() -> str:
        return "queued"

    async def suspend_flow() -> None:
        return None

    handoff = consumer.wait_first(on_message(), suspend_flow())
    with pytest.raises(StopIteration) as finished:
        handoff.send(None)
    assert finished.value.value.results == ["queued"]


def test_the_handoff_goes_faust_s_way_while_the_producer_buffer_is_over_its_mark(
    tmp_path: Path,
) -> None:
    """Over the mark the conductor waits for the buffer with a timeout: never inline."""

    async def scenario() -> bool:
        app = create_app(Settings(state_dir=tmp_path)).app  # on this loop, as in the worker
        buffer = app.producer.buffer
        ran_in: list[Any] = []

        async def on_message() -> None:
            ran_in.append(asyncio.current_task())

        for _ in range(buffer.max_messages + 1):
            buffer.pending.put_nowait(object())
        await app.consumer.wait_first(on_message(), asyncio.sleep(0))
        return ran_in != [asyncio.current_task()]

    assert asyncio.run(scenario())


def test_each_agent_runs_one_instance(tmp_path: Path) -> None:
    """faust-streaming loses messages with an agent's concurrency above 1 (its issue #606):
    one actor per agent, whose acks come in offset order (README, "Delivery guarantees")."""
    agents = create_app(Settings(state_dir=tmp_path)).app.agents
    assert {name: agent.concurrency for name, agent in agents.items()} == {"parse": 1, "merge": 1}
