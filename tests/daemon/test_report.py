"""Shareable reports: ``POST /v1/report`` on a real daemon and ``deepsentry report`` on the command line,
made from real analyses (explain on: frames and heatmaps included)."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys

import pytest

from tests.daemon.media_files import make_all
from tests.mediautil import astronaut_face_on, scene


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return make_all(tmp_path_factory.mktemp("reportmedia"))

@pytest.fixture(scope="module")
def clip_result(daemon, files):
    r = daemon.post("/v1/analyze?wait=1&explain=1&provenance=false",
                    files={"file": ("one.mp4", files["clip"].read_bytes())})
    assert r.status_code == 200, r.text
    return r.json()["result"]


def test_explain_adds_every_sampled_frame_and_a_heatmap_per_face(clip_result):
    media = clip_result["media"]
    thumbs = clip_result["thumbnails"]
    assert len(thumbs) == media["frames_sampled"] >= 2
    assert [t["t"] for t in thumbs] == sorted(t["t"] for t in thumbs)
    assert max(thumbs[0]["width"], thumbs[0]["height"]) <= 320
    assert base64.b64decode(thumbs[0]["jpeg"])[:2] == b"\xff\xd8"
    face = clip_result["faces"][0]
    assert base64.b64decode(face["heatmap"]["png"])[:4] == b"\x89PNG"
    # the boxes are on the sampled frames the thumbnails show
    assert {round(b["t"], 4) for b in face["boxes"]} <= {t["t"] for t in thumbs}


def test_html_report_holds_verdict_hash_frames_heatmap_and_timeline(daemon, clip_result):
    r = daemon.post("/v1/report?format=html", json={"result": clip_result, "media_url": "https://example.org/v.mp4",
                                                     "analysed_at": "2026-12-02T07:00:00Z"})
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("text/html")
    assert "attachment" in r.headers["Content-Disposition"]
    assert "default-src 'none'" in r.headers["Content-Security-Policy"]
    page = r.text
    sha = clip_result["media"]["sha256"]
    assert sha in page and "2026-12-02T07:00:00Z" in page and "https://example.org/v.mp4" in page
    word = {"fake": "LIKELY FAKE", "real": "LIKELY REAL", "uncertain": "UNCERTAIN"}[clip_result["verdict"]["label"]]
    assert re.search(rf"id=verdict>{word}<", page)
    assert page.count("data:image/jpeg;base64,") == len(clip_result["thumbnails"])
    assert page.count('alt="heatmap of face') == len(clip_result["faces"])
    assert re.search(r"threshold \d+%|threshold [<>]", page) and "uncertain band" in page
    assert "time in the video (s)" in page and "fake score" in page
    assert "<script" not in page.lower()


def test_pdf_report_is_a_pdf_with_the_verdict_and_hash(daemon, clip_result):
    r = daemon.post("/v1/report?format=pdf", json={"result": clip_result})
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"] == "application/pdf"
    pdf = r.content
    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
    assert clip_result["media"]["sha256"].encode() in pdf
    assert b"deepsentry report: " in pdf
    assert pdf.count(b"/Subtype /Image") >= len(clip_result["thumbnails"])


def test_report_escapes_what_the_client_sent_and_refuses_bad_bodies(daemon, clip_result):
    hostile = dict(clip_result, media={**clip_result["media"], "source_url": None})
    r = daemon.post("/v1/report", json={"result": hostile, "page_url": '"><script>alert(1)</script>',
                                        "media_url": "javascript:alert(1)<img src=x onerror=alert(2)>"})
    assert r.status_code == 200
    assert "<script>alert" not in r.text and "<img src=x" not in r.text
    assert "&lt;script&gt;" in r.text
    for body in ({}, {"result": []}, {"result": {"media": {}}}, {"result": {**clip_result, "media": {"kind": "video"}}}):
        bad = daemon.post("/v1/report", json=body)
        assert bad.status_code == 400 and set(bad.json()["error"]) == {"code", "message"}
    assert daemon.post("/v1/report?format=docx", json={"result": clip_result}).status_code == 400


def test_small_faces_are_named_instead_of_a_bare_no_face(daemon, tmp_path):
    canvas = scene(1280, 720, seed=3)
    astronaut_face_on(canvas, 600, 300, 0.3)      # a 27x36 px face: below the 40 px the detector judges
    import cv2

    path = tmp_path / "small.jpg"
    cv2.imwrite(str(path), canvas[:, :, ::-1])
    r = daemon.post("/v1/analyze?wait=1&provenance=false", files={"file": ("small.jpg", path.read_bytes())})
    v = r.json()["result"]["verdict"]
    assert v["label"] == "no_faces" and v["reason"] == "faces_too_small"
    assert 16 <= v["largest_small_face_px"] < v["min_face_px"] == 40


def test_report_cli_writes_html_and_pdf_from_a_file_and_from_saved_json(files, tmp_path):
    env_cmd = [sys.executable, "-m", "deepsentry.cli"]
    out, pdf = tmp_path / "r.html", tmp_path / "r.pdf"
    r = subprocess.run([*env_cmd, "report", str(files["image"]), "--out", str(out), "--pdf", str(pdf),
                        "--no-provenance"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "report written to" in r.stdout
    page = out.read_text()
    sha = __import__("hashlib").sha256(files["image"].read_bytes()).hexdigest()
    assert sha in page and pdf.read_bytes().startswith(b"%PDF-") and sha.encode() in pdf.read_bytes()
    saved = tmp_path / "saved.json"
    j = subprocess.run([*env_cmd, "check", str(files["image"]), "--json", "--explain", "--no-provenance"],
                       capture_output=True, text=True, timeout=300)
    saved.write_text(j.stdout)
    again = tmp_path / "again.html"
    r2 = subprocess.run([*env_cmd, "report", str(saved), "--out", str(again)], capture_output=True, text=True,
                        timeout=120)
    assert r2.returncode == 0, r2.stderr
    assert sha in again.read_text() and json.loads(j.stdout)["media"]["sha256"] == sha


def test_black_and_white_media_are_flagged_and_the_report_cautions(daemon, files, tmp_path):
    import cv2

    colour = cv2.imread(str(files["image"]))
    grey = cv2.cvtColor(cv2.cvtColor(colour, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
    path = tmp_path / "grey.jpg"
    cv2.imwrite(str(path), grey)
    got = {}
    for name, p in (("colour", files["image"]), ("grey", path)):
        r = daemon.post("/v1/analyze?wait=1&provenance=false", files={"file": (p.name, p.read_bytes())})
        got[name] = r.json()["result"]
    assert got["colour"]["media"]["greyscale"] is False and got["grey"]["media"]["greyscale"] is True
    assert got["grey"]["verdict"]["fake_prob"] is not None      # the shipped weights score it
    page = daemon.post("/v1/report", json={"result": got["grey"]}).text
    assert "Caution:</strong> This picture is black-and-white" in page
    assert "Caution" not in daemon.post("/v1/report", json={"result": got["colour"]}).text
