"""How many bytes the table's local store holds, and how full its volume is: read at scrape
time.

Sizing a worker means knowing its disk for state (README, "Sizing"): for RocksDB that is the
files of the partition databases this worker has open (active and standby), measured on disk,
compaction and all. The memory store (tests) has no files; its keys and values are counted.
A full volume stops the worker (RocksDB refuses every write: exit code 10), so the volume's
own size and free bytes are exported too, for an alert before that.
"""

from __future__ import annotations

import math
import os
import shutil
from pathlib import Path
from typing import Any


def local_store_bytes(table: Any) -> int:
    """Bytes of ``table``'s local store now; 0 before it has opened anything."""
    store = table.data
    databases = getattr(store, "_dbs", None)
    if databases is not None and hasattr(store, "partition_path"):
        return sum(_tree_bytes(store.partition_path(p)) for p in list(databases))
    try:
        return sum(len(key) + len(value) for key, value in list(store.items()))
    except (AttributeError, TypeError):  # a store of another kind: nothing we can count
        return 0


def _tree_bytes(path: Path) -> int:
    """Sum of the file sizes under ``path``; files RocksDB deletes meanwhile count as 0."""
    total = 0
    try:
        entries = list(os.scandir(path))
    except (FileNotFoundError, NotADirectoryError):
        return 0
    for entry in entries:
        try:
            if entry.is_dir(follow_symlinks=False):
                total += _tree_bytes(Path(entry.path))
            elif entry.is_file(follow_symlinks=False):
                total += entry.stat(follow_symlinks=False).st_size
        except FileNotFoundError:
            continue
    return total


def volume_bytes(path: Path) -> tuple[float, float]:
    """(size, free bytes) of the file system ``path`` is on; NaN for both when it cannot be
    read (the directory gone): a gauge with no value, not a full disk."""
    try:
        usage = shutil.disk_usage(path)
    except OSError:
        return math.nan, math.nan
    return float(usage.total), float(usage.free)
