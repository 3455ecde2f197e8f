"""Reading a worker's local RocksDB the way a new reader (or a restart) finds it."""

from __future__ import annotations

from pathlib import Path

import rocksdict


def flushed_items(db_path: Path) -> dict[bytes, bytes]:
    """Every key and value of one partition's database that reached the disk: flushed writes
    and the WAL; what a memtable held alone is not there. Read-only, so a running worker's
    database can be read too."""
    reader = rocksdict.Rdict(
        str(db_path),
        options=rocksdict.Options(raw_mode=True),
        access_type=rocksdict.AccessType.read_only(),
    )
    try:
        return {bytes(k): bytes(v) for k, v in reader.items()}
    finally:
        reader.close()


def local_buckets(state_dir: Path) -> dict[int, dict[bytes, bytes]]:
    """The bucket states a new reader of a worker's databases finds (flushed writes), by
    table partition."""
    found: dict[int, dict[bytes, bytes]] = {}
    for path in sorted(state_dir.rglob("story-buckets-*.db")):
        partition = int(path.stem.rsplit("-", 1)[1])
        items = flushed_items(path)
        found[partition] = {k: v for k, v in items.items() if k.startswith(b"bta:")}
    return found
