"""Which thread runs torch, and how many CPU threads torch gets for one analysis.

**One thread runs all of the detector's torch work** (``on_torch_thread``). Torch's CPU kernels run in
OpenMP parallel regions, and GNU OpenMP keeps a team of worker threads for every thread that opens one.
Once a process has more of those threads than cores (two threads using torch with two intra-op threads
each, on two cores), OpenMP stops letting idle team threads spin and puts them to sleep after about
100 spins, so every small operator waits for its team to wake up: a 60 px convolution takes 39 us on
the only thread using torch and 208 us once a second one does (``bench/torch_threads.py --teams``). The
daemon loads its model on one thread and runs jobs on others, so the face search, the scorer and model
loading go through one long-lived thread, whoever calls.

How many threads: the cores other programs leave idle.

Measured with ``bench/torch_threads.py`` on this project's 2-core machine (10 s 720p clip, analysis
seconds): idle, 2 threads 1.06 s and 1 thread 1.54 s; beside one busy process, 2 threads 2.86 s and 1
thread 1.60 s; beside two, 2 threads 9.41 s and 1 thread 2.54 s. Torch's worker threads wait for each
other at every layer, so one thread that is descheduled stalls them all: more threads than idle cores is
far worse than too few. The share of the CPU other processes used is read from ``/proc/stat`` over the
time since the previous analysis (the previous window's figure when analyses come back to back, a
short fresh sample after a long pause);
where ``/proc/stat`` does not exist the load average stands in for it.
"""

from __future__ import annotations

import functools
import os
import queue
import threading
import time
from concurrent.futures import Future
from typing import Any, Callable, TypeVar

F = TypeVar("F", bound=Callable[..., Any])
TORCH_THREAD_NAME = "deepsentry-torch"

MAX_THREADS = 4          # small convolutional models gain little beyond this; not measured above 2 here
_SAMPLE_S = 0.05         # a fresh sample, the first time and after a long pause


def _snapshot() -> tuple[float, float, float, float] | None:
    """(wall seconds, all CPU seconds, idle CPU seconds, this process's CPU seconds), or None."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()[1:]
    except OSError:
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    vals = [int(v) for v in fields]
    idle = vals[3] + (vals[4] if len(vals) > 4 else 0)        # idle + iowait
    total = sum(vals[:8])                                       # guest time is already in user
    t = os.times()
    return time.monotonic(), total / ticks, idle / ticks, t.user + t.system


class ThreadChooser:
    """``choose()`` gives the thread count for the next analysis; ``fixed`` > 0 always gives that."""

    def __init__(self, fixed: int = 0, cores: int | None = None) -> None:
        self.fixed = int(fixed)
        self.cores = cores or os.cpu_count() or 1
        self._last = _snapshot()
        self._idle: float | None = None
        self._lock = threading.Lock()

    def idle_cores(self) -> float:
        """Cores not used by other processes since the last call (or over a short fresh sample)."""
        with self._lock:
            last, now = self._last, _snapshot()
            if now is None:
                try:
                    return max(0.0, self.cores - os.getloadavg()[0])
                except OSError:
                    return self.cores / 2.0
            if last is not None and now[0] - last[0] < 0.2 and self._idle is not None:
                return self._idle                # back to back: the last window still tells
            if last is None or not 0.2 <= now[0] - last[0] <= 60.0:
                time.sleep(_SAMPLE_S)
                last, now = now, _snapshot()
            self._last = now
            d_total, d_idle, d_own = now[1] - last[1], now[2] - last[2], now[3] - last[3]
            if d_total <= 0:
                self._idle = float(self.cores)
            else:
                others = max(0.0, d_total - d_idle - d_own) / d_total * self.cores
                self._idle = max(0.0, self.cores - others)
            return self._idle

    def choose(self) -> int:
        if self.fixed > 0:
            return self.fixed
        return max(1, min(MAX_THREADS, self.cores, int(self.idle_cores() + 0.5)))


class _TorchThread:
    """A daemon thread that runs submitted calls one at a time (a daemon, so an interrupted CLI exits
    without waiting for an analysis to finish)."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """A fresh queue, no thread yet (also in a forked child, which inherits this object but not
        the thread: its first call starts its own)."""
        self._calls: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def is_current(self) -> bool:
        return self._thread is not None and threading.current_thread() is self._thread

    def call(self, fn: Callable[..., Any], args, kwargs) -> Any:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._serve, name=TORCH_THREAD_NAME, daemon=True)
                self._thread.start()
        done: Future = Future()
        self._calls.put((done, fn, args, kwargs))
        return done.result()

    def _serve(self) -> None:
        while True:
            done, fn, args, kwargs = self._calls.get()
            try:
                done.set_result(fn(*args, **kwargs))
            except BaseException as exc:  # noqa: BLE001 - handed to the caller, who re-raises it
                done.set_exception(exc)
            del done, fn, args, kwargs    # hold no reference to the last call's inputs or result


_TORCH = _TorchThread()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_TORCH.reset)


def on_torch_thread(fn: F) -> F:
    """Run ``fn`` on the process's one torch thread (directly when already there), the caller waiting
    for its result or exception. Calls from several threads are served one at a time, in order.

    Torch's thread count belongs to the thread that set it (it is OpenMP's per-thread setting), so the
    caller's count goes with the call: ``fn`` runs with the threads it would have had on the caller."""

    @functools.wraps(fn)
    def run(*args, **kwargs):
        if _TORCH.is_current():
            return fn(*args, **kwargs)
        import torch

        return _TORCH.call(_with_threads, (torch.get_num_threads(), fn, args, kwargs), {})

    return run  # type: ignore[return-value]


def _with_threads(threads: int, fn: Callable[..., Any], args, kwargs) -> Any:
    import torch

    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return fn(*args, **kwargs)
