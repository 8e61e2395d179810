"""Keep a long-running analyser's resident memory flat from one request to the next.

An analysis allocates and frees a few hundred MB (decoded frames are 2.8 MB each at 720p, 6.2 MB at
1080p, plus the face search's image pyramids). glibc keeps freed heap pages resident, and after the first
large free it raises its mmap threshold, so from the second analysis on the frames come from the heap too:
the peak grew by about 120 MB between the first and the second 1080p clip. ``malloc_trim(0)`` after each
analysis hands the freed pages back, so each analysis starts from the same resident size.

Fixing the mmap threshold low instead (every block over 1 MiB mmapped and unmapped) gave the same peak but
cost 0.2–0.5 s per 720p verdict in page faults on fresh pages (torch's tensors are mostly 1–8 MB).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


M_ARENA_MAX = -8           # glibc's mallopt parameter number


@functools.cache
def _glibc(name: str) -> Callable[..., int] | None:
    """A glibc malloc function, or None where the C library is not glibc (musl, macOS)."""
    lib = ctypes.util.find_library("c")
    try:
        return getattr(ctypes.CDLL(lib), name) if lib else None
    except (OSError, AttributeError):
        return None


def release_freed_memory() -> bool:
    """Return the C heap's free pages to the system; False where the C library has no malloc_trim."""
    trim = _glibc("malloc_trim")
    if trim is None:
        return False
    trim(0)
    return True


def limit_arenas(count: int = 2) -> bool:
    """Let glibc keep at most ``count`` malloc arenas from now on; False where it cannot be set.

    glibc gives threads that allocate at the same time arenas of their own (up to eight per core), each
    keeping free pages of its own between trims; the daemon's event loop, job and torch threads all
    allocate. With two, the daemon's peak for the 1080p bench clip was 977 MB instead of 1,005 MB at the
    same speed (``bench/detector_speed.py``, run once with ``MALLOC_ARENA_MAX=2`` in the environment,
    which is what this sets from inside). Call it before the process starts its threads."""
    mallopt = _glibc("mallopt")
    return bool(mallopt and mallopt(M_ARENA_MAX, int(count)))


def releasing(fn: Callable[..., T]) -> Callable[..., T]:
    """Run ``fn``, then :func:`release_freed_memory` once its locals (the frames) are gone."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs) -> T:
        try:
            return fn(*args, **kwargs)
        finally:
            release_freed_memory()
    return wrapper
