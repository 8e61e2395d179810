"""Where the items are scanned: a local process pool, or a pool of Ray actors. Both hold one
:class:`~deepsentry.scan.worker.Scanner` (one loaded detector) per worker and yield records as they finish,
in any order; the driver does not know which one it is talking to."""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Iterator
from typing import Any

from deepsentry.scan.items import Item

# ---------------------------------------------------------------------------------------------- local

_scanner = None


def _init_worker(kwargs: dict[str, Any]) -> None:
    global _scanner
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)   # Ctrl-C is the driver's to handle
    from deepsentry.scan.worker import Scanner

    _scanner = Scanner(**kwargs)


def _scan_one(item: Item) -> dict[str, Any]:
    return _scanner.scan(item)


class LocalExecutor:
    """``workers`` processes (spawned, so each loads its own torch and detector), fed one item at a time."""

    def __init__(self, workers: int, scanner_kwargs: dict[str, Any]) -> None:
        self.workers = max(1, int(workers))
        self.kwargs = scanner_kwargs
        self._pool = None

    def map(self, items: list[Item]) -> Iterator[dict[str, Any]]:
        ctx = mp.get_context("spawn")
        self._pool = ctx.Pool(self.workers, initializer=_init_worker, initargs=(self.kwargs,))
        try:
            yield from self._pool.imap_unordered(_scan_one, items, chunksize=1)
            self._pool.close()
        finally:
            self._pool.terminate()
            self._pool.join()

    def describe(self) -> str:
        return f"{self.workers} local worker process(es)"


# ---------------------------------------------------------------------------------------------- Ray

class RayExecutor:
    """A ``ray.util.ActorPool`` of ``workers`` actors, each a Scanner loaded once; Ray retries a task
    whose actor died (``max_task_retries``) and restarts the actor (``max_restarts``).

    ``address``: ``"auto"`` (the cluster this machine belongs to), ``"ray://host:10001"``, a GCS
    ``host:6379``, or ``"local"`` to start a Ray instance inside this process for the run."""

    def __init__(self, address: str, workers: int, scanner_kwargs: dict[str, Any], cpus_per_worker: float = 1.0) -> None:
        self.address = address
        self.workers = max(1, int(workers))
        self.kwargs = scanner_kwargs
        self.cpus = cpus_per_worker
        self._started = False

    def _connect(self):
        try:
            import ray
        except ModuleNotFoundError as exc:
            from deepsentry.errors import DeepsentryError

            raise DeepsentryError("scanning on Ray needs the 'scale' extra: pip install -e '.[scale]'",
                                  code="ray_missing") from exc
        if not ray.is_initialized():
            if self.address == "local":
                ray.init(num_cpus=max(self.workers, 1), include_dashboard=False, log_to_driver=False)
            else:
                ray.init(address=self.address, log_to_driver=False)
            self._started = True
        return ray

    def map(self, items: list[Item]) -> Iterator[dict[str, Any]]:
        ray = self._connect()
        from ray.util import ActorPool

        from deepsentry.scan.worker import Scanner

        actor = ray.remote(num_cpus=self.cpus, max_restarts=2, max_task_retries=2)(Scanner)
        actors = [actor.remote(**self.kwargs) for _ in range(self.workers)]
        pool = ActorPool(actors)
        try:
            yield from pool.map_unordered(lambda a, it: a.scan.remote(it), items)
        finally:
            for a in actors:
                ray.kill(a)
            if self._started:
                ray.shutdown()

    def describe(self) -> str:
        return f"{self.workers} Ray actor(s) at {self.address}"
