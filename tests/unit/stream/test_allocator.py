"""glibc's mmap threshold as the worker fixes it.

The threshold is the process's own, so its behaviour is shown in a fresh interpreter, where
nothing else has touched it.
"""

from __future__ import annotations

import platform
import subprocess
import sys
import textwrap
from pathlib import Path

from workers.stream import allocator

# mallinfo2 (glibc 2.33+): how many bytes glibc has mapped for chunks of their own.
MALLINFO = """
import ctypes
from workers.stream.allocator import glibc
class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
        "uordblks", "fordblks", "keepcost")]
libc = glibc()
libc.mallinfo2.restype = MallInfo2
def mapped():
    return libc.mallinfo2().hblkhd
"""


def _run(script: str) -> str:
    code = MALLINFO + textwrap.dedent(script)
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin"},
        cwd=Path(__file__).resolve().parents[3],
    )
    return done.stdout.strip()


def test_this_platform_has_glibc() -> None:
    """The worker's machines (Linux with glibc) get the threshold; the next test relies on it."""
    assert platform.libc_ver()[0] == "glibc"
    assert allocator.glibc() is not None


def test_a_fixed_threshold_maps_a_megabyte_that_glibc_would_carve_from_the_heap() -> None:
    """glibc raises its threshold once a mapped chunk is freed; fixed, it stays at 256 KiB."""
    found = _run(
        """
        from workers.stream.allocator import fix_mmap_threshold
        freed = bytearray(8 << 20); del freed  # glibc now takes chunks under 8 MiB from the heap
        before = mapped(); held = bytearray(1 << 20); heap_megabyte = mapped() - before
        fixed = fix_mmap_threshold({})
        before = mapped(); held2 = bytearray(1 << 20); mapped_megabyte = mapped() - before
        print(fixed, heap_megabyte, mapped_megabyte >= 1 << 20)
        """
    )
    assert found == "True 0 True"


def test_glibc_s_own_variable_wins() -> None:
    assert allocator.fix_mmap_threshold({"MALLOC_MMAP_THRESHOLD_": "131072"}) is False
