"""URL fetching against a real local HTTP server: SSRF guard, redirects, limits, yt-dlp pages."""

from __future__ import annotations

import hashlib
import urllib.parse

import pytest

from deepsentry.errors import FetchError, TooLarge, UrlRefused
from deepsentry.media import load_image, probe
from deepsentry.media.fetch import FetchedMedia, check_url, fetch_url
from deepsentry.settings import Limits

LIMITS = Limits()


def sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def q(url: str) -> str:
    return urllib.parse.quote(url, safe="")


# ------------------------------------------------------------------------------------------ check_url

@pytest.mark.parametrize("url", [
    "http://127.0.0.1/", "http://127.0.0.1:8765/v1/info", "http://[::1]/", "http://[::1]:8080/x",
    "http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/", "http://192.168.1.1/", "http://172.16.0.1/",
    "http://0.0.0.0/", "http://100.64.0.1/", "http://224.0.0.1/", "http://255.255.255.255/",
    "http://[fc00::1]/", "http://[fe80::1]/", "http://[ff02::1]/", "http://[::]/",
    "http://[::ffff:127.0.0.1]/", "http://[::ffff:a9fe:a9fe]/", "http://[2002:7f00:1::]/",
    "http://[64:ff9b::7f00:1]/", "http://[64:ff9b::a00:1]/",
    "http://2130706433/", "http://0x7f.1/", "http://127.1/", "https://127.0.0.1./", "http://0/",
    "http://localhost/", "http://LOCALHOST:9999/", "http://user:pw@localhost/",
])
def test_private_and_loopback_hosts_refused(url):
    with pytest.raises(UrlRefused) as ei:
        check_url(url)
    assert ei.value.http_status == 400 and ei.value.code == "url_refused"
    assert ei.value.details["reason"] == "private_address"


@pytest.mark.parametrize("url", ["ftp://example.com/x.mp4", "file:///etc/passwd", "gopher://example.com/",
                                 "javascript:alert(1)", "data:video/mp4;base64,AAAA", "//example.com/x",
                                 "", "http://", "http://exa mple.com/", "http://example.com:99999/"])
def test_bad_schemes_and_malformed_urls_refused(url):
    with pytest.raises(UrlRefused):
        check_url(url)


@pytest.mark.parametrize("url", ["http://8.8.8.8/clip.mp4", "https://1.1.1.1:8443/a?b=c",
                                 "http://[2606:4700:4700::1111]/", "http://[::ffff:8.8.8.8]/"])
def test_public_addresses_pass(url):
    check_url(url)                     # IP literals: no DNS and no connection needed


def test_allowlist_is_exact_about_ports(server):
    check_url(f"{server.base}/clip.mp4", allowlist=server.allow)
    check_url(f"http://127.0.0.1:{server.closed_port}/", allowlist=["127.0.0.1"])    # host entry: any port
    check_url("http://localhost:1234/", allowlist=["localhost:1234"])
    check_url("http://[::1]:1234/", allowlist=["[::1]:1234"])
    with pytest.raises(UrlRefused):
        check_url(f"http://127.0.0.1:{server.closed_port}/", allowlist=server.allow)
    with pytest.raises(UrlRefused):
        check_url(f"http://localhost:{server.port}/", allowlist=server.allow)   # same port, other name


def test_dns_failure_is_a_fetch_error(tmp_path):
    with pytest.raises(FetchError) as ei:
        check_url("http://no-such-host.invalid/clip.mp4")
    assert ei.value.http_status == 502 and ei.value.details["reason"] == "dns"


# --------------------------------------------------------------------------------------- plain HTTP

def test_fetch_mp4(server, media, tmp_path):
    got = fetch_url(f"{server.base}/clip.mp4", tmp_path, limits=LIMITS, allowlist=server.allow)
    assert isinstance(got, FetchedMedia)
    assert got.via == "http" and got.content_type == "video/mp4"
    assert got.final_url == got.url == f"{server.base}/clip.mp4"
    assert got.path.parent == tmp_path and sha(got.path) == sha(media["mp4"])
    assert probe(got.path).format == "mp4"


def test_fetch_jpeg_and_octet_stream(server, media, tmp_path):
    got = fetch_url(f"{server.base}/face.jpg", tmp_path, limits=LIMITS, allowlist=server.allow)
    assert got.via == "http" and got.content_type == "image/jpeg"
    assert load_image(got.path).shape == (512, 512, 3)
    got = fetch_url(f"{server.base}/download", tmp_path, limits=LIMITS, allowlist=server.allow)
    assert got.via == "http" and got.path.suffix == ".mp4" and sha(got.path) == sha(media["mp4"])


def test_stream_without_length(server, media, tmp_path):
    got = fetch_url(f"{server.base}/nolength.mp4", tmp_path, limits=LIMITS, allowlist=server.allow)
    assert sha(got.path) == sha(media["mp4"])


def test_redirects_followed_and_rechecked(server, media, tmp_path):
    got = fetch_url(f"{server.base}/redirect?to=/clip.mp4", tmp_path, limits=LIMITS, allowlist=server.allow)
    assert got.final_url == f"{server.base}/clip.mp4" and sha(got.path) == sha(media["mp4"])
    got = fetch_url(f"{server.base}/chain?n=3", tmp_path, limits=LIMITS, allowlist=server.allow)  # 4 hops
    assert got.final_url.endswith("/clip.mp4")
    with pytest.raises(FetchError) as ei:
        fetch_url(f"{server.base}/chain?n=5", tmp_path, limits=LIMITS, allowlist=server.allow)   # 6 hops
    assert ei.value.details["reason"] == "redirects"
    with pytest.raises(FetchError):
        fetch_url(f"{server.base}/loop", tmp_path, limits=LIMITS, allowlist=server.allow)


