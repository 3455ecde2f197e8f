"""After a rebalance, every input partition is read again from where it must be (positions.py)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from faust.types import TP

from workers.stream import positions
from workers.stream.positions import InputPositions, Replays

RAW = "wire.raw"
REPARTITION = "items-by-story"
CHANGELOG = "story-buckets-changelog"


class FakeConsumer:
    """The parts of faust's consumer the sensor uses, recording what it was asked to do."""

    def __init__(
        self,
        assigned: set[TP],
        committed: dict[TP, int | None],
        earliest: dict[TP, int],
    ) -> None:
        self.assigned = assigned
        self._committed_offset = committed
        self._read_offset: dict[TP, int | None] = dict.fromkeys(assigned, 99)
        self.earliest = earliest
        self.flow_active = True
        self.calls: list[str] = []
        self.sought: dict[TP, int] = {}
        self.fail_earliest = 0  # how many calls fail before one succeeds
        self.during_seek: Any = None  # called while the seek is in flight

    def assignment(self) -> set[TP]:
        return self.assigned

    def stop_flow(self) -> None:
        self.flow_active = False
        self.calls.append("stop_flow")

    def resume_flow(self) -> None:
        self.flow_active = True
        self.calls.append("resume_flow")

    async def earliest_offsets(self, *tps: TP) -> dict[TP, int]:
        self.calls.append("earliest_offsets")
        if self.fail_earliest:
            self.fail_earliest -= 1
            raise ConnectionError("broker gone")
        return {tp: self.earliest[tp] for tp in tps}

    async def seek_wait(self, offsets: dict[TP, int]) -> None:
        self.calls.append("seek_wait")
        assert not self.flow_active, "seeking while Faust still delivers fetched records"
        if self.during_seek is not None:
            self.during_seek()
        self.sought.update(offsets)


class FakeApp:
    def __init__(self, consumer: FakeConsumer) -> None:
        self.consumer = consumer
        self.loop = asyncio.get_running_loop()
        self.rebalancing = False


def _tps(topic: str) -> list[TP]:
    return [TP(topic, p) for p in range(4)]


def _consumer() -> FakeConsumer:
    raw, repartition, changelog = _tps(RAW), _tps(REPARTITION), _tps(CHANGELOG)
    committed: dict[TP, int | None] = {
        raw[0]: 5,  # committed: read again from there, whatever Faust fetched past it
        raw[1]: None,  # never committed: from the earliest offset
        raw[2]: 3,  # committed below the earliest (records expired): from the earliest
        raw[3]: 0,
        repartition[0]: 7,
        changelog[0]: 11,
    }
    earliest = dict.fromkeys(raw + repartition + changelog, 0)
    earliest[raw[1]] = 2
    earliest[raw[2]] = 4
    return FakeConsumer(set(raw + repartition + changelog), committed, earliest)


async def _rebalance(sensor: InputPositions, app: FakeApp) -> None:
    state = sensor.on_rebalance_start(app)
    sensor.on_rebalance_end(app, state)
    assert sensor.repositioning is not None
    await sensor.repositioning


def test_every_input_partition_is_read_again_from_its_committed_or_earliest_offset() -> None:
    async def go() -> None:
        consumer = _consumer()
        app = FakeApp(consumer)
        starts: dict[tuple[str, int], int] = {}
        sensor = InputPositions(app, {RAW, REPARTITION}, Replays(), starts)

        state = sensor.on_rebalance_start(app)
        sensor.on_rebalance_end(app, state)
        # Stopped before the loop runs again: no batch fetched meanwhile reaches an agent.
        assert consumer.calls == ["stop_flow"]
        assert sensor.repositioning is not None
        await sensor.repositioning

        raw, repartition = _tps(RAW), _tps(REPARTITION)
        assert consumer.sought == {
            raw[0]: 5,
            raw[1]: 2,
            raw[2]: 4,
            raw[3]: 0,
            repartition[0]: 7,
            repartition[1]: 0,
            repartition[2]: 0,
            repartition[3]: 0,
        }
        assert consumer.calls == ["stop_flow", "earliest_offsets", "seek_wait", "resume_flow"]
        # Faust would discard the re-read records below its last read offset: forgotten.
        assert all(tp not in consumer._read_offset for tp in raw + repartition)
        assert consumer._read_offset[TP(CHANGELOG, 0)] == 99  # not an input: untouched
        assert starts[(RAW, 0)] == 5
        assert starts[(RAW, 1)] == 2

    asyncio.run(go())


