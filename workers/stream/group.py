"""The consumer group's coordination, watched: a worker that can no longer take part stops.

aiokafka runs the group membership (joins, heartbeats, assignments) in one task per
consumer. An unexpected error there ends the task for good: the client logs it once and the
worker, still alive and serving /health, never gets partitions again. Kafka's Java client
makes such errors fatal for the application; so does this worker, with one line and its own
exit code, so that the orchestrator restarts it and the exit code says why.

A known cause: two processes of one group with the same ``WIRE_INSTANCE_ID``. The broker
gives the newcomer the old member's place, and Faust's assignor then refuses the assignment
meant for the other process, when that process's URL (its web host and port) differs.
Not caught: the same id on processes that share a URL (pods that all serve 0.0.0.0:9108),
which the assignor cannot tell apart.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import faust
from mode import Service

from workers.stream.kafka_client import aiokafka_consumer

# How often the coordination is looked at.
WATCH_EVERY_S = 2.0


class GroupWatch(faust.Sensor):
    """Tells ``on_failure`` the error that ended the group coordination, checked every
    :data:`WATCH_EVERY_S` from the app's start: a sensor, since Faust starts its own timers
    only once the first rebalance's recovery is done, which a worker whose coordination
    died at its first join never reaches."""

    def __init__(self, app: Any, on_failure: Callable[[BaseException], None]) -> None:
        super().__init__()
        self._app = app
        self._on_failure = on_failure

    @Service.timer(WATCH_EVERY_S)
    async def _watch(self) -> None:
        failure = coordination_failure(self._app.consumer)
        if failure is not None and not getattr(self._app, "should_stop", False):
            self._on_failure(failure)


def coordination_failure(consumer: Any) -> BaseException | None:
    """The error that ended the group coordination of Faust's Kafka client, if one did.

    Private attributes (aiokafka's coordinator task), read defensively: a client without
    them, a task still running, ended normally or cancelled (a stop) all give None.
    """
    client = aiokafka_consumer(consumer)
    task = getattr(getattr(client, "_coordinator", None), "_coordination_task", None)
    if not isinstance(task, asyncio.Future) or not task.done() or task.cancelled():
        return None
    return task.exception()


def describe_failure(error: BaseException, instance_id: str | None) -> str:
    """The worker's last line for a failed group coordination."""
    cause = error.__cause__
    text = str(error)  # aiokafka's errors name their class themselves
    detail = text if text.startswith(type(error).__name__) else f"{type(error).__name__}: {text}"
    if cause is not None:
        detail += f", from {type(cause).__name__}"
    line = f"the consumer group's coordination stopped ({detail}); no partition can be read"
    if instance_id and isinstance(cause, AssertionError):  # Faust's assignor refused it
        line += (
            f". Is another process of the group using WIRE_INSTANCE_ID={instance_id}? Each "
            "needs its own"
        )
    return line
