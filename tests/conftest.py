"""Shared pytest fixtures."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.support.broker import LocalBroker, free_port


@pytest.fixture(scope="session")
def local_broker() -> Iterator[LocalBroker | None]:
    """The session's own Kafka broker, or None when ``KAFKA_BOOTSTRAP`` names an external one.

    Started only when a test first asks for it (directly or through ``kafka_bootstrap``), on a
    free loopback port with a fresh data dir; stopped and its data removed at session end,
    whatever the test outcomes. Tests that stop or kill it must ``start()`` it again before
    they finish: ``start()`` is idempotent and comes back on the same data after
    ``stop(keep_data=True)`` or ``kill()``.
    """
    if os.environ.get("KAFKA_BOOTSTRAP"):
        yield None
        return
    broker = LocalBroker(free_port())
    try:
        broker.stop()  # drop data a crashed earlier session may have left for this port
        broker.start()
        yield broker
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def kafka_bootstrap(local_broker: LocalBroker | None) -> str:
    """Bootstrap address of the broker under test: ``$KAFKA_BOOTSTRAP`` or the local broker."""
    if local_broker is None:
        return os.environ["KAFKA_BOOTSTRAP"]
    return local_broker.bootstrap
