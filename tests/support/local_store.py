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
