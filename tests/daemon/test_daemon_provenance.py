"""The daemon's generate and verify routes against a real embedded anvil node, real keys and C2PA."""

from __future__ import annotations

import datetime as dt
import os
import time

import pytest

from deepsentry.settings import load_settings
from tests.daemon.conftest import DaemonThread

PASSPHRASE = "daemon-test-passphrase"


@pytest.fixture(scope="module")
def ledger_daemon(analyzer, tmp_path_factory):
    from deepsentry.keys import KeyStore

    home = tmp_path_factory.mktemp("ledger-home")
    old = os.environ.get("DEEPSENTRY_PASSPHRASE")
    os.environ["DEEPSENTRY_PASSPHRASE"] = PASSPHRASE
    settings = load_settings(config_dir=home / "config", data_dir=home / "data", ledger_enabled=True)
    KeyStore(settings.config_dir).init(PASSPHRASE)
    d = DaemonThread(settings, analyzer).start()
    deadline = time.time() + 180
    while time.time() < deadline and d.get("/v1/info").json()["ledger"]["status"] != "ready":
        time.sleep(0.5)
    assert d.get("/v1/info").json()["ledger"]["status"] == "ready"
    yield d
    d.stop()
    if old is None:
        os.environ.pop("DEEPSENTRY_PASSPHRASE", None)
    else:
        os.environ["DEEPSENTRY_PASSPHRASE"] = old


@pytest.fixture(scope="module")
def inputs(ledger_daemon, tmp_path_factory):
    from deepsentry.generator.consent import create_consent
    from tests.generator.media import driver_clip, save_png
    from tests.mediautil import astronaut

    d = tmp_path_factory.mktemp("gen-inputs")
    photo = save_png(d / "astronaut.png", astronaut())
    consent, _ = create_consent(subject_name="Eileen Collins", photo=photo, modes=["animate"],
                                expires=dt.date.today() + dt.timedelta(days=30), out=d / "consent.json",
                                settings=ledger_daemon.settings, passphrase=PASSPHRASE)
    driver, _ = driver_clip(d / "driver.mp4", n=12, fps=12)
    return {"photo": photo, "consent": d / "consent.json", "driver": driver}


def _generate(daemon, inputs, mode):
    with open(inputs["consent"], "rb") as c, open(inputs["photo"], "rb") as s, open(inputs["driver"], "rb") as t:
        return daemon.post("/v1/generate?wait=1", data={"mode": mode},
                           files={"consent": c, "source": s, "target": t}, timeout=900)


def test_generate_then_verify_and_analyze(ledger_daemon, inputs, tmp_path):
    r = _generate(ledger_daemon, inputs, "animate")
    assert r.status_code == 200, r.text
    job = r.json()
    receipt = job["result"]
    assert receipt["mode"] == "animate"
    out = ledger_daemon.get(receipt["download_url"])
    assert out.status_code == 200 and out.headers["Content-Type"] == "video/mp4"
    path = tmp_path / "generated.mp4"
    path.write_bytes(out.content)

    with open(path, "rb") as fh:
        v = ledger_daemon.post("/v1/verify?wait=1", files={"file": ("g.mp4", fh)})
    assert v.status_code == 200, v.text
    report = v.json()["result"]
    assert report["verdict"] == "registered"
    assert report["record"]["watermark_id"] == receipt["watermark_id"]
    assert report["c2pa"]["trusted"] is True and report["c2pa"]["valid"] is True

    with open(path, "rb") as fh:
        a = ledger_daemon.post("/v1/analyze?wait=1", files={"file": ("g.mp4", fh)})
    assert a.status_code == 200, a.text
    assert a.json()["result"]["provenance"]["verdict"] == "registered"


def test_generate_refused_without_consent_for_the_mode(ledger_daemon, inputs):
    gen_dir = ledger_daemon.settings.data_dir / "generated"
    before = set(gen_dir.iterdir()) if gen_dir.exists() else set()
    r = _generate(ledger_daemon, inputs, "swap")
    assert r.status_code == 403, r.text
    assert r.json()["error"]["code"] == "consent_mode"
    after = set(gen_dir.iterdir()) if gen_dir.exists() else set()
    assert after == before


def test_generate_bad_requests(ledger_daemon, inputs):
    r = ledger_daemon.post("/v1/generate", data={"mode": "morph"}, files={"consent": b"{}"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "bad_request"
    r = ledger_daemon.post("/v1/generate", json={"mode": "swap"})
    assert r.status_code == 400
