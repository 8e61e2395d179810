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


def test_torch_work_runs_on_one_thread_whoever_calls():
    """Every decorated call runs on the one torch thread, from the main thread and from others alike;
    a call made there runs in place (no deadlock); exceptions come back as they were raised; and the
    caller's torch thread count goes with the call."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    import pytest
    import torch

    from deepsentry.detector.threads import TORCH_THREAD_NAME, on_torch_thread

    @on_torch_thread
    def where(n_inner: int = 0):
        inner = [where() for _ in range(n_inner)]               # nested: already on the thread
        return threading.get_ident(), threading.current_thread().name, torch.get_num_threads(), inner

    @on_torch_thread
    def fails():
        raise KeyError("from the torch thread")

    ident, name, threads, inner = where(2)
    assert name == TORCH_THREAD_NAME and ident != threading.get_ident()
    assert [i[0] for i in inner] == [ident, ident] and threads == torch.get_num_threads()
    with ThreadPoolExecutor(3) as pool:
        seen = list(pool.map(lambda _: where()[0], range(6)))
    assert set(seen) == {ident}
    with pytest.raises(KeyError, match="from the torch thread"):
        fails()

    def with_two():
        torch.set_num_threads(2)
        return where()[2]

    with ThreadPoolExecutor(1) as pool:
        assert pool.submit(with_two).result() == 2
    assert where()[2] == torch.get_num_threads() == 1        # the test's own count (conftest) again


def test_an_analyzer_built_on_one_thread_and_used_on_another_runs_torch_on_one(tmp_path):
    """The daemon builds its Analyzer on one thread and runs jobs on another; every forward pass of the
    face networks and of the scorer happens on the one torch thread (two threads opening OpenMP teams
    make every small torch operator wait for its team to wake up)."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from deepsentry.detector.pipeline import Analyzer
    from deepsentry.detector.threads import TORCH_THREAD_NAME
    from deepsentry.settings import load_settings
    from tests.mediautil import face_clip

    clip, _ = face_clip(tmp_path / "face.mp4", seconds=2.0)
    with ThreadPoolExecutor(1, thread_name_prefix="builder") as pool:
        analyzer = pool.submit(Analyzer, load_settings(device="cpu", torch_threads=1)).result()
    seen: dict[str, set[str]] = {}

    def hook(name):
        return lambda *_: seen.setdefault(name, set()).add(threading.current_thread().name)

    mtcnn = analyzer.faces._mtcnn
    nets = {"pnet": mtcnn.pnet, "onet": mtcnn.onet}
    for k, member in enumerate(getattr(analyzer.scorer, "members", [analyzer.scorer])):   # an ensemble's too
        nets |= {f"trunk{k}": member.model.trunk, f"lstm{k}": member.model.lstm}
    handles = [net.register_forward_pre_hook(hook(name)) for name, net in nets.items()]
    try:
        with ThreadPoolExecutor(1, thread_name_prefix="job") as pool:
            result = pool.submit(analyzer.analyze_file, clip).result()
    finally:
        for h in handles:
            h.remove()
    assert result.faces and result.verdict.fake_prob is not None
    assert seen == {name: {TORCH_THREAD_NAME} for name in nets}


def test_a_forked_child_gets_its_own_torch_thread():
    """A child forked after the torch thread started (a fork-context data loader worker, say) inherits
    the thread's bookkeeping but not the thread: its calls must start its own, not wait forever."""
    import multiprocessing as mp
    import threading

    from deepsentry.detector.threads import TORCH_THREAD_NAME, on_torch_thread

    @on_torch_thread
    def name():
        return threading.current_thread().name

    assert name() == TORCH_THREAD_NAME                         # the parent's thread is running
    ctx = mp.get_context("fork")
    with ctx.Pool(1) as pool:
        assert pool.apply_async(_child_thread_name).get(timeout=60) == TORCH_THREAD_NAME


def _child_thread_name() -> str:
    import threading

    from deepsentry.detector.threads import on_torch_thread

    return on_torch_thread(lambda: threading.current_thread().name)()
