"""The job manager's cache and queue bounds, without HTTP."""

from __future__ import annotations

import asyncio
import time

import pytest

from deepsentry.daemon.jobs import Job, JobManager, ResultCache
from deepsentry.errors import Busy, MediaDecodeError


def test_result_cache_expires_and_is_bounded(monkeypatch):
    cache = ResultCache(maxsize=2, ttl=10.0)
    now = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    cache.put("a", {"v": 1})
    cache.put("b", {"v": 2})
    assert cache.get_fresh("a") == {"v": 1}          # touching "a" makes "b" the oldest
    cache.put("c", {"v": 3})
    assert cache.get_fresh("b") is None and cache.get_fresh("c") == {"v": 3}
    now[0] += 11.0
    assert cache.get_fresh("a") is None and cache.get_fresh("c") is None


def test_queue_bound_errors_and_progress():
    async def scenario():
        jobs = JobManager(workers=1, queue_size=1)
        await jobs.start()
        gate = asyncio.Event()
        loop = asyncio.get_running_loop()

        def slow(progress):
            progress(0.5, "half")
            asyncio.run_coroutine_threadsafe(gate.wait(), loop).result(10)
            return {"ok": True}

        def broken(progress):
            raise MediaDecodeError("bad bytes")

        cleaned = []
        first = jobs.submit(Job(kind="t", fn=slow))
        while first.status != "running":
            await asyncio.sleep(0.01)
        second = jobs.submit(Job(kind="t", fn=broken))
        with pytest.raises(Busy):
            jobs.submit(Job(kind="t", fn=slow, cleanup=lambda: cleaned.append(1)))
        assert cleaned == [1]                             # a refused job's files are removed at once
        while first.stage != "half":
            await asyncio.sleep(0.01)
        assert first.progress == 0.5
        gate.set()
        await first.wait_done()
        await second.wait_done()
        await jobs.stop()
        return first, second

    first, second = asyncio.run(scenario())
    assert first.status == "done" and first.result == {"ok": True} and first.progress == 1.0
    assert second.status == "error" and second.to_json()["error"]["code"] == "corrupt_media"
