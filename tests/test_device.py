"""The CPU allocator tuning the CLI applies: freed large blocks stay in the heap for reuse."""

from __future__ import annotations

import ctypes
import platform

import numpy as np
import pytest

from reidkit.device import tune_cpu_allocator

GLIBC = platform.libc_ver()[0] == "glibc"


class MallInfo2(ctypes.Structure):
    """glibc's `struct mallinfo2` (all size_t)."""

    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]


def _mallinfo() -> MallInfo2:
    libc = ctypes.CDLL("libc.so.6")
    libc.mallinfo2.restype = MallInfo2
    return libc.mallinfo2()


def test_opt_out_leaves_allocator_alone(monkeypatch):
    monkeypatch.setenv("REIDKIT_MALLOC_TUNING", "0")
    assert tune_cpu_allocator() is False


@pytest.mark.skipif(not GLIBC, reason="mallopt thresholds exist only in glibc")
def test_large_block_comes_from_the_heap_and_stays():
    assert tune_cpu_allocator() is True
    size = 96 * 2**20  # far above glibc's default 32 MB mmap ceiling
    mapped_before = _mallinfo().hblkhd
    block = np.ones(size, dtype=np.uint8)  # touched, so it really is allocated
    alive = _mallinfo()
    # glibc's defaults would serve it by mmap (hblkhd grows by the block) and unmap it on free.
    assert alive.hblkhd - mapped_before < size
    del block
    assert _mallinfo().arena >= alive.arena  # the heap is not trimmed back to the system
