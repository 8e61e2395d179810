"""The daemon over real HTTP: results on real faces, every error code, and that it keeps serving."""

from __future__ import annotations

import base64
import threading

import cv2
import pytest
import requests

from tests.daemon.conftest import EXT_ORIGIN, DaemonThread, free_port
from tests.daemon.media_files import make_all
from tests.mediautil import iou
from deepsentry.settings import load_settings


@pytest.fixture(scope="session")
def media(tmp_path_factory):
    return make_all(tmp_path_factory.mktemp("media"))


def upload(daemon, path, wait=True, **params):
    q = "?wait=1" if wait else ""
    with open(path, "rb") as fh:
        return daemon.post(f"/v1/analyze{q}", files={"file": (path.name, fh)}, data=params)


def box_xywh(b):
    return b["x"], b["y"], b["w"], b["h"]


def err(resp):
    body = resp.json()
    assert set(body) == {"error"}, body
    assert isinstance(body["error"]["code"], str) and isinstance(body["error"]["message"], str)
    return body["error"]["code"]


# ------------------------------------------------------------------------------------------ results

def test_image_face_box_lands_on_the_face(daemon, media):
    r = upload(daemon, media["image"])
    assert r.status_code == 200, r.text
    job = r.json()
    assert job["status"] == "done"
    res = job["result"]
    assert res["media"]["kind"] == "image" and res["media"]["width"] == 640
    assert len(res["faces"]) == 1
    assert iou(box_xywh(res["faces"][0]["boxes"][0]), media["image_box"]) >= 0.5
    assert res["verdict"]["label"] in ("fake", "real", "uncertain")
    if res["model_status"] == "no_weights":
        assert res["faces"][0]["fake_prob"] is None and res["verdict"]["reason"] == "no_weights"
    else:
        assert 0.0 <= res["faces"][0]["fake_prob"] <= 1.0


def test_video_one_face_one_track_following_the_face(daemon, media):
    res = upload(daemon, media["clip"]).json()["result"]
    assert res["media"]["kind"] == "video" and res["media"]["duration"] == pytest.approx(2.0, abs=0.15)
    assert len(res["faces"]) == 1
    boxes = res["faces"][0]["boxes"]
    assert len(boxes) >= 3
    fps = 15
    for b in boxes:
        truth = media["clip_truth"][min(len(media["clip_truth"]) - 1, round(b["t"] * fps))][0]
        assert iou(box_xywh(b), truth) >= 0.5, (b, truth)
    assert [b["t"] for b in boxes] == sorted(b["t"] for b in boxes)


def test_two_faces_give_two_tracks(daemon, media):
    res = upload(daemon, media["two"]).json()["result"]
    assert len(res["faces"]) == 2
    xs = sorted(f["boxes"][0]["x"] for f in res["faces"])
    assert xs[1] - xs[0] > 200          # one on the left, one on the right
    for f in res["faces"]:
        assert len(f["boxes"]) >= 3


def test_no_face_clip_says_no_faces(daemon, media):
    res = upload(daemon, media["noface"]).json()["result"]
    assert res["faces"] == []
    assert res["verdict"]["label"] == "no_faces"


def test_frames_from_extension(daemon, media):
    img = cv2.imread(str(media["image"]))
    ok, jpg = cv2.imencode(".jpg", img)
    frames = [{"t": t, "jpeg": base64.b64encode(jpg.tobytes()).decode()} for t in (0.0, 0.5, 1.0)]
    r = daemon.post("/v1/analyze?wait=1", json={"frames": frames, "page_url": "https://example.org/v"})
    assert r.status_code == 200, r.text
    res = r.json()["result"]
    assert res["media"]["kind"] == "frames" and res["media"]["width"] == 640
    assert len(res["faces"]) == 1 and len(res["faces"][0]["boxes"]) == 3
    assert iou(box_xywh(res["faces"][0]["boxes"][0]), media["image_box"]) >= 0.5


