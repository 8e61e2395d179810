"""The command line as scripts use it: serve, pair --json, check --json, doctor."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.daemon.conftest import free_port
from tests.daemon.media_files import make_all

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "deepsentry"]


def run_cli(*args, env=None, timeout=300):
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT,
                          env={**os.environ, **(env or {})})


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return make_all(tmp_path_factory.mktemp("climedia"))


def test_pair_json_matches_serve(tmp_path):
    env = {"DEEPSENTRY_HOME": str(tmp_path), "DEEPSENTRY_LEDGER": "0"}
    port = free_port()
    paired = run_cli("pair", "--json", env={**env, "DEEPSENTRY_PORT": str(port)})
    assert paired.returncode == 0, paired.stderr
    info = json.loads(paired.stdout)
    assert set(info) == {"url", "token", "code"}
    assert info["url"] == f"http://127.0.0.1:{port}" and re.fullmatch(r"[0-9a-f]{64}", info["token"])
    assert re.fullmatch(r"[A-Z2-7]{4}-[A-Z2-7]{4}", info["code"])

    proc = subprocess.Popen([*CLI, "serve", "--port", str(port)], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env={**os.environ, **env})
    try:
        lines = []
        deadline = time.time() + 120
        while time.time() < deadline and not any("pairing token" in ln for ln in lines):
            lines.append(proc.stdout.readline())
        out = "".join(lines)
        assert f"listening on http://127.0.0.1:{port}" in out
        assert info["token"] in out
        r = requests.get(info["url"] + "/v1/info", headers={"Authorization": f"Bearer {info['token']}"}, timeout=30)
        assert r.status_code == 200 and r.json()["version"]
        # started with --port, the daemon is found where it runs, not at the settings' default port
        live = json.loads(run_cli("pair", "--json", env=env).stdout)
        assert live == info
    finally:
        proc.terminate()
        proc.wait(30)
    assert json.loads(run_cli("pair", "--json", env=env).stdout)["url"] == "http://127.0.0.1:8765"


def test_check_json_is_the_api_result(files, tmp_path):
    r = run_cli("check", str(files["clip"]), "--json", "--no-provenance", env={"DEEPSENTRY_LEDGER": "0"})
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert {"media", "faces", "verdict", "model", "timings"} <= set(res)
    assert len(res["faces"]) == 1 and res["media"]["kind"] == "video"


def test_check_summary_and_errors(files):
    r = run_cli("check", str(files["noface"]), "--no-provenance")
    assert r.returncode == 0 and "NO FACES" in r.stdout
    bad = run_cli("check", str(files["random"]), "--json", "--no-provenance")
    assert bad.returncode == 1
    assert json.loads(bad.stdout)["error"]["code"] == "unsupported_media"
    missing = run_cli("check", "/nonexistent/file.mp4")
    assert missing.returncode == 1 and "no such file" in missing.stderr
    ssrf = run_cli("check", "http://127.0.0.1:9/x.mp4", "--json")
    assert ssrf.returncode == 1 and json.loads(ssrf.stdout)["error"]["code"] == "url_refused"


def test_doctor_reports_each_component():
    r = run_cli("doctor", "--json")
    report = json.loads(r.stdout)
    names = {c["name"] for c in report["checks"]}
    assert {"torch", "facenet-pytorch", "device", "mtcnn weights", "detector weights", "ffmpeg"} <= names
    for c in report["checks"]:
        assert c["ok"] or c["fix"], c
    assert r.returncode == (0 if report["ok"] else 1)
