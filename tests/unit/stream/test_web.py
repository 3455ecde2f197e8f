"""/health: the status word says what keeps a worker from being ready."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
from faust.exceptions import ConsumerNotStarted

from workers.metrics import Metrics
from workers.settings import Settings
from workers.stream.web import health_state


def wire(
    *, started: bool, rebalancing: bool = False, recovering: bool = False, recovered: bool = True
) -> SimpleNamespace:
    event = asyncio.Event()
    if started:
        event.set()
    app = SimpleNamespace(_started=event, rebalancing=rebalancing, in_recovery=recovering)
    progress = SimpleNamespace(recovered=recovered, crashed={})
    return SimpleNamespace(
        app=app, progress=progress, metrics=Metrics(), settings=Settings(), version="test"
    )


@pytest.mark.parametrize(
    ("state", "status", "ready"),
    [
        ({"started": False}, "starting", False),
        ({"started": True}, "ready", True),
        # A worker that has run for hours and rebalances is not "starting".
        ({"started": True, "rebalancing": True}, "rebalancing", False),
        ({"started": True, "recovering": True}, "recovering", False),
        ({"started": True, "recovered": False}, "joining the group", False),
    ],
)
def test_the_status_names_what_keeps_the_worker_from_being_ready(
    state: dict[str, bool], status: str, ready: bool
) -> None:
    health = health_state(wire(**state))  # type: ignore[arg-type]
    assert (health["status"], health["ready"]) == (status, ready)


def test_a_crashed_agent_outranks_the_rest() -> None:
    crashed = wire(started=True, rebalancing=True)
    crashed.progress.crashed["merge"] = "RuntimeError: boom"
    health = health_state(crashed)  # type: ignore[arg-type]
    assert (health["status"], health["crashed"]) == (
        "agent crashed",
        {"merge": "RuntimeError: boom"},
    )


def test_health_answers_while_the_consumer_thread_is_still_starting() -> None:
    """Faust sets the app started before its consumer thread has a consumer: asking for the
    assignment then raises ConsumerNotStarted, which /health must not turn into a 500."""

    def not_yet() -> None:
        raise ConsumerNotStarted("Consumer thread not yet started")

    starting = wire(started=True)
    starting.app.consumer = SimpleNamespace(assignment=not_yet)
    health = health_state(starting)  # type: ignore[arg-type]
    settings = starting.settings
    assert health["assigned"] == {settings.topic_raw: [], settings.repartition_topic: []}
