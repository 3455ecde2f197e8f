"""ISO 8601 strings of datetimes, each formatted once: hashes and events name the same few."""

from __future__ import annotations

from datetime import datetime, tzinfo
from functools import lru_cache


def isoformat(when: datetime) -> str:
    """``when.isoformat()``, formatted once per time: an aware isoformat costs microseconds
    (the zone lookup), and an arrival names the same few times about a dozen times (its
    content hash, its event, the history of its story).

    Equal datetimes can still print differently (the same instant in two zones; the two
    sides of a DST fold), so the cache key adds the zone and the fold to the datetime:
    equal on all three means the same wall time and offset, and so the same string.
    """
    return _isoformat(when, when.tzinfo, when.fold)


@lru_cache(maxsize=16384)
def _isoformat(when: datetime, zone: tzinfo | None, fold: int) -> str:  # noqa: ARG001 - key
    return when.isoformat()
