"""A real daemon *process* (``python -m deepsentry serve``) per test module, so that an attack which
kills the interpreter (a segfault, an abort) shows as a dead process rather than a caught exception.

The process has its own ``DEEPSENTRY_HOME``, a free loopback port and, unless a module says otherwise,
the embedded ledger node (the web3 stack it imports is part of what is attacked).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
EXT_ORIGIN = "chrome-extension://aflmeaedhgdnmnldchfjaefkdijnlbgp"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


class DaemonProcess:
    """``deepsentry serve`` in a child process; ``home`` is its DEEPSENTRY_HOME (settings.json goes in
    ``home/config``)."""

    def __init__(self, home: Path, *, ledger: bool = True, limits: dict | None = None,
                 env: dict | None = None) -> None:
        self.home = Path(home)
        self.port = free_port()
        self.ledger = ledger
        self.limits = limits or {}
        self.extra_env = env or {}
        self.proc: subprocess.Popen | None = None
        self.token = ""
        self.lines: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    def env(self) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith("DEEPSENTRY_")}
        env.update({"DEEPSENTRY_HOME": str(self.home), "PYTHONUNBUFFERED": "1", "DEEPSENTRY_TORCH_THREADS": "1",
                    "DEEPSENTRY_PASSPHRASE": "security-tests"})
        if not self.ledger:
            env["DEEPSENTRY_LEDGER"] = "0"
        env.update(self.extra_env)
        return env

    def start(self, timeout: float = 180.0) -> "DaemonProcess":
        (self.home / "config").mkdir(parents=True, exist_ok=True)
        if self.limits:
            (self.home / "config" / "settings.json").write_text(json.dumps({"limits": self.limits}))
        self.proc = subprocess.Popen([sys.executable, "-m", "deepsentry", "serve", "--port", str(self.port)],
                                     cwd=ROOT, env=self.env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True)
        threading.Thread(target=self._pump, daemon=True).start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("daemon exited at start:\n" + "\n".join(self.lines[-40:]))
            if self.token and self.health_ok():
                if not self.ledger or self.ledger_status() == "ready":
                    return self
            time.sleep(0.3)
        raise RuntimeError("daemon not ready in time:\n" + "\n".join(self.lines[-40:]))

    def _pump(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line.rstrip())
            if line.startswith("pairing token:"):
                self.token = line.split(":", 1)[1].strip()

    def health_ok(self) -> bool:
        try:
            return requests.get(self.url + "/v1/health", timeout=5).json() == {"status": "ok"}
        except (requests.RequestException, ValueError):
            return False

    def ledger_status(self) -> str | None:
        try:
            return self.get("/v1/info").json()["ledger"]["status"]
        except (requests.RequestException, ValueError, KeyError):
            return None

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int:
        return self.proc.pid

    def headers(self, **extra) -> dict:
        return {"Authorization": f"Bearer {self.token}", **extra}

    def get(self, path: str, **kw):
        kw.setdefault("headers", self.headers())
        kw.setdefault("timeout", 60)
        return requests.get(self.url + path, **kw)

    def post(self, path: str, **kw):
        kw.setdefault("headers", self.headers())
        kw.setdefault("timeout", 300)
        return requests.post(self.url + path, **kw)

    def node_pid(self) -> int | None:
        try:
            return int(json.loads((self.data_dir / "ledger" / "node.json").read_text())["pid"])
        except (OSError, ValueError, KeyError):
            return None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60.0) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(10)


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


def wait_gone(pid: int | None, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return True
        time.sleep(0.2)
    return not pid_alive(pid)


@pytest.fixture(scope="module")
def daemon(tmp_path_factory):
    """One daemon process for a module's attacks (ledger on, a 64 MB byte limit, 5 s duration limit)."""
    d = DaemonProcess(tmp_path_factory.mktemp("sec-home"),
                      limits={"max_bytes": 64 * 1024 * 1024, "max_duration_s": 5.0}).start()
    yield d
    node = d.node_pid()
    d.stop()
    if node and pid_alive(node):
        os.kill(node, signal.SIGKILL)


@pytest.fixture(autouse=True)
def still_alive(request):
    """After every attack the same process still answers: a crash fails the test that caused it."""
    yield
    if "daemon" in request.fixturenames:
        d = request.getfixturevalue("daemon")
        assert d.alive, "the daemon process died:\n" + "\n".join(d.lines[-30:])
        assert d.health_ok()
