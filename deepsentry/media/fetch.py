"""Fetch media from a URL without letting the URL reach anything private.

Two paths, one guard:

* a plain media URL (the first bytes are an image/video we recognise, or the server says ``image/*`` /
  ``video/*``) is streamed to disk by our own HTTP client, with the byte limit enforced from
  ``Content-Length`` and again while streaming, and one overall deadline;
* anything else (an HTML page with ``<video src>``, an HLS playlist, ...) goes to yt-dlp, restricted to
  its ``generic`` extractor (which also reads HTML5 ``<video>``/``<source>`` tags), first format only, no
  playlists, no external downloaders.

The guard (:func:`check_url`): only ``http``/``https``; the host is resolved and refused when **any** of
its addresses is loopback, private, link-local, multicast, reserved, unspecified, shared (CGNAT) or
otherwise not globally routable, IPv4 or IPv6, including IPv4 addresses embedded in IPv4-mapped, 6to4
and NAT64 IPv6 addresses -- unless ``host`` or ``host:port`` is in the allow-list. Every connection,
ours and yt-dlp's (yt-dlp gets a request handler of ours as its only network path), re-checks the URL,
connects only to the addresses that were checked (no second DNS lookup, so DNS rebinding cannot swap
them), and follows redirects itself, at most 5, checking each hop the same way. Proxy settings from the
environment are ignored: connections are always direct.

Errors: ``UrlRefused`` (400, code ``url_refused``) for a refused scheme/host/address; ``FetchError``
(502, code ``fetch_failed``) for DNS failure, refused connection, timeout, HTTP status >= 400, too many
redirects or an extractor failure; ``FetchError`` with code ``no_media`` and status 422 when the page
was fetched but holds no video or image to analyse; ``TooLarge`` (413) when the download is over
``limits.max_bytes``.
"""

from __future__ import annotations

import http.client
import ipaddress
import logging
import os
import shutil
import socket
import ssl
import tempfile
import time
import urllib.parse
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from deepsentry.errors import DeepsentryError, FetchError, TooLarge, UrlRefused
from deepsentry.settings import Limits

from ._sniff import HEAD_BYTES, sniff

log = logging.getLogger("deepsentry.media.fetch")

MAX_REDIRECTS = 5
MAX_PAGE_BYTES = 16 * 1024 * 1024          # HTML/manifests yt-dlp reads into memory
SOCKET_TIMEOUT_S = 30.0                     # per connect/read, never past the overall deadline
USER_AGENT = "Mozilla/5.0 (compatible; deepsentry/0.1; local deepfake check)"
_REDIRECTS = (301, 302, 303, 307, 308)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
_MEDIA_TYPES = ("image/", "video/")


@dataclass(frozen=True)
class FetchedMedia:
    """A downloaded file. ``url``: what was asked for; ``final_url``: where the media bytes came from
    (after redirects, or the page's media URL for yt-dlp); ``via``: ``"http"`` or ``"yt-dlp"``."""

    path: Path
    url: str
    final_url: str
    content_type: str | None
    via: str
    title: str | None = None

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["path"] = str(self.path)
        return out


# ----------------------------------------------------------------------------------------------- guard

@dataclass(frozen=True)
class _Target:
    url: str
    scheme: str
    host: str
    port: int
    addrs: tuple[str, ...]
    parts: urllib.parse.SplitResult


def _parse(url: str) -> tuple[str, str, int, urllib.parse.SplitResult]:
    if not isinstance(url, str) or not url.strip():
        raise UrlRefused("empty URL", details={"reason": "bad_url"})
    if len(url) > 8192:
        raise UrlRefused("URL is longer than 8192 characters", details={"reason": "bad_url"})
    if any(ord(c) < 0x21 or ord(c) == 0x7F for c in url.strip()):
        raise UrlRefused("URL contains whitespace or control characters", details={"reason": "bad_url"})
    try:
        parts = urllib.parse.urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise UrlRefused(f"malformed URL: {exc}", details={"reason": "bad_url"}) from exc
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise UrlRefused(f"only http and https URLs can be fetched, not {scheme + ':' if scheme else 'this'} URL",
                         details={"reason": "scheme", "scheme": scheme})
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise UrlRefused("URL has no host", details={"reason": "bad_url"})
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError as exc:
            raise UrlRefused(f"invalid host name {host!r}", details={"reason": "bad_url"}) from exc
    return scheme, host.lower(), port or (443 if scheme == "https" else 80), parts


