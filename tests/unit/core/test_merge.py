"""workers.core.merge: versions into stories; duplicates, twins, order independence."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from tests.support.fixtures import SEED_STORY
from workers.core import keys
from workers.core.merge import (
    MATCH_THRESHOLD,
    Bucket,
    Outcome,
    Story,
    _Evidence,
    merge,
    similarity,
)
from workers.core.model import WireItem
from workers.stream.state import BucketState, Pending, decode_state, encode_state

from .items import SEED_MINUTE, seed_original, seed_updated, wire_item

# Ten unrelated sentences with no word in common, for precise containment figures.
SENTENCES = (
    "Кметът откри новата детска площадка в квартал Младост.",
    "Синоптиците очакват слънчево време през целия уикенд.",
    "Лекарите препоръчват ваксинация преди грипния сезон.",
    "Футболният отбор спечели мача с два гола разлика.",
    "Библиотеката удължава работното си време през юли.",
    "Земеделците прибраха рекордна реколта от пшеница.",
    "Театърът представя премиера на класическа комедия.",
    "Пожарникари гасиха голям пожар край магистралата.",
    "Студентите протестираха срещу по-високите такси.",
    "Музеят показва изложба на старинни икони и монети.",
)


def merged_all(items: list[WireItem]) -> tuple[Bucket, list[Outcome]]:
    bucket: Bucket | None = None
    outcomes: list[Outcome] = []
    for item in items:
        result = merge(bucket, item)
        bucket, outcomes = result.bucket, [*outcomes, result.outcome]
    assert bucket is not None
    return bucket, outcomes


def only_story(bucket: Bucket) -> Story:
    assert len(bucket.stories) == 1, [s.key for s in bucket.stories]
    return bucket.stories[0]


def test_seed_pair_created_then_updated() -> None:
    bucket, outcomes = merged_all([seed_original(), seed_updated()])
    assert outcomes == [Outcome.CREATED, Outcome.UPDATED]
    story = only_story(bucket)
    assert story.key == SEED_STORY
    assert story.newest == seed_updated()
    assert [v.content_hash for v in story.versions] == [
        keys.content_hash(seed_original()),
        keys.content_hash(seed_updated()),
    ]
    assert [v.is_update for v in story.versions] == [False, True]


def test_seed_pair_created_then_backfilled_converges() -> None:
    forward, _ = merged_all([seed_original(), seed_updated()])
    backward, outcomes = merged_all([seed_updated(), seed_original()])
    assert outcomes == [Outcome.CREATED, Outcome.BACKFILLED]
    assert only_story(backward) == only_story(forward)


def test_merge_result_describes_before_and_after() -> None:
    first = merge(None, seed_original())
    assert first.previous is None
    assert first.story.versions == (first.record,)
    second = merge(first.bucket, seed_updated())
    assert second.previous == first.story
    assert second.story.newest_record is second.record
    assert second.record.version_created == seed_updated().version_created


@pytest.mark.parametrize(
    "variant",
    [
        lambda item: item,
        lambda item: dataclasses.replace(
            item, envelope=dataclasses.replace(item.envelope, url="x")
        ),
    ],
    ids=["identical", "other-envelope"],
)
def test_a_known_version_is_a_duplicate_and_changes_nothing(variant: object) -> None:
    bucket, _ = merged_all([seed_original(), seed_updated()])
    assert callable(variant)
    result = merge(bucket, variant(seed_original()))
    assert result.outcome is Outcome.DUPLICATE
    assert result.bucket is bucket
    assert result.story is result.previous
    assert result.story.key == SEED_STORY


def test_twin_in_the_same_minute_and_place_gets_a_suffixed_key() -> None:
    twin = wire_item(SENTENCES[:4], places=("Москва",))
    bucket, outcomes = merged_all([seed_updated(), twin])
    assert outcomes == [Outcome.CREATED, Outcome.CREATED]
    assert [s.key for s in bucket.stories] == [
        SEED_STORY,
        f"{SEED_STORY}-{keys.content_hash(twin)[:8]}",
    ]
    # Which twin gets the plain key depends on which came first (documented behaviour).
    reverse, _ = merged_all([twin, seed_updated()])
    assert [s.key for s in reverse.stories] == [
        SEED_STORY,
        f"{SEED_STORY}-{keys.content_hash(seed_updated())[:8]}",
    ]
    # An update of the suffixed twin still finds it.
    twin_update = wire_item(
        (*SENTENCES[:4], SENTENCES[4]), places=("Москва",), updated=SEED_MINUTE + timedelta(hours=1)
    )
    result = merge(bucket, twin_update)
    assert result.outcome is Outcome.UPDATED
    assert result.story.key == f"{SEED_STORY}-{keys.content_hash(twin)[:8]}"
    assert len(result.bucket.stories) == 2


def test_same_minute_other_place_gets_its_own_key() -> None:
    other = wire_item(SENTENCES[:4], places=("Вашингтон",))
    bucket, outcomes = merged_all([seed_updated(), other])
    assert outcomes == [Outcome.CREATED, Outcome.CREATED]
    slug = keys.base_story_key(other).rsplit("-", 1)[1]
    assert [s.key for s in bucket.stories] == [SEED_STORY, f"bta-20250812T1757Z-{slug}"]


def story_of(item: WireItem) -> Story:
    return merge(None, item).story


LATER = SEED_MINUTE + timedelta(hours=1)


@pytest.mark.parametrize(
    ("shared", "total", "matches"),
    [(10, 10, True), (5, 10, True), (3, 10, True), (2, 10, False), (0, 10, False)],
)
def test_paragraph_containment_threshold(shared: int, total: int, matches: bool) -> None:
    story = story_of(wire_item(SENTENCES[:total]))
    fresh = tuple(f"Съвсем различен абзац номер {i} без общи думи." for i in range(total - shared))
    candidate = wire_item((*SENTENCES[:shared], *fresh), updated=LATER)
    score = similarity(story, _Evidence.of(candidate))
    # Paragraph containment is exact; the shingle sample may add a little.
    assert score == pytest.approx(shared / total, abs=0.05)
    assert (score >= MATCH_THRESHOLD) is matches
    outcome = merge(Bucket((story,)), candidate).outcome
    assert outcome is (Outcome.UPDATED if matches else Outcome.CREATED)


def test_different_first_place_needs_twice_the_evidence() -> None:
    story = story_of(wire_item(SENTENCES[:10], places=("Москва",)))
    contained = wire_item(SENTENCES[:5], places=("Пхенян",), updated=LATER)
    assert similarity(story, _Evidence.of(contained)) == pytest.approx(0.5)  # 5/5, halved
    assert merge(Bucket((story,)), contained).outcome is Outcome.UPDATED
    half = wire_item(
        (*SENTENCES[:5], *(f"Друг абзац {i} тук." for i in range(5))),
        places=("Киев",),
        updated=LATER,
    )
    same_place = dataclasses.replace(half, places=("Москва",))
    assert similarity(story, _Evidence.of(same_place)) >= 0.5
    assert similarity(story, _Evidence.of(half)) == pytest.approx(
        similarity(story, _Evidence.of(same_place)) / 2
    )
    assert similarity(story, _Evidence.of(half)) < MATCH_THRESHOLD
    assert merge(Bucket((story,)), half).outcome is Outcome.CREATED
    assert merge(Bucket((story,)), same_place).outcome is Outcome.UPDATED


def test_provider_id_match_is_certain() -> None:
    with_id = dataclasses.replace(
        wire_item(SENTENCES[:2]),
        envelope=dataclasses.replace(wire_item(()).envelope, provider_id="1234567"),
    )
    story = story_of(with_id)
    unrelated = wire_item(SENTENCES[5:7], places=("Варна",), updated=LATER)
    assert similarity(story, _Evidence.of(unrelated)) == 0.0
    same_id = dataclasses.replace(unrelated, envelope=with_id.envelope)
    assert similarity(story, _Evidence.of(same_id)) == 1.0
    assert merge(Bucket((story,)), same_id).outcome is Outcome.UPDATED


def test_same_version_time_is_ordered_by_content_hash() -> None:
    a = wire_item(SENTENCES[:4], updated=LATER)
    b = wire_item((*SENTENCES[:4], SENTENCES[4]), updated=LATER)
    ab, _ = merged_all([a, b])
    ba, _ = merged_all([b, a])
    assert only_story(ab) == only_story(ba)
    newest = max((a, b), key=keys.content_hash)
    assert only_story(ab).newest == newest


def test_state_codec_round_trip_and_merging_after_it() -> None:
    bucket, _ = merged_all([seed_original(), wire_item(SENTENCES[:3], places=("Москва",))])
    state = BucketState(bucket, (Pending(2, 41, b'{"eventId":"x"}'),))
    restored = decode_state(encode_state(state))
    assert restored == state
    assert Bucket.from_dict(bucket.to_dict()) == bucket
    assert merge(restored.bucket, seed_updated()) == merge(bucket, seed_updated())
    assert decode_state(None) is None
    assert decode_state(b"") is None


def test_outbox_keeps_uncommitted_events_only() -> None:
    state = BucketState(Bucket(), (Pending(0, 5, b"a"), Pending(0, 9, b"b")))
    advanced = state.advance(Bucket(), Pending(0, 12, b"c"), committed=9)
    assert [e.offset for e in advanced.outbox] == [9, 12]
    assert advanced.pending_for(0, 12) == Pending(0, 12, b"c")
    assert advanced.pending_for(1, 12) is None
    unknown = state.advance(Bucket(), None, committed=None)
    assert [e.offset for e in unknown.outbox] == [5, 9]


def test_merge_is_pure() -> None:
    bucket, _ = merged_all([seed_original()])
    snapshot = bucket.to_dict()
    assert merge(bucket, seed_updated()) == merge(bucket, seed_updated())
    assert bucket.to_dict() == snapshot
