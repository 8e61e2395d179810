"""The detection daemon's aiohttp application.

``create_app(settings)`` builds the app; ``run(settings)`` serves it. Security lives in middlewares:
the Host header must name the daemon's own loopback address (DNS rebinding), a request carrying a
foreign ``Origin`` is refused (web pages cannot use the daemon through the user's browser), every
``/v1/*`` route but health needs the pairing token, and CORS headers go only to allowed extension
origins. Every error, including aiohttp's own 404/405/413, is rendered as
``{"error": {"code", "message", "details"}}``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from aiohttp import web

from deepsentry import __version__
from deepsentry.daemon import keys
from deepsentry.daemon.auth import PairingLimiter, check_bearer, load_or_create_token, normalise_code, pairing_code
from deepsentry.daemon.jobs import Job, JobManager
from deepsentry.errors import (AuthError, BadRequest, Busy, DeepsentryError, Forbidden, NotFound, TooLarge,
                               UnsupportedMedia)
from deepsentry.settings import Settings, origin_allowed

log = logging.getLogger("deepsentry.daemon")

PUBLIC_PATHS = {"/v1/health"}
NO_TOKEN_PATHS = {"/v1/health", "/v1/pair"}
JSON_BODY_MAX = 96 * 1024 * 1024      # base64 frames from the extension
CORS_HEADERS = "Authorization, Content-Type"
CORS_METHODS = "GET, POST, OPTIONS"
_HTTP_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
               405: "method_not_allowed", 413: "too_large", 415: "unsupported_media", 429: "busy"}


# ------------------------------------------------------------------------------------------ helpers

def error_response(exc: DeepsentryError) -> web.Response:
    resp = web.json_response(exc.to_json(), status=exc.http_status)
    retry = exc.details.get("retry_after") if exc.details else None
    if exc.http_status == 429 and retry:
        resp.headers["Retry-After"] = str(int(retry))
    return resp


def _allowed_origin(request: web.Request) -> str | None:
    origin = request.headers.get("Origin")
    if origin and origin_allowed(origin, request.app[keys.SETTINGS].allowed_origins):
        return origin
    return None


def _host_ok(request: web.Request) -> bool:
    host = request.headers.get("Host", "")
    sock = request.transport.get_extra_info("sockname") if request.transport else None
    port = sock[1] if sock else request.app[keys.SETTINGS].port
    settings = request.app[keys.SETTINGS]
    names = {"127.0.0.1", "localhost", "[::1]", settings.host if ":" not in settings.host else f"[{settings.host}]"}
    return host in {f"{n}:{port}" for n in names} | ({n for n in names} if port == 80 else set())


def _cors(resp: web.StreamResponse, origin: str) -> None:
    resp.headers["Access-Control-Allow-Origin"] = origin
    resp.headers["Vary"] = "Origin"
    resp.headers["Access-Control-Allow-Headers"] = CORS_HEADERS
    resp.headers["Access-Control-Allow-Methods"] = CORS_METHODS
    resp.headers["Access-Control-Max-Age"] = "600"


# ------------------------------------------------------------------------------------------ middlewares

@web.middleware
async def cors_middleware(request: web.Request, handler):
    origin = _allowed_origin(request)
    resp = await handler(request)
    if origin and not resp.prepared:
        _cors(resp, origin)
    return resp


@web.middleware
async def error_middleware(request: web.Request, handler):
    try:
        return await handler(request)
    except DeepsentryError as exc:
        return error_response(exc)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = _HTTP_CODES.get(exc.status, "http_error")
        message = exc.reason if exc.status != 413 else "request body too large"
        return error_response(DeepsentryError(message, code=code, http_status=exc.status))
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # noqa: BLE001 - no input may crash the daemon
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(DeepsentryError(f"internal error: {type(exc).__name__}"))


@web.middleware
async def security_middleware(request: web.Request, handler):
    if not _host_ok(request):
        raise Forbidden("Host header is not this daemon's loopback address", code="bad_host")
    origin = request.headers.get("Origin")
    if origin is not None and _allowed_origin(request) is None:
        raise Forbidden(f"Origin {origin!r} is not an allowed extension", code="bad_origin")
    if request.method == "OPTIONS":
        return web.Response(status=204)
    if request.path not in NO_TOKEN_PATHS:
        check_bearer(request.headers.get("Authorization"), request.app[keys.TOKEN])
    return await handler(request)


# ------------------------------------------------------------------------------------------ request parsing

def _uploads_dir(settings: Settings) -> Path:
    d = settings.data_dir / "uploads"
    d.mkdir(parents=True, exist_ok=True)
    return d


def _flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).lower() in ("1", "true", "yes", "on")


class Upload:
    def __init__(self, path: Path, sha256: str, size: int, filename: str | None) -> None:
        self.path, self.sha256, self.size, self.filename = path, sha256, size, filename

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


async def read_multipart(request: web.Request, settings: Settings) -> tuple[dict[str, Upload], dict[str, str]]:
    """Stream every file part to disk (hashing as it goes, enforcing the byte limit); small text fields
    come back as a dict."""
    max_bytes = settings.limits.max_bytes
    if request.content_length and request.content_length > max_bytes + 1024 * 1024:
        raise TooLarge(f"upload of {request.content_length} bytes is over the limit of {max_bytes}")
    files: dict[str, Upload] = {}
    fields: dict[str, str] = {}
    try:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if part.filename is None and part.name != "file":
                fields[part.name or ""] = (await part.read_chunk(4096)).decode("utf-8", "replace")
                continue
            fd, tmp = tempfile.mkstemp(dir=_uploads_dir(settings), prefix="up-")
            upload = Upload(Path(tmp), "", 0, part.filename)
            files[part.name or "file"] = upload
            digest, size = hashlib.sha256(), 0
            with os.fdopen(fd, "wb") as fh:
                while chunk := await part.read_chunk(1 << 20):
                    size += len(chunk)
                    if size > max_bytes:
                        raise TooLarge(f"upload is over the limit of {max_bytes} bytes")
                    digest.update(chunk)
                    fh.write(chunk)
            upload.sha256, upload.size = digest.hexdigest(), size
    except DeepsentryError:
        for u in files.values():
            u.remove()
        raise
    except (ValueError, AssertionError) as exc:
        for u in files.values():
            u.remove()
        raise BadRequest(f"malformed multipart body: {exc}", code="bad_multipart") from exc
    return files, fields


async def read_json(request: web.Request) -> dict[str, Any]:
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge as exc:
        raise TooLarge("JSON body too large") from exc
    try:
        body = json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"malformed JSON: {exc}", code="bad_json") from exc
    if not isinstance(body, dict):
        raise BadRequest("the JSON body must be an object", code="bad_json")
    return body


async def read_body(request: web.Request, settings: Settings) -> tuple[dict[str, Upload], dict[str, Any]]:
    ctype = request.content_type
    if ctype.startswith("multipart/"):
        return await read_multipart(request, settings)
    if ctype == "application/json":
        return {}, await read_json(request)
    raise UnsupportedMedia(f"send multipart/form-data (a file) or application/json, not {ctype or 'no content type'}",
                           code="unsupported_content_type")


def parse_frames(body: dict[str, Any], settings: Settings) -> tuple[list[tuple[float, bytes]], str, int]:
    frames = body.get("frames")
    if not isinstance(frames, list) or not frames:
        raise BadRequest("'frames' must be a non-empty list of {t, jpeg}", code="bad_frames")
    if len(frames) > settings.limits.max_request_frames:
        raise TooLarge(f"{len(frames)} frames sent; at most {settings.limits.max_request_frames}")
    out: list[tuple[float, bytes]] = []
    digest, size = hashlib.sha256(), 0
    for i, fr in enumerate(frames):
        if not isinstance(fr, dict) or not isinstance(fr.get("jpeg"), str):
            raise BadRequest(f"frame {i}: expected an object with a base64 'jpeg' string", code="bad_frames")
        t = fr.get("t", i)
        if not isinstance(t, (int, float)) or isinstance(t, bool) or t != t or t < 0:
            raise BadRequest(f"frame {i}: 't' must be a number of seconds >= 0", code="bad_frames")
        data = fr["jpeg"]
        if data.startswith("data:"):
            data = data.partition(",")[2]
        try:
            raw = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise BadRequest(f"frame {i}: invalid base64", code="bad_frames") from exc
        digest.update(raw)
        size += len(raw)
        out.append((float(t), raw))
    return out, digest.hexdigest(), size


# ------------------------------------------------------------------------------------------ job bodies

def _decode_frames(frames: list[tuple[float, bytes]], settings: Settings):
    from deepsentry.media import decode_image_bytes

    decoded = [(t, decode_image_bytes(raw, settings.limits)) for t, raw in frames]
    shapes = {img.shape for _, img in decoded}
    if len(shapes) > 1:
        raise BadRequest("all frames of one request must have the same size", code="bad_frames")
    return decoded


def _provenance_of(app: web.Application, path: Path) -> dict | None:
    """The provenance block for an analysed file, or None when provenance checking is not installed.
    Provenance is extra evidence: its failure never fails the analysis."""
    try:
        from deepsentry.provenance import verify
    except ModuleNotFoundError:
        return None
    settings = app[keys.SETTINGS]
    client = _ledger_client(app)
    if client is None:
        # the embedded node is still starting (or disabled): check C2PA and watermark only
        settings = settings.replace(ledger_enabled=False)
    try:
        return verify(path, settings, client=client).to_json()
    except DeepsentryError as exc:
        return {"verdict": "unknown", "error": exc.to_json()["error"]}
    except Exception as exc:  # noqa: BLE001
        log.exception("provenance check failed")
        return {"verdict": "unknown", "error": {"code": "provenance_error", "message": f"{type(exc).__name__}: {exc}"}}


def _ledger_client(app: web.Application):
    """The daemon's registry client once the ledger is ready, else None."""
    return app[keys.LEDGER_STATE].get("client")


