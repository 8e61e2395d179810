"""How many CPU threads torch gets for one analysis: the cores other programs leave idle.

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

import os
import threading
import time

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
