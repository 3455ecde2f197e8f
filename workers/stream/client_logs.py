"""The Kafka client's and Faust's chatter, kept readable, and the client's errors counted.

aiokafka logs an ERROR for every failed attempt to connect, fetch, update metadata or find the
group coordinator: some 70 lines a second while a broker is away, which bury every other line.
Faust logs a WARNING and an INFO line each time its producer buffer fills (every second or so
while the worker catches up on a backlog), and mode one each time a timer runs late. Each kind
of line (its logger, level and message template, numbers aside) goes through once, then at
most once per :data:`REPEAT_EVERY_S`, saying how many like it were held back. Every ERROR line
of the client is still counted (``wire_ingest_kafka_client_errors_total``), so an alert sees a
broker that stays away, whether items flow or not.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable

# The loggers of the Kafka client: "aiokafka" and its modules' own.
CLIENT_LOGGER = "aiokafka"
# Faust's and mode's loggers whose lines come in runs under load: the producer buffer's
# "producer buffer full size N" / "producer flush took N" pairs while a backlog is worked off,
# and a timer's "woke up too late" / "is overlapping" while the loop is busy. Only these:
# Faust's other lines (a rebalance's assignment tables) must all reach the log.
CHATTY_LOGGERS = ("faust.transport.producer", "mode.timers")
REPEAT_EVERY_S = 30.0
# Kinds of line remembered at most; past it the oldest are forgotten (aiokafka's templates are
# a few dozen, but a message formatted before logging would make a kind per line).
_MAX_KINDS = 512


# A number in a line formatted before logging (Faust's f-strings): "size 1207", "took 0.31".
_NUMBER = re.compile(r"\d+(?:\.\d+)?(?:e-?\d+)?")


class RepeatedLines(logging.Filter):
    """Lets each kind of line from ``lowest`` up through once per ``every_s``; counts ERRORs."""

    def __init__(
        self,
        count_error: Callable[[str], None],
        every_s: float = REPEAT_EVERY_S,
        clock: Callable[[], float] = time.monotonic,
        lowest: int = logging.WARNING,
    ) -> None:
        super().__init__()
        self._count_error = count_error
        self._every_s = every_s
        self._clock = clock
        self._lowest = lowest
        # kind -> (when one last went through, how many were held back since)
        self._kinds: dict[tuple[str, int, str], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR:
            self._count_error(record.name)
        if record.levelno < self._lowest:
            return True
        template = str(record.msg)
        # A line with arguments has its template already; one without may have been
        # formatted before logging, its numbers in it.
        kind = (
            record.name,
            record.levelno,
            _NUMBER.sub("N", template) if not record.args else template,
        )
        now = self._clock()
        last = self._kinds.get(kind)
        if last is not None and now - last[0] < self._every_s:
            self._kinds[kind] = (last[0], last[1] + 1)
            return False
        if last is not None and last[1]:
            record.msg = f"{record.msg} ({last[1]} more like it in the last {now - last[0]:.0f} s)"
        self._kinds.pop(kind, None)
        if len(self._kinds) >= _MAX_KINDS:
            del self._kinds[next(iter(self._kinds))]
        self._kinds[kind] = (now, 0)
        return True


def hold_back_repeated_client_lines(count_error: Callable[[str], None]) -> RepeatedLines:
    """Put one :class:`RepeatedLines` on every Kafka client logger there is (call it once the
    client is imported). A logger's filter sees only its own records, hence one on each."""
    lines = RepeatedLines(count_error)
    cover_client_loggers(lines)
    return lines


def hold_back_faust_chatter() -> RepeatedLines:
    """Put one :class:`RepeatedLines` on each of :data:`CHATTY_LOGGERS`, from INFO up (the
    buffer's INFO line comes with its WARNING); none of their lines is an error to count."""
    lines = RepeatedLines(lambda _logger: None, lowest=logging.INFO)
    cover_loggers(lines, [logging.getLogger(name) for name in CHATTY_LOGGERS])
    return lines


def cover_client_loggers(lines: logging.Filter) -> None:
    """Put the filter on each Kafka client logger that lacks it: again once more of the
    client's modules are imported (Faust's driver imports some the worker's start does not)."""
    cover_loggers(lines, client_loggers())


def cover_loggers(lines: logging.Filter, loggers: Iterable[logging.Logger]) -> None:
    """Put the filter on each of ``loggers`` that lacks it."""
    for logger in loggers:
        if lines not in logger.filters:
            logger.addFilter(lines)


def uncover_client_loggers(lines: logging.Filter) -> None:
    """Take the filter off every Kafka client logger again."""
    for logger in client_loggers():
        logger.removeFilter(lines)


class ExceptionsNamed(logging.Filter):
    """Names by its type an exception in a client line that has no text of its own.

    aiokafka logs a broker that hangs up as 'Unable connect to "host:port": ', its reason,
    ``ConnectionResetError()``, printing as nothing at all.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and any(_wordless(arg) for arg in args):
            record.args = tuple(type(arg).__name__ if _wordless(arg) else arg for arg in args)
        return True


def _wordless(value: object) -> bool:
    return isinstance(value, BaseException) and not str(value)


_exceptions_named = ExceptionsNamed()


def name_wordless_exceptions() -> None:
    """Put :class:`ExceptionsNamed` on every Kafka client logger there is (once each)."""
    import aiokafka  # noqa: F401 - its modules' loggers must exist to be filtered

    cover_client_loggers(_exceptions_named)


def client_loggers() -> list[logging.Logger]:
    """The Kafka client's loggers: "aiokafka" and those of its modules imported so far (a
    logger's filter sees only its own records, hence one on each)."""
    names = [CLIENT_LOGGER] + [
        name for name in logging.root.manager.loggerDict if name.startswith(CLIENT_LOGGER + ".")
    ]
    return [logging.getLogger(name) for name in names]
