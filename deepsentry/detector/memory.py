"""Keep a long-running analyser's resident memory flat from one request to the next.

glibc serves large blocks (a decoded frame is 2.8 MB at 720p, 6.2 MB at 1080p) with ``mmap`` and returns
them on ``free``, but after the first such free it raises its mmap threshold to that block's size, so
from the second analysis on every frame comes from the heap, whose freed pages stay resident: the peak
grew by about 120 MB between the first and the second 1080p clip. Fixing the threshold at 1 MiB (which
also turns the dynamic adjustment off) keeps frames in ``mmap`` for good.
"""

from __future__ import annotations

import ctypes
import ctypes.util

M_MMAP_THRESHOLD = -3            # mallopt parameter number in glibc's malloc.h
MMAP_THRESHOLD_BYTES = 1 << 20

_done = False


def keep_frames_out_of_the_heap() -> bool:
    """Set glibc's mmap threshold once per process; False where the C library is not glibc."""
    global _done
    if _done:
        return True
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        mallopt = libc.mallopt if libc is not None else None
    except (OSError, AttributeError):
        return False
    if mallopt is None:
        return False
    _done = bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))
    return _done
