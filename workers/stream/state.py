"""What the table stores per bucket: the core's :class:`Bucket` plus an outbox of events.

The outbox is what makes at-least-once lose nothing without waiting for an ack per message.
The merge agent writes the new state and the event together and waits for neither; Faust
flushes both before it commits the input offset. If the worker dies in between, the input is
processed again, but the restored state may already know the version (its changelog record
made it, the event may not have). The outbox entry, keyed by the input's partition and offset,
tells such a replay of our own work from a newsroom re-delivery: a replay re-sends the stored
events byte for byte (same ``eventId``); a re-delivery stays a silent duplicate. Entries are
dropped once their input offset is committed, and only then: an entry dropped earlier would
turn a replay of our own uncommitted work into a silent duplicate whose event was never sent.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from workers.core.merge import Bucket

# The layout of a table value. A release that changes it raises the number, and refuses
# (StateFormatError) values it cannot read instead of guessing.
STATE_FORMAT = 3


class StateFormatError(ValueError):
    """A table value written by another release, in a layout this one does not read."""


@dataclass(frozen=True, slots=True)
class Pending:
    """The events of one input whose offset was not yet committed when they were sent.

    ``events`` pairs each event's story key with its bytes: one input can regroup stories,
    and then emits an event for each story it changed.
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


def encode_state(state: BucketState) -> bytes:
    return orjson.dumps(
        {
            "format": STATE_FORMAT,
            "bucket": state.bucket.to_dict(),
            "outbox": [
                {
                    "partition": e.partition,
                    "offset": e.offset,
                    "events": [[story, data.decode()] for story, data in e.events],
                }
                for e in state.outbox
            ],
        }
    )


def decode_state(data: bytes | None) -> BucketState | None:
    if not data:
        return None
    doc = orjson.loads(data)
    found = doc.get("format", 1) if isinstance(doc, dict) else None
    if found != STATE_FORMAT:
        raise StateFormatError(
            f"a stored bucket has state format {found}, this release reads format "
            f"{STATE_FORMAT}: reset the state (README, 'Resetting state') or run the release "
            "that wrote it"
        )
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