@pytest.mark.parametrize("target", [
    "http://127.0.0.1:{closed}/clip.mp4",          # loopback, port not allow-listed
    "http://localhost:{port}/clip.mp4",            # the very same server under a name not allow-listed
    "http://[::1]:{port}/clip.mp4",
    "http://169.254.169.254/latest/meta-data/",
    "http://10.1.2.3/",
    "file:///etc/passwd",
])
def test_redirect_to_private_address_refused(server, tmp_path, target):
    target = target.format(closed=server.closed_port, port=server.port)
    for code in (301, 307):
        with pytest.raises(UrlRefused):
            fetch_url(f"{server.base}/redirect?code={code}&to={q(target)}", tmp_path, limits=LIMITS,
                      allowlist=server.allow)
    assert list(tmp_path.iterdir()) == []


def test_direct_ssrf_urls_refused_by_fetch(tmp_path):
    for url in ("http://127.0.0.1/", "http://[::1]/", "http://169.254.169.254/", "http://localhost/"):
        with pytest.raises(UrlRefused):
            fetch_url(url, tmp_path, limits=LIMITS)


def test_http_errors_and_unreachable(server, tmp_path):
    with pytest.raises(FetchError) as ei:
        fetch_url(f"{server.base}/missing.mp4", tmp_path, limits=LIMITS, allowlist=server.allow)
    assert ei.value.http_status == 502 and ei.value.details["status"] == 404
    closed = f"http://127.0.0.1:{server.closed_port}/clip.mp4"
    with pytest.raises(FetchError) as ei:
        fetch_url(closed, tmp_path, limits=LIMITS, allowlist=[f"127.0.0.1:{server.closed_port}"])
    assert ei.value.http_status == 502 and ei.value.details["reason"] == "connect"


def test_slow_server_times_out(server, tmp_path):
    with pytest.raises(FetchError) as ei:
        fetch_url(f"{server.base}/slow.mp4", tmp_path, limits=LIMITS, allowlist=server.allow, timeout=1.0)
    assert ei.value.http_status == 502 and ei.value.details["reason"] == "timeout"
    assert list(tmp_path.iterdir()) == []


def test_oversize_download_refused(server, media, tmp_path):
    small = Limits(max_bytes=media["mp4"].stat().st_size // 2)
    with pytest.raises(TooLarge) as ei:          # Content-Length says too much: refused before the body
        fetch_url(f"{server.base}/clip.mp4", tmp_path, limits=small, allowlist=server.allow)
    assert ei.value.details["value"] == media["mp4"].stat().st_size
    with pytest.raises(TooLarge):                # no length: cut off by the running count
        fetch_url(f"{server.base}/nolength.mp4", tmp_path, limits=small, allowlist=server.allow)
    with pytest.raises(TooLarge):                # through a page and yt-dlp
        fetch_url(f"{server.base}/page.html", tmp_path, limits=small, allowlist=server.allow)
    assert list(tmp_path.iterdir()) == []


# -------------------------------------------------------------------------------------- pages/yt-dlp

@pytest.mark.parametrize("page", ["/page.html", "/source.html"])
def test_page_with_video_tag_via_ytdlp(server, media, tmp_path, page):
    got = fetch_url(f"{server.base}{page}", tmp_path, limits=LIMITS, allowlist=server.allow)
    assert got.via == "yt-dlp"
    assert got.url == f"{server.base}{page}" and got.final_url == f"{server.base}/clip.mp4"
    assert got.content_type == "video/mp4"
    assert sha(got.path) == sha(media["mp4"])
    assert got.path.parent == tmp_path and [p for p in tmp_path.iterdir()] == [got.path]
    if page == "/page.html":
        assert got.title and got.title.startswith("A clip")


def test_hls_stream_via_ytdlp(server, tmp_path):
    got = fetch_url(f"{server.base}/hls/index.m3u8", tmp_path, limits=LIMITS, allowlist=server.allow)
    assert got.via == "yt-dlp" and got.final_url == f"{server.base}/hls/index0.ts"
    assert got.path.read_bytes() == server.files["/hls/index0.ts"][0]
    info = probe(got.path)
    assert (info.format, info.codec) == ("mpegts", "h264") and info.duration == pytest.approx(3, abs=0.1)


def test_page_without_media(server, tmp_path):
    for page in ("/empty.html", "/notes.txt", "/rtsp.html"):     # rtsp: not a protocol we let yt-dlp use
        with pytest.raises(FetchError) as ei:
            fetch_url(f"{server.base}{page}", tmp_path, limits=LIMITS, allowlist=server.allow)
        assert ei.value.code == "no_media" and ei.value.http_status == 422
    assert list(tmp_path.iterdir()) == []


def test_page_pointing_at_private_addresses_refused(server, tmp_path):
    # <video src="http://169.254.169.254/..."> and a <video src> that redirects to a non-allow-listed port
    for page in ("/metadata.html", "/sneaky.html"):
        with pytest.raises(UrlRefused):
            fetch_url(f"{server.base}{page}", tmp_path, limits=LIMITS, allowlist=server.allow)
    assert list(tmp_path.iterdir()) == []