def test_async_job_status_and_events(daemon, media):
    r = upload(daemon, media["clip"], wait=False, nocache="1")
    assert r.status_code == 202, r.text
    job_id = r.json()["job_id"]
    with requests.get(daemon.url + f"/v1/jobs/{job_id}/events", headers=daemon.headers(), stream=True,
                      timeout=120) as ev:
        assert ev.headers["Content-Type"].startswith("text/event-stream")
        events = []
        for line in ev.iter_lines(decode_unicode=True):
            if line.startswith("event:"):
                events.append(line.split(":", 1)[1].strip())
    assert events[-1] == "done"
    job = daemon.get(f"/v1/jobs/{job_id}").json()
    assert job["status"] == "done" and job["progress"] == 1.0 and len(job["result"]["faces"]) == 1


def test_results_are_cached_by_hash_and_url(daemon, media, site):
    first = upload(daemon, media["image"]).json()
    again = upload(daemon, media["image"]).json()
    assert again["stage"] == "cached" and again["result"] == first["result"]
    (site["dir"] / "face.jpg").write_bytes(media["image"].read_bytes())
    url = site["url"] + "/face.jpg"
    r1 = daemon.post("/v1/analyze?wait=1", json={"url": url})
    assert r1.status_code == 200, r1.text
    assert r1.json()["result"]["media"]["sha256"] == first["result"]["media"]["sha256"]
    r2 = daemon.post("/v1/analyze?wait=1", json={"url": url})
    assert r2.json()["stage"] == "cached"


def test_verdict_alone_without_provenance_is_cached_apart(daemon, media, tmp_path):
    image = tmp_path / "own.jpg"                          # content no other test has had analysed
    cv2.imwrite(str(image), cv2.imread(str(media["image"])), [cv2.IMWRITE_JPEG_QUALITY, 83])
    quick = upload(daemon, image, provenance="false").json()
    assert quick["result"]["provenance"] is None and len(quick["result"]["faces"]) == 1
    full = upload(daemon, image).json()
    assert full["stage"] != "cached"                      # the verdict alone does not stand in for it
    assert full["result"]["provenance"]["verdict"] == "unknown"
    assert full["result"]["verdict"] == quick["result"]["verdict"]
    again = daemon.post("/v1/analyze?wait=1&provenance=0", json={"url": "http://127.0.0.1:9/x.jpg",
                                                                  "provenance": "no"})
    assert again.status_code == 400 and err(again) == "bad_request"


def test_page_url_with_video_tag_is_fetched(daemon, media, site):
    (site["dir"] / "clip.mp4").write_bytes(media["clip"].read_bytes())
    (site["dir"] / "page.html").write_text('<html><body><h1>clip</h1><video src="/clip.mp4" controls></video></body></html>')
    r = daemon.post("/v1/analyze?wait=1", json={"url": site["url"] + "/page.html"})
    assert r.status_code == 200, r.text
    res = r.json()["result"]
    assert res["media"]["kind"] == "video" and len(res["faces"]) == 1
    assert res["media"]["source_url"] == site["url"] + "/page.html"


# ------------------------------------------------------------------------------------------ auth and origin

def test_health_needs_no_token(daemon):
    r = requests.get(daemon.url + "/v1/health", timeout=10)
    assert r.status_code == 200 and r.json() == {"status": "ok"}


def test_info(daemon):
    info = daemon.get("/v1/info").json()
    assert info["version"] and info["device"] in ("cpu", "cuda") or info["device"].startswith("cuda")
    assert info["model_status"] in ("ready", "no_weights")
    assert info["limits"]["max_bytes"] == 8 * 1024 * 1024


@pytest.mark.parametrize("headers,code", [
    ({}, "missing_token"),
    ({"Authorization": "Bearer " + "0" * 64}, "bad_token"),
    ({"Authorization": "Basic abc"}, "bad_token"),
])
def test_token_required(daemon, headers, code):
    r = requests.get(daemon.url + "/v1/info", headers=headers, timeout=10)
    assert r.status_code == 401 and err(r) == code


def test_foreign_origin_refused_even_with_token(daemon):
    r = daemon.get("/v1/info", headers=daemon.headers(Origin="https://evil.example"))
    assert r.status_code == 403 and err(r) == "bad_origin"
    assert "Access-Control-Allow-Origin" not in r.headers
    pre = requests.options(daemon.url + "/v1/analyze", headers={"Origin": "https://evil.example",
                                                                 "Access-Control-Request-Method": "POST"}, timeout=10)
    assert pre.status_code == 403