def _fetch(settings: Settings, url: str, workdir: Path):
    from deepsentry.media.fetch import fetch_url

    return fetch_url(url, workdir, limits=settings.limits, allowlist=settings.url_allowlist,
                     timeout=settings.limits.fetch_timeout_s)


async def _check_url(settings: Settings, url: Any) -> str:
    if not isinstance(url, str) or not url:
        raise BadRequest("'url' must be a non-empty string", code="bad_url")
    from deepsentry.media.fetch import check_url

    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, check_url, url, settings.url_allowlist)
    return url


# ------------------------------------------------------------------------------------------ handlers

async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def info(request: web.Request) -> web.Response:
    app = request.app
    analyzer = app[keys.ANALYZER]
    settings = app[keys.SETTINGS]
    jobs = app[keys.JOBS]
    return web.json_response({
        "version": __version__,
        "device": analyzer.device,
        "model": analyzer.model_info(),
        "model_status": analyzer.model_status,
        "limits": {k: v for k, v in vars(settings.limits).items()},
        "queue": {"workers": jobs.workers, "size": jobs.queue.maxsize, "waiting": jobs.queue.qsize(),
                  "running": jobs.running},
        "ledger": {k: v for k, v in app[keys.LEDGER_STATE].items() if k != "client"},
    })


