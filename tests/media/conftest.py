"""Fixtures for the media tests: real files encoded at test time and a local HTTP server.

All media are small (320x180, 3 s) so the whole area stays fast on a shared 2-core machine. The HTTP
server listens on an ephemeral 127.0.0.1 port; tests that should reach it allow-list exactly
``127.0.0.1:<port>``.
"""

from __future__ import annotations

import http.server
import socket
import subprocess
import threading
import time
import urllib.parse
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from tests.mediautil import astronaut, face_clip

from media_testlib import FPS, SECONDS, SIZE, encode, moving_frames


@pytest.fixture(scope="session")
def media(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("media")
    out: dict[str, Path] = {}
    frames = moving_frames()
    out["mp4"], _ = face_clip(d / "clip.mp4", seconds=SECONDS, fps=FPS, size=SIZE)
    out["mov"] = encode(d / "clip.mov", frames, options={"preset": "ultrafast"})
    out["mkv"] = encode(d / "clip.mkv", frames, options={"preset": "ultrafast"})
    out["webm"] = encode(d / "clip.webm", frames, codec="libvpx-vp9",
                         options={"deadline": "realtime", "cpu-used": "8", "b": "300k"})
    out["webm_vp8"] = encode(d / "clip8.webm", frames[:25], codec="libvpx",
                             options={"deadline": "realtime", "cpu-used": "8", "b": "300k"})
    # 4 s with a keyframe every 10 frames (0.4 s GOPs): sparse sampling can skip whole GOPs.
    out["mp4_gop10"] = encode(d / "gop10.mp4", moving_frames(4 * FPS),
                              options={"preset": "ultrafast", "x264-params": "keyint=10:min-keyint=10:scenecut=0"})
    # The same H.264 stream with the index (moov) first, as web servers deliver it.
    out["mp4_faststart"] = d / "faststart.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(out["mp4"]), "-c", "copy", "-movflags", "+faststart",
                    str(out["mp4_faststart"])], check=True, timeout=60)

    img = astronaut()
    for fmt, kw in (("jpeg", {"quality": 92}), ("png", {}), ("webp", {"quality": 90}), ("bmp", {})):
        p = d / f"astronaut.{fmt}"
        Image.fromarray(img).save(p, format=fmt.upper(), **kw)
        out[fmt] = p
    second = np.ascontiguousarray(img[::-1])          # a different second frame
    gif = d / "anim.gif"
    Image.fromarray(img).save(gif, save_all=True, append_images=[Image.fromarray(second)], duration=100, loop=0)
    out["gif"] = gif

    # A real two-frame H.264 file whose timestamps (and so its header duration) span 10 hours.
    long = d / "ten_hours.mp4"
    with av.open(str(long), "w") as c:
        s = c.add_stream("libx264", rate=1)
        s.width, s.height, s.pix_fmt = 64, 64, "yuv420p"
        for i, pts in enumerate((0, 36_000)):
            f = av.VideoFrame.from_ndarray(np.full((64, 64, 3), 60 * i, np.uint8), format="rgb24")
            f.pts, f.time_base = pts, Fraction(1, 1)
            for pk in s.encode(f):
                c.mux(pk)
        for pk in s.encode():
            c.mux(pk)
    out["ten_hours"] = long

    audio = d / "audio_only.mp4"
    with av.open(str(audio), "w") as c:
        s = c.add_stream("aac", rate=16000)
        for i in range(8):
            fr = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            fr.sample_rate, fr.pts = 16000, i * 1024
            for pk in s.encode(fr):
                c.mux(pk)
        for pk in s.encode():
            c.mux(pk)
    out["audio_only"] = audio
    return out


# --------------------------------------------------------------------------------------- HTTP server

@dataclass
class Server:
    port: int
    closed_port: int
    files: dict[str, tuple[bytes, str]]

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def allow(self) -> list[str]:
        return [f"127.0.0.1:{self.port}"]


