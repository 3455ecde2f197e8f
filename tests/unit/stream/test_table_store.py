"""The table's RocksDB store: no write-ahead log, a prefix of the writes after a crash, and
flushed on a timer and whenever Faust lets go of it."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import rocksdict
from faust.stores.rocksdb import Store as FaustRocksDBStore
from faust.types import TP

from tests.support.local_store import flushed_items
from tests.support.stops import StoppedError, Stops
from workers.settings import Settings
from workers.stream.app import ROCKSDB_OPTIONS, create_app
from workers.stream.table_store import (
    ChangelogBackedStore,
    faust_store_url,
    install,
)

KEY = b"bta:20250812T1757Z"
VALUE = b"x" * 50_000


def _table(tmp_path: Path, store: str = "rocksdb://") -> Any:
    return create_app(Settings(state_dir=tmp_path, store=store)).table


def _wal_bytes(db_path: Path) -> int:
    return sum(log.stat().st_size for log in db_path.glob("*.log"))


def _on_disk(db_path: Path) -> bytes | None:
    """The key as a new reader of the database finds it: flushed writes and the WAL only."""
    return flushed_items(db_path).get(KEY)


def test_the_rocksdb_setting_selects_the_changelog_backed_store(tmp_path: Path) -> None:
    assert faust_store_url("rocksdb://") == "wire-rocksdb://"
    assert faust_store_url("memory://") == "memory://"
    assert type(_table(tmp_path).data) is ChangelogBackedStore
    assert type(_table(tmp_path / "m", "memory://").data) is not ChangelogBackedStore


@pytest.mark.parametrize(("store_class", "logged"), [(ChangelogBackedStore, False), (None, True)])
def test_writes_skip_the_write_ahead_log(
    tmp_path: Path, store_class: type[Any] | None, logged: bool
) -> None:
    """Puts, batches (a recovery's) and deletes: the worker's store writes nothing to the WAL;
    Faust's own (the control) does."""
    table = _table(tmp_path)
    store = table.data
    if store_class is None:  # the same table in Faust's own RocksDB store
        store = FaustRocksDBStore("rocksdb://", table.app, table, options=dict(ROCKSDB_OPTIONS))
    db = store._db_for_partition(0)
    db.put(KEY, VALUE)
    batch = rocksdict.WriteBatch(raw_mode=True)
    batch.put(KEY + b"2", VALUE)
    db.write(batch)
    db.delete(KEY)

    assert (_wal_bytes(store.partition_path(0)) >= 2 * len(VALUE)) is logged


def _eventually_on_disk(db_path: Path, timeout: float = 30.0) -> bytes | None:
    deadline = time.monotonic() + timeout
    while (found := _on_disk(db_path)) is None and time.monotonic() < deadline:
        time.sleep(0.05)  # polling a background flush, not standing in for it
    return found


def test_the_timer_flushes_the_open_databases_in_the_background(tmp_path: Path) -> None:
    """A quiet partition's writes reach the disk within WIRE_STORE_FLUSH_S, not when its
    memtable fills up (which may take days)."""
    table = _table(tmp_path)
    timers: list[tuple[float, Callable[[], Any]]] = []

    class App:
        def timer(self, interval: float) -> Callable[[Callable[[], Any]], None]:
            return lambda fun: timers.append((interval, fun))

    install(App(), table, 30.0)  # type: ignore[arg-type]
    store = table.data
    held = store._db_for_partition(1)
    held.put(KEY, VALUE)
    assert _on_disk(store.partition_path(1)) is None

    ((interval, flush),) = timers
    assert interval == 30.0
    asyncio.run(flush())
    assert _eventually_on_disk(store.partition_path(1)) == VALUE


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


# A child process writes as the worker does: a bucket's state, then the changelog offset that
# covers it; now and then a delete (an expiry) and a background flush (the timer). It kills
# itself after a number of steps the test picks: a SIGKILL at a moment no flush arranged.
_CRASHING_WRITER = """
import os, signal, sys
from pathlib import Path
from tests.support.local_store import flushed_items
from workers.settings import Settings
from workers.stream.app import create_app
from tests.unit.stream.test_table_store import writes

state_dir, steps = Path(sys.argv[1]), int(sys.argv[2])
store = create_app(Settings(state_dir=state_dir)).table.data
store.rocksdb_options.write_buffer_size = 128 * 1024  # memtables fill, and flush, often
db = store._db_for_partition(0)
for step, (key, value) in enumerate(writes(steps)):
    if value is None:
        db.delete(key)
    else:
        db.put(key, value)
    if step % 300 == 0:
        store.flush_in_background()
os.kill(os.getpid(), signal.SIGKILL)
"""
_OFFSET_KEY = b"__faust\0offset__"


def writes(steps: int) -> list[tuple[bytes, bytes | None]]:
    """The writes of ``steps`` inputs, in order: (key, value), or (key, None) for a delete."""
    out: list[tuple[bytes, bytes | None]] = []
    for step in range(1, steps + 1):
        out.append((b"bta:%03d" % (step % 89), b"%d:" % step + b"v" * (200 + step % 1800)))
        if step % 7 == 0:
            out.append((b"bta:%03d" % (step * 5 % 89), None))
        out.append((_OFFSET_KEY, b"%d" % step))
    return out


def _states_covering(offset: int, steps: int) -> list[dict[bytes, bytes]]:
    """Every state the writes pass through from offset ``offset``'s write to the next's."""
    state: dict[bytes, bytes] = {}
    covering: list[dict[bytes, bytes]] = []
    seen = 0
    for key, value in writes(steps):
        if value is None:
            state.pop(key, None)
        else:
            state[key] = value
        if key == _OFFSET_KEY:
            seen = int(value or b"0")
        if seen == offset:
            covering.append(dict(state))
        elif seen > offset:
            break
    return covering


@pytest.mark.parametrize("steps", [2_500, 6_000, 11_000])
def test_a_crash_leaves_a_prefix_of_the_writes(tmp_path: Path, steps: int) -> None:
    """What Faust's recovery needs of a database without a WAL: whatever survives a SIGKILL
    is the state after some write, so the changelog offset it holds covers its data."""
    root = Path(__file__).resolve().parents[3]
    writer = subprocess.run(
        [sys.executable, "-c", _CRASHING_WRITER, str(tmp_path), str(steps)],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert writer.returncode == -signal.SIGKILL, writer.stderr.decode()[-2000:]
    (path,) = tmp_path.rglob("*-0.db")
    reader = rocksdict.Rdict(str(path), options=rocksdict.Options(raw_mode=True))
    try:
        survived = {bytes(k): bytes(v) for k, v in reader.items()}
    finally:
        reader.close()

    offset = int(survived.get(_OFFSET_KEY, b"0"))
    assert 0 < offset < steps  # some writes reached the disk, the last ones did not
    assert survived in _states_covering(offset, steps), f"no prefix at offset {offset}"


class _FullDisk:
    """A partition database after a flush found the disk full: RocksDB refuses every write
    with a plain Exception (rocksdict's type for RocksDB's errors)."""

    def delete(self, _key: bytes) -> None:
        raise Exception("IO error: No space left on device: While appending to file")

    def close(self) -> None:
        pass


def test_a_failing_store_stops_the_worker_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not a DLQ record: the error leaves the store as a stop, exit code 10, its cause named."""
    from workers.stream import table_store
    from workers.stream.fatal import EXIT_STATE_STORE_FAILED

    fake_stop = Stops()
    monkeypatch.setattr(table_store, "stop", fake_stop)
    stops = fake_stop.calls
    store = _table(tmp_path).data
    store._dbs[0] = _FullDisk()
    with pytest.raises(StoppedError):
        store._del(KEY)
    store.fail_writes = True  # WIRE_FAULT_INJECTION=fail-state-write
    with pytest.raises(StoppedError):
        store._set(KEY, VALUE)
    with pytest.raises(StoppedError):  # in the broker's ack callback of a changelog record
        store.set_persisted_offset(TP("app-story-buckets-changelog", 0), 7)
    assert [code for _, code in stops] == [EXIT_STATE_STORE_FAILED] * 3
    assert "could not write a bucket's state" in stops[1][0]
    assert "could not record a changelog offset" in stops[2][0]
    assert all("WIRE_FAULT_INJECTION=fail-state-write" in reason for reason, _ in stops[1:])
    assert stops[0][0].startswith(
        "the table's local store could not delete a bucket's state (Exception: IO error: No "
        "space left on device: While appending to file); stopping without committing"
    )
    assert "WIRE_STATE_DIR" in stops[0][0]