async def pair(request: web.Request) -> web.Response:
    if _allowed_origin(request) is None:
        raise Forbidden("pairing is only open to the deepsentry extension", code="bad_origin")
    limiter = request.app[keys.PAIRING]
    limiter.check()
    body = await read_json(request)
    code = body.get("code")
    token = request.app[keys.TOKEN]
    if not isinstance(code, str) or normalise_code(code) != pairing_code(token):
        limiter.failed()
        raise AuthError("wrong pairing code: run `deepsentry pair` and copy the code it prints", code="bad_code")
    return web.json_response({"token": token})


async def _respond(request: web.Request, job: Job) -> web.Response:
    wait = _flag(request.query.get("wait", "0"))
    if wait:
        await job.wait_done()
        if job.status == "error":
            err = job.error
            details = dict(err.details or {})
            details["job_id"] = job.job_id
            return error_response(type(err)(err.message, code=err.code, http_status=err.http_status, details=details))
        return web.json_response(job.to_json())
    body = job.to_json()
    body["status_url"] = f"/v1/jobs/{job.job_id}"
    body["events_url"] = f"/v1/jobs/{job.job_id}/events"
    return web.json_response(body, status=200 if job.status == "done" else 202)


def _cache_key(kind: str, ident: str, explain: bool) -> str:
    return f"{kind}:{ident}:{'x' if explain else ''}"