def _make_handler(files: dict[str, tuple[bytes, str]], stop: threading.Event):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def log_message(self, *args):
            pass

        def _send(self, status: int, body: bytes = b"", ctype: str | None = None, headers=(), length=True):
            self.send_response(status)
            if ctype:
                self.send_header("Content-Type", ctype)
            for k, v in headers:
                self.send_header(k, v)
            if length:
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if body and self.command != "HEAD":
                self.wfile.write(body)

        def do_HEAD(self):
            self.do_GET()

        def do_GET(self):
            url = urllib.parse.urlsplit(self.path)
            q = dict(urllib.parse.parse_qsl(url.query))
            path = url.path
            if path in files:
                body, ctype = files[path]
                return self._send(200, body, ctype)
            if path == "/redirect":                      # /redirect?to=<url>&code=302
                return self._send(int(q.get("code", 302)), headers=[("Location", q["to"])])
            if path == "/loop":
                return self._send(302, headers=[("Location", "/loop")])
            if path == "/chain":                         # /chain?n=3 -> 3 more hops, then the clip
                n = int(q.get("n", 0))
                return self._send(302, headers=[("Location", f"/chain?n={n - 1}" if n > 0 else "/clip.mp4")])
            if path == "/nolength.mp4":                  # body ends when the connection closes
                body, ctype = files["/clip.mp4"]
                return self._send(200, body, ctype, length=False)
            if path == "/slow.mp4":                      # headers at once, then a byte every 0.2 s
                self._send(200, ctype="video/mp4", headers=[("Content-Length", "1000000")], length=False)
                for _ in range(150):
                    if stop.is_set():
                        break
                    try:
                        self.wfile.write(b"\x00")
                        self.wfile.flush()
                    except OSError:
                        break
                    time.sleep(0.2)
                return None
            return self._send(404, b"not here", "text/plain")

    return Handler


@pytest.fixture(scope="session")
def server(media) -> Server:
    clip = media["mp4"].read_bytes()
    files: dict[str, tuple[bytes, str]] = {
        "/clip.mp4": (clip, "video/mp4"),
        "/face.jpg": (media["jpeg"].read_bytes(), "image/jpeg"),
        "/download": (clip, "application/octet-stream"),
        "/page.html": (b"<!doctype html><html><head><title>A clip</title></head><body>"
                       b"<video controls src=\"/clip.mp4\"></video></body></html>", "text/html; charset=utf-8"),
        "/source.html": (b"<html><body><video controls><source src=\"clip.mp4\" type=\"video/mp4\"></video>"
                         b"</body></html>", "text/html"),
        "/empty.html": (b"<html><head><title>Nothing</title></head><body><p>no media here</p></body></html>",
                        "text/html"),
        "/metadata.html": (b"<html><body><video src=\"http://169.254.169.254/latest/clip.mp4\"></video>"
                           b"</body></html>", "text/html"),
        "/notes.txt": (b"just some text\n" * 20, "text/plain"),
        "/rtsp.html": (b"<html><body><video src=\"rtsp://127.0.0.1:554/live\"></video></body></html>", "text/html"),
    }
    hls = media["mp4"].parent / "hls"             # the same clip as an HLS stream (playlist + 1 TS segment)
    hls.mkdir(exist_ok=True)
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(media["mp4"]), "-c", "copy", "-f", "hls",
                    "-hls_time", "10", "-hls_list_size", "0", str(hls / "index.m3u8")], check=True, timeout=60)
    files["/hls/index.m3u8"] = ((hls / "index.m3u8").read_bytes(), "application/vnd.apple.mpegurl")
    files["/hls/index0.ts"] = ((hls / "index0.ts").read_bytes(), "video/mp2t")
    with socket.socket() as s:                    # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    stop = threading.Event()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(files, stop))
    httpd.daemon_threads = True
    port = httpd.server_address[1]
    # pages that point at a loopback port that is not allow-listed, through a redirect of the good server
    files["/sneaky.html"] = (f"<html><body><video src=\"/redirect?to=http://127.0.0.1:{closed_port}/clip.mp4\">"
                             "</video></body></html>".encode(), "text/html")
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    yield Server(port=port, closed_port=closed_port, files=files)
    stop.set()
    httpd.shutdown()
    httpd.server_close()