def test_extension_origin_gets_cors(daemon):
    r = daemon.get("/v1/info", headers=daemon.headers(Origin=EXT_ORIGIN))
    assert r.status_code == 200 and r.headers["Access-Control-Allow-Origin"] == EXT_ORIGIN
    pre = requests.options(daemon.url + "/v1/analyze", headers={"Origin": EXT_ORIGIN,
                                                                 "Access-Control-Request-Method": "POST"}, timeout=10)
    assert pre.status_code == 204
    assert pre.headers["Access-Control-Allow-Origin"] == EXT_ORIGIN
    assert "Authorization" in pre.headers["Access-Control-Allow-Headers"]
    # errors carry CORS too, so the extension can read "wrong token"
    bad = requests.get(daemon.url + "/v1/info", headers={"Origin": EXT_ORIGIN}, timeout=10)
    assert bad.status_code == 401 and bad.headers["Access-Control-Allow-Origin"] == EXT_ORIGIN


def test_foreign_host_header_refused(daemon):
    for host in ("evil.example", f"evil.example:{daemon.port}", f"127.0.0.1:{daemon.port + 1}"):
        r = daemon.get("/v1/info", headers=daemon.headers(Host=host))
        assert r.status_code == 403 and err(r) == "bad_host"
    ok = daemon.get("/v1/info", headers=daemon.headers(Host=f"localhost:{daemon.port}"))
    assert ok.status_code == 200


def test_pairing_code_exchange_and_rate_limit(daemon):
    from deepsentry.daemon.auth import pairing_code

    code = pairing_code(daemon.token)
    no_origin = requests.post(daemon.url + "/v1/pair", json={"code": code}, timeout=10)
    assert no_origin.status_code == 403
    ok = requests.post(daemon.url + "/v1/pair", json={"code": code.lower().replace("-", "")},
                       headers={"Origin": EXT_ORIGIN}, timeout=10)
    assert ok.status_code == 200 and ok.json() == {"token": daemon.token}
    codes = []
    for _ in range(7):
        r = requests.post(daemon.url + "/v1/pair", json={"code": "AAAA-AAAA"}, headers={"Origin": EXT_ORIGIN}, timeout=10)
        codes.append(r.status_code)
    assert codes[:5] == [401] * 5 and codes[5:] == [429, 429]
    # even the right code is refused while locked out
    assert requests.post(daemon.url + "/v1/pair", json={"code": code}, headers={"Origin": EXT_ORIGIN},
                         timeout=10).status_code == 429


# ------------------------------------------------------------------------------------------ bad input

def test_malformed_json(daemon):
    r = daemon.post("/v1/analyze", data=b"{not json", headers=daemon.headers(**{"Content-Type": "application/json"}))
    assert r.status_code == 400 and err(r) == "bad_json"
    r = daemon.post("/v1/analyze", json=[1, 2])
    assert r.status_code == 400 and err(r) == "bad_json"
    r = daemon.post("/v1/analyze", json={"something": 1})
    assert r.status_code == 400


def test_unsupported_content_type(daemon):
    r = daemon.post("/v1/analyze", data=b"abc", headers=daemon.headers(**{"Content-Type": "text/plain"}))
    assert r.status_code == 415


@pytest.mark.parametrize("name,status", [("random", 415), ("empty", 415), ("truncated", 422), ("bomb", 413)])
def test_bad_files(daemon, media, name, status):
    r = upload(daemon, media[name])
    assert r.status_code == status, r.text
    err(r)


def test_oversized_upload(daemon):
    blob = b"\0" * (9 * 1024 * 1024)
    r = daemon.post("/v1/analyze?wait=1", files={"file": ("big.mp4", blob)})
    assert r.status_code == 413 and err(r) == "too_large"


def test_bad_frames(daemon):
    assert daemon.post("/v1/analyze", json={"frames": []}).status_code == 400
    assert daemon.post("/v1/analyze", json={"frames": [{"t": 0, "jpeg": "%%%"}]}).status_code == 400
    assert daemon.post("/v1/analyze", json={"frames": [{"t": -1, "jpeg": "AAAA"}]}).status_code == 400
    many = [{"t": i, "jpeg": "AAAA"} for i in range(200)]
    assert daemon.post("/v1/analyze", json={"frames": many}).status_code == 413
    notjpeg = base64.b64encode(b"hello world, not an image").decode()
    r = daemon.post("/v1/analyze?wait=1", json={"frames": [{"t": 0, "jpeg": notjpeg}]})
    assert r.status_code == 415, r.text


