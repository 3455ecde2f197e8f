"""The Kafka client's log lines, kept readable while a broker is away, and counted.

aiokafka logs an ERROR for every failed attempt to connect, fetch, update metadata or find the
group coordinator: some 70 lines a second while a broker is away, which bury every other line.
Each kind of line (its logger, level and message template) goes through once, then at most
once per :data:`REPEAT_EVERY_S`, saying how many like it were held back. Every ERROR line is
still counted (``wire_ingest_kafka_client_errors_total``), so an alert sees a broker that stays
away, whether items flow or not.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

# The loggers of the Kafka client: "aiokafka" and its modules' own.
CLIENT_LOGGER = "aiokafka"
REPEAT_EVERY_S = 30.0
# Kinds of line remembered at most; past it the oldest are forgotten (aiokafka's templates are
# a few dozen, but a message formatted before logging would make a kind per line).
_MAX_KINDS = 512


class RepeatedLines(logging.Filter):
    """Lets each kind of WARNING-or-worse line through once per ``every_s``; counts ERRORs."""

    def __init__(
        self,
        count_error: Callable[[str], None],
        every_s: float = REPEAT_EVERY_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self._count_error = count_error
        self._every_s = every_s
        self._clock = clock
        # kind -> (when one last went through, how many were held back since)
        self._kinds: dict[tuple[str, int, str], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR:
            self._count_error(record.name)
        if record.levelno < logging.WARNING:
            return True
        kind = (record.name, record.levelno, str(record.msg))
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


def cover_client_loggers(lines: logging.Filter) -> None:
    """Put the filter on each Kafka client logger that lacks it: again once more of the
    client's modules are imported (Faust's driver imports some the worker's start does not)."""
    for logger in client_loggers():
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
