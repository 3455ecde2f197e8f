"""glibc's mmap threshold, fixed, so that the worker's large buffers do not fragment its heap.

The worker frees as much as it allocates: fetched records, record batches of up to a megabyte,
bucket states, RocksDB blocks. glibc maps a chunk of 128 KiB or more on its own and unmaps it
when it is freed, but each time a mapped chunk is freed it raises that threshold to the
chunk's size (up to 32 MiB). From then on, batches and fetches of a megabyte are carved out of
the heap. Between long-lived allocations, their freed space stays resident, since glibc hands
memory back only from the top of a heap. In the bench's 300,000-item run, 166-205 MiB of the
heap was free but resident by the end (BENCHMARKS.md, round 11).

With the threshold fixed, chunks from 256 KiB up are mapped and unmapped whole, and glibc no
longer moves it. That costs 7-14 % of the throughput at saturation on the bench's machine,
for a heap that no longer grows (rounds 11 and 12): fresh mappings take page faults, in the
event loop's thread and in the batch-building one. glibc's own ``MALLOC_MMAP_THRESHOLD_``
variable, when set, wins (33554432 is where glibc's moving threshold ends up). With any
other C library (musl, macOS) nothing is done.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from collections.abc import Mapping
from functools import cache

# mallopt's parameter number for the mmap threshold (glibc's malloc.h).
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 256 * 1024
# glibc's own variable for the threshold: when it is set, the operator chose, and it is kept.
GLIBC_THRESHOLD_VARIABLE = "MALLOC_MMAP_THRESHOLD_"


@cache
def glibc() -> ctypes.CDLL | None:
    """The C library if it is glibc (the one with ``gnu_get_libc_version``), else None."""
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
    except OSError:
        return None
    if not hasattr(libc, "gnu_get_libc_version"):
        return None
    libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    libc.mallopt.restype = ctypes.c_int
    return libc


def fix_mmap_threshold(env: Mapping[str, str] | None = None) -> bool:
    """Fix glibc's mmap threshold at :data:`MMAP_THRESHOLD_BYTES`; True if set here."""
    variables = os.environ if env is None else env
    libc = glibc()
    if libc is None or variables.get(GLIBC_THRESHOLD_VARIABLE):
        return False
    return bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))