def _submit(request: web.Request, kind: str, fn: Callable, cache_keys: list[str],
            cleanup: Callable[[], None] | None = None) -> Job:
    jobs = request.app[keys.JOBS]

    def remember(job: Job) -> None:
        for key in cache_keys:
            jobs.results.put(key, job.result)

    return jobs.submit(Job(kind=kind, fn=fn, on_done=remember if cache_keys else None, cleanup=cleanup))


async def analyze(request: web.Request) -> web.Response:
    app = request.app
    settings = app[keys.SETTINGS]
    jobs = app[keys.JOBS]
    analyzer = app[keys.ANALYZER]
    files, body = await read_body(request, settings)
    explain = _flag(body.get("explain", request.query.get("explain", "0")))
    nocache = _flag(body.get("nocache", request.query.get("nocache", "0")))

    if files:
        upload = files.get("file") or next(iter(files.values()))
        for other in files.values():
            if other is not upload:
                other.remove()
        if upload.size == 0:
            upload.remove()
            raise UnsupportedMedia("the uploaded file is empty", code="empty_file")
        key = _cache_key("sha", upload.sha256, explain)
        if not nocache and (cached := jobs.results.get_fresh(key)) is not None:
            upload.remove()
            return await _respond(request, jobs.finished("analyze", cached))

        def run_file(progress):
            result = analyzer.analyze_file(upload.path, progress=progress, explain=explain)
            result["provenance"] = _provenance_of(app, upload.path)
            return result

        return await _respond(request, _submit(request, "analyze", run_file, [key], cleanup=upload.remove))

    if "frames" in body:
        frames, sha, size = parse_frames(body, settings)
        key = _cache_key("sha", sha, explain)
        if not nocache and (cached := jobs.results.get_fresh(key)) is not None:
            return await _respond(request, jobs.finished("analyze", cached))
        loop = asyncio.get_running_loop()
        decoded = await loop.run_in_executor(None, _decode_frames, frames, settings)
        source = body.get("media_url") or body.get("page_url")
        source = source if isinstance(source, str) else None

        def run_frames(progress):
            result = analyzer.analyze_frames(decoded, sha256=sha, size=size, source_url=source,
                                             progress=progress, explain=explain)
            result["provenance"] = None
            return result

        return await _respond(request, _submit(request, "analyze", run_frames, [key]))

    if "url" in body:
        url = await _check_url(settings, body.get("url"))
        key = _cache_key("url", url, explain)
        if not nocache and (cached := jobs.results.get_fresh(key)) is not None:
            return await _respond(request, jobs.finished("analyze", cached))
        workdir = Path(tempfile.mkdtemp(dir=_uploads_dir(settings), prefix="url-"))

        def run_url(progress):
            progress(0.01, "fetching")
            fetched = _fetch(settings, url, workdir)
            sha_key = _cache_key("sha", _sha256(fetched.path), explain)
            cached = jobs.results.get_fresh(sha_key)
            if cached is not None and not nocache:
                return {**cached, "media": {**cached["media"], "source_url": url}}
            result = analyzer.analyze_file(fetched.path, progress=progress, explain=explain, source_url=url)
            result["provenance"] = _provenance_of(app, fetched.path)
            jobs.results.put(sha_key, result)
            return result

        return await _respond(request, _submit(request, "analyze", run_url, [key],
                                               cleanup=lambda: shutil.rmtree(workdir, ignore_errors=True)))
    raise BadRequest("send a file (multipart field 'file'), {\"url\": ...} or {\"frames\": [...]}",
                     code="bad_request")


def _sha256(path: Path) -> str:
    from deepsentry.media import sha256_file

    return sha256_file(path)


async def verify_route(request: web.Request) -> web.Response:
    app = request.app
    settings = app[keys.SETTINGS]
    files, body = await read_body(request, settings)
    try:
        from deepsentry.provenance import verify
    except ModuleNotFoundError as exc:
        for u in files.values():
            u.remove()
        raise DeepsentryError("provenance verification is not installed", code="unavailable",
                              http_status=503) from exc
    if files:
        upload = files.get("file") or next(iter(files.values()))

        def run_file(progress):
            progress(0.1, "verifying")
            return verify(upload.path, settings, client=_ledger_client(app)).to_json()

        return await _respond(request, _submit(request, "verify", run_file, [], cleanup=upload.remove))
    if "url" in body:
        url = await _check_url(settings, body.get("url"))
        workdir = Path(tempfile.mkdtemp(dir=_uploads_dir(settings), prefix="url-"))

        def run_url(progress):
            progress(0.05, "fetching")
            fetched = _fetch(settings, url, workdir)
            progress(0.5, "verifying")
            report = verify(fetched.path, settings, client=_ledger_client(app)).to_json()
            report["source_url"] = url
            return report

        return await _respond(request, _submit(request, "verify", run_url, [],
                                               cleanup=lambda: shutil.rmtree(workdir, ignore_errors=True)))
    raise BadRequest("send a file (multipart field 'file') or {\"url\": ...}", code="bad_request")


