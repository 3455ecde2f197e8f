"""How long a bucket lives: a retention measured in stream time, never in wall-clock time.

Stream time is the newest version time the stream has shown (per partition in the worker),
so a replay of last year's wire expires buckets by the wire's own times, as the live stream
did (up to the order in which a partition's items arrive). A version time from the future
cannot push it ahead: it counts no later than its Kafka timestamp plus :data:`CLOCK_SKEW`,
when it has one.

A bucket is live while its newest version is within the retention of stream time. A version
whose bucket is gone (or past its retention) and whose first-published minute is older than
the retention is refused as ``expired``: it is dead-lettered with its wire bytes, never
merged into a fresh story that would restart the numbering of the story it belongs to.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from workers.core.merge import Bucket
from workers.core.model import WireItem
from workers.core.rejects import Reject, RejectReason

# A week: BTA stories are updated within hours, a running story within days; each update
# keeps its bucket alive, so only stories quiet for a whole week expire.
DEFAULT_RETENTION = timedelta(days=7)
CLOCK_SKEW = timedelta(minutes=5)


def advance(stream_time: datetime | None, item: WireItem, received_ms: int | None) -> datetime:
    """Stream time after ``item``: the newest version time seen, capped by receipt time."""
    seen = item.version_created
    if received_ms is not None:
        seen = min(seen, datetime.fromtimestamp(received_ms / 1000, UTC) + CLOCK_SKEW)
    return seen if stream_time is None or seen > stream_time else stream_time


def cutoff(stream_time: datetime, retention: timedelta) -> datetime:
    """Buckets whose newest version is older than this are expired."""
    return stream_time - retention


def is_live(bucket: Bucket, stream_time: datetime | None, retention: timedelta) -> bool:
    last = bucket.last_activity
    return stream_time is None or last is None or last >= cutoff(stream_time, retention)


def admit(
    bucket: Bucket | None, item: WireItem, stream_time: datetime | None, retention: timedelta
) -> Reject | None:
    """None to merge ``item``; an ``expired`` reject when its story's retention has passed."""
    if stream_time is None or (bucket is not None and is_live(bucket, stream_time, retention)):
        return None
    limit = cutoff(stream_time, retention)
    if item.first_created >= limit:
        return None  # a story first published within the retention: new, or never stored
    return Reject(
        RejectReason.EXPIRED,
        f"first published {item.first_created.isoformat()}, more than {_span(retention)} "
        f"before stream time {stream_time.isoformat()}: its story's state has expired",
    )


def _span(retention: timedelta) -> str:
    hours = retention.total_seconds() / 3600
    return f"{hours / 24:g} days" if hours >= 24 else f"{hours:g} hours"
