"""After a rebalance, every input partition is read again from where it must be (positions.py)."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from faust.types import TP

from workers.stream import positions
from workers.stream.positions import InputPositions, Replays

RAW = "wire.raw"
REPARTITION = "items-by-story"
CHANGELOG = "story-buckets-changelog"


@dataclass(frozen=True, eq=False)  # told apart by identity, as Faust's messages are
class Message:
    offset: int
    tp: TP | None = None


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
        self._acked: defaultdict[TP, list[int]] = defaultdict(list)
        self._acked_index: defaultdict[TP, set[int]] = defaultdict(set)
        self._gap: dict[TP, object] = {}
        for tp in assigned:
            self._acked[tp].append(100)
            self._acked_index[tp].add(100)
            self._gap[tp] = object()
        self.earliest = earliest
        self.flow_active = True
        self.calls: list[str] = []
        self.sought: dict[TP, int] = {}
        self.fail_earliest: list[BaseException] = []  # raised by the next calls, in turn
        self.during_seek: Callable[[], None] | None = None
        self.during_earliest: Callable[[], None] | None = None
        self.batch: list[tuple[TP, Message]] = []  # what one getmany delivers

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
        if self.during_earliest is not None:
            self.during_earliest()
        if self.fail_earliest:
            raise self.fail_earliest.pop(0)
        return {tp: self.earliest[tp] for tp in tps}

    async def seek_wait(self, offsets: dict[TP, int]) -> None:
        self.calls.append("seek_wait")
        assert not self.flow_active, "seeking while Faust still delivers fetched records"
        if self.during_seek is not None:
            self.during_seek()
        self.sought.update(offsets)

    def _new_offset(self, tp: TP) -> int | None:
        return 42

    async def _getmany(self, active_partitions: Any, timeout: float) -> dict[TP, list[str]]:
        return {}

    async def getmany(self, timeout: float) -> AsyncIterator[tuple[TP, Message]]:
        for item in self.batch:
            yield item


class FakeFlowControl:
    """The app's flow control: clearing it empties the agents' buffers."""

    def __init__(self, consumer: FakeConsumer) -> None:
        self._consumer = consumer

    def clear(self) -> None:
        self._consumer.calls.append("flow_control.clear")


class FakeApp:
    def __init__(self, consumer: FakeConsumer) -> None:
        self.consumer = consumer
        self.loop = asyncio.get_running_loop()
        self.rebalancing = False
        self.should_stop = False
        self.flow_control = FakeFlowControl(consumer)


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


def _sensor(app: FakeApp, topics: set[str], **kwargs: Any) -> InputPositions:
    return InputPositions(app, topics, Replays(), **kwargs)


async def _rebalance(sensor: InputPositions, app: FakeApp) -> None:
    state = sensor.on_rebalance_start(app)
    sensor.on_rebalance_end(app, state)
    assert sensor.repositioning is not None
    await sensor.repositioning


@pytest.fixture
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(positions, "REPOSITION_BACKOFF_S", 0.0)


def test_every_input_partition_is_read_again_from_its_committed_or_earliest_offset() -> None:
    async def go() -> None:
        consumer = _consumer()
        app = FakeApp(consumer)
        starts: dict[tuple[str, int], int] = {}

        def read_from(topic: str, partition: int, offset: int) -> None:
            starts[(topic, partition)] = offset

        sensor = _sensor(app, {RAW, REPARTITION}, on_read_from=read_from)

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
        # What the agents' buffers held (fetched before the seek) is dropped before the seek:
        # it comes again, and none of it may be handled after a record read again.
        assert consumer.calls == [
            "stop_flow",
            "flow_control.clear",
            "earliest_offsets",
            "seek_wait",
            "resume_flow",
        ]
        # What Faust noted since the rebalance is forgotten: its last read offset (it would
        # discard the re-read records below it), acks and gaps (a commit could step over a
        # dropped record).
        for tp in raw + repartition:
            assert tp not in consumer._read_offset
            assert tp not in consumer._acked
            assert tp not in consumer._acked_index
            assert tp not in consumer._gap
        changelog = TP(CHANGELOG, 0)  # not an input: untouched
        assert consumer._read_offset[changelog] == 99
        assert consumer._acked[changelog] == [100]
        assert changelog in consumer._gap
        assert starts[(RAW, 0)] == 5
        assert starts[(RAW, 1)] == 2

    asyncio.run(go())


def test_input_commits_are_held_until_the_first_record_read_again_is_done() -> None:
    async def go() -> None:
        consumer = _consumer()
        app = FakeApp(consumer)
        sensor = _sensor(app, {RAW})
        raw0, raw1 = TP(RAW, 0), TP(RAW, 1)
        assert consumer._new_offset(raw0) == 42
        held: list[int | None] = []
        state = sensor.on_rebalance_start(app)
        assert consumer._new_offset(raw0) is None  # held: its acks stay
        assert consumer._new_offset(TP(CHANGELOG, 0)) == 42  # not an input
        consumer.during_seek = lambda: held.append(consumer._new_offset(raw1))
        sensor.on_rebalance_end(app, state)
        assert sensor.repositioning is not None
        await sensor.repositioning
        assert held == [None]  # still held while the seek runs
        # Back, but an ack of a record handled before the seek (raw[0]@6, say) must not
        # carry a commit past raw[0]@5, dropped by Faust and not read again yet.
        consumer._acked_index[raw0].add(6)
        assert consumer._new_offset(raw0) is None
        consumer.batch = [
            (raw0, Message(5, raw0)),
            (raw0, Message(6, raw0)),
            (raw1, Message(2, raw1)),
        ]
        delivered = [m async for _, m in consumer.getmany(timeout=1.0)]
        assert [m.offset for m in delivered] == [5, 6, 2]
        assert consumer._new_offset(raw0) is None  # read again, not done yet
        sensor.on_message_start(delivered[0])  # forgets the ack of 6 from before the seek
        assert consumer._new_offset(raw0) is None  # started, not done yet
        consumer._acked_index[raw0].add(5)
        assert consumer._new_offset(raw0) == 42
        assert 6 not in consumer._acked_index[raw0]
        assert consumer._new_offset(raw1) is None  # its own first record is not done yet
        sensor.on_message_start(delivered[2])
        consumer._acked_index[raw1].add(2)
        assert consumer._new_offset(raw1) == 42
        assert consumer._new_offset(TP(RAW, 3)) is None  # nothing read there yet

    asyncio.run(go())


def _with_fausts_commit_logic(tp: TP, committed: int, earliest: int) -> FakeConsumer:
    """A consumer whose ``_new_offset`` is Faust's own, not a stand-in."""
    from faust.transport.consumer import Consumer
    from intervaltree import IntervalTree

    consumer = FakeConsumer({tp}, {tp: committed}, {tp: earliest})
    consumer._gap = defaultdict(IntervalTree)
    consumer._new_offset = lambda t: Consumer._new_offset(consumer, t)  # type: ignore[method-assign]
    return consumer


