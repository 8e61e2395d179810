"""A registration the user is told is ``confirmed`` survives ``kill -9`` of the daemon and its ledger
node together, whichever point of the registration the crash hits.

Each case: a real daemon owning the embedded anvil node; ``deepsentry seal`` (a second process) signs a
photo and registers it through that node; at the fault point (``settings.fault_point``) seal kills the
node and itself with SIGKILL, and the test kills the daemon the same way; a new daemon starts on the
same data folder; ``verify`` of the signed bytes must say ``registered``. The points: the registration
journaled but not sent; sent but not mined; mined and about to be reported ``confirmed``, well inside
the node's 2 s state-dump interval.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.security.conftest import ROOT, DaemonProcess, pid_alive, wait_gone


def _cli(home: Path, *args: str, fault: str | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEEPSENTRY_")}
    env.update({"DEEPSENTRY_HOME": str(home), "DEEPSENTRY_PASSPHRASE": "security-tests", "PYTHONUNBUFFERED": "1"})
    if fault:
        env["DEEPSENTRY_FAULT_POINT"] = fault
    return subprocess.run([sys.executable, "-m", "deepsentry", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


def _photo(path: Path, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    img = cv2.GaussianBlur(rng.integers(0, 256, (240, 320, 3), dtype=np.uint8), (0, 0), 3)
    cv2.imwrite(str(path), img)
    return path


def _kill9(pid: int | None) -> None:
    if pid and pid_alive(pid):
        os.kill(pid, signal.SIGKILL)


def _verdict(d: DaemonProcess, path: Path) -> dict:
    r = d.post("/v1/verify?wait=1", files={"file": (path.name, path.read_bytes())})
    assert r.status_code == 200, r.text
    return r.json()["result"]


@pytest.mark.slow
@pytest.mark.parametrize("point", ["journaled", "sent", "registered"])
def test_registration_survives_kill9_of_daemon_and_node(tmp_path, point):
    home = tmp_path / "home"
    d = DaemonProcess(home).start()
    try:
        keys = _cli(home, "keys", "init", "--json")
        assert keys.returncode == 0, keys.stderr
        time.sleep(3)                      # the contract's deployment is in the node's saved state
        photo = _photo(tmp_path / "photo.png", seed=len(point))
        out = tmp_path / "sealed.png"
        sealed = _cli(home, "seal", str(photo), "-o", str(out), "--json", fault=point)
        node = d.node_pid()
        assert sealed.returncode == -signal.SIGKILL, (sealed.returncode, sealed.stderr[-2000:])
        assert not out.exists()
        # the bytes that were being registered: seal's signed temp file, left behind by the crash
        (signed,) = tmp_path.glob(".sealed.signed-*.png")
        _kill9(node)
        _kill9(d.pid)
        assert wait_gone(d.pid, 10) and wait_gone(node, 10)
    finally:
        d.stop(signal.SIGKILL)
    d2 = DaemonProcess(home).start()
    try:
        deadline = time.monotonic() + 90
        while True:
            report = _verdict(d2, signed)
            if report["verdict"] == "registered" or time.monotonic() > deadline:
                break
            time.sleep(2)                  # the daemon replays its journal right after the node is up
        assert report["verdict"] == "registered", report["evidence"]
    finally:
        node = d2.node_pid()
        d2.stop()
        _kill9(node)
