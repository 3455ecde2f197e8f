"""Bucket expiry in the worker: stream time per partition, the sweep, and the state gauges.

Each merge partition keeps one small record in the table beside its buckets
(``~partition:<n>``): its stream time and how many buckets and stories it holds. It is written
through the table like the buckets, so it comes back with them from the changelog: the gauges
need no pass over the buckets, and a restarted worker goes on with the stream time it had.

When a partition's stream time enters a new sweep interval (1/100 of the retention, at least
a minute), the sweep walks that partition's bucket keys in key order (provider, then
first-published minute: the store's own order is the index, and the walk stops at the first
key inside the retention) and deletes through the table (a changelog tombstone, so compaction
frees the changelog too) every bucket whose newest version is past the retention and whose
outbox holds no uncommitted input. What the retention means for late versions is in
:mod:`workers.core.retention`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson

from workers.core import keys
from workers.core.retention import cutoff, is_live
from workers.stream.partitioner import partition_for
from workers.stream.state import (
    READABLE_FORMATS,
    STATE_FORMAT,
    StateFormatError,
    decode_state,
)

log = logging.getLogger(__name__)

META_PREFIX = "~partition:"


def meta_key(partition: int) -> bytes:
    """The key of a partition's own record; '~' sorts after every bucket key."""
    return f"{META_PREFIX}{partition}".encode()


@dataclass(slots=True)
class PartitionClock:
    """What a merge partition knows of itself; stored as its ``~partition:<n>`` record."""

    stream_time: datetime | None = None
    buckets: int = 0
    stories: int = 0

    def encode(self) -> bytes:
        return orjson.dumps(
            {
                "format": STATE_FORMAT,
                "streamTime": self.stream_time.isoformat() if self.stream_time else None,
                "buckets": self.buckets,
                "stories": self.stories,
            }
        )

    @classmethod
    def decode(cls, data: bytes | None) -> PartitionClock:
        if not data:
            return cls()
        doc = orjson.loads(data)
        if doc.get("format") not in READABLE_FORMATS:  # its layout is the same in all of them
            raise StateFormatError(
                f"a partition record has state format {doc.get('format')}, this release "
                f"reads formats {', '.join(map(str, sorted(READABLE_FORMATS)))}"
            )
        when = doc["streamTime"]
        return cls(
            datetime.fromisoformat(when) if when else None,
            int(doc["buckets"]),
            int(doc["stories"]),
        )


def expirable_keys(
    keys_from: Callable[[bytes | None], Iterable[bytes]], limit: datetime
) -> list[bytes]:
    """Bucket keys first published before ``limit``, read in key order from ``keys_from``.

    ``keys_from(start)`` iterates the partition's keys from ``start`` (None: the first) in
    byte order. Each provider's keys are walked until its first one inside the retention,
    then the walk jumps to the next provider; keys of another shape are passed over.
    """
    found: list[bytes] = []
    start: bytes | None = None
    while True:
        jump: bytes | None = None
        for key in keys_from(start):
            minute = keys.bucket_minute(key.decode("utf-8", "replace"))
            if minute is None:
                continue
            if minute < limit:
                found.append(key)
                continue
            jump = key.split(b":", 1)[0] + b";"  # ';' follows ':': the next provider
            break
        if jump is None:
            return found
        start = jump


class Expiry:
    """Stream time, bucket and story counts per merge partition, and the sweep."""

    def __init__(self, table: Any, retention: timedelta, partitions: int) -> None:
        self.table = table
        self.retention = retention
        self.partitions = partitions
        self.clocks: dict[int, PartitionClock] = {}
        # A bucket may outlive its retention by this much; admission never does (retention.py).
        # Sweeping every 1/100 of the retention (100 min for a week) keeps a rebuild that
        # crosses a year of stream time in minutes from walking the store's tombstones
        # half a million times.
        self.sweep_every = max(retention / 100, timedelta(minutes=1))

    def clock(self, partition: int) -> PartitionClock:
        """The partition's record, read from the table at first use after an assignment."""
        found = self.clocks.get(partition)
        if found is None:
            found = self.clocks[partition] = PartitionClock.decode(
                self.table.get(meta_key(partition))
            )
        return found

    def reload(self, partitions: Iterable[int]) -> None:
        """After a rebalance: forget every partition, then read the assigned ones' records."""
        self.clocks.clear()
        for partition in partitions:
            self.clock(partition)

    def stories(self) -> int:
        return sum(clock.stories for clock in self.clocks.values())

    def buckets(self) -> int:
        return sum(clock.buckets for clock in self.clocks.values())

    def after_item(
        self,
        partition: int,
        stream_time: datetime,
        *,
        new_buckets: int = 0,
        new_stories: int = 0,
        committed: int | None = None,
    ) -> int:
        """Record an arrival's effect; sweep when stream time entered a new sweep interval.

        Runs inside the merge agent while it handles a message of ``partition``: Faust sends
        the table's changelog records to the partition of the message in hand. Returns the
        number of buckets expired.
        """
        clock = self.clock(partition)
        before = clock.stream_time
        expired = 0
        clock.stream_time = stream_time
        clock.buckets += new_buckets
        clock.stories += new_stories
        if before is not None and self._tick(stream_time) > self._tick(before):
            expired = self._sweep(partition, clock, committed)
        if before != stream_time or new_buckets or new_stories or expired:
            self.table[meta_key(partition)] = clock.encode()
        return expired

    def _tick(self, when: datetime) -> int:
        """Which sweep interval of stream time ``when`` falls in (counted from the epoch)."""
        return int(when.timestamp() // self.sweep_every.total_seconds())

    def _sweep(self, partition: int, clock: PartitionClock, committed: int | None) -> int:
        assert clock.stream_time is not None
        limit = cutoff(clock.stream_time, self.retention)
        expired = 0
        for key in expirable_keys(self._keys_from(partition), limit):
            state = decode_state(self.table.get(key))
            if state is None or is_live(state.bucket, clock.stream_time, self.retention):
                continue  # a running story: its newest version is still within the retention
            if state.outbox and (
                committed is None or any(e.offset >= committed for e in state.outbox)
            ):
                continue  # its events' input is not committed yet: the next sweep takes it
            del self.table[key]
            clock.buckets -= 1
            clock.stories -= len(state.bucket.stories)
            expired += 1
        if expired:
            log.info("partition %d: %d buckets expired before %s", partition, expired, limit)
        return expired

    def _keys_from(self, partition: int) -> Callable[[bytes | None], Iterator[bytes]]:
        """The partition's keys in byte order, from a start key."""
        store = self.table.data
        db_for = getattr(store, "_db_for_partition", None)
        if db_for is not None:  # RocksDB: one database per partition, already in key order
            db = db_for(partition)
            return lambda start: iter(db.keys(from_key=start) if start else db.keys())
        owned = sorted(k for k in store if self._partition_of(k) == partition)
        return lambda start: iter(k for k in owned if start is None or k >= start)

    def _partition_of(self, key: bytes) -> int:
        """The repartition topic's partition of a key (the producer's partitioner)."""
        partitions = range(self.partitions)
        return partition_for(key, partitions, partitions)
