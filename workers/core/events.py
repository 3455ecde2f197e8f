"""The canonical event: a small envelope around a ninjs item, built from a merge result."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from workers.core import keys
from workers.core.isotime import isoformat
from workers.core.merge import Change, ChangeKind, Merged, Outcome, Story, VersionRecord
from workers.core.model import WireItem
from workers.core.ninjs import to_ninjs

SCHEMA_VERSION = "1.2"
EVENT_TYPES = {
    Outcome.CREATED: "story.created",
    Outcome.UPDATED: "story.updated",
    Outcome.BACKFILLED: "story.backfilled",
}
CHANGE_EVENT_TYPES = {
    ChangeKind.CREATED: "story.created",
    ChangeKind.REGROUPED: "story.regrouped",
    ChangeKind.MERGED: "story.merged",
}
# A withdrawal (pubStatus canceled, or withheld until a later version) that became its
# story's newest version.
CANCELED = "story.canceled"
EVENT_TYPE_NAMES = tuple(
    dict.fromkeys((*EVENT_TYPES.values(), *CHANGE_EVENT_TYPES.values(), CANCELED))
)


@dataclass(frozen=True, slots=True)
class Source:
    """Where a raw item came from: Kafka coordinates in the worker, a file in a replay."""

    raw_sha256: str
    topic: str | None = None
    partition: int | None = None
    offset: int | None = None
    timestamp_ms: int | None = None
    file: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"rawSha256": self.raw_sha256}
        if self.topic is not None:
            out.update(topic=self.topic, partition=self.partition, offset=self.offset)
        if self.timestamp_ms is not None:
            out["timestampMs"] = self.timestamp_ms
        if self.file is not None:
            out["file"] = self.file
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Source:
        return cls(
            raw_sha256=data["rawSha256"],
            topic=data.get("topic"),
            partition=data.get("partition"),
            offset=data.get("offset"),
            timestamp_ms=data.get("timestampMs"),
            file=data.get("file"),
        )


def event_id(story_key: str, version: int, content_hash: str, event_type: str) -> str:
    """Deterministic: a reprocessed input yields the id it had, so consumers can dedupe."""
    digest = bytearray(
        hashlib.blake2b(
            f"{story_key}|{version}|{content_hash}|{event_type}".encode(), digest_size=16
        ).digest()
    )
    digest[6] = (digest[6] & 0x0F) | 0x80  # RFC 9562 version 8: a custom, hash-based UUID
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    # str(uuid.UUID(bytes=...)) without building the UUID: lowercase hex in 8-4-4-4-12.
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def to_events(merged: Merged, source: Source) -> list[dict[str, Any]]:
    """Every event of one arrival: its own story's first, then the stories it regrouped."""
    own = to_event(merged, source)
    return ([own] if own else []) + [_change_event(c, merged, source) for c in merged.others]


def to_event(merged: Merged, source: Source) -> dict[str, Any] | None:
    """The event of the arrival's own story, or None for a duplicate (which emits nothing)."""
    if merged.outcome is Outcome.DUPLICATE:
        return None
    story = merged.story
    event_type = EVENT_TYPES[merged.outcome]
    if merged.outcome is not Outcome.BACKFILLED and story.newest.withdrawn:
        event_type = CANCELED  # the arrival withdrew the story (or came withdrawn)
    return _event(
        event_type,
        story.key,
        story.revision,
        story,
        merged,
        source,
        _changes(merged.previous, story),
    )


def _change_event(change: Change, merged: Merged, source: Source) -> dict[str, Any]:
    event = _event(
        CHANGE_EVENT_TYPES[change.kind],
        change.key,
        change.revision,
        change.story,
        merged,
        source,
        _changes(change.previous, change.story),
    )
    if change.merged_into is not None:
        event["mergedInto"] = change.merged_into
    return event


def _event(  # noqa: PLR0917 - one private builder, called twice
    event_type: str,
    key: str,
    version: int,
    story: Story,
    merged: Merged,
    source: Source,
    changes: dict[str, Any] | None,
) -> dict[str, Any]:
    return {
        "schemaVersion": SCHEMA_VERSION,
        "eventId": event_id(key, version, merged.record.content_hash, event_type),
        "eventType": event_type,
        "storyKey": key,
        "version": version,
        "trigger": _record(merged.record),
        "changes": changes,
        "history": [_record(v) for v in story.versions],
        "historyOmitted": story.omitted,
        "source": source.to_dict(),
        "item": to_ninjs(story),
    }


def _record(record: VersionRecord) -> dict[str, Any]:
    """``record.to_dict()`` with the shared isoformat cache: a history lists every version
    in every event of its story, so its times are the same few datetimes over and over."""
    return {
        "contentHash": record.content_hash,
        "versionCreated": isoformat(record.version_created),
        "headline": record.headline,
        "isUpdate": record.is_update,
    }


_COMPARED_FIELDS = (
    ("headline", "headline"),
    ("authors", "authors"),
    ("photo", "photo"),
    ("places", "places"),
    ("agency", "agency"),
    ("paragraphs", "paragraphs"),
    ("signoff", "signoff"),
    ("related", "related"),
    ("versionCreated", "version_created"),
    # Set by the formats beyond BTA only (a BTA item has none of them).
    ("pubStatus", "pub_status"),
    ("slugline", "slugline"),
    ("description", "description"),
    ("edNote", "ed_note"),
)


def _changes(previous: Story | None, story: Story) -> dict[str, Any] | None:
    """What changed in the canonical content since the previous newest version."""
    if previous is None:
        return None
    before, after = previous.newest, story.newest
    fields = [name for name, attr in _COMPARED_FIELDS if _get(before, attr) != _get(after, attr)]
    added: list[str] = []
    removed: list[str] = []
    # Equal paragraphs have equal ids, so nothing is added or removed: skip the ids.
    if "paragraphs" in fields:
        old_ids, new_ids = keys.paragraph_ids(before), keys.paragraph_ids(after)
        old_set, new_set = set(old_ids), set(new_ids)
        added = [p for p in new_ids if p not in old_set]
        removed = [p for p in old_ids if p not in new_set]
    fields.append("history")
    return {
        "headline": (
            {"from": before.headline, "to": after.headline}
            if before.headline != after.headline
            else None
        ),
        "paragraphsAdded": added,
        "paragraphsRemoved": removed,
        "fieldsChanged": fields,
    }


def _get(item: WireItem, attr: str) -> object:
    return getattr(item, attr)
