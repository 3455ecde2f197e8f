"""Merging versions into stories: pure functions over immutable bucket state.

A bucket holds the stories first published in one minute (usually one). A new version either
repeats a known version (duplicate), matches a story by its content, or starts a new story. The
canonical content of a story is that of its newest version by the versions' own timestamps, so
the final story is a function of the SET of versions, whatever order they arrive in.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from workers.core import keys
from workers.core.model import WireItem

MATCH_THRESHOLD = 0.3
# Below this many sampled shingles a containment estimate is noise; paragraphs decide alone.
MIN_SHINGLES = 8
# Two versions that name different first dateline places need twice the textual evidence.
PLACE_DISAGREEMENT_PENALTY = 0.5


class Outcome(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    BACKFILLED = "backfilled"
    DUPLICATE = "duplicate"


@dataclass(frozen=True, slots=True)
class VersionRecord:
    """What the story remembers of each version: enough for history, not the full text."""

    content_hash: str
    version_created: datetime
    headline: str
    is_update: bool

    @property
    def order(self) -> tuple[datetime, str]:
        return (self.version_created, self.content_hash)

    def to_dict(self) -> dict[str, Any]:
        return {
            "contentHash": self.content_hash,
            "versionCreated": self.version_created.isoformat(),
            "headline": self.headline,
            "isUpdate": self.is_update,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VersionRecord:
        return cls(
            data["contentHash"],
            datetime.fromisoformat(data["versionCreated"]),
            data["headline"],
            bool(data["isUpdate"]),
        )


@dataclass(frozen=True, slots=True)
class Story:
    """One real story: its key, its versions (oldest first) and the newest version's content."""

    key: str
    versions: tuple[VersionRecord, ...]
    newest: WireItem
    paragraph_ids: frozenset[str]
    shingles: frozenset[int]
    first_places: frozenset[str]
    provider_ids: frozenset[str]

    @property
    def newest_record(self) -> VersionRecord:
        return self.versions[-1]

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "versions": [v.to_dict() for v in self.versions],
            "newest": self.newest.to_dict(),
            "paragraphIds": sorted(self.paragraph_ids),
            "shingles": sorted(self.shingles),
            "firstPlaces": sorted(self.first_places),
            "providerIds": sorted(self.provider_ids),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Story:
        return cls(
            key=data["key"],
            versions=tuple(VersionRecord.from_dict(v) for v in data["versions"]),
            newest=WireItem.from_dict(data["newest"]),
            paragraph_ids=frozenset(data["paragraphIds"]),
            shingles=frozenset(data["shingles"]),
            first_places=frozenset(data["firstPlaces"]),
            provider_ids=frozenset(data["providerIds"]),
        )


@dataclass(frozen=True, slots=True)
class Bucket:
    """All stories that share a bucket key (provider + first-published minute)."""

    stories: tuple[Story, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"stories": [s.to_dict() for s in self.stories]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Bucket:
        return cls(tuple(Story.from_dict(s) for s in data["stories"]))


@dataclass(frozen=True, slots=True)
class Merged:
    """The result of merging one version: new bucket, what happened, and the story before/after."""

    bucket: Bucket
    outcome: Outcome
    story: Story
    previous: Story | None
    record: VersionRecord


@dataclass(frozen=True, slots=True)
class _Evidence:
    content_hash: str
    paragraph_ids: frozenset[str]
    shingles: frozenset[int]
    first_place: str | None
    provider_id: str | None

    @classmethod
    def of(cls, item: WireItem) -> _Evidence:
        return cls(
            keys.content_hash(item),
            frozenset(keys.paragraph_ids(item)),
            keys.shingles(item),
            keys.first_place(item),
            item.provider_id,
        )


def _containment(a: frozenset[Any], b: frozenset[Any]) -> float:
    if not a or not b:
        return 0.0
    return len(a & b) / min(len(a), len(b))


def similarity(story: Story, evidence: _Evidence) -> float:
    """How sure we are that a version belongs to a story, from 0 to 1."""
    if evidence.provider_id is not None and evidence.provider_id in story.provider_ids:
        return 1.0
    score = _containment(evidence.paragraph_ids, story.paragraph_ids)
    if min(len(evidence.shingles), len(story.shingles)) >= MIN_SHINGLES:
        score = max(score, _containment(evidence.shingles, story.shingles))
    if (
        evidence.first_place is not None
        and story.first_places
        and evidence.first_place not in story.first_places
    ):
        score *= PLACE_DISAGREEMENT_PENALTY
    return score


def merge(bucket: Bucket | None, item: WireItem) -> Merged:
    """Merge one parsed version into its bucket. Pure: same inputs, same result."""
    bucket = bucket or Bucket()
    evidence = _Evidence.of(item)
    record = VersionRecord(
        evidence.content_hash, item.version_created, item.headline, item.is_update
    )
    for story in bucket.stories:
        if any(v.content_hash == evidence.content_hash for v in story.versions):
            return Merged(bucket, Outcome.DUPLICATE, story, story, record)

    best: Story | None = None
    best_score = MATCH_THRESHOLD
    for story in sorted(bucket.stories, key=lambda s: s.key):
        score = similarity(story, evidence)
        if score >= best_score and (best is None or score > best_score):
            best, best_score = story, score

    if best is None:
        story = _new_story(bucket, item, evidence, record)
        return Merged(Bucket((*bucket.stories, story)), Outcome.CREATED, story, None, record)

    grown = _add_version(best, item, evidence, record)
    outcome = Outcome.UPDATED if grown.newest_record is record else Outcome.BACKFILLED
    stories = tuple(grown if s.key == best.key else s for s in bucket.stories)
    return Merged(Bucket(stories), outcome, grown, best, record)


def _new_story(bucket: Bucket, item: WireItem, evidence: _Evidence, record: VersionRecord) -> Story:
    key = keys.base_story_key(item)
    taken = {s.key for s in bucket.stories}
    if key in taken:
        # A twin: same minute, same first place, different text. Its key then depends on which
        # twin arrived first (see the README, "Story keys").
        key = f"{key}-{evidence.content_hash[:8]}"
    return Story(
        key=key,
        versions=(record,),
        newest=item,
        paragraph_ids=evidence.paragraph_ids,
        shingles=evidence.shingles,
        first_places=frozenset({evidence.first_place}) if evidence.first_place else frozenset(),
        provider_ids=frozenset({evidence.provider_id}) if evidence.provider_id else frozenset(),
    )


def _add_version(story: Story, item: WireItem, evidence: _Evidence, record: VersionRecord) -> Story:
    versions = tuple(sorted((*story.versions, record), key=lambda v: v.order))
    newest = item if versions[-1] is record else story.newest
    return replace(
        story,
        versions=versions,
        newest=newest,
        paragraph_ids=story.paragraph_ids | evidence.paragraph_ids,
        shingles=story.shingles | evidence.shingles,
        first_places=(
            story.first_places | {evidence.first_place}
            if evidence.first_place
            else story.first_places
        ),
        provider_ids=(
            story.provider_ids | {evidence.provider_id}
            if evidence.provider_id
            else story.provider_ids
        ),
    )
