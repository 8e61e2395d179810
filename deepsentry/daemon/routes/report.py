"""``POST /v1/report?format=html|pdf``: a shareable report of an analysis result the client holds."""

from __future__ import annotations

import asyncio

from aiohttp import web

from deepsentry.daemon.body import read_json
from deepsentry.errors import BadRequest
from deepsentry.report import Report
from deepsentry.report.html import REPORT_CSP
from deepsentry.report.model import FORMATS

_TYPES = {"html": "text/html; charset=utf-8", "pdf": "application/pdf"}


async def report_route(request: web.Request) -> web.Response:
    fmt = request.query.get("format", "html")
    if fmt not in FORMATS:
        raise BadRequest(f"format must be one of {', '.join(FORMATS)}", code="bad_request")
    report = Report.from_json(await read_json(request))
    data = await asyncio.get_running_loop().run_in_executor(None, report.render, fmt)
    name = f"deepsentry-report-{report.sha256[:12]}.{fmt}"
    return web.Response(body=data, headers={
        "Content-Type": _TYPES[fmt], "Content-Disposition": f'attachment; filename="{name}"',
        "Content-Security-Policy": REPORT_CSP, "X-Content-Type-Options": "nosniff"})