def test_a_rebalance_during_the_repositioning_keeps_the_fetch_stopped() -> None:
    async def go() -> None:
        consumer = _consumer()
        app = FakeApp(consumer)
        sensor = InputPositions(app, {RAW}, Replays())

        def another_rebalance() -> None:
            app.rebalancing = True
            sensor.on_rebalance_start(app)

        consumer.during_seek = another_rebalance
        await _rebalance(sensor, app)
        # The new rebalance owns the flow; Faust resumes it when its recovery is done.
        assert "resume_flow" not in consumer.calls
        assert not consumer.flow_active

    asyncio.run(go())


@pytest.fixture
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(positions, "REPOSITION_BACKOFF_S", 0.0)


@pytest.mark.usefixtures("no_backoff")
def test_a_broker_error_is_retried() -> None:
    async def go() -> None:
        consumer = _consumer()
        consumer.fail_earliest = positions.REPOSITION_ATTEMPTS - 1
        app = FakeApp(consumer)
        sensor = InputPositions(app, {RAW}, Replays())
        await _rebalance(sensor, app)
        assert consumer.sought[TP(RAW, 0)] == 5
        assert consumer.calls[-1] == "resume_flow"

    asyncio.run(go())


@pytest.mark.usefixtures("no_backoff")
def test_a_failed_repositioning_still_resumes_the_fetch(caplog: pytest.LogCaptureFixture) -> None:
    async def go() -> None:
        consumer = _consumer()
        consumer.fail_earliest = positions.REPOSITION_ATTEMPTS
        app = FakeApp(consumer)
        sensor = InputPositions(app, {RAW}, Replays())
        await _rebalance(sensor, app)
        assert consumer.sought == {}
        assert consumer.calls.count("earliest_offsets") == positions.REPOSITION_ATTEMPTS
        assert consumer.calls[-1] == "resume_flow"
        assert consumer.flow_active

    with caplog.at_level(logging.WARNING, logger="workers.stream.positions"):
        asyncio.run(go())
    (warning,) = caplog.messages
    assert warning == (
        "could not reposition wire.raw[0 1 2 3] (ConnectionError: broker gone);"
        " the next rebalance will"
    )


def test_nothing_assigned_leaves_the_flow_alone() -> None:
    async def go() -> None:
        consumer = FakeConsumer(set(_tps(CHANGELOG)), {}, {})
        app = FakeApp(consumer)
        sensor = InputPositions(app, {RAW}, Replays())
        sensor.on_rebalance_end(app, sensor.on_rebalance_start(app))
        assert sensor.repositioning is None
        assert consumer.calls == []

    asyncio.run(go())


def test_replays_skip_exactly_the_offsets_handled_since_the_rebalance() -> None:
    replays = Replays()
    replays.add(RAW, 0, 5, committed=5)
    replays.add(RAW, 0, 7, committed=5)
    assert replays.seen(RAW, 0, 5)
    assert replays.seen(RAW, 0, 7)
    # A record dropped in between (6) must still be read: never "everything below the newest".
    assert not replays.seen(RAW, 0, 6)
    assert not replays.seen(RAW, 1, 5)
    replays.clear()
    assert not replays.seen(RAW, 0, 5)


def test_replays_forget_offsets_below_the_committed_one_once_many() -> None:
    replays = Replays()
    for offset in range(300):
        replays.add(RAW, 0, offset, committed=None)
    replays.add(RAW, 0, 300, committed=250)
    assert not replays.seen(RAW, 0, 249)
    assert all(replays.seen(RAW, 0, o) for o in range(250, 301))
