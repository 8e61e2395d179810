"""A real daemon on a free loopback port, served from a background thread, with real HTTP clients."""

from __future__ import annotations

import asyncio
import http.server
import socket
import threading
from pathlib import Path

import pytest
import requests
from aiohttp import web

from deepsentry.daemon import create_app
from deepsentry.daemon import appkeys as keys
from deepsentry.settings import Limits, load_settings

EXT_ORIGIN = "chrome-extension://aflmeaedhgdnmnldchfjaefkdijnlbgp"


class DaemonThread:
    """Runs ``create_app(settings)`` on 127.0.0.1:<free port> in its own thread and event loop."""

    def __init__(self, settings, analyzer=None) -> None:
        self.settings = settings
        self.analyzer = analyzer
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.port = 0
        self.app = None
        self.error: BaseException | None = None

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.app = create_app(self.settings, analyzer=self.analyzer)
            self.runner = web.AppRunner(self.app)
            self.loop.run_until_complete(self.runner.setup())
            site = web.TCPSite(self.runner, "127.0.0.1", 0)
            self.loop.run_until_complete(site.start())
            self.port = self.runner.addresses[0][1]
        except BaseException as exc:  # pragma: no cover - surfaced in start()
            self.error = exc
            self.ready.set()
            return
        self.ready.set()
        self.loop.run_forever()
        self.loop.run_until_complete(self.runner.cleanup())

    def start(self) -> "DaemonThread":
        self.thread.start()
        self.ready.wait(120)
        if self.error:
            raise self.error
        return self

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(30)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def token(self) -> str:
        return self.app[keys.TOKEN]

    def headers(self, **extra) -> dict:
        return {"Authorization": f"Bearer {self.token}", **extra}

    def get(self, path, **kw):
        kw.setdefault("headers", self.headers())
        kw.setdefault("timeout", 120)
        return requests.get(self.url + path, **kw)

    def post(self, path, **kw):
        kw.setdefault("headers", self.headers())
        kw.setdefault("timeout", 300)
        return requests.post(self.url + path, **kw)

    def healthy(self) -> bool:
        return requests.get(self.url + "/v1/health", timeout=10).json() == {"status": "ok"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def analyzer(deepsentry_home):
    from deepsentry.detector.pipeline import Analyzer

    return Analyzer(load_settings(ledger_enabled=False))


@pytest.fixture(scope="session")
def site_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("site")


@pytest.fixture(scope="session")
def site(site_dir):
    """A local web site (loopback) the daemon may fetch from: static files plus redirects."""
    port = free_port()
    redirects: dict[str, str] = {}

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=str(site_dir), **kw)

        def log_message(self, *a):
            pass

        def do_GET(self):  # noqa: N802
            if self.path in redirects:
                self.send_response(302)
                self.send_header("Location", redirects[self.path])
                self.end_headers()
                return
            super().do_GET()

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    yield {"url": f"http://127.0.0.1:{port}", "host": f"127.0.0.1:{port}", "dir": site_dir, "redirects": redirects}
    server.shutdown()


@pytest.fixture(scope="session")
def daemon(analyzer, site, deepsentry_home):
    settings = load_settings(ledger_enabled=False, url_allowlist=(site["host"],),
                             limits=Limits(max_bytes=8 * 1024 * 1024, max_pixels=20_000_000, fetch_timeout_s=20))
    d = DaemonThread(settings, analyzer).start()
    yield d
    d.stop()


@pytest.fixture(autouse=True)
def still_serving(request):
    """After every daemon test, the daemon still answers health."""
    yield
    if "daemon" in request.fixturenames:
        d = request.getfixturevalue("daemon")
        assert d.healthy()