async def _read_and_ack(
    consumer: FakeConsumer, sensor: InputPositions, tp: TP, offsets: range
) -> None:
    """Deliver ``offsets`` and handle each in turn: an agent starts on it, then Faust acks it
    (none below the committed offset)."""
    consumer.batch = [(tp, Message(o, tp)) for o in offsets]
    async for _tp, message in consumer.getmany(timeout=1.0):
        sensor.on_message_start(message)
        committed = consumer._committed_offset.get(tp)
        if committed is None or message.offset >= committed:
            consumer._acked[tp].append(message.offset)
            consumer._acked_index[tp].add(message.offset)


async def _repositioned(committed: int, earliest: int) -> tuple[TP, FakeConsumer, InputPositions]:
    """One raw partition with Faust's own commit logic, after a rebalance's repositioning."""
    tp = TP(RAW, 0)
    consumer = _with_fausts_commit_logic(tp, committed=committed, earliest=earliest)
    sensor = _sensor(FakeApp(consumer), {RAW})
    await _rebalance(sensor, sensor._app)
    return tp, consumer, sensor


def test_a_partition_whose_committed_records_expired_commits_again() -> None:
    """Committed at 3, retained from 10: read from 10, and Faust's own commit logic (not a
    stand-in) commits past 10 once those records are done, at this rebalance and the next."""

    async def go() -> None:
        tp = TP(RAW, 0)
        consumer = _with_fausts_commit_logic(tp, committed=3, earliest=10)
        app = FakeApp(consumer)
        sensor = _sensor(app, {RAW})
        for _ in range(2):
            await _rebalance(sensor, app)
            assert consumer.sought[tp] == 10
            await _read_and_ack(consumer, sensor, tp, range(10, 15))
            assert consumer._new_offset(tp) == 15  # with the committed offset left at 3: None
            consumer.earliest[tp] = 10
            consumer._committed_offset[tp] = 3  # the broker still says 3 at the next rebalance

    asyncio.run(go())


