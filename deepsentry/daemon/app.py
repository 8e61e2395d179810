"""The detection daemon's aiohttp application: ``create_app(settings)`` builds it, ``run(settings)``
serves it until SIGINT or SIGTERM, then stops cleanly (jobs, temp files, the embedded ledger node).

Where things live: the door (Host, Origin, token, CORS, the error shape) in :mod:`.middleware`, request
bodies in :mod:`.body`, the routes in :mod:`.routes`, the job queue in :mod:`.jobs`, the ledger in
:mod:`.ledger_service`.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path
from typing import Any, Callable

from aiohttp import web

from deepsentry.daemon import appkeys
from deepsentry.daemon.auth import PairingLimiter, load_or_create_token, pairing_code
from deepsentry.daemon.body import JSON_BODY_MAX, sweep_uploads
from deepsentry.daemon.jobs import JobManager
from deepsentry.daemon.ledger_service import LedgerService
from deepsentry.daemon.middleware import MIDDLEWARES
from deepsentry.daemon.routes import ROUTES
from deepsentry.settings import Settings

log = logging.getLogger("deepsentry.daemon")


async def _jobs_ctx(app: web.Application):
    jobs = app[appkeys.JOBS]
    await jobs.start()
    yield
    await jobs.stop()


async def _analyzer_ctx(app: web.Application):
    if app.get(appkeys.ANALYZER) is None:
        from deepsentry.detector.pipeline import Analyzer

        loop = asyncio.get_running_loop()
        app[appkeys.ANALYZER] = await loop.run_in_executor(None, Analyzer, app[appkeys.SETTINGS])
    yield


async def _ledger_ctx(app: web.Application):
    ledger = app[appkeys.LEDGER]
    await ledger.start()
    yield
    await ledger.stop()


def _release_caches() -> None:
    """When the queue goes idle: drop the watermark reader's weight spectra (hundreds of MB after large
    stills; rebuilt on the next read), so an idle daemon returns to its idle size."""
    from deepsentry.watermark import release_caches

    release_caches()


def create_app(settings: Settings, *, analyzer: Any = None) -> web.Application:
    """Build the daemon. ``analyzer`` may be passed in (tests share one); otherwise it loads at start.
    What a killed daemon left in the uploads folder is removed here."""
    removed = sweep_uploads(settings)
    if removed:
        log.info("removed %d upload leftovers of an earlier run", removed)
    app = web.Application(middlewares=MIDDLEWARES, client_max_size=JSON_BODY_MAX)
    app[appkeys.SETTINGS] = settings
    app[appkeys.TOKEN] = load_or_create_token(settings.token_path)
    app[appkeys.JOBS] = JobManager(workers=settings.workers, queue_size=settings.queue_size,
                                   max_held_bytes=settings.limits.max_queued_bytes, on_idle=_release_caches)
    app[appkeys.PAIRING] = PairingLimiter()
    app[appkeys.BIG_BODIES] = asyncio.Semaphore(2)
    app[appkeys.LEDGER] = LedgerService(settings)
    app[appkeys.ANALYZER] = analyzer
    app.cleanup_ctx.append(_analyzer_ctx)
    app.cleanup_ctx.append(_jobs_ctx)
    app.cleanup_ctx.append(_ledger_ctx)
    for method, path, handler in ROUTES:
        app.router.add_route(method, path, handler)
    return app


def _runtime_path(settings: Settings) -> Path:
    return settings.data_dir / "daemon.json"


def _write_runtime(settings: Settings, url: str) -> None:
    """Where the running daemon listens (its port may differ from the settings' with ``--port``), for
    ``deepsentry pair``; removed when it stops."""
    import json
    import os

    path = _runtime_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"url": url, "pid": os.getpid()}))
    tmp.replace(path)


def running_url(settings: Settings) -> str | None:
    """The URL of the daemon running with these settings' data folder, or None when none runs."""
    import json
    import os

    try:
        info = json.loads(_runtime_path(settings).read_text())
        os.kill(int(info["pid"]), 0)
        return str(info["url"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def run(settings: Settings, *, print_fn: Callable[[str], None] = print) -> None:
    """Serve until SIGINT or SIGTERM, printing the URL and pairing token once listening."""
    if settings.host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("binding to %s exposes the daemon beyond this machine", settings.host)
    asyncio.run(_serve(settings, print_fn))


async def _serve(settings: Settings, print_fn: Callable[[str], None]) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    app = create_app(settings)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, settings.host, settings.port)
        await site.start()
        port = runner.addresses[0][1] if runner.addresses else settings.port
        token = app[appkeys.TOKEN]
        _write_runtime(settings, settings.replace(port=port).url)
        print_fn(f"deepsentry daemon listening on {settings.replace(port=port).url}")
        print_fn(f"pairing token: {token}")
        print_fn(f"pairing code:  {pairing_code(token)}  (enter it in the extension's options, or paste the token)")
        await stop.wait()
        print_fn("deepsentry daemon stopping")
    finally:
        _runtime_path(settings).unlink(missing_ok=True)
        await runner.cleanup()        # jobs, temp files, then the ledger node (which saves its chain)
