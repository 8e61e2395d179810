"""Health, daemon info, pairing by code, and the OpenAPI document."""

from __future__ import annotations

from aiohttp import web

from deepsentry import __version__
from deepsentry.daemon import appkeys
from deepsentry.daemon.auth import normalise_code, pairing_code
from deepsentry.daemon.body import read_json
from deepsentry.daemon.middleware import allowed_origin, json_response
from deepsentry.errors import AuthError, Forbidden
from deepsentry.records import json_value


async def health(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


async def info(request: web.Request) -> web.Response:
    app = request.app
    analyzer = app[appkeys.ANALYZER]
    settings = app[appkeys.SETTINGS]
    jobs = app[appkeys.JOBS]
    return json_response({
        "version": __version__,
        "device": analyzer.device,
        "model": json_value(analyzer.model_info()),
        "model_status": analyzer.model_status,
        "limits": dict(vars(settings.limits)),
        "queue": {"workers": jobs.workers, "size": jobs.queue.maxsize, "waiting": jobs.queue.qsize(),
                  "running": jobs.running},
        "ledger": app[appkeys.LEDGER].to_json(),
    })


async def pair(request: web.Request) -> web.Response:
    """Exchange the short code for the token. The attempt is counted before the body is read (no await
    between the check and the count), so concurrent guesses cannot pass the limit; a right code
    gives its attempt back."""
    if allowed_origin(request) is None:
        raise Forbidden("pairing is only open to the deepsentry extension", code="bad_origin")
    attempt = request.app[appkeys.PAIRING].begin()
    body = await read_json(request)
    code = body.get("code")
    token = request.app[appkeys.TOKEN]
    if not isinstance(code, str) or normalise_code(code) != pairing_code(token):
        raise AuthError("wrong pairing code: run `deepsentry pair` and copy the code it prints", code="bad_code")
    attempt.refund()
    return json_response({"token": token})


async def openapi(request: web.Request) -> web.Response:
    from deepsentry.daemon.openapi import spec

    return json_response(spec(request.app[appkeys.SETTINGS]))