def test_records_gone_between_the_seek_and_the_fetch_do_not_stop_the_commits() -> None:
    """Retention moved on after the earliest offset was asked (10): the first record read is
    12. Faust's own commit logic commits past it once it is done."""

    async def go() -> None:
        tp, consumer, sensor = await _repositioned(committed=3, earliest=10)
        await _read_and_ack(consumer, sensor, tp, range(12, 15))
        assert consumer._new_offset(tp) == 15

    asyncio.run(go())


def test_the_seek_waits_for_the_batch_being_delivered() -> None:
    async def go() -> None:
        consumer = _consumer()
        consumer.batch = [(TP(RAW, 0), Message(5)), (TP(RAW, 0), Message(6))]
        app = FakeApp(consumer)
        sensor = _sensor(app, {RAW})
        state = sensor.on_rebalance_start(app)  # installs the watch, as before Faust's fetcher
        delivering = consumer.getmany(timeout=1.0)
        first = await anext(delivering)  # an agent holds @5; @6 is yet to come
        assert first[1].offset == 5
        sensor.on_rebalance_end(app, state)
        assert sensor.repositioning is not None
        for _ in range(20):
            await asyncio.sleep(0)
        assert "seek_wait" not in consumer.calls
        assert [m.offset async for _, m in delivering] == [6]
        await sensor.repositioning
        assert consumer.calls[-2:] == ["seek_wait", "resume_flow"]

    asyncio.run(go())


def test_the_seek_waits_for_a_fetch_in_flight() -> None:
    async def go() -> None:
        consumer = _consumer()
        app = FakeApp(consumer)
        release = asyncio.Event()

        async def slow_fetch(active_partitions: Any, timeout: float) -> dict[TP, list[str]]:
            await release.wait()
            return {}

        consumer._getmany = slow_fetch  # type: ignore[method-assign]
        sensor = _sensor(app, {RAW})
        state = sensor.on_rebalance_start(app)
        fetch = asyncio.create_task(consumer._getmany(active_partitions=None, timeout=1.0))
        await asyncio.sleep(0)
        sensor.on_rebalance_end(app, state)
        for _ in range(20):
            await asyncio.sleep(0)
        assert "seek_wait" not in consumer.calls
        release.set()
        await fetch
        assert sensor.repositioning is not None
        await sensor.repositioning
        assert "seek_wait" in consumer.calls

    asyncio.run(go())


def test_a_rebalance_during_the_repositioning_keeps_the_fetch_stopped() -> None:
    async def go() -> None:
        consumer = _consumer()
        app = FakeApp(consumer)
        sensor = _sensor(app, {RAW})

        def another_rebalance() -> None:
            app.rebalancing = True
            sensor.on_rebalance_start(app)

        consumer.during_seek = another_rebalance
        await _rebalance(sensor, app)
        # The new rebalance owns the flow; Faust resumes it when its recovery is done.
        assert "resume_flow" not in consumer.calls
        assert not consumer.flow_active
        assert sensor.holding_commits  # until that rebalance puts the inputs back

    asyncio.run(go())


