"""``deepsentry scan``: the same 12 items locally and on a local Ray instance, resume after a kill, inputs."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import pytest

from deepsentry.scan import ScanOptions, expand_inputs, run_scan
from deepsentry.scan.report import summary_text
from tests.mediautil import astronaut_face_on, face_clip, no_face_clip, scene

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def twelve(tmp_path_factory):
    """12 items: 4 face images, 3 clips (one face, two faces, none), a no-face image, 3 broken files and a
    refused (loopback) URL; the URL and one image come through a list file, the rest from a folder (one
    clip is named by both)."""
    d = tmp_path_factory.mktemp("scan")
    media = d / "media"
    (media / "sub").mkdir(parents=True)
    for i, (x, s) in enumerate(((120, 0.65), (40, 0.5), (300, 0.6))):
        canvas = scene(640, 360, seed=10 + i)
        astronaut_face_on(canvas, x, 10, s)
        target = media / ("sub" if i % 2 else "") / f"face{i}.{'png' if i == 2 else 'jpg'}"
        cv2.imwrite(str(target), canvas[:, :, ::-1])
    cv2.imwrite(str(media / "noface.jpg"), scene(480, 320, seed=3)[:, :, ::-1])
    face_clip(media / "one.mp4", seconds=1.5, fps=10, size=(480, 270), faces=1)
    face_clip(media / "sub" / "two.mp4", seconds=1.5, fps=10, size=(720, 270), faces=2)
    no_face_clip(media / "none.mp4", seconds=1.0, fps=10, size=(320, 180))
    data = (media / "one.mp4").read_bytes()
    (media / "truncated.mp4").write_bytes(data[: len(data) // 3])
    (media / "empty.jpg").write_bytes(b"")
    (media / "sub" / "garbage.png").write_bytes(os.urandom(4000))
    (media / "README.txt").write_text("not media: a folder's non-media files are not items")
    extra = d / "extra.jpg"
    canvas = scene(640, 360, seed=30)
    astronaut_face_on(canvas, 250, 20, 0.6)
    cv2.imwrite(str(extra), canvas[:, :, ::-1])
    listing = d / "list.txt"
    listing.write_text(f"# a list file\n{extra.name}\nhttp://127.0.0.1:9/clip.mp4\n{media / 'one.mp4'}\n")
    return {"inputs": [str(media), str(listing)], "dir": d}


def _by_item(records):
    return {r["item"]: r for r in records}


def _essence(r):
    return (r["status"], r.get("verdict"), r.get("fake_prob"), r.get("faces"), (r.get("error") or {}).get("code"))


def test_local_and_ray_give_the_same_records(twelve, tmp_path):
    items = expand_inputs(twelve["inputs"])
    assert len(items) == 12                               # one.mp4 is named twice, README.txt is not media
    local = run_scan(items, ScanOptions(out=tmp_path / "local.jsonl", workers=2, progress=False,
                                        report_dir=tmp_path / "report"))
    assert local.scanned == 12 and len(local.records) == 12
    recs = _by_item(local.records)
    errors = {Path(k).name: r["error"]["code"] for k, r in recs.items() if r["status"] == "error"}
    assert errors == {"truncated.mp4": errors["truncated.mp4"], "empty.jpg": errors["empty.jpg"],
                      "garbage.png": errors["garbage.png"], "clip.mp4": "url_refused"}
    assert all(code in ("corrupt_media", "unsupported_media", "empty_file", "decode_error")
               for name, code in errors.items() if name != "clip.mp4"), errors
    ok = {Path(k).name: r for k, r in recs.items() if r["status"] == "ok"}
    assert ok["noface.jpg"]["verdict"] == "no_faces" and ok["none.mp4"]["verdict"] == "no_faces"
    assert ok["two.mp4"]["faces"] == 2 and ok["one.mp4"]["faces"] == 1
    for name in ("face0.jpg", "face1.jpg", "face2.png", "extra.jpg"):
        assert ok[name]["faces"] == 1 and ok[name]["verdict"] in ("real", "fake", "uncertain")
        assert ok[name]["result"]["provenance"]["verdict"] == "unknown"
    # every line of the results file is one of those records
    lines = [json.loads(x) for x in (tmp_path / "local.jsonl").read_text().splitlines()]
    assert sorted(r["item"] for r in lines) == sorted(recs)
    page = (tmp_path / "report" / "index.html").read_text()
    assert page.count("<tr>") == 13 and "<svg" in page and "data:image/jpeg;base64," in page
    text = summary_text(local)
    assert "12 item(s) scanned" in text and "url_refused 1" in text

    ray = pytest.importorskip("ray")
    on_ray = run_scan(items, ScanOptions(out=tmp_path / "ray.csv", workers=2, ray_address="local",
                                         progress=False))
    assert not ray.is_initialized()                       # the run's own instance is shut down
    assert on_ray.executor.startswith("2 Ray actor")
    assert {k: _essence(r) for k, r in _by_item(local.records).items()} == \
        {k: _essence(r) for k, r in _by_item(on_ray.records).items()}


def _small_faces(folder: Path, n: int, name: str, *, seed: int, x0: int, dx: int) -> Path:
    """``n`` 320x200 JPEGs, each a small astronaut face on its own scene, named ``name.format(i)``."""
    folder.mkdir()
    for i in range(n):
        canvas = scene(320, 200, seed=seed + i)
        astronaut_face_on(canvas, x0 + dx * i, 5, 0.35)
        cv2.imwrite(str(folder / name.format(i)), canvas[:, :, ::-1])
    return folder


def _scan_cmd(inputs, out, *extra):
    return [sys.executable, "-m", "deepsentry", "scan", *inputs, "--out", str(out), "--no-progress",
            "--no-provenance", *extra]


def test_resume_after_a_kill_scans_every_item_exactly_once(tmp_path):
    folder = _small_faces(tmp_path / "many", 10, "img{:02d}.jpg", seed=50, x0=10, dx=12)
    out = tmp_path / "results.jsonl"
    env = {**os.environ, "DEEPSENTRY_HOME": str(tmp_path / "home")}
    proc = subprocess.Popen(_scan_cmd([str(folder)], out), cwd=ROOT, env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and (not out.exists() or out.read_text().count("\n") < 3):
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(30)
    first = [json.loads(x) for x in out.read_text().splitlines() if x.strip().endswith("}")]
    assert 3 <= len(first) < 10
    with open(out, "a") as f:
        f.write('{"item": "half a line from a killed writ')    # what a kill mid-write leaves
    again = subprocess.run(_scan_cmd([str(folder)], out, "--resume", "--json"), cwd=ROOT, env=env,
                           capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-2000:]
    summary = json.loads(again.stdout)
    assert summary["skipped"] == len(first) and summary["scanned"] == 10 - len(first)
    items = [json.loads(x)["item"] for x in out.read_text().splitlines()]
    assert sorted(items) == sorted(str(p) for p in folder.iterdir())
    refused = subprocess.run(_scan_cmd([str(folder)], out, "--json"), cwd=ROOT, env=env, capture_output=True,
                             text=True, timeout=120)
    assert refused.returncode == 1 and json.loads(refused.stdout)["error"]["code"] == "results_exist"


def test_inputs_folders_lists_stdin_and_repeats(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    for name in ("a/x.jpg", "a/b/y.mp4", "a/b/notes.md", "z.png"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "urls.csv").write_text("url,label\nhttps://example.org/v.mp4,suspect\nz.png,local\n")
    stdin = io.StringIO(f"{tmp_path / 'a' / 'x.jpg'}\nhttps://example.org/other\n\n")
    items = expand_inputs([str(tmp_path / "a"), str(tmp_path / "urls.csv"), "-", str(tmp_path / "z.png")],
                          stdin=stdin)
    assert [(i.kind, Path(i.ref).name if i.kind == "file" else i.ref) for i in items] == [
        ("file", "y.mp4"), ("file", "x.jpg"), ("url", "https://example.org/v.mp4"), ("file", "z.png"),
        ("url", "https://example.org/other")]
    from deepsentry.errors import BadRequest

    with pytest.raises(BadRequest) as exc:
        (tmp_path / "empty").mkdir()
        expand_inputs([str(tmp_path / "empty")])
    assert exc.value.code == "no_items"


def test_parquet_results_are_rewritten_whole_and_resume_from_their_journal(tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    folder = _small_faces(tmp_path / "imgs", 3, "p{}.jpg", seed=70, x0=20, dx=40)
    out = tmp_path / "results.parquet"
    first = expand_inputs([str(folder / "p0.jpg"), str(folder / "p1.jpg")])
    run_scan(first, ScanOptions(out=out, provenance=False, progress=False))
    table = pq.read_table(out).to_pylist()
    assert sorted(Path(r["item"]).name for r in table) == ["p0.jpg", "p1.jpg"]
    assert all(r["status"] == "ok" and json.loads(r["result_json"])["media"]["kind"] == "image" for r in table)
    again = run_scan(expand_inputs([str(folder)]), ScanOptions(out=out, provenance=False, progress=False,
                                                               resume=True))
    assert again.skipped == 2 and again.scanned == 1
    assert sorted(Path(r["item"]).name for r in pq.read_table(out).to_pylist()) == ["p0.jpg", "p1.jpg", "p2.jpg"]
