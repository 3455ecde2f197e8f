"""workers.stream.expiry: the partition record, the key-order walk and the sweep.

The sweep runs on a real RocksDB (rocksdict, as Faust's store uses it), so the key order and
``from_key`` seeks it relies on are RocksDB's own; the Faust side (tombstones reaching the
changelog, records restored) is covered on the broker in tests/integration/test_expiry_e2e.py.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from rocksdict import Rdict

from tests.unit.core.items import SEED_MINUTE, wire_item
from workers.core.keys import bucket_key
from workers.core.merge import merge
from workers.stream.expiry import Expiry, PartitionClock, expirable_keys, meta_key
from workers.stream.state import BucketState, Pending, StateFormatError, decode_state, encode_state

WEEK = timedelta(days=7)


class RocksTable:
    """The part of a Faust table the sweep uses, over one RocksDB partition."""

    def __init__(self, path: Path) -> None:
        self.db = Rdict(str(path))
        self.data = self
        self.deleted: list[bytes] = []

    def _db_for_partition(self, partition: int) -> Rdict:
        assert partition == 0
        return self.db

    def get(self, key: bytes) -> bytes | None:
        value = self.db.get(key)
        return value if value is None else bytes(value)

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self.db[key] = value

    def __delitem__(self, key: bytes) -> None:
        self.deleted.append(key)
        del self.db[key]

    def keys(self) -> Iterator[bytes]:
        return iter(self.db.keys())


@pytest.fixture
def table(tmp_path: Path) -> Iterator[RocksTable]:
    store = RocksTable(tmp_path / "db")
    yield store
    store.db.close()


def story_at(minute: datetime, provider: str = "bta") -> tuple[bytes, bytes]:
    item = wire_item(("Земеделците прибраха рекордна реколта от пшеница.",), first=minute)
    item = dataclasses.replace(item, provider=provider)
    return bucket_key(item).encode(), encode_state(BucketState(merge(None, item).bucket))


def test_the_partition_record_round_trips_and_refuses_another_format() -> None:
    clock = PartitionClock(SEED_MINUTE, 3, 5)
    assert PartitionClock.decode(clock.encode()) == clock
    assert PartitionClock.decode(None) == PartitionClock()
    with pytest.raises(StateFormatError):
        PartitionClock.decode(b'{"format": 1, "streamTime": null, "buckets": 0, "stories": 0}')


def test_the_walk_stops_at_each_providers_first_key_inside_the_retention(table: RocksTable) -> None:
    for provider in ("afp", "bta", "dpa"):
        for day in range(10):
            key, value = story_at(SEED_MINUTE + timedelta(days=day), provider)
            table[key] = value
    table[meta_key(0)] = PartitionClock().encode()
    table[b"__faust\x00offset__"] = b"7"
    limit = (SEED_MINUTE + timedelta(days=3)).astimezone(UTC)
    seen: list[bytes | None] = []

    def keys_from(start: bytes | None) -> Iterator[bytes]:
        seen.append(start)
        return iter(table.db.keys(from_key=start) if start else table.db.keys())

    found = expirable_keys(keys_from, limit)
    assert [k.split(b":")[0] for k in found] == [b"afp"] * 3 + [b"bta"] * 3 + [b"dpa"] * 3
    assert seen == [None, b"afp;", b"bta;", b"dpa;"]  # one seek per provider, no full scan


def test_the_sweep_deletes_quiet_buckets_and_keeps_running_or_uncommitted_ones(
    table: RocksTable,
) -> None:
    quiet, running, pending = (SEED_MINUTE + timedelta(minutes=m) for m in (0, 1, 2))
    for minute in (quiet, running, pending):
        key, value = story_at(minute)
        table[key] = value
    running_key = story_at(running)[0]
    state = decode_state(table.get(running_key))
    assert state is not None
    update = wire_item(
        ("Земеделците прибраха рекордна реколта от пшеница.", "Цените на хляба остават."),
        first=running,
        updated=running + timedelta(days=6),
    )
    table[running_key] = encode_state(BucketState(merge(state.bucket, update).bucket))
    pending_key = story_at(pending)[0]
    state = decode_state(table.get(pending_key))
    assert state is not None
    table[pending_key] = encode_state(BucketState(state.bucket, (Pending(0, 41, ()),)))

    expiry = Expiry(table, WEEK, partitions=1)
    start = SEED_MINUTE + timedelta(days=1)
    expiry.after_item(0, start, new_buckets=3, new_stories=3)
    now = SEED_MINUTE + timedelta(days=8)
    expired = expiry.after_item(0, now, committed=40)
    assert expired == 1
    assert table.deleted == [story_at(quiet)[0]]  # running: updated on day 6; pending: 41 >= 40
    # Within the same sweep interval (a week / 100 = 100.8 minutes) nothing is swept again.
    later = now + timedelta(seconds=1)
    assert expiry.after_item(0, later, committed=42) == 0
    assert expiry.after_item(0, later + expiry.sweep_every, committed=42) == 1
    assert table.deleted[-1] == pending_key
    assert (expiry.buckets(), expiry.stories()) == (1, 1)
    # The partition record went to the table with the counts and the stream time.
    assert PartitionClock.decode(table.get(meta_key(0))) == PartitionClock(
        later + expiry.sweep_every, 1, 1
    )


def test_a_new_worker_reads_the_counts_instead_of_the_buckets(table: RocksTable) -> None:
    table[meta_key(0)] = PartitionClock(SEED_MINUTE, 120, 130).encode()
    expiry = Expiry(table, WEEK, partitions=1)
    expiry.reload([0])
    assert (expiry.buckets(), expiry.stories()) == (120, 130)
    assert expiry.clock(0).stream_time == SEED_MINUTE


def test_without_rocksdb_the_sweep_walks_the_keys_of_its_own_partition_only() -> None:
    class DictTable(dict[bytes, Any]):
        @property
        def data(self) -> DictTable:
            return self

    table = DictTable()
    keys = []
    for minute in range(40):
        key, value = story_at(SEED_MINUTE + timedelta(minutes=minute))
        table[key] = value
        keys.append(key)
    expiry = Expiry(table, WEEK, partitions=4)
    owned = [k for k in keys if expiry._partition_of(k) == 2]
    assert 0 < len(owned) < len(keys)
    expiry.after_item(2, SEED_MINUTE + timedelta(days=1))
    assert expiry.after_item(2, SEED_MINUTE + timedelta(days=9)) == len(owned)
    assert set(keys) - set(table) == set(owned)
