"""What the table stores per bucket: the core's :class:`Bucket` plus an outbox of events.

The outbox is what makes at-least-once lose nothing without waiting for an ack per message.
The merge agent writes the new state and the event together and waits for neither; Faust
flushes both before it commits the input offset. If the worker dies in between, the input is
processed again, but the restored state may already know the version (its changelog record
made it, the event may not have). The outbox entry, keyed by the input's partition and offset,
tells such a replay of our own work from a newsroom re-delivery: a replay re-sends the stored
events byte for byte (same ``eventId``; to ``stories.latest`` each story's newest event of the
outbox, agents.py); a re-delivery stays a silent duplicate. Entries are
dropped once their input offset is committed, and only then: an entry dropped earlier would
turn a replay of our own uncommitted work into a silent duplicate whose event was never sent.

The stored value (format 4) is one JSON array, written and read by msgspec straight from and
into the core's dataclasses, with each outbox event embedded as the JSON it was sent as (not
re-escaped into a string, and never parsed on the way back). Values of format 3 (JSON objects,
the release before) are still read, so an upgrade needs no state reset.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec
import orjson

from workers.core.merge import NOTHING_FOLDED, Bucket, Folded, StoryEntry, Version
from workers.core.model import WireItem

# The layout of a table value. A release that changes it raises the number, and refuses
# (StateFormatError) values it cannot read instead of guessing.
STATE_FORMAT = 4
# What this release reads: its own format, and the one before it (an upgrade keeps the state).
READABLE_FORMATS = frozenset({3, STATE_FORMAT})


class StateFormatError(ValueError):
    """A table value written by another release, in a layout this one does not read."""


@dataclass(frozen=True, slots=True)
class Pending:
    """The events of one input whose offset was not yet committed when they were sent.

    ``events`` pairs each event's story key with its bytes (a JSON object, as sent): one input
    can regroup stories, and then emits an event for each story it changed.
    """

    partition: int
    offset: int
    events: tuple[tuple[str, bytes], ...]


@dataclass(frozen=True, slots=True)
class BucketState:
    bucket: Bucket
    outbox: tuple[Pending, ...] = ()

    def pending_for(self, partition: int, offset: int) -> Pending | None:
        """The event this very input produced before, if the worker died before committing."""
        for entry in self.outbox:
            if entry.partition == partition and entry.offset == offset:
                return entry
        return None

    def advance(self, bucket: Bucket, sent: Pending | None, committed: int | None) -> BucketState:
        """The next state: new bucket, outbox without committed entries, plus ``sent``."""
        kept = [e for e in self.outbox if committed is None or e.offset >= committed]
        if sent is not None:
            kept.append(sent)
        return BucketState(bucket, tuple(kept))


# Format 4, field by field (arrays, not objects: the names would cost more than the values):
# [4, versions, stories, retired, outbox] with
#   version  [item, contentHash, [providerId, ...]]      (item: WireItem's fields by name)
#   story    [key, [member, ...], revision, foldedCount, [foldedHash, ...]]
#   retired  [key, [member, ...], revision, mergedInto, foldedCount, [foldedHash, ...]]
#   outbox   [partition, offset, [[storyKey, event], ...]]  (event: the sent JSON, embedded)
_VersionRow = tuple[WireItem, str, list[str]]
_StoryRow = tuple[str, list[str], int, int, list[str]]
_RetiredRow = tuple[str, list[str], int, str | None, int, list[str]]
_OutboxRow = tuple[int, int, list[tuple[str, msgspec.Raw]]]
_Value = tuple[int, list[_VersionRow], list[_StoryRow], list[_RetiredRow], list[_OutboxRow]]

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(_Value)


def encode_state(state: BucketState) -> bytes:
    """The table value of a bucket (format 4). Outbox events must be JSON objects, as sent."""
    bucket = state.bucket
    value: _Value = (
        STATE_FORMAT,
        [(v.item, v.content_hash, sorted(v.provider_ids)) for v in bucket.versions],
        [
            (s.key, sorted(s.members), s.revision, s.folded.count, list(s.folded.hashes))
            for s in bucket.stories
        ],
        [
            (
                s.key,
                sorted(s.members),
                s.revision,
                s.merged_into,
                s.folded.count,
                list(s.folded.hashes),
            )
            for s in bucket.retired
        ],
        [
            (e.partition, e.offset, [(story, msgspec.Raw(data)) for story, data in e.events])
            for e in state.outbox
        ],
    )
    return _encoder.encode(value)


def decode_state(data: bytes | None) -> BucketState | None:
    """The state a table value holds; :class:`StateFormatError` for any it cannot read."""
    if not data:
        return None
    if data[:1] == b"{":  # format 3 or older: a JSON object
        return _decode_format_3(data)
    try:
        found, versions, stories, retired, outbox = _decoder.decode(data)
    except msgspec.ValidationError as exc:
        raise _unreadable(data, exc) from exc
    except msgspec.DecodeError as exc:
        raise StateFormatError(f"a stored bucket is not valid JSON: {exc}") from exc
    if found != STATE_FORMAT:
        raise _refused(found)
    return BucketState(
        Bucket(
            tuple(
                Version(item, content_hash, frozenset(ids)) for item, content_hash, ids in versions
            ),
            tuple(
                StoryEntry(key, frozenset(members), revision, None, _folded(count, hashes))
                for key, members, revision, count, hashes in stories
            ),
            tuple(
                StoryEntry(key, frozenset(members), revision, into, _folded(count, hashes))
                for key, members, revision, into, count, hashes in retired
            ),
        ),
        tuple(
            Pending(partition, offset, tuple((story, bytes(event)) for story, event in events))
            for partition, offset, events in outbox
        ),
    )


def _folded(count: int, hashes: list[str]) -> Folded:
    return Folded(count, tuple(hashes)) if count else NOTHING_FOLDED


def _unreadable(data: bytes, exc: msgspec.ValidationError) -> StateFormatError:
    """A value that is JSON but not of format 4: name its format if it has one."""
    try:
        doc: Any = msgspec.json.decode(data)
    except msgspec.DecodeError:
        doc = None
    if isinstance(doc, list) and doc and isinstance(doc[0], int) and doc[0] != STATE_FORMAT:
        return _refused(doc[0])
    return StateFormatError(f"a stored bucket of format {STATE_FORMAT} is unreadable: {exc}")


def _refused(found: object) -> StateFormatError:
    return StateFormatError(
        f"a stored bucket has state format {found}, this release reads formats "
        f"{', '.join(map(str, sorted(READABLE_FORMATS)))}: reset the state (README, "
        "'Resetting state') or run the release that wrote it"
    )


def _decode_format_3(data: bytes) -> BucketState:
    """The release before: a JSON object of the core's ``to_dict`` forms, events as strings."""
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise StateFormatError(f"a stored bucket is not valid JSON: {exc}") from exc
    found = doc.get("format", 1) if isinstance(doc, dict) else None
    if found != 3:
        raise _refused(found)
    return BucketState(
        Bucket.from_dict(doc["bucket"]),
        tuple(
            Pending(
                e["partition"],
                e["offset"],
                tuple((story, data.encode()) for story, data in e["events"]),
            )
            for e in doc["outbox"]
        ),
    )
