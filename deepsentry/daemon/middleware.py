"""The daemon's door: Host and Origin checks, the pairing token, CORS, and one error shape.

Every error, including aiohttp's own 400/404/405/413 and the parser's refusals, is rendered as
``{"error": {"code", "message", "details"}}`` with the status the error class carries.
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from deepsentry import jsonio
from deepsentry.daemon import appkeys
from deepsentry.daemon.auth import check_bearer
from deepsentry.errors import DeepsentryError, Forbidden
from deepsentry.settings import origin_allowed

log = logging.getLogger("deepsentry.daemon")

NO_TOKEN_PATHS = {"/v1/health", "/v1/pair"}
CORS_HEADERS = "Authorization, Content-Type"
CORS_METHODS = "GET, POST, OPTIONS"
_HTTP_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
               405: "method_not_allowed", 413: "too_large", 415: "unsupported_media", 429: "busy"}


def json_response(body, status: int = 200) -> web.Response:
    """A JSON response that is always valid JSON (no NaN or Infinity; see ``jsonio.dumps``)."""
    return web.json_response(body, status=status, dumps=jsonio.dumps)


def error_response(exc: DeepsentryError) -> web.Response:
    resp = json_response(exc.to_json(), status=exc.http_status)
    retry = exc.details.get("retry_after") if exc.details else None
    if exc.http_status == 429 and retry:
        resp.headers["Retry-After"] = str(int(retry))
    return resp


def allowed_origin(request: web.Request) -> str | None:
    origin = request.headers.get("Origin")
    if origin and origin_allowed(origin, request.app[appkeys.SETTINGS].allowed_origins):
        return origin
    return None


def _host_ok(request: web.Request) -> bool:
    host = request.headers.get("Host", "")
    sock = request.transport.get_extra_info("sockname") if request.transport else None
    port = sock[1] if sock else request.app[appkeys.SETTINGS].port
    settings = request.app[appkeys.SETTINGS]
    names = {"127.0.0.1", "localhost", "[::1]", settings.host if ":" not in settings.host else f"[{settings.host}]"}
    return host in {f"{n}:{port}" for n in names} | ({n for n in names} if port == 80 else set())


def add_cors(resp: web.StreamResponse, origin: str) -> None:
    resp.headers["Access-Control-Allow-Origin"] = origin
    resp.headers["Vary"] = "Origin"
    resp.headers["Access-Control-Allow-Headers"] = CORS_HEADERS
    resp.headers["Access-Control-Allow-Methods"] = CORS_METHODS
    resp.headers["Access-Control-Max-Age"] = "600"


@web.middleware
async def cors_middleware(request: web.Request, handler):
    origin = allowed_origin(request)
    resp = await handler(request)
    if origin and not resp.prepared:
        add_cors(resp, origin)
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
        resp = error_response(DeepsentryError(message, code=code, http_status=exc.status))
        if isinstance(exc, web.HTTPMethodNotAllowed):
            resp.headers["Allow"] = ", ".join(sorted(exc.allowed_methods))
        return resp
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
    if origin is not None and allowed_origin(request) is None:
        raise Forbidden(f"Origin {origin!r} is not an allowed extension", code="bad_origin")
    if request.method == "OPTIONS":
        return web.Response(status=204)
    if request.path not in NO_TOKEN_PATHS:
        check_bearer(request.headers.get("Authorization"), request.app[appkeys.TOKEN])
    return await handler(request)


MIDDLEWARES = [cors_middleware, error_middleware, security_middleware]