async def generate_route(request: web.Request) -> web.Response:
    app = request.app
    settings = app[keys.SETTINGS]
    files, fields = await read_body(request, settings)

    def drop():
        for u in files.values():
            u.remove()

    try:
        from deepsentry.generator import generate
    except ModuleNotFoundError as exc:
        drop()
        raise DeepsentryError("the generator is not installed", code="unavailable", http_status=503) from exc
    mode = fields.get("mode", "")
    missing = [n for n in ("consent", "source", "target") if n not in files]
    if mode not in ("swap", "animate") or missing:
        drop()
        raise BadRequest("multipart fields: mode (swap|animate), files consent, source, target (the driving "
                         "video for animate); optional track", code="bad_request",
                         details={"missing": missing})
    try:
        track = int(fields["track"]) if fields.get("track") not in (None, "") else None
    except ValueError as exc:
        drop()
        raise BadRequest("'track' must be an integer", code="bad_request") from exc
    out_dir = settings.data_dir / "generated"
    out_dir.mkdir(parents=True, exist_ok=True)
    holder: dict[str, Job] = {}

    def run(progress):
        job = holder["job"]
        out = out_dir / f"{job.job_id}.mp4"
        receipt = generate(mode, consent=files["consent"].path, source=files["source"].path,
                           target=files["target"].path, out=out, settings=settings, track=track, progress=progress,
                           client=_ledger_client(app))
        result = receipt.to_json() if hasattr(receipt, "to_json") else dict(receipt)
        result["download_url"] = f"/v1/jobs/{job.job_id}/file"
        return result

    job = _submit(request, "generate", run, [], cleanup=drop)
    holder["job"] = job
    return await _respond(request, job)


def _job_or_404(request: web.Request) -> Job:
    job = request.app[keys.JOBS].get(request.match_info["job_id"])
    if job is None:
        raise NotFound(f"no job {request.match_info['job_id']!r} (unknown or expired)", code="unknown_job")
    return job


async def job_status(request: web.Request) -> web.Response:
    job = _job_or_404(request)
    if _flag(request.query.get("wait", "0")):
        await job.wait_done()
    return web.json_response(job.to_json())


async def job_events(request: web.Request) -> web.StreamResponse:
    job = _job_or_404(request)
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    origin = _allowed_origin(request)
    if origin:
        _cors(resp, origin)
    await resp.prepare(request)
    last = None
    deadline = time.monotonic() + 3600
    while time.monotonic() < deadline:
        state = job.to_json()
        snapshot = (state["status"], state["progress"], state["stage"])
        if snapshot != last:
            event = {"done": "done", "error": "error"}.get(state["status"], "progress")
            await resp.write(f"event: {event}\ndata: {json.dumps(state)}\n\n".encode())
            last = snapshot
        if state["status"] in ("done", "error"):
            break
        await job.wait_change(15.0)
        if (state["status"], state["progress"], state["stage"]) == last and job.status == state["status"]:
            await resp.write(b": keep-alive\n\n")
    await resp.write_eof()
    return resp


async def job_file(request: web.Request) -> web.StreamResponse:
    job = _job_or_404(request)
    if job.kind != "generate" or job.status != "done":
        raise NotFound("this job has no output file", code="no_file")
    path = request.app[keys.SETTINGS].data_dir / "generated" / f"{job.job_id}.mp4"
    if not path.exists():
        raise NotFound("the output file is gone", code="no_file")
    return web.FileResponse(path, headers={"Content-Type": "video/mp4"})


async def openapi(request: web.Request) -> web.Response:
    from deepsentry.daemon.openapi import spec

    return web.json_response(spec(request.app[keys.SETTINGS]))


