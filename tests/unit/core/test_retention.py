"""workers.core.retention: stream time, and which versions a retention refuses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from workers.core.merge import merge
from workers.core.model import WireItem
from workers.core.rejects import RejectReason
from workers.core.retention import admit, advance, is_live

from .items import SEED_MINUTE, wire_item

WEEK = timedelta(days=7)
ORIGINAL = wire_item(("Кметът откри новата детска площадка в квартал Младост.",))


def update_at(when: datetime) -> WireItem:
    return wire_item(ORIGINAL.paragraphs, updated=when)


def test_stream_time_is_the_newest_version_time_seen() -> None:
    later = update_at(SEED_MINUTE + timedelta(hours=2))
    assert advance(None, ORIGINAL, None) == SEED_MINUTE
    assert advance(SEED_MINUTE, later, None) == SEED_MINUTE + timedelta(hours=2)
    assert advance(SEED_MINUTE + timedelta(days=1), ORIGINAL, None) == SEED_MINUTE + timedelta(
        days=1
    )


def test_a_version_from_the_future_moves_stream_time_no_further_than_its_receipt() -> None:
    received = SEED_MINUTE + timedelta(hours=1)
    future = update_at(SEED_MINUTE + timedelta(days=400))
    ms = int(received.timestamp() * 1000)
    assert advance(None, future, ms) == received.astimezone(UTC) + timedelta(minutes=5)


def test_a_live_bucket_takes_late_versions_of_its_story() -> None:
    bucket = merge(None, ORIGINAL).bucket
    # A running story: updated every day for ten days keeps its bucket alive.
    for day in range(1, 11):
        late = update_at(SEED_MINUTE + timedelta(days=day))
        now = SEED_MINUTE + timedelta(days=day)
        assert admit(bucket, late, now, WEEK) is None
        bucket = merge(bucket, late).bucket
    assert is_live(bucket, SEED_MINUTE + timedelta(days=17), WEEK)
    assert not is_live(bucket, SEED_MINUTE + timedelta(days=17, minutes=1), WEEK)


def test_a_version_of_an_expired_story_is_refused_not_started_again() -> None:
    bucket = merge(None, ORIGINAL).bucket
    now = SEED_MINUTE + timedelta(days=8)
    late = update_at(now)
    for stored in (bucket, None):  # not yet swept, or swept
        reject = admit(stored, late, now, WEEK)
        assert reject is not None
        assert reject.reason is RejectReason.EXPIRED
        assert "more than 7 days before stream time" in reject.detail
    # A re-delivered original of the expired story too: it would restart at version 1.
    assert admit(None, ORIGINAL, now, WEEK) is not None


def test_new_stories_within_the_retention_are_admitted() -> None:
    assert admit(None, ORIGINAL, None, WEEK) is None
    assert admit(None, ORIGINAL, SEED_MINUTE + WEEK, WEEK) is None
    assert admit(None, ORIGINAL, SEED_MINUTE + WEEK + timedelta(seconds=1), WEEK) is not None
