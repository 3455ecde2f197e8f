"""Once the producer runs, publishing a changelog record does not yield to the event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import faust

from workers.settings import Settings
from workers.stream.app import create_app
from workers.stream.publish_path import install


class Producer:
    """Stands in for Faust's producer: started or not, and whether a start was asked for."""

    def __init__(self, started: bool) -> None:
        self.started = started
        self.start_asked = False

    async def maybe_start(self) -> bool:
        self.start_asked = True
        self.started = True
        return True


def _steps(coro: Coroutine[Any, Any, Any]) -> tuple[int, Any]:
    """Drive a coroutine by hand: how many times it yielded, and what it returned."""
    yields = 0
    while True:
        try:
            coro.send(None)
        except StopIteration as done:
            return yields, done.value
        yields += 1


def test_a_started_producer_is_handed_out_without_a_turn_of_the_loop(tmp_path: Path) -> None:
    app = create_app(Settings(state_dir=tmp_path)).app
    producer = Producer(started=True)
    app.producer = producer

    yields, returned = _steps(app.maybe_start_producer())

    assert (yields, returned) == (0, producer)
    assert not producer.start_asked


def test_before_the_producer_runs_fausts_own_guarded_start_is_used(tmp_path: Path) -> None:
    app = create_app(Settings(state_dir=tmp_path)).app
    producer = Producer(started=False)
    app.producer = producer

    async def twice() -> tuple[Any, Any]:
        return await asyncio.gather(app.maybe_start_producer(), app.maybe_start_producer())

    first, second = asyncio.run(twice())

    assert first is second is producer
    assert producer.start_asked


def test_fausts_own_method_yields_three_times_which_is_what_this_saves(tmp_path: Path) -> None:
    """The cost measured on the unwrapped app: if Faust stops yielding, this module can go."""
    app = create_app(Settings(state_dir=tmp_path)).app
    del app.__dict__["maybe_start_producer"]  # back to mode's stampede wrapper
    producer = Producer(started=True)
    app.producer = producer

    async def count() -> int:
        loop = asyncio.get_running_loop()
        task = loop.create_task(app.maybe_start_producer())
        turns = 0
        while not task.done():
            await asyncio.sleep(0)
            turns += 1
        assert task.result() is producer
        return turns

    assert asyncio.run(count()) >= 3


def test_in_a_transaction_fausts_own_method_answers(tmp_path: Path) -> None:
    """Exactly-once sends through the consumer's transaction manager, never the producer."""

    async def scenario() -> tuple[Any, Any]:
        app = faust.App("t", broker="kafka://127.0.0.1:9", processing_guarantee="exactly_once")
        app.in_worker = True  # a worker's app: in_transaction holds
        install(app)
        app.producer = Producer(started=True)
        return await app.maybe_start_producer(), app.consumer.transactions

    answered, transactions = asyncio.run(scenario())
    assert answered is transactions
