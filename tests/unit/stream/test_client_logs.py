"""The Kafka client's repeated lines: one of each kind per interval, every ERROR counted."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable

import aiokafka.client
import aiokafka.consumer.fetcher
import faust.transport.consumer
import faust.transport.producer
import mode.timers
import pytest

from tests.support.clock import FakeClock
from workers.stream.client_logs import (
    CHATTY_LOGGERS,
    ExceptionsNamed,
    RepeatedLines,
    hold_back_faust_chatter,
    hold_back_repeated_client_lines,
    name_wordless_exceptions,
)


def record(
    msg: str, *args: object, level: int = logging.ERROR, name: str = "aiokafka"
) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, msg, args, None)


def counting(errors: Counter[str]) -> Callable[[str], None]:
    return lambda logger: errors.update([logger])


def test_a_kind_of_line_goes_through_once_per_interval_saying_how_many_were_held_back() -> None:
    errors: Counter[str] = Counter()
    clock = FakeClock(1000.0)
    lines = RepeatedLines(counting(errors), every_s=30, clock=clock)
    first = record("Unable connect to node with id %s: %s", 1, "refused")
    assert lines.filter(first)
    assert first.getMessage() == "Unable connect to node with id 1: refused"
    for _second in range(1, 30):
        clock.now += 1
        assert not lines.filter(record("Unable connect to node with id %s: %s", 1, "refused"))
    clock.now += 1  # 30 s after the first
    again = record("Unable connect to node with id %s: %s", 2, "refused")
    assert lines.filter(again)
    assert again.getMessage() == (
        "Unable connect to node with id 2: refused (29 more like it in the last 30 s)"
    )
    clock.now += 1
    assert not lines.filter(record("Unable connect to node with id %s: %s", 1, "refused"))
    assert errors == {"aiokafka": 32}  # every one counted, held back or not


def test_kinds_are_apart_by_template_logger_and_level() -> None:
    errors: Counter[str] = Counter()
    lines = RepeatedLines(counting(errors), clock=FakeClock(1000.0))
    assert lines.filter(record("Unable to update metadata from %s", [1]))
    assert lines.filter(record("Failed fetch messages from %s: %s", 1, "x"))
    assert lines.filter(record("Failed fetch messages from %s: %s", 1, "x", name="aiokafka.x"))
    assert lines.filter(record("Unable to update metadata from %s", [1], level=logging.WARNING))
    assert not lines.filter(record("Unable to update metadata from %s", [2]))
    assert errors == {"aiokafka": 3, "aiokafka.x": 1}  # warnings are not counted


def test_info_and_debug_lines_are_never_held_back() -> None:
    errors: Counter[str] = Counter()
    lines = RepeatedLines(counting(errors), clock=FakeClock(1000.0))
    for _ in range(3):
        assert lines.filter(record("Joined group", level=logging.INFO))
        assert lines.filter(record("Sending request", level=logging.DEBUG))
    assert not errors


def test_lines_formatted_before_logging_do_not_grow_the_memory_without_bound() -> None:
    lines = RepeatedLines(lambda _name: None, clock=FakeClock(1000.0))
    for n in range(5000):
        assert lines.filter(record(f"failed at {chr(0x4E00 + n)}"))  # a kind per line
    assert len(lines._kinds) <= 512


def test_lines_formatted_before_logging_are_one_kind_whatever_their_numbers() -> None:
    lines = RepeatedLines(lambda _name: None, clock=FakeClock(1000.0))
    assert lines.filter(record("producer buffer full size 101", level=logging.WARNING))
    assert not lines.filter(record("producer buffer full size 2207", level=logging.WARNING))
    assert not lines.filter(record("producer buffer full size 3.5e-05", level=logging.WARNING))
    assert lines.filter(record("producer buffer emptied", level=logging.WARNING))


def test_the_client_loggers_hold_back_their_repeats(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The commands keep the client's lines to themselves (kafka_client): let them reach caplog.
    monkeypatch.setattr(logging.getLogger("aiokafka"), "propagate", True)
    errors: Counter[str] = Counter()
    lines = hold_back_repeated_client_lines(counting(errors))
    try:
        with caplog.at_level(logging.ERROR):
            for _ in range(50):  # the way aiokafka logs them, on its modules' own loggers
                aiokafka.client.log.error("Unable connect to node with id %s: %s", 1, "refused")
                aiokafka.consumer.fetcher.log.error("Failed fetch messages from %s: %s", 1, "x")
    finally:
        for name in ("aiokafka", *logging.root.manager.loggerDict):
            if name.startswith("aiokafka"):
                logging.getLogger(name).removeFilter(lines)
    assert len(caplog.records) == 2
    assert errors == {"aiokafka": 50, "aiokafka.consumer.fetcher": 50}


def test_an_exception_without_text_is_named_by_its_type() -> None:
    """aiokafka's 'Unable connect to "host:port": %s' with ConnectionResetError() read as
    nothing: the reason a TLS client gets from a listener that does not speak TLS."""
    named = ExceptionsNamed()
    line = record('Unable connect to "%s:%s": %s', "127.0.0.1", 9092, ConnectionResetError())
    assert named.filter(line)
    assert line.getMessage() == 'Unable connect to "127.0.0.1:9092": ConnectionResetError'
    refused = ConnectionRefusedError(111, "Connect call failed")
    line = record("Unable connect to node with id %s: %s", 1, refused)
    assert named.filter(line)
    assert line.getMessage() == "Unable connect to node with id 1: [Errno 111] Connect call failed"


def test_the_client_loggers_name_exceptions_without_text(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(logging.getLogger("aiokafka"), "propagate", True)
    name_wordless_exceptions()
    with caplog.at_level(logging.ERROR):
        aiokafka.client.log.error('Unable connect to "%s:%s": %s', "h", 1, ConnectionResetError())
    assert caplog.messages == ['Unable connect to "h:1": ConnectionResetError']


def test_faust_s_buffer_and_timer_lines_come_once_per_interval_and_its_other_lines_all(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """While a backlog is worked off Faust's producer buffer fills every second or so, and
    the commit timer overruns: each used to log a line (two for the buffer) every time."""
    clock = FakeClock(1000.0)
    overrun = mode.timers.Timer(1.0, name="commit", clock=clock)
    overrun.tick()
    lines = hold_back_faust_chatter()
    try:
        with caplog.at_level(logging.INFO):
            for size in range(101, 151):
                # Faust's ProducerBuffer.wait_until_ebb, as it logs them
                faust.transport.producer.logger.warning(f"producer buffer full size {size}")
                faust.transport.producer.logger.info(f"producer flush took {size / 1000}")
                clock.now += 1.0  # slept its interval ...
                overrun.on_before_yield()
                clock.now += 2.5  # ... then ran for 2.5 s: mode's own overlap line
                overrun.tick()
            faust.transport.consumer.logger.info("a rebalance's assignment table")
            faust.transport.consumer.logger.info("a rebalance's assignment table")
    finally:
        for name in CHATTY_LOGGERS:
            logging.getLogger(name).removeFilter(lines)
    assert overrun.overlaps == 50
    assert [(r.name, r.levelname) for r in caplog.records] == [
        ("faust.transport.producer", "WARNING"),
        ("faust.transport.producer", "INFO"),
        ("mode.timers", "WARNING"),
        ("faust.transport.consumer", "INFO"),
        ("faust.transport.consumer", "INFO"),
    ]
