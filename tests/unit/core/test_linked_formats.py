"""Formats that name their stories (a guid, or agency + slug + day) link versions by that name.

Items are built here field by field, so these tests pin the merge and the events for linked
items whatever the format parsers do; the parsers have their own tests.
"""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from workers.core import keys
from workers.core.events import Source, to_events
from workers.core.merge import Bucket, merge
from workers.core.model import StoryLink, WireItem
from workers.core.pipeline import apply, route_key

FIRST = datetime(2026, 11, 13, 9, 30, tzinfo=UTC)
GUID = "urn:newsml:example.org:20261113:harbour-fire"
SOURCE = Source(raw_sha256="0" * 64)


def g2(version: int, *, pub_status: str = "usable", headline: str | None = None) -> WireItem:
    """Version ``version`` of one NewsML-G2 story: each adds a paragraph, the last is newest."""
    step = min(version, 5)
    return WireItem(
        provider="example",
        headline=headline or f"Fire at the harbour, version {version}",
        is_update=version > 1,
        first_created=FIRST,
        updated=FIRST + timedelta(minutes=10 * step) if version > 1 else None,
        paragraphs=tuple(f"Paragraph {n} of the harbour fire." for n in range(1, step + 1)),
        wire_format="newsml-g2",
        link=StoryLink(GUID, FIRST),
        version=version,
        pub_status=pub_status,
    )


def _replay(items: list[WireItem]) -> tuple[Bucket, list[dict[str, object]]]:
    bucket: Bucket | None = None
    events: list[dict[str, object]] = []
    for item in items:
        applied = apply(bucket, item, SOURCE)
        bucket = applied.bucket
        events.extend(applied.events)
    assert bucket is not None
    return bucket, events


def test_versions_of_one_guid_share_bucket_and_story_key_whatever_their_text() -> None:
    one, two = g2(1), g2(2, headline="Harbour fire: two ships burn")
    assert route_key(one) == route_key(two)
    assert keys.base_story_key(one) == keys.base_story_key(two)
    other = replace(one, link=StoryLink("urn:newsml:example.org:20261113:other", FIRST))
    assert route_key(other) != route_key(one)  # same minute, another story: another bucket
    assert keys.bucket_minute(route_key(one)) == FIRST.replace(second=0)


@pytest.mark.parametrize("order", list(itertools.permutations(range(3))))
def test_every_arrival_order_gives_one_story_with_the_newest_version(
    order: tuple[int, ...],
) -> None:
    versions = [g2(1), g2(2), g2(3)]
    bucket, events = _replay([versions[i] for i in order])
    [story] = bucket.views()
    assert story.total == 3
    assert story.newest == versions[2]
    assert story.key == keys.base_story_key(versions[0])
    assert {e["storyKey"] for e in events} == {story.key}


def test_versions_compare_as_numbers_not_as_strings() -> None:
    low, high = g2(978556838), g2(1542761538)  # "1542761538" < "978556838" as strings
    high = replace(high, updated=low.updated)  # same time: only the number can decide
    for items in ([low, high], [high, low]):
        bucket, _ = _replay(items)
        assert bucket.views()[0].newest.version == 1542761538


@pytest.mark.parametrize("order", list(itertools.permutations(range(3))))
def test_a_kill_ends_the_story_in_any_arrival_order(order: tuple[int, ...]) -> None:
    versions = [g2(1), g2(2), g2(3, pub_status="canceled")]
    bucket, events = _replay([versions[i] for i in order])
    [story] = bucket.views()
    assert story.newest.withdrawn
    latest = events[-1]
    assert latest["item"]["pubStatus"] == "canceled"  # type: ignore[index]
    types = [e["eventType"] for e in events]
    assert types.count("story.canceled") == 1
    # The kill's own event says so; a version that arrives after it is a backfill.
    kill_at = [versions[i] for i in order].index(versions[2])
    assert types[kill_at] == "story.canceled"
    assert all(t == "story.backfilled" for t in types[kill_at + 1 :])


@pytest.mark.parametrize("order", list(itertools.permutations(range(3))))
def test_a_version_newer_than_the_kill_does_not_bring_the_story_back(
    order: tuple[int, ...],
) -> None:
    versions = [g2(1), g2(2, pub_status="canceled"), g2(3)]
    bucket, events = _replay([versions[i] for i in order])
    [story] = bucket.views()
    assert story.newest == versions[1]
    assert story.total == 3
    assert events[-1]["item"]["pubStatus"] == "canceled"  # type: ignore[index]


def test_a_bta_item_keeps_its_key_and_hash_shape() -> None:
    """The format fields are hashed only when set: BTA hashes did not move."""
    item = g2(1)
    bta_like = WireItem(
        provider="bta",
        headline=item.headline,
        is_update=False,
        first_created=FIRST,
        updated=None,
        paragraphs=item.paragraphs,
    )
    assert route_key(bta_like) == "bta:20261113T0930Z"
    assert keys.content_hash(bta_like) != keys.content_hash(replace(bta_like, wire_format="x"))
    assert WireItem.from_dict(item.to_dict()) == item
    assert WireItem.from_dict(bta_like.to_dict()) == bta_like
    assert "wireFormat" not in bta_like.to_dict()


def test_slug_linked_takes_join_their_original_by_link() -> None:
    day = datetime(2026, 11, 13, tzinfo=UTC)
    link = StoryLink("dpa|harbour-fire|2026-11-13", day)
    original = WireItem(
        provider="dpa",
        headline="Fire at the harbour",
        is_update=False,
        first_created=day + timedelta(hours=9),
        updated=None,
        paragraphs=("Smoke rose over the harbour on Friday.",),
        places=("Hamburg",),
        wire_format="iptc7901",
        link=link,
    )
    lead = replace(
        original,
        headline="Two ships burn in harbour fire",
        is_update=True,
        first_created=day + timedelta(hours=11),
        paragraphs=("Two ships burned.", "No one was hurt, the fire brigade said."),
        places=("Bremen",),  # another dateline: the link, not the place, decides
        take="1ST LEAD",
    )
    for items in ([original, lead], [lead, original]):
        bucket: Bucket | None = None
        for item in items:
            bucket = merge(bucket, item).bucket
        assert bucket is not None
        [story] = bucket.views()
        assert story.total == 2
        assert story.newest == lead
    events = to_events(merge(None, lead), SOURCE)
    assert events[0]["eventType"] == "story.created"


def test_withheld_holds_the_story_until_a_later_version_lifts_it() -> None:
    held = g2(2, pub_status="withheld")
    bucket, events = _replay([g2(1), held])
    assert [e["eventType"] for e in events] == ["story.created", "story.canceled"]
    assert events[-1]["item"]["pubStatus"] == "withheld"  # type: ignore[index]
    for order in ([g2(1), held, g2(3)], [g2(3), held, g2(1)], [held, g2(3), g2(1)]):
        bucket, events = _replay(order)
        assert bucket.views()[0].newest == g2(3)
        assert events[-1]["item"]["pubStatus"] == "usable"  # type: ignore[index]


def test_versions_without_a_shared_first_time_link_within_their_day() -> None:
    """No firstCreated: each version has only its own time; the link is named by its day."""
    day = datetime(2026, 11, 13, tzinfo=UTC)
    one = replace(g2(1), link=StoryLink(GUID, day))
    two = replace(g2(2), link=StoryLink(GUID, day))
    assert route_key(one) == route_key(two)
    assert keys.base_story_key(one) == keys.base_story_key(two)
    assert keys.base_story_key(one).endswith(keys.bucket_key(one).rsplit(":", 1)[1])
