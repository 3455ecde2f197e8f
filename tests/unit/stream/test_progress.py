"""The lag and seconds-behind gauges: what the on-call alerts read (WireIngestFallingBehind)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import pytest

from tests.support.stops import StoppedError, Stops
from workers.stream.agents import Progress, run_guarded

RAW = "wire.raw"
HOUR = 3600.0


def done(progress: Progress, partition: int, offset: int, at: float) -> None:
    progress.mark(SimpleNamespace(topic=RAW, partition=partition, offset=offset, timestamp=at))


def test_lag_counts_from_the_last_message_done() -> None:
    progress = Progress()
    done(progress, 0, 79, at=1000.0)
    lags = list(progress.lag([(RAW, 0)], lambda _t, _p: 100))
    assert lags == [(RAW, 0, 20)]
    assert progress.seconds_behind(lags, now=1000.0 + HOUR) == HOUR
    assert list(progress.lag([(RAW, 0)], lambda _t, _p: None)) == []  # end not known yet


def test_a_partition_that_comes_back_caught_up_is_not_behind() -> None:
    """Done to offset 80 two hours ago; the partition went to another worker, which read it to
    200; back here, reading starts at 200 and nothing new arrives (a quiet night)."""
    progress = Progress()
    now = 10 * HOUR
    done(progress, 1, 80, at=now - 2 * HOUR)
    progress.read_from(RAW, 1, 200, now=now - 60)
    lags = list(progress.lag([(RAW, 1)], lambda _t, _p: 200))
    assert lags == [(RAW, 1, 0)]
    assert progress.seconds_behind(lags, now) == 0.0


def test_while_the_group_re_forms_the_last_positions_still_count() -> None:
    """Between a rebalance's start and the seek, a caught-up partition shows no lag spike."""
    progress = Progress()
    progress.read_from(RAW, 0, 100, now=0.0)
    done(progress, 0, 49_099, at=500.0)
    assert list(progress.lag([(RAW, 0)], lambda _t, _p: 49_100)) == [(RAW, 0, 0)]


def test_what_was_done_before_the_seek_counts_no_more() -> None:
    """Done to 80 before a rebalance; reading starts again at the committed 60: 40 to go."""
    progress = Progress()
    done(progress, 0, 80, at=50.0)
    progress.read_from(RAW, 0, 60, now=100.0)
    assert list(progress.lag([(RAW, 0)], lambda _t, _p: 100)) == [(RAW, 0, 40)]


def test_a_stuck_first_message_shows_as_time_since_reading_started() -> None:
    progress = Progress()
    progress.read_from(RAW, 2, 200, now=1000.0)
    lags = list(progress.lag([(RAW, 2)], lambda _t, _p: 250))
    assert lags == [(RAW, 2, 50)]
    assert progress.seconds_behind(lags, now=1000.0 + 900) == 900


def test_a_transactions_last_marker_is_no_message_not_done() -> None:
    """A newsroom system writes in transactions: record 41, its commit marker at 42, so the
    readable end is 43. Once the fetch reached 43 and record 41 is done, nothing is left
    (the marker never reaches an agent), and a quiet night is not 'behind'."""
    progress = Progress()
    progress.read_from(RAW, 0, 40, now=0.0)
    progress.fetched(RAW, 0, position=43, last_record=41)
    # 40 and 41 to do: counted as offsets, the marker's among them (an upper bound).
    assert list(progress.lag([(RAW, 0)], lambda _t, _p: 43)) == [(RAW, 0, 3)]
    done(progress, 0, 40, at=500.0)
    assert list(progress.lag([(RAW, 0)], lambda _t, _p: 43)) == [(RAW, 0, 2)]
    done(progress, 0, 41, at=600.0)
    lags = list(progress.lag([(RAW, 0)], lambda _t, _p: 43))
    assert lags == [(RAW, 0, 0)]
    assert progress.seconds_behind(lags, now=600.0 + HOUR) == 0.0


def test_markers_count_until_the_fetch_reaches_the_end() -> None:
    """Short of the end the count is an upper bound: offsets, markers among them."""
    progress = Progress()
    progress.read_from(RAW, 0, 0, now=0.0)
    done(progress, 0, 41, at=600.0)
    progress.fetched(RAW, 0, position=43, last_record=41)
    # More was written since: records at 43..49 and a marker at 50; the fetch is at 43.
    assert list(progress.lag([(RAW, 0)], lambda _t, _p: 51)) == [(RAW, 0, 9)]
    # The next fetch returned 43..49 and skipped the marker: still 7 records to do.
    progress.fetched(RAW, 0, position=51, last_record=49)
    assert list(progress.lag([(RAW, 0)], lambda _t, _p: 51)) == [(RAW, 0, 9)]
    done(progress, 0, 49, at=700.0)
    assert list(progress.lag([(RAW, 0)], lambda _t, _p: 51)) == [(RAW, 0, 0)]


def test_a_partition_of_only_aborted_records_has_nothing_to_do() -> None:
    """Reading starts at 10; 10..19 were an aborted transaction and 20 its marker: the fetch
    skips them all, returns no record, and reaches the end."""
    progress = Progress()
    progress.read_from(RAW, 3, 10, now=0.0)
    assert list(progress.lag([(RAW, 3)], lambda _t, _p: 21)) == [(RAW, 3, 11)]  # not fetched
    progress.fetched(RAW, 3, position=21, last_record=None)
    lags = list(progress.lag([(RAW, 3)], lambda _t, _p: 21))
    assert lags == [(RAW, 3, 0)]
    assert progress.seconds_behind(lags, now=HOUR) == 0.0