def test_unknown_job(daemon):
    r = daemon.get("/v1/jobs/doesnotexist")
    assert r.status_code == 404 and err(r) == "unknown_job"
    r = daemon.get("/v1/nothing-here")
    assert r.status_code == 404 and err(r) == "not_found"


@pytest.mark.parametrize("url", [
    "http://127.0.0.1/x.mp4", "http://[::1]/x.mp4", "http://169.254.169.254/latest/meta-data",
    "http://localhost:9/x.mp4", "http://10.1.2.3/x.mp4", "http://[::ffff:127.0.0.1]/x.mp4",
    "file:///etc/passwd", "ftp://example.org/x.mp4", "http://0.0.0.0:80/",
])
def test_ssrf_urls_refused(daemon, url):
    r = daemon.post("/v1/analyze?wait=1", json={"url": url})
    assert r.status_code == 400, r.text
    assert err(r) == "url_refused"


def test_redirect_to_loopback_refused(daemon, site, media):
    (site["dir"] / "ok.jpg").write_bytes(media["image"].read_bytes())
    other = free_port()
    site["redirects"]["/jump.jpg"] = f"http://127.0.0.1:{other}/ok.jpg"
    site["redirects"]["/meta.jpg"] = "http://169.254.169.254/latest/meta-data"
    for path in ("/jump.jpg", "/meta.jpg"):
        r = daemon.post("/v1/analyze?wait=1", json={"url": site["url"] + path, "nocache": True})
        assert r.status_code == 400, r.text
        assert err(r) == "url_refused"


def test_unreachable_url_is_502(analyzer, site):
    port = free_port()       # nothing listens here
    settings = load_settings(ledger_enabled=False, url_allowlist=(f"127.0.0.1:{port}",))
    d = DaemonThread(settings, analyzer).start()
    try:
        r = d.post("/v1/analyze?wait=1", json={"url": f"http://127.0.0.1:{port}/x.mp4"})
        assert r.status_code == 502 and err(r) == "fetch_failed"
        assert d.healthy()
    finally:
        d.stop()


def test_queue_full_answers_429_with_retry_after(analyzer, media, tmp_path):
    settings = load_settings(ledger_enabled=False, workers=1, queue_size=1)
    d = DaemonThread(settings, analyzer).start()
    try:
        data = media["two"].read_bytes()
        statuses: list[int] = []
        retry: list[str] = []

        def send(i):
            r = d.post("/v1/analyze", files={"file": (f"c{i}.mp4", data)}, data={"nocache": "1"})
            statuses.append(r.status_code)
            if r.status_code == 429:
                retry.append(r.headers.get("Retry-After"))
                assert err(r) == "busy"

        threads = [threading.Thread(target=send, args=(i,)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert 429 in statuses and 202 in statuses
        assert all(s in (202, 429) for s in statuses)
        assert all(r and int(r) >= 1 for r in retry)
        assert d.healthy()
    finally:
        d.stop()


def test_openapi_describes_every_route(daemon):
    spec = daemon.get("/v1/openapi.json").json()
    described = {(m.upper(), p) for p, ops in spec["paths"].items() for m in ops}
    registered = set()
    for route in daemon.app.router.routes():
        if route.method in ("HEAD", "OPTIONS"):
            continue
        registered.add((route.method, route.resource.canonical))
    assert registered == described


def test_token_file_is_private(daemon):
    import stat

    mode = stat.S_IMODE(daemon.settings.token_path.stat().st_mode)
    assert mode == 0o600
    assert len(daemon.settings.token_path.read_text().strip()) == 64


def test_firefox_extension_origins_accepted_with_token(daemon):
    ff = "moz-extension://0b7a3c3e-6f1e-4a59-9d59-3c1b2f7d0e11"
    r = daemon.get("/v1/info", headers=daemon.headers(Origin=ff))
    assert r.status_code == 200 and r.headers["Access-Control-Allow-Origin"] == ff
    assert requests.get(daemon.url + "/v1/info", headers={"Origin": ff}, timeout=10).status_code == 401
    for bad in ("moz-extension://", "moz-extension:/x", "chrome-extension://someoneelse"):
        assert daemon.get("/v1/info", headers=daemon.headers(Origin=bad)).status_code == 403
