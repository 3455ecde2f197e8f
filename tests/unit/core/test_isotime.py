"""workers.core.isotime: cached ISO 8601 strings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from workers.core.formats.bta import SOFIA
from workers.core.isotime import isoformat


def test_cached_isoformat_keeps_zone_and_fold_apart() -> None:
    """Equal datetimes that print differently must not share a cached string."""
    ambiguous = datetime(2025, 10, 26, 3, 30, tzinfo=SOFIA)  # the DST fall-back hour
    same_instant = [
        datetime(2025, 8, 12, 17, 57, tzinfo=UTC),
        datetime(2025, 8, 12, 20, 57, tzinfo=SOFIA),
        datetime(2025, 8, 12, 20, 57, tzinfo=timezone(timedelta(hours=3))),
        datetime(2025, 8, 12, 17, 57),
        ambiguous,
        ambiguous.replace(fold=1),
        ambiguous.replace(fold=1).astimezone(UTC).astimezone(timezone(timedelta(hours=2))),
    ]
    for when in same_instant * 2:
        assert isoformat(when) == when.isoformat()
