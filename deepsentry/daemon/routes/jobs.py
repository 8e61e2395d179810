"""Job routes (status, server-sent events, a generated file) and the helpers every job route uses."""

from __future__ import annotations

import time
from typing import Callable

from aiohttp import web

from deepsentry import jsonio
from deepsentry.daemon import appkeys
from deepsentry.daemon.body import flag, query_flags
from deepsentry.daemon.jobs import Job
from deepsentry.daemon.middleware import add_cors, allowed_origin, error_response, json_response
from deepsentry.errors import NotFound


def submit(request: web.Request, kind: str, fn: Callable, cache_keys: list[str] = (),
           cleanup: Callable[[], None] | None = None, held_bytes: int = 0) -> Job:
    """Queue a job (429 when full); its result is cached under ``cache_keys`` when it succeeds.
    ``cleanup`` runs when the job ends, whatever the outcome, or at once when it is refused."""
    jobs = request.app[appkeys.JOBS]

    def remember(job: Job) -> None:
        for key in cache_keys:
            jobs.results.put(key, job.result)

    return jobs.submit(Job(kind=kind, fn=fn, on_done=remember if cache_keys else None, cleanup=cleanup),
                       held_bytes=held_bytes)


async def respond(request: web.Request, job: Job) -> web.Response:
    """With ``?wait=1``: the finished job (or its error); otherwise 202 with the URLs to follow it."""
    if flag(request.query.get("wait", "0"), "wait"):
        await job.wait_done()
        if job.status == "error":
            err = job.error
            details = dict(err.details or {})
            details["job_id"] = job.job_id
            return error_response(type(err)(err.message, code=err.code, http_status=err.http_status, details=details))
        return json_response(job.to_json())
    body = job.to_json()
    body["status_url"] = f"/v1/jobs/{job.job_id}"
    body["events_url"] = f"/v1/jobs/{job.job_id}/events"
    return json_response(body, status=200 if job.status == "done" else 202)


def _job_or_404(request: web.Request) -> Job:
    job = request.app[appkeys.JOBS].get(request.match_info["job_id"])
    if job is None:
        raise NotFound(f"no job {request.match_info['job_id']!r} (unknown or expired)", code="unknown_job")
    return job


async def job_status(request: web.Request) -> web.Response:
    job = _job_or_404(request)
    if query_flags(request, ("wait",)).get("wait"):
        await job.wait_done()
    return json_response(job.to_json())


async def job_events(request: web.Request) -> web.StreamResponse:
    job = _job_or_404(request)
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    origin = allowed_origin(request)
    if origin:
        add_cors(resp, origin)
    await resp.prepare(request)
    last = None
    deadline = time.monotonic() + 3600
    while time.monotonic() < deadline:
        state = job.to_json()
        snapshot = (state["status"], state["progress"], state["stage"])
        if snapshot != last:
            event = {"done": "done", "error": "error"}.get(state["status"], "progress")
            await resp.write(f"event: {event}\ndata: {jsonio.dumps(state)}\n\n".encode())
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
    path = request.app[appkeys.SETTINGS].data_dir / "generated" / f"{job.job_id}.mp4"
    if not path.exists():
        raise NotFound("the output file is gone", code="no_file")
    return web.FileResponse(path, headers={"Content-Type": "video/mp4"})
