"""The torch thread count follows the cores other processes leave idle."""

from __future__ import annotations

import multiprocessing as mp
import os
import time

from deepsentry.detector.threads import ThreadChooser


def _spin(stop) -> None:
    while not stop.is_set():
        sum(range(10_000))


def test_fixed_count_is_kept():
    assert ThreadChooser(3).choose() == 3


def test_one_thread_when_other_processes_take_every_core():
    ctx = mp.get_context("spawn")
    stop = ctx.Event()
    cores = os.cpu_count() or 1
    spinners = [ctx.Process(target=_spin, args=(stop,), daemon=True) for _ in range(cores)]
    for p in spinners:
        p.start()
    try:
        time.sleep(1.0)                                   # let them start spinning
        chooser = ThreadChooser()
        time.sleep(0.5)                                   # the window the choice is read over
        idle = chooser.idle_cores()
        assert idle < 0.5 * cores, idle
        assert chooser.choose() == 1
    finally:
        stop.set()
        for p in spinners:
            p.join(5)