def test_a_rebalance_that_starts_as_the_fetch_stops_supersedes_the_repositioning() -> None:
    """The next rebalance starts (on the consumer's thread) while this one's end stops the
    fetch: this end's repositioning must not seek, resume or release anything."""

    async def go() -> None:
        consumer = _consumer()
        app = FakeApp(consumer)
        sensor = _sensor(app, {RAW})
        state = sensor.on_rebalance_start(app)
        stop_flow = consumer.stop_flow

        def stop_flow_as_the_next_rebalance_starts() -> None:
            stop_flow()
            app.rebalancing = True
            sensor.on_rebalance_start(app)

        consumer.stop_flow = stop_flow_as_the_next_rebalance_starts  # type: ignore[method-assign]
        sensor.on_rebalance_end(app, state)
        assert sensor.repositioning is not None
        await sensor.repositioning
        assert "seek_wait" not in consumer.calls
        assert "resume_flow" not in consumer.calls
        assert sensor.holding_commits

    asyncio.run(go())


@pytest.mark.usefixtures("no_backoff")
def test_broker_errors_are_retried_until_the_inputs_are_back(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def go() -> None:
        consumer = _consumer()
        consumer.fail_earliest = [ConnectionError("broker gone"), TimeoutError()] * 3
        app = FakeApp(consumer)
        sensor = _sensor(app, {RAW})
        await _rebalance(sensor, app)
        assert consumer.calls.count("earliest_offsets") == 7
        assert consumer.sought[TP(RAW, 0)] == 5
        assert consumer.calls[-1] == "resume_flow"
        assert not sensor.holding_commits

    with caplog.at_level(logging.WARNING, logger="workers.stream.positions"):
        asyncio.run(go())
    assert len(caplog.messages) == 6
    assert caplog.messages[0] == (
        "could not reposition wire.raw[0 1 2 3] (ConnectionError: broker gone);"
        " trying again in 0.0 s"
    )


def test_an_unexpected_error_stops_the_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    stopped: list[tuple[str, int]] = []

    def fake_stop(reason: str, code: int) -> None:
        stopped.append((reason, code))

    monkeypatch.setattr(positions, "stop", fake_stop)

    async def go() -> None:
        consumer = _consumer()
        consumer.fail_earliest = [KeyError("_committed_offset")]
        app = FakeApp(consumer)
        await _rebalance(_sensor(app, {RAW}), app)

    asyncio.run(go())
    assert stopped == [
        (
            "cannot reposition the input partitions after a rebalance: KeyError: "
            "'_committed_offset'",
            7,
        )
    ]


def test_an_error_while_the_worker_stops_is_no_reason_to_exit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stopped: list[tuple[str, int]] = []
    monkeypatch.setattr(positions, "stop", lambda reason, code: stopped.append((reason, code)))

    async def go() -> None:
        consumer = _consumer()
        app = FakeApp(consumer)
        consumer.fail_earliest = [AssertionError("no partitions are currently assigned")]
        consumer.during_earliest = lambda: setattr(app, "should_stop", True)
        await _rebalance(_sensor(app, {RAW}), app)
        assert "resume_flow" not in consumer.calls

    asyncio.run(go())
    assert stopped == []


def test_nothing_assigned_leaves_the_flow_alone() -> None:
    async def go() -> None:
        consumer = FakeConsumer(set(_tps(CHANGELOG)), {}, {})
        app = FakeApp(consumer)
        sensor = _sensor(app, {RAW})
        state = sensor.on_rebalance_start(app)
        sensor.on_rebalance_end(app, state)
        assert sensor.repositioning is None
        assert consumer.calls == []
        assert not sensor.holding_commits

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
    # Pruned once per commit: a later commit forgets what lies below it in turn.
    for offset in range(301, 600):
        replays.add(RAW, 0, offset, committed=250)
    replays.add(RAW, 0, 600, committed=550)
    assert not replays.seen(RAW, 0, 549)
    assert all(replays.seen(RAW, 0, o) for o in range(550, 601))
    # After a rebalance the same commit prunes again.
    replays.clear()
    for offset in range(550, 900):
        replays.add(RAW, 0, offset, committed=None)
    replays.add(RAW, 0, 900, committed=550)
    replays.add(RAW, 0, 901, committed=600)
    assert not replays.seen(RAW, 0, 599)
    assert all(replays.seen(RAW, 0, o) for o in range(600, 902))


def test_a_partition_committed_past_its_log_end_commits_again_once_past_it() -> None:
    """Committed at 50, but the topic was re-created with the group's offsets kept: the seek
    to 50 lands on the earliest offset, 0. Faust takes no ack below 50, so the first record
    read never counts as done; commits must go on, as Faust's own would, once past 50."""

    async def go() -> None:
        tp, consumer, sensor = await _repositioned(committed=50, earliest=0)
        assert consumer.sought[tp] == 50  # out of range: aiokafka resets it to the earliest
        await _read_and_ack(consumer, sensor, tp, range(0, 20))
        assert consumer._new_offset(tp) is None  # nothing past 50 done yet
        await _read_and_ack(consumer, sensor, tp, range(20, 60))
        assert consumer._new_offset(tp) == 60
        assert consumer._committed_offset[tp] == 50  # never lowered

    asyncio.run(go())


class _StartsWhileReleased(InputPositions):
    """A sensor on which the next rebalance starts (on the consumer's thread, in Faust) just
    before the event loop's release of the commits lands: the worst moment."""

    armed = False

    @property
    def holding_commits(self) -> bool:
        return self._holding

    @holding_commits.setter
    def holding_commits(self, value: bool) -> None:
        if self.armed and not value:
            self.armed = False
            self.on_rebalance_start(self._app)
        self._holding = value


def test_a_rebalance_that_starts_as_the_commits_are_released_keeps_them_held() -> None:
    async def go() -> None:
        app = FakeApp(_consumer())
        sensor = _StartsWhileReleased(app, {RAW}, Replays())
        state = sensor.on_rebalance_start(app)
        sensor.on_rebalance_end(app, state)
        sensor.armed = True  # the next release races a new rebalance
        assert sensor.repositioning is not None
        await sensor.repositioning
        assert sensor.holding_commits  # the new rebalance's hold stands
        assert app.consumer._new_offset(TP(RAW, 0)) is None

    asyncio.run(go())


def test_acks_of_records_handled_before_the_seek_never_carry_a_commit_past_a_dropped_one() -> None:
    """Committed at 10. Before the seek, 10, 11, 13 and 14 sat in the agent's buffer (Faust
    dropped 12 at the end of the recovery); the agent handles them after the seek, and their
    acks land. Read again from 10, each record comes once more. With those acks kept, the
    hold would end on the old ack of 10, and once 11 is committed Faust's own commit logic,
    which steps over one missing offset, would commit past 12 before 12 was ever handled."""

    async def go() -> None:
        tp, consumer, sensor = await _repositioned(committed=10, earliest=0)
        for offset in (10, 11, 13, 14):  # handled from the buffer after the seek
            consumer._acked[tp].append(offset)
            consumer._acked_index[tp].add(offset)
        assert consumer._new_offset(tp) is None  # nothing read again yet
        commits: list[int | None] = []
        consumer.batch = [(tp, Message(o, tp)) for o in range(10, 16)]
        async for _tp, message in consumer.getmany(timeout=1.0):
            sensor.on_message_start(message)
            commits.append(consumer._new_offset(tp))  # a commit while it is being handled
            if commits[-1] is not None:
                consumer._committed_offset[tp] = commits[-1]
            if message.offset >= consumer._committed_offset[tp]:  # Faust's ack
                consumer._acked[tp].append(message.offset)
                consumer._acked_index[tp].add(message.offset)
        # Each commit covers only the records done again: while 12 is handled, up to 11.
        assert commits == [None, 11, 12, 13, 14, 15]
        assert consumer._new_offset(tp) == 16

    asyncio.run(go())
