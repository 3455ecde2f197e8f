"""What every wire format module provides: the seam between the bytes and the common model.

A format module (``workers/core/formats/<name>.py``) has:

- ``NAME``: its name, as an envelope's ``format`` field or a ``wire-format`` Kafka header
  names it to override detection;
- ``detect(data) -> bool``: whether the bytes look like this format, from their first bytes
  only (cheap: it runs on every message; never raises);
- ``parse(data, received_at) -> tuple[WireItem, ...] | Reject``: the items of the input (a
  NewsML-G2 ``newsMessage`` holds several; every other input one), or why none; never raises.
  ``received_at`` is when the input reached us (the Kafka timestamp, else an envelope's
  ``receivedAt``): formats whose times lack a year take it from there.

Adding a format touches this folder, its tests and its fixtures; the merge and the worker
never name a format.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol

from workers.core.model import WireItem
from workers.core.rejects import Reject

# The years a wire time may name: before 1900 a time is a typo (and zones before then kept
# local mean time, which RFC 3339 cannot write); past 9000, one step from datetime's limit,
# arithmetic such as the retention's cutoff would overflow.
EARLIEST_YEAR = 1900
LATEST_YEAR = 9000


def start_of_day(when: datetime) -> datetime:
    """00:00 UTC of ``when``'s day: what a link is named by when no time is shared by every
    version (no firstCreated; IPTC 7901 and ANPA 1312 slugs, which hold for a day)."""
    return when.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


class WireFormat(Protocol):
    """A format module, as the registry uses it."""

    NAME: str

    def detect(self, data: bytes) -> bool: ...

    def parse(self, data: bytes, received_at: datetime | None) -> tuple[WireItem, ...] | Reject: ...


def rfc3339_time(text: str) -> datetime:
    """An RFC 3339 (or ISO 8601) time, its "T" and "Z" in either case as RFC 3339 allows;
    ``fromisoformat`` takes a lower-case "t" but not a "z". Raises ValueError."""
    return datetime.fromisoformat(text[:-1] + "Z" if text.endswith("z") else text)


def whole_minute_offset(when: datetime) -> bool:
    """An offset of whole minutes, as xs:dateTime and RFC 3339 write them (``+hh:mm``).

    ``fromisoformat`` also takes ``+hh:mm:ss``; such a time is refused, because the state codec
    (and every consumer reading RFC 3339) keeps offsets to the minute.
    """
    offset = when.utcoffset()
    return offset is None or not (offset.seconds % 60 or offset.microseconds)
