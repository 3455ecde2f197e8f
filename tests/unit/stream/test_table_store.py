"""The table's RocksDB store: no write-ahead log, and flushed when Faust lets go of it."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import rocksdict
from faust.stores.rocksdb import Store as FaustRocksDBStore
from faust.types import TP

from workers.settings import Settings
from workers.stream.app import ROCKSDB_OPTIONS, create_app
from workers.stream.table_store import ChangelogBackedStore, faust_store_url

KEY = b"bta:20250812T1757Z"
VALUE = b"x" * 50_000


def _table(tmp_path: Path, store: str = "rocksdb://") -> Any:
    return create_app(Settings(state_dir=tmp_path, store=store)).table


def _wal_bytes(db_path: Path) -> int:
    return sum(log.stat().st_size for log in db_path.glob("*.log"))


def _on_disk(db_path: Path) -> bytes | None:
    """The key as a new reader of the database finds it: flushed writes and the WAL only."""
    reader = rocksdict.Rdict(
        str(db_path),
        options=rocksdict.Options(raw_mode=True),
        access_type=rocksdict.AccessType.read_only(),
    )
    try:
        value: bytes | None = reader.get(KEY)
        return value
    finally:
        reader.close()


def test_the_rocksdb_setting_selects_the_changelog_backed_store(tmp_path: Path) -> None:
    assert faust_store_url("rocksdb://") == "wire-rocksdb://"
    assert faust_store_url("memory://") == "memory://"
    assert type(_table(tmp_path).data) is ChangelogBackedStore
    assert type(_table(tmp_path / "m", "memory://").data) is not ChangelogBackedStore


@pytest.mark.parametrize(("store_class", "logged"), [(ChangelogBackedStore, False), (None, True)])
def test_puts_skip_the_write_ahead_log(
    tmp_path: Path, store_class: type[Any] | None, logged: bool
) -> None:
    """The worker's store writes nothing to the WAL; Faust's own (the control) does."""
    table = _table(tmp_path)
    store = table.data
    if store_class is None:  # the same table in Faust's own RocksDB store
        store = FaustRocksDBStore("rocksdb://", table.app, table, options=dict(ROCKSDB_OPTIONS))
    store._db_for_partition(0).put(KEY, VALUE)

    assert (_wal_bytes(store.partition_path(0)) >= len(VALUE)) is logged


def test_a_revoked_partition_is_flushed_first(tmp_path: Path) -> None:
    """Flushed by the store itself: RocksDB flushes on close too, but a database closes only
    once nothing holds it (here the test does, as an iterator over its keys would)."""
    table = _table(tmp_path)
    store = table.data
    held = store._db_for_partition(1)
    held.put(KEY, VALUE)
    assert _on_disk(store.partition_path(1)) is None  # in the memtable only, as in a crash

    store.revoke_partitions(table, {TP(table.changelog_topic.get_topic_name(), 0)})
    assert _on_disk(store.partition_path(1)) is None  # another partition's revoke: not this one
    store.revoke_partitions(table, {TP(table.changelog_topic.get_topic_name(), 1)})
    assert _on_disk(store.partition_path(1)) == VALUE


def test_a_stopped_store_is_flushed(tmp_path: Path) -> None:
    table = _table(tmp_path)
    store = table.data
    held = [store._db_for_partition(partition) for partition in (0, 1)]
    for db in held:
        db.put(KEY, VALUE)

    asyncio.run(store.stop())
    assert [_on_disk(store.partition_path(p)) for p in (0, 1)] == [VALUE, VALUE]
