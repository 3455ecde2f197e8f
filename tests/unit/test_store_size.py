"""The state-size metric counts what the local store holds, and nothing of other tables."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from workers.stream.store_size import local_store_bytes


class _RocksLikeStore:
    """The two things local_store_bytes reads of Faust's RocksDB store."""

    def __init__(self, root: Path, open_partitions: list[int]) -> None:
        self.root = root
        self._dbs = dict.fromkeys(open_partitions)

    def partition_path(self, partition: int) -> Path:
        return self.root / f"wire-stories-{partition}.db"


def _write(path: Path, size: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)


def test_rocksdb_counts_the_files_of_open_partitions_only(tmp_path: Path) -> None:
    _write(tmp_path / "wire-stories-0.db" / "000012.sst", 1000)
    _write(tmp_path / "wire-stories-0.db" / "MANIFEST-000005", 200)
    _write(tmp_path / "wire-stories-0.db" / "archive" / "000003.log", 30)
    _write(tmp_path / "wire-stories-2.db" / "000007.sst", 4000)
    _write(tmp_path / "wire-stories-1.db" / "000009.sst", 99_999)  # revoked: not ours now
    table = SimpleNamespace(data=_RocksLikeStore(tmp_path, [0, 2, 3]))  # 3: not on disk yet

    assert local_store_bytes(table) == 1000 + 200 + 30 + 4000


def test_memory_store_counts_keys_and_values() -> None:
    table = SimpleNamespace(data={b"bta:202405221030": b"{...}", b"~partition:0": b"{}"})
    assert local_store_bytes(table) == len(b"bta:202405221030{...}~partition:0{}")


def test_nothing_open_is_zero(tmp_path: Path) -> None:
    assert local_store_bytes(SimpleNamespace(data=_RocksLikeStore(tmp_path, []))) == 0
    assert local_store_bytes(SimpleNamespace(data={})) == 0


def test_the_state_volume_is_measured_where_the_state_dir_is(tmp_path: Path) -> None:
    """Its size and free bytes, for the alert before a full volume stops the worker."""
    import math
    import shutil

    from workers.stream.store_size import volume_bytes

    size, free = volume_bytes(tmp_path)
    usage = shutil.disk_usage(tmp_path)
    assert size == usage.total
    assert 0 < free <= size
    assert abs(free - usage.free) < 64 * 1024 * 1024  # other processes write meanwhile
    assert all(math.isnan(v) for v in volume_bytes(tmp_path / "gone"))  # no value, not full