def test_what_was_fetched_before_the_seek_counts_no_more() -> None:
    """A fetch reached the end (43) before a rebalance; reading starts again at the committed
    30, and record 30 is done: 31..41 are still to do, whatever the old fetch said."""
    progress = Progress()
    progress.fetched(RAW, 0, position=43, last_record=None)
    progress.read_from(RAW, 0, 30, now=100.0)
    done(progress, 0, 30, at=150.0)
    assert list(progress.lag([(RAW, 0)], lambda _t, _p: 43)) == [(RAW, 0, 12)]


def test_the_fetch_positions_are_aiokafkas_own() -> None:
    """Read where aiokafka 0.14 keeps them: a partition without a position yet is left out."""
    from aiokafka.consumer.subscription_state import SubscriptionState
    from aiokafka.structs import TopicPartition

    from workers.stream.positions import fetch_positions

    async def positions() -> list[tuple[str, int, int]]:
        subscription = SubscriptionState()
        subscription.assign_from_user({TopicPartition(RAW, 0), TopicPartition(RAW, 1)})
        assert subscription.subscription is not None
        state = subscription.subscription.assignment.state_value(TopicPartition(RAW, 0))
        state.await_reset(0)
        state.reset_to(43)
        client = SimpleNamespace(_subscription=subscription)
        return list(fetch_positions(SimpleNamespace(_thread=SimpleNamespace(_consumer=client))))

    assert asyncio.run(positions()) == [(RAW, 0, 43)]
    assert list(fetch_positions(SimpleNamespace())) == []  # no client yet: nothing


def test_each_fetch_tells_its_positions_and_last_records_and_a_failure_is_no_fetchs() -> None:
    """FetchWatch hands each fetch's records on; what it feeds failing, the fetch goes on."""
    from workers.stream.positions import FetchWatch

    told: list[dict[Any, Any]] = []

    def note(records: dict[Any, Any]) -> None:
        told.append(records)
        if len(told) == 2:
            raise RuntimeError("a bug in the gauges")

    batch = {(RAW, 0): [SimpleNamespace(offset=41)]}

    async def fetch(*_args: Any, **_kwargs: Any) -> dict[Any, Any]:
        return batch

    consumer = SimpleNamespace(_getmany=fetch, getmany=None)
    FetchWatch(note).install(consumer)

    async def twice() -> list[Any]:
        return [await consumer._getmany(), await consumer._getmany()]

    assert asyncio.run(twice()) == [batch, batch]
    assert told == [batch, batch]


class _Event:
    def __init__(self, offset: int) -> None:
        self.message = SimpleNamespace(
            topic=RAW, partition=0, offset=offset, timestamp=1000.0 + offset, tp=(RAW, 0)
        )
        self.value = b""


class _Stream:
    def __init__(self, offsets: list[int]) -> None:
        self._offsets = offsets

    async def events(self) -> AsyncIterator[_Event]:
        for offset in self._offsets:
            yield _Event(offset)


def test_a_replay_skipped_after_a_rebalance_counts_as_done() -> None:
    """Reading starts again at the committed 10 after a rebalance; 10-12 were handled here
    already and are skipped. The partition is caught up: no lag, not behind (a quiet
    partition would otherwise page WireIngestFallingBehind with the clock)."""
    progress = Progress()
    for offset in (10, 11, 12):
        progress.replays.add(RAW, 0, offset, committed=10)
    progress.read_from(RAW, 0, 10, now=1000.0)
    handled: list[int] = []

    async def handle(_wire: Any, event: Any) -> None:
        handled.append(event.message.offset)

    wire = SimpleNamespace(
        progress=progress,
        app=SimpleNamespace(consumer=SimpleNamespace(_committed_offset={})),
        metrics=SimpleNamespace(last_item=SimpleNamespace(set=lambda _v: None)),
    )
    asyncio.run(run_guarded(wire, _Stream([10, 11, 12]), "parse", handle))  # type: ignore[arg-type]
    assert handled == []  # every one a replay
    lags = list(progress.lag([(RAW, 0)], lambda _t, _p: 13))
    assert lags == [(RAW, 0, 0)]
    assert progress.seconds_behind(lags, now=1000.0 + HOUR) == 0.0


def test_a_message_that_cannot_be_dead_lettered_stops_the_worker_unacked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The handler fails, and so does its dead letter: an error leaving the agent would have
    Faust ack the message, so the worker stops at once, before it is done or committed."""
    from workers.stream import agents

    fake_stop = Stops()

    async def handle(_wire: Any, _event: Any) -> None:
        raise ValueError("a bug")

    progress = Progress()
    counter = SimpleNamespace(inc=lambda: None)
    wire = SimpleNamespace(  # no DLQ to send to: dead-lettering fails too
        progress=progress,
        app=SimpleNamespace(consumer=SimpleNamespace(_committed_offset={})),
        metrics=SimpleNamespace(agent_errors=SimpleNamespace(labels=lambda _a: counter)),
    )
    monkeypatch.setattr(agents, "stop", fake_stop)
    with pytest.raises(StoppedError):
        asyncio.run(run_guarded(wire, _Stream([7]), "merge", handle))  # type: ignore[arg-type]
    ((reason, code),) = fake_stop.calls
    assert code == agents.EXIT_DEAD_LETTER_FAILED
    assert reason.startswith("cannot dead-letter the message the merge agent failed on at ")
    assert progress.done == {}  # never marked done
