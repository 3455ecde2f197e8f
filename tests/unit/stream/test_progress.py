"""The lag and seconds-behind gauges: what the on-call alerts read (WireIngestFallingBehind)."""

from __future__ import annotations

from types import SimpleNamespace

from workers.stream.agents import Progress

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
    progress.forget_positions(now - HOUR)  # the rebalance that took it away
    progress.forget_positions(now - 60)  # the one that gave it back
    progress.starts[(RAW, 1)] = 200
    lags = list(progress.lag([(RAW, 1)], lambda _t, _p: 200))
    assert lags == [(RAW, 1, 0)]
    assert progress.seconds_behind(lags, now) == 0.0


def test_reading_on_from_a_later_start_counts_from_the_start() -> None:
    """A message of the old assignment finished after the rebalance began (in flight then)."""
    progress = Progress()
    progress.forget_positions(100.0)
    done(progress, 0, 80, at=50.0)
    progress.starts[(RAW, 0)] = 200
    assert list(progress.lag([(RAW, 0)], lambda _t, _p: 210)) == [(RAW, 0, 10)]


def test_a_stuck_first_message_shows_as_time_since_the_rebalance() -> None:
    progress = Progress()
    progress.forget_positions(1000.0)
    progress.starts[(RAW, 2)] = 200
    lags = list(progress.lag([(RAW, 2)], lambda _t, _p: 250))
    assert lags == [(RAW, 2, 50)]
    assert progress.seconds_behind(lags, now=1000.0 + 900) == 900
