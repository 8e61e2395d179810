"""A bounded job queue with a fixed number of workers, progress, and result caching.

Jobs run their blocking work (decode, MTCNN, the model) in a thread pool so the event loop keeps
answering health checks and other requests. When the queue is full, ``submit`` raises :class:`Busy`
(the API answers 429 with ``Retry-After``).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable

from deepsentry.detector.memory import release_freed_memory
from deepsentry.errors import Busy, DeepsentryError

log = logging.getLogger("deepsentry.daemon")

JobFn = Callable[[Callable[[float, str], None]], dict]

TERMINAL = ("done", "error")


@dataclass
class Job:
    kind: str
    fn: JobFn | None
    job_id: str = field(default_factory=lambda: secrets.token_hex(8))
    status: str = "queued"
    progress: float = 0.0
    stage: str = "queued"
    result: dict | None = None
    error: DeepsentryError | None = None
    created: float = field(default_factory=time.time)
    finished: float | None = None
    on_done: Callable[["Job"], None] | None = None
    cleanup: Callable[[], None] | None = None
    held_bytes: int = 0
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    def to_json(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "kind": self.kind,
            "status": self.status,
            "progress": round(self.progress, 3),
            "stage": self.stage,
            "result": self.result,
            "error": self.error.to_json()["error"] if self.error else None,
        }

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_change(self, timeout: float) -> None:
        event = self._changed
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except asyncio.TimeoutError:
            pass

    async def wait_done(self) -> None:
        while self.status not in TERMINAL:
            await self.wait_change(5.0)


class LRU(OrderedDict):
    def __init__(self, maxsize: int) -> None:
        super().__init__()
        self.maxsize = maxsize

    def put(self, key, value) -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.maxsize:
            self.popitem(last=False)



class ResultCache:
    """Finished results by key (content hash or URL), at most ``maxsize``, each for ``ttl`` seconds (the
    provenance part of a result can change: a file registered or revoked later)."""

    def __init__(self, maxsize: int = 512, ttl: float = 1800.0) -> None:
        self._items: LRU = LRU(maxsize)
        self.ttl = ttl

    def put(self, key: str, value: dict) -> None:
        self._items.put(key, (time.monotonic(), value))

    def get_fresh(self, key: str) -> dict | None:
        item = self._items.get(key)
        if item is None:
            return None
        stamp, value = item
        if time.monotonic() - stamp > self.ttl:
            self._items.pop(key, None)
            return None
        self._items.move_to_end(key)
        return value


class JobManager:
    """``workers`` jobs at once, ``queue_size`` waiting; at most ``max_held_bytes`` of request data (the
    extension's encoded frames) held by jobs not yet finished. A finished job keeps only its JSON
    result (its function, callbacks and inputs are dropped), and the last ``keep_jobs`` are kept."""

    def __init__(self, workers: int = 1, queue_size: int = 16, keep_jobs: int = 256,
                 max_held_bytes: int = 256 * 1024 * 1024, on_idle: Callable[[], None] | None = None) -> None:
        self.workers = max(1, workers)
        self.on_idle = on_idle              # run in a job thread when the last job ends and none waits
        self.max_held_bytes = max_held_bytes
        self.held_bytes = 0
        self.queue: asyncio.Queue[Job] = asyncio.Queue(maxsize=max(1, queue_size))
        self.jobs: LRU = LRU(keep_jobs)
        self.results = ResultCache()        # cache key -> result
        self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="deepsentry-job")
        self._tasks: list[asyncio.Task] = []
        self.running = 0

    async def start(self) -> None:
        for i in range(self.workers):
            self._tasks.append(asyncio.create_task(self._worker(), name=f"job-worker-{i}"))

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        while not self.queue.empty():            # never started: their temp files go now
            job = self.queue.get_nowait()
            if job.cleanup:
                try:
                    job.cleanup()
                except OSError:
                    log.warning("cleanup of job %s failed", job.job_id)
        self._pool.shutdown(wait=False, cancel_futures=True)

    def retry_after(self) -> int:
        return max(1, self.queue.qsize() // self.workers)

    def submit(self, job: Job, held_bytes: int = 0) -> Job:
        """Queue ``job``, which holds ``held_bytes`` of request data until it ends; ``Busy`` (429) when the
        queue or the byte budget is full (the job's cleanup then runs at once)."""
        if held_bytes and self.held_bytes + held_bytes > self.max_held_bytes:
            self._refuse(job)
        try:
            self.queue.put_nowait(job)
        except asyncio.QueueFull:
            self._refuse(job)
        job.held_bytes = held_bytes
        self.held_bytes += held_bytes
        self.jobs.put(job.job_id, job)
        return job

    def _refuse(self, job: Job):
        if job.cleanup:
            job.cleanup()
        raise Busy("the daemon is busy: too many jobs queued; retry shortly",
                   details={"retry_after": self.retry_after()}) from None

    def finished(self, kind: str, result: dict) -> Job:
        """A job that is done already (a cache hit)."""
        job = Job(kind=kind, fn=None, status="done", progress=1.0, stage="cached", result=result,
                  finished=time.time())
        self.jobs.put(job.job_id, job)
        return job

    def get(self, job_id: str) -> Job | None:
        return self.jobs.get(job_id)

    async def _worker(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            job = await self.queue.get()
            self.running += 1
            try:
                await self._run(loop, job)
            finally:
                self.running -= 1
                self.queue.task_done()

    async def _run(self, loop: asyncio.AbstractEventLoop, job: Job) -> None:
        def progress(fraction: float, stage: str) -> None:
            loop.call_soon_threadsafe(self._progress, job, fraction, stage)

        def call(fn):
            try:
                return fn(progress)
            finally:
                if self.on_idle is not None and self.queue.empty() and self.running == 1:
                    try:
                        self.on_idle()
                    except Exception:  # noqa: BLE001 - housekeeping must not fail the job
                        log.exception("idle housekeeping failed")
                release_freed_memory()     # the job's inputs and result JSON are freed too

        job.status, job.stage = "running", "starting"
        job._notify()
        try:
            job.result = await loop.run_in_executor(self._pool, call, job.fn)
            job.status, job.progress, job.stage = "done", 1.0, "done"
            if job.on_done:
                job.on_done(job)
        except DeepsentryError as exc:
            job.error, job.status, job.stage = exc, "error", "error"
        except Exception as exc:  # noqa: BLE001 - no input may take the daemon down
            log.exception("job %s failed", job.job_id)
            job.error = DeepsentryError(f"internal error while processing: {type(exc).__name__}: {exc}")
            job.status, job.stage = "error", "error"
        finally:
            job.finished = time.time()
            if job.cleanup:
                try:
                    job.cleanup()
                except OSError:
                    log.warning("cleanup of job %s failed", job.job_id)
            self.held_bytes -= job.held_bytes
            job.fn = job.on_done = job.cleanup = None       # drop the inputs the closures hold
            job.held_bytes = 0
            job._notify()

    @staticmethod
    def _progress(job: Job, fraction: float, stage: str) -> None:
        if job.status in TERMINAL:
            return
        job.progress = max(job.progress, min(0.99, float(fraction)))
        job.stage = stage
        job._notify()