def _display_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _allowed(host: str, port: int, allowlist: Sequence[str]) -> bool:
    if not allowlist:
        return False
    keys = {host, _display_host(host), f"{_display_host(host)}:{port}"}
    return any(str(entry).strip().lower().rstrip("/") in keys for entry in allowlist)


def _forbidden(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """Why this address must not be contacted, or None when it is a public unicast address."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = None
        if ip.ipv4_mapped is not None:
            embedded, how = ip.ipv4_mapped, "IPv4-mapped"
        elif ip.sixtofour is not None:
            embedded, how = ip.sixtofour, "6to4"
        elif ip in _NAT64:
            embedded, how = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF), "NAT64"
        if embedded is not None:
            inner = _forbidden(embedded)
            return f"{how} {inner}" if inner else None
        if ip in _NAT64_LOCAL:
            return "local-use NAT64"
        if ip.teredo is not None:
            return "Teredo"
        if ip.is_site_local:
            return "site-local"
    for attr, reason in (("is_unspecified", "unspecified"), ("is_loopback", "loopback"),
                         ("is_link_local", "link-local"), ("is_multicast", "multicast"),
                         ("is_private", "private"), ("is_reserved", "reserved")):
        if getattr(ip, attr):
            return reason
    if not ip.is_global:
        return "non-global"
    return None


def _resolve(host: str, port: int) -> tuple[str, ...]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise FetchError(f"cannot resolve host {host}: {exc.strerror or exc}",
                         details={"reason": "dns", "host": host}) from exc
    except (UnicodeError, ValueError) as exc:
        raise UrlRefused(f"invalid host name {host!r}", details={"reason": "bad_url"}) from exc
    addrs: list[str] = []
    for family, _, _, _, sockaddr in infos:
        if family not in (socket.AF_INET, socket.AF_INET6):
            continue
        addr = str(sockaddr[0]).split("%", 1)[0]
        if addr not in addrs:
            addrs.append(addr)
    if not addrs:
        raise FetchError(f"host {host} has no IP address", details={"reason": "dns", "host": host})
    return tuple(addrs)


def _check(url: str, allowlist: Sequence[str] = ()) -> _Target:
    scheme, host, port, parts = _parse(url)
    addrs = _resolve(host, port)
    if not _allowed(host, port, allowlist):
        for addr in addrs:
            reason = _forbidden(ipaddress.ip_address(addr))
            if reason:
                raise UrlRefused(f"refusing to fetch {_display_host(host)}: it resolves to {addr} ({reason} address); "
                                 "add the host to the URL allow-list to permit it",
                                 details={"reason": "private_address", "host": host, "address": addr})
    return _Target(url=url, scheme=scheme, host=host, port=port, addrs=addrs, parts=parts)


def check_url(url: str, allowlist: Sequence[str] = ()) -> None:
    """Raise ``UrlRefused`` unless ``url`` is http(s) and every address its host resolves to is public
    (or ``host``/``host:port`` is in ``allowlist``); ``FetchError`` (502) when the host does not resolve."""
    _check(url, allowlist)


# ------------------------------------------------------------------------------------------ transport

def _connect(addrs: Sequence[str], port: int, timeout: float) -> socket.socket:
    last: OSError | None = None
    for addr in addrs:
        family = socket.AF_INET6 if ":" in addr else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect((addr, port))
            return sock
        except OSError as exc:
            sock.close()
            last = exc
    raise last or OSError("no address to connect to")


class _PinnedHTTP(http.client.HTTPConnection):
    """HTTPConnection that connects only to the already-checked addresses (Host header stays the name)."""

    def __init__(self, target: _Target, timeout: float):
        super().__init__(target.host, target.port, timeout=timeout)
        self._addrs = target.addrs

    def connect(self) -> None:
        self.sock = _connect(self._addrs, self.port, self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    def __init__(self, target: _Target, timeout: float, context: ssl.SSLContext):
        super().__init__(target.host, target.port, timeout=timeout, context=context)
        self._addrs = target.addrs

    def connect(self) -> None:
        sock = _connect(self._addrs, self.port, self.timeout)
        try:
            self.sock = self._context.wrap_socket(sock, server_hostname=self.host)
        except BaseException:
            sock.close()
            raise


def _request_target(parts: urllib.parse.SplitResult) -> str:
    path = urllib.parse.quote(parts.path or "/", safe="/%;:@&=+$,!~*'()")
    if parts.query:
        path += "?" + urllib.parse.quote(parts.query, safe="/%;:@&=+$,!~*'()?")
    return path


def _remaining(deadline: float, what: str) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise FetchError(f"timed out {what}", details={"reason": "timeout"})
    return min(left, SOCKET_TIMEOUT_S)


@dataclass
class _Opened:
    resp: http.client.HTTPResponse
    conn: http.client.HTTPConnection
    url: str
    redirects: list[str] = field(default_factory=list)

    @property
    def content_type(self) -> str | None:
        ctype = self.resp.getheader("Content-Type")
        return ctype.split(";", 1)[0].strip().lower() or None if ctype else None

    @property
    def content_length(self) -> int | None:
        try:
            n = int(self.resp.getheader("Content-Length") or "")
        except ValueError:
            return None
        return n if n >= 0 else None

    def close(self) -> None:
        try:
            self.resp.close()
        finally:
            self.conn.close()


def _open(url: str, *, allowlist: Sequence[str], deadline: float, method: str = "GET",
          headers: dict[str, str] | None = None, body: bytes | None = None,
          verify: bool = True) -> _Opened:
    """One HTTP exchange with redirects followed by hand; every hop is checked and pinned."""
    hdrs = {"User-Agent": USER_AGENT, "Accept": "*/*"}
    hdrs.update(headers or {})
    for k in [k for k in hdrs if k.lower() in ("host", "accept-encoding", "connection", "content-length")]:
        del hdrs[k]
    hdrs["Accept-Encoding"] = "identity"
    hdrs["Connection"] = "close"
    chain: list[str] = []
    for _hop in range(MAX_REDIRECTS + 1):
        target = _check(url, allowlist)
        timeout = _remaining(deadline, f"fetching {url}")
        if target.scheme == "https":
            ctx = ssl.create_default_context()
            if not verify:
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
            conn: http.client.HTTPConnection = _PinnedHTTPS(target, timeout, ctx)
        else:
            conn = _PinnedHTTP(target, timeout)
        try:
            conn.request(method, _request_target(target.parts), body=body, headers=hdrs)
            resp = conn.getresponse()
        except (TimeoutError, socket.timeout) as exc:
            conn.close()
            raise FetchError(f"timed out connecting to {_display_host(target.host)}:{target.port}",
                             details={"reason": "timeout", "url": url}) from exc
        except (OSError, http.client.HTTPException, ssl.SSLError) as exc:
            conn.close()
            raise FetchError(f"cannot fetch {url}: {exc}", details={"reason": "connect", "url": url}) from exc
        if resp.status in _REDIRECTS:
            location = resp.getheader("Location")
            resp.close()
            conn.close()
            if not location:
                raise FetchError(f"HTTP {resp.status} redirect without a Location from {url}",
                                 details={"reason": "redirect", "url": url})
            chain.append(url)
            url = urllib.parse.urljoin(url, location.strip())
            if resp.status == 303 or (resp.status in (301, 302) and method == "POST"):
                method, body = ("GET" if method != "HEAD" else "HEAD"), None
            continue
        return _Opened(resp=resp, conn=conn, url=url, redirects=chain)
    raise FetchError(f"too many redirects (more than {MAX_REDIRECTS}) from {chain[0]}",
                     details={"reason": "redirects", "url": chain[0]})


class _Body:
    """Reads a response body under the deadline and a byte cap; records the first error in ``sink``."""

    def __init__(self, opened: _Opened, deadline: float, cap: int, cap_limit: str = "max_bytes",
                 sink: list[DeepsentryError] | None = None):
        self.opened, self.deadline, self.cap, self.cap_limit = opened, deadline, cap, cap_limit
        self.count = 0
        self.sink = sink
        self.closed = False

    def _fail(self, exc: DeepsentryError) -> DeepsentryError:
        if self.sink is not None and not self.sink:
            self.sink.append(exc)
        self.close()
        return exc

    def _read_some(self, amt: int) -> bytes:
        try:
            timeout = _remaining(self.deadline, f"downloading {self.opened.url}")
        except FetchError as exc:
            raise self._fail(exc) from None
        sock = self.opened.conn.sock
        if sock is not None:
            sock.settimeout(timeout)
        try:
            data = self.opened.resp.read1(amt) if amt else b""   # one recv at most: the deadline holds
        except (TimeoutError, socket.timeout) as exc:
            raise self._fail(FetchError(f"timed out downloading {self.opened.url}",
                                        details={"reason": "timeout", "url": self.opened.url})) from exc
        except (OSError, http.client.HTTPException) as exc:
            raise self._fail(FetchError(f"download of {self.opened.url} failed: {exc}",
                                        details={"reason": "read", "url": self.opened.url})) from exc
        self.count += len(data)
        if self.count > self.cap:
            raise self._fail(TooLarge(f"download from {self.opened.url} is over the limit of {self.cap} bytes",
                                      details={"limit": self.cap_limit, "max": self.cap}))
        return data

    def read(self, amt: int | None = None) -> bytes:
        if self.closed:
            return b""
        if amt is not None and amt >= 0:
            return self._read_some(min(amt, 1 << 20) if amt else 0)
        chunks = []
        while chunk := self._read_some(1 << 16):
            chunks.append(chunk)
        return b"".join(chunks)

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.opened.close()


# --------------------------------------------------------------------------------------------- fetch

def _suffix(url: str, content_type: str | None, head: bytes) -> str:
    found = sniff(head)
    if found:
        return "." + found[1]
    ext = os.path.splitext(urllib.parse.urlsplit(url).path)[1].lower()
    if ext.isascii() and 1 < len(ext) <= 6 and ext[1:].isalnum():
        return ext
    return ".bin"


def _is_media(content_type: str | None, head: bytes) -> bool:
    if sniff(head) is not None:
        return True
    return bool(content_type) and content_type.startswith(_MEDIA_TYPES)


def fetch_url(url: str, dest_dir: Path, *, limits: Limits, allowlist: Sequence[str] = (),
              timeout: float | None = None) -> FetchedMedia:
    """Download the media at ``url`` (a media file, or a page holding one) into ``dest_dir``.

    The whole fetch (redirects, page, media) must finish within ``timeout`` seconds (default
    ``limits.fetch_timeout_s``) and the media may not exceed ``limits.max_bytes``. The caller probes the
    file afterwards (this function does not decode anything). See the module docstring for the errors.
    """
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    timeout = limits.fetch_timeout_s if timeout is None else float(timeout)
    deadline = time.monotonic() + max(0.1, timeout)
    opened = _open(url, allowlist=allowlist, deadline=deadline)
    if opened.resp.status >= 400:
        status = opened.resp.status
        opened.close()
        raise FetchError(f"{opened.url} answered HTTP {status}", details={"reason": "http_status", "status": status,
                                                                          "url": opened.url})
    ctype = opened.content_type
    length = opened.content_length
    body = _Body(opened, deadline, limits.max_bytes)
    try:
        head = body.read(HEAD_BYTES) if length != 0 else b""
        # read() may return less than asked on a slow stream; top up to a useful sniffing length
        while len(head) < 64 and not body.closed and (length is None or len(head) < length):
            more = body.read(HEAD_BYTES - len(head))
            if not more:
                break
            head += more
        if not _is_media(ctype, head):
            body.close()
            return _fetch_with_ytdlp(opened.url, url, dest_dir, limits, allowlist, deadline)
        if length is not None and length > limits.max_bytes:
            raise TooLarge(f"{opened.url} is {length} bytes, over the limit of {limits.max_bytes}",
                           details={"limit": "max_bytes", "value": length, "max": limits.max_bytes})
        fd, tmp = tempfile.mkstemp(dir=dest_dir, prefix="fetch-", suffix=_suffix(opened.url, ctype, head))
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(head)
                while chunk := body.read(1 << 16):
                    f.write(chunk)
        except BaseException:
            os.unlink(tmp)
            raise
        if length is not None and body.count != length:
            os.unlink(tmp)
            raise FetchError(f"download of {opened.url} ended after {body.count} of {length} bytes",
                             details={"reason": "incomplete", "url": opened.url})
        log.info("fetched %s (%d bytes) via http", opened.url, body.count)
        return FetchedMedia(path=Path(tmp), url=url, final_url=opened.url, content_type=ctype, via="http")
    finally:
        body.close()


# -------------------------------------------------------------------------------------------- yt-dlp

class _YtLogger:
    def debug(self, msg: str) -> None:
        log.debug("yt-dlp: %s", msg)

    info = debug

    def warning(self, msg: str) -> None:
        log.info("yt-dlp: %s", msg)

    def error(self, msg: str) -> None:
        log.info("yt-dlp: %s", msg)


def _fetch_with_ytdlp(page_url: str, asked_url: str, dest_dir: Path, limits: Limits, allowlist: Sequence[str],
                      deadline: float) -> FetchedMedia:
    import yt_dlp
    from yt_dlp.networking.common import RequestHandler, Response
    from yt_dlp.networking.exceptions import HTTPError, TransportError
    from yt_dlp.utils import DownloadError, UnsupportedError

    errors: list[DeepsentryError] = []        # the first guard/limit error, re-raised as itself
    media_seen: dict[str, str | None] = {}

    class DeepsentryGuardRH(RequestHandler):
        """yt-dlp's only network path: every request (page, media, fragments) goes through the guard."""

        _SUPPORTED_URL_SCHEMES = ("http", "https")
        _SUPPORTED_PROXY_SCHEMES = None      # proxies are accepted and ignored: we always connect directly
        _SUPPORTED_FEATURES = None
        RH_NAME = "deepsentry-guard"

        def _check_extensions(self, extensions):
            super()._check_extensions(extensions)
            for key in ("cookiejar", "timeout", "legacy_ssl", "keep_header_casing"):
                extensions.pop(key, None)

        def _send(self, request):
            data = request.data
            if data is not None and not isinstance(data, bytes):
                data = b"".join(data) if not hasattr(data, "read") else data.read()
            try:
                opened = _open(request.url, allowlist=allowlist, deadline=deadline, method=request.method,
                               headers=self._get_headers(request), body=data, verify=self.verify)
            except DeepsentryError as exc:
                if not errors:
                    errors.append(exc)
                raise TransportError(exc.message, cause=exc) from exc
            ctype = opened.content_type
            is_page = bool(ctype) and (ctype.startswith("text/") or "html" in ctype or "xml" in ctype
                                       or "json" in ctype or "mpegurl" in ctype or "dash" in ctype)
            cap, cap_limit = (min(MAX_PAGE_BYTES, limits.max_bytes), "max_page_bytes") if is_page \
                else (limits.max_bytes, "max_bytes")
            length = opened.content_length
            if length is not None and length > cap and opened.resp.status < 400:
                opened.close()
                exc = TooLarge(f"{opened.url} is {length} bytes, over the limit of {cap}",
                               details={"limit": cap_limit, "value": length, "max": cap})
                if not errors:
                    errors.append(exc)
                raise TransportError(exc.message, cause=exc)
            if not is_page and opened.resp.status < 300:
                media_seen["url"], media_seen["content_type"] = opened.url, ctype
            headers: dict[str, str] = {}
            for name, value in opened.resp.getheaders():
                headers[name] = f"{headers[name]}, {value}" if name in headers else value
            response = Response(_Body(opened, deadline, cap, cap_limit, sink=errors), url=opened.url,
                                headers=headers, status=opened.resp.status, reason=opened.resp.reason)
            if opened.resp.status >= 400:
                raise HTTPError(response)
            return response

    class _GuardedYDL(yt_dlp.YoutubeDL):
        def build_request_director(self, handlers, preferences=None):
            return super().build_request_director([DeepsentryGuardRH], None)

    cap = limits.max_bytes
    work = Path(tempfile.mkdtemp(dir=dest_dir, prefix="ytdlp-"))
    params = {
        "quiet": True, "no_warnings": True, "noprogress": True, "logger": _YtLogger(),
        "allowed_extractors": ["html5", "generic"], "force_generic_extractor": True,
        "noplaylist": True, "playlist_items": "1",
        # only formats our handler can fetch: plain HTTP(S), native HLS, DASH segments over HTTP
        "format": "/".join(f"{sel}[protocol{proto}][filesize<?{cap}]" for sel in ("best", "bestvideo")
                           for proto in ("^=http", "=m3u8_native")),
        "max_filesize": cap,
        "socket_timeout": max(1.0, min(SOCKET_TIMEOUT_S, deadline - time.monotonic())),
        "paths": {"home": str(work), "temp": str(work)},
        "outtmpl": {"default": "media-%(id).40B.%(ext)s"}, "restrictfilenames": True,
        "retries": 0, "fragment_retries": 0, "extractor_retries": 0, "file_access_retries": 0,
        "cachedir": False, "overwrites": True, "continuedl": False,
        "hls_prefer_native": True, "external_downloader": {}, "concurrent_fragment_downloads": 1,
        # no ffmpeg for yt-dlp: ffmpeg would open URLs itself, around the guard (HLS fallback, merging)
        "ffmpeg_location": os.path.join(tempfile.gettempdir(), "deepsentry-no-ffmpeg", "ffmpeg"),
        "check_formats": False, "writethumbnail": False, "writesubtitles": False, "updatetime": False,
        "color": "no_color", "proxy": "",
    }
    try:
        with _GuardedYDL(params) as ydl:
            try:
                info = ydl.extract_info(page_url, download=True)
            except DownloadError as exc:
                if errors:
                    raise errors[0] from exc
                cause = exc.exc_info[1] if getattr(exc, "exc_info", None) else None
                message = str(exc).removeprefix("ERROR: ").strip()
                if isinstance(cause, UnsupportedError) or any(
                        m in message for m in ("Unsupported URL", "No video formats found",
                                               "Requested format is not available")):
                    raise FetchError(f"no video or image found at {asked_url}",
                                     code="no_media", http_status=422,
                                     details={"reason": "no_media", "url": asked_url}) from exc
                raise FetchError(f"cannot fetch media from {asked_url}: {message}",
                                 details={"reason": "extractor", "url": asked_url}) from exc
        if errors:
            raise errors[0]
        if info and info.get("_type") == "playlist":
            entries = [e for e in (info.get("entries") or []) if e]
            info = entries[0] if entries else None
        downloads = (info or {}).get("requested_downloads") or []
        files = [Path(d["filepath"]) for d in downloads if d.get("filepath") and Path(d["filepath"]).is_file()]
        if not files:
            raise FetchError(f"no video or image found at {asked_url}", code="no_media", http_status=422,
                             details={"reason": "no_media", "url": asked_url})
        src = files[0]
        with open(src, "rb") as f:
            found = sniff(f.read(HEAD_BYTES))
            if found is None:                         # generic extractor takes any non-HTML body as "direct"
                raise FetchError(f"no video or image found at {asked_url}", code="no_media", http_status=422,
                                 details={"reason": "no_media", "url": asked_url,
                                          "content_type": media_seen.get("content_type")})
        if src.stat().st_size > limits.max_bytes:
            raise TooLarge(f"media from {asked_url} is over the limit of {limits.max_bytes} bytes",
                           details={"limit": "max_bytes", "value": src.stat().st_size, "max": limits.max_bytes})
        fd, final = tempfile.mkstemp(dir=dest_dir, prefix="fetch-", suffix="." + found[1])
        os.close(fd)
        os.replace(src, final)
        final_url = media_seen.get("url") or info.get("url") or page_url
        log.info("fetched %s from page %s via yt-dlp", final_url, page_url)
        return FetchedMedia(path=Path(final), url=asked_url, final_url=final_url,
                            content_type=media_seen.get("content_type"), via="yt-dlp", title=info.get("title"))
    finally:
        shutil.rmtree(work, ignore_errors=True)
