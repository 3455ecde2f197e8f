"""workers.core.merge: a story's state has a fixed budget, however many versions it gets."""

from __future__ import annotations

import dataclasses
import random
from datetime import timedelta

from workers.core.events import Source, to_events
from workers.core.merge import (
    FOLDED_HASHES,
    KEEP_UPDATES,
    Bucket,
    Outcome,
    merge,
)
from workers.core.model import Envelope, WireItem
from workers.stream.state import BucketState, decode_state, encode_state

from .items import SEED_MINUTE, merged_all, wire_item

SOURCE = Source(raw_sha256="0" * 64, file="budget")
LEAD = "Парламентът гласува бюджета след дълъг дебат в пленарната зала."


def live_story(updates: int) -> list[WireItem]:
    """An original and ``updates`` updates, each repeating the story so far plus one line."""
    original = wire_item((LEAD,), headline="Парламентът гласува бюджета")
    items = [original]
    for n in range(1, updates + 1):
        lines = (LEAD, *(f"Депутат номер {i} говори {i} минути за бюджета." for i in range(n)))
        items.append(
            wire_item(
                lines,
                headline=f"Парламентът гласува бюджета (обновена {n})",
                updated=SEED_MINUTE + timedelta(minutes=n),
            )
        )
    return items


def state_bytes(bucket: Bucket) -> int:
    return len(encode_state(BucketState(bucket)))


def test_a_long_story_keeps_its_originals_and_newest_updates_in_full() -> None:
    bucket, results = merged_all(live_story(40))
    (story,) = bucket.views()
    assert len(bucket.versions) == 1 + KEEP_UPDATES
    assert story.total == 41
    assert story.omitted == 40 - KEEP_UPDATES
    assert [r.is_update for r in story.versions] == [False] + [True] * KEEP_UPDATES
    assert story.newest.headline.endswith("(обновена 40)")
    assert [r.outcome for r in results] == [Outcome.CREATED] + [Outcome.UPDATED] * 40


def test_the_event_lists_the_kept_history_and_counts_the_rest() -> None:
    _, results = merged_all(live_story(30))
    (event,) = to_events(results[-1], SOURCE)
    assert len(event["history"]) == 1 + KEEP_UPDATES
    assert event["historyOmitted"] == 30 - KEEP_UPDATES
    assert event["item"]["version"] == "31" == str(event["version"])
    assert event["item"]["firstCreated"] == SEED_MINUTE.isoformat()


def test_state_stops_growing_with_the_versions() -> None:
    """Past the folded-hash budget, more versions add nothing to the state."""
    sizes = {}
    bucket: Bucket | None = None
    for index, version in enumerate(live_story(1300)):
        # Keep the text per version constant, as a live story's last lines change, not grow.
        item = version
        if item.is_update:
            item = dataclasses.replace(item, paragraphs=(LEAD, *item.paragraphs[-5:]))
        bucket = merge(bucket, item).bucket
        if index in {50, 1100, 1300}:
            sizes[index] = state_bytes(bucket)
    assert bucket is not None
    hash_budget = FOLDED_HASHES * 20  # a 16-character hash, its quotes and comma
    assert sizes[1300] <= sizes[1100] <= sizes[50] + hash_budget
    assert sizes[1300] == sizes[1100]  # both past the folded-hash cap: the same shape
    assert decode_state(encode_state(BucketState(bucket))) == BucketState(bucket)


def test_a_redelivered_folded_version_is_a_duplicate() -> None:
    items = live_story(20)
    bucket, _ = merged_all(items)
    again = merge(bucket, items[1])  # the first update, folded long ago
    assert again.outcome is Outcome.DUPLICATE
    assert not again.state_changed
    assert again.bucket is bucket
    assert to_events(again, SOURCE) == []


def test_a_folded_versions_provider_id_still_names_the_story() -> None:
    items = live_story(20)
    first_update = dataclasses.replace(items[1], envelope=Envelope(provider_id="77001"))
    bucket, _ = merged_all([items[0], first_update, *items[2:]])
    (story,) = bucket.views()
    # An update placed elsewhere (a changed dateline), known only by the folded version's id.
    stray = dataclasses.replace(
        wire_item(("Съвсем друг текст без общи думи.",), places=("Пловдив",)),
        is_update=True,
        updated=SEED_MINUTE + timedelta(hours=5),
        envelope=Envelope(provider_id="77001"),
    )
    result = merge(bucket, stray)
    assert result.outcome is Outcome.UPDATED
    assert result.story.key == story.key
    assert len(result.bucket.views()) == 1


def test_a_late_old_update_is_counted_not_kept() -> None:
    items = live_story(20)
    late = items[3]
    bucket, _ = merged_all([item for item in items if item is not late])
    result = merge(bucket, late)
    assert result.outcome is Outcome.BACKFILLED
    assert result.story.total == 21
    assert late.headline not in {r.headline for r in result.story.versions}
    assert merge(result.bucket, late).outcome is Outcome.DUPLICATE


def test_the_kept_state_does_not_depend_on_arrival_order() -> None:
    items = live_story(25)
    expected, _ = merged_all(items)
    for seed in range(5):
        shuffled = items[:]
        random.Random(seed).shuffle(shuffled)
        bucket, _ = merged_all(shuffled)
        assert bucket.views() == expected.views()
        assert {v.content_hash for v in bucket.versions} == {
            v.content_hash for v in expected.versions
        }