ROUTES: list[tuple[str, str, Callable]] = [
    ("GET", "/v1/health", health),
    ("GET", "/v1/info", info),
    ("POST", "/v1/pair", pair),
    ("POST", "/v1/analyze", analyze),
    ("POST", "/v1/verify", verify_route),
    ("POST", "/v1/generate", generate_route),
    ("GET", "/v1/jobs/{job_id}", job_status),
    ("GET", "/v1/jobs/{job_id}/events", job_events),
    ("GET", "/v1/jobs/{job_id}/file", job_file),
    ("GET", "/v1/openapi.json", openapi),
]


# ------------------------------------------------------------------------------------------ lifecycle

async def _jobs_ctx(app: web.Application):
    jobs = app[keys.JOBS]
    await jobs.start()
    yield
    await jobs.stop()


async def _analyzer_ctx(app: web.Application):
    if app.get(keys.ANALYZER) is None:
        from deepsentry.detector.pipeline import Analyzer

        loop = asyncio.get_running_loop()
        app[keys.ANALYZER] = await loop.run_in_executor(None, Analyzer, app[keys.SETTINGS])
    yield


async def _ledger_ctx(app: web.Application):
    """Start (or connect to) the ledger in the background; flush the registration outbox now and then."""
    settings = app[keys.SETTINGS]
    state = app[keys.LEDGER_STATE]
    task = None
    if not settings.ledger_enabled:
        state["status"] = "disabled"
    else:
        try:
            from deepsentry.ledger import open_registry
        except ModuleNotFoundError:
            state["status"] = "unavailable"
            open_registry = None
        if open_registry is not None:
            task = asyncio.create_task(_ledger_loop(app, open_registry))
    yield
    if task:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    client = state.pop("client", None)
    if client is not None and hasattr(client, "close"):
        await asyncio.get_running_loop().run_in_executor(None, client.close)


async def _ledger_loop(app: web.Application, open_registry) -> None:
    loop = asyncio.get_running_loop()
    state = app[keys.LEDGER_STATE]
    state["status"] = "starting"
    delay = 2.0
    while True:
        try:
            if state.get("client") is None:
                state["client"] = await loop.run_in_executor(None, open_registry, app[keys.SETTINGS])
                state.update(status="ready", error=None)
            client = state["client"]
            if hasattr(client, "flush_outbox"):
                await loop.run_in_executor(None, client.flush_outbox)
            delay = 10.0
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - keep serving detection when the node is down
            state.update(status="error", error=str(exc))
            log.warning("ledger unavailable: %s", exc)
            delay = min(60.0, delay * 2)
        await asyncio.sleep(delay)


def create_app(settings: Settings, *, analyzer: Any = None) -> web.Application:
    """Build the daemon. ``analyzer`` may be passed in (tests share one); otherwise it loads at start."""
    app = web.Application(middlewares=[cors_middleware, error_middleware, security_middleware],
                          client_max_size=JSON_BODY_MAX)
    app[keys.SETTINGS] = settings
    app[keys.TOKEN] = load_or_create_token(settings.token_path)
    app[keys.JOBS] = JobManager(workers=settings.workers, queue_size=settings.queue_size)
    app[keys.PAIRING] = PairingLimiter()
    app[keys.LEDGER_STATE] = {"status": "disabled"}
    app[keys.ANALYZER] = analyzer
    app.cleanup_ctx.append(_analyzer_ctx)
    app.cleanup_ctx.append(_jobs_ctx)
    app.cleanup_ctx.append(_ledger_ctx)
    for method, path, handler in ROUTES:
        app.router.add_route(method, path, handler)
    return app


def run(settings: Settings, *, print_fn: Callable[[str], None] = print) -> None:
    """Serve until interrupted, printing the URL and pairing token once listening."""
    if settings.host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("binding to %s exposes the daemon beyond this machine", settings.host)
    asyncio.run(_serve(settings, print_fn))


async def _serve(settings: Settings, print_fn: Callable[[str], None]) -> None:
    app = create_app(settings)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port)
    await site.start()
    port = runner.addresses[0][1] if runner.addresses else settings.port
    token = app[keys.TOKEN]
    print_fn(f"deepsentry daemon listening on {settings.replace(port=port).url}")
    print_fn(f"pairing token: {token}")
    print_fn(f"pairing code:  {pairing_code(token)}  (enter it in the extension's options, or paste the token)")
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
