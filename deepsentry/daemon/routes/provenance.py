"""``POST /v1/verify`` (a file or URL against C2PA, the watermark and the ledger) and
``POST /v1/generate`` (a consented swap or animation, sealed and registered)."""

from __future__ import annotations

import asyncio

from aiohttp import web

from deepsentry.daemon import appkeys
from deepsentry.daemon.body import only_keys, query_flags, read_body
from deepsentry.daemon.jobs import Job
from deepsentry.daemon.routes.analyze import check_url, fetch, url_workdir
from deepsentry.daemon.routes.jobs import respond, submit
from deepsentry.errors import BadRequest


async def verify_route(request: web.Request) -> web.Response:
    from deepsentry.provenance import verify

    app = request.app
    settings = app[appkeys.SETTINGS]
    ledger = app[appkeys.LEDGER]
    query_flags(request, ("wait",))
    files, body = await read_body(request, settings)
    if request.content_type.startswith("multipart/"):
        files.only(body, ("file",), ())
    else:
        only_keys(body, ("url",))
    if files:
        upload = files.main()

        def run_file(progress):
            progress(0.1, "verifying")
            return verify(upload.path, settings, client=ledger.client, source=upload.filename).to_json()

        return await respond(request, submit(request, "verify", run_file, cleanup=upload.remove))
    if "url" in body:
        url = await check_url(settings, body.get("url"))
        workdir, cleanup = url_workdir(settings)

        def run_url(progress):
            progress(0.05, "fetching")
            fetched = fetch(settings, url, workdir)
            progress(0.5, "verifying")
            report = verify(fetched.path, settings, client=ledger.client, source=url).to_json()
            report["source_url"] = url
            return report

        return await respond(request, submit(request, "verify", run_url, cleanup=cleanup))
    raise BadRequest("send a file (multipart field 'file') or {\"url\": ...}", code="bad_request")


async def generate_route(request: web.Request) -> web.Response:
    from deepsentry.generator import generate

    app = request.app
    settings = app[appkeys.SETTINGS]
    ledger = app[appkeys.LEDGER]
    query_flags(request, ("wait",))
    files, fields = await read_body(request, settings)
    if not request.content_type.startswith("multipart/"):
        raise BadRequest("send multipart/form-data: mode, consent, source, target (and optional track)",
                         code="bad_request")
    files.only(fields, ("consent", "source", "target"), ("mode", "track"))
    mode = fields.get("mode", "")
    missing = [n for n in ("consent", "source", "target") if n not in files]
    if mode not in ("swap", "animate") or missing:
        files.remove_all()
        raise BadRequest("multipart fields: mode (swap|animate), files consent, source, target (the driving "
                         "video for animate); optional track", code="bad_request",
                         details={"missing": missing})
    try:
        track = int(fields["track"]) if fields.get("track") not in (None, "") else None
    except ValueError as exc:
        files.remove_all()
        raise BadRequest("'track' must be an integer", code="bad_request") from exc
    try:                                           # a record that is not one is refused before queueing
        from deepsentry.generator.consent import load_consent

        await asyncio.get_running_loop().run_in_executor(None, load_consent, files["consent"].path)
    except BaseException:
        files.remove_all()
        raise
    out_dir = settings.data_dir / "generated"
    out_dir.mkdir(parents=True, exist_ok=True)
    holder: dict[str, Job] = {}

    def run(progress):
        job = holder["job"]
        out = out_dir / f"{job.job_id}.mp4"
        receipt = generate(mode, consent=files["consent"].path, source=files["source"].path,
                           target=files["target"].path, out=out, settings=settings, track=track, progress=progress,
                           client=ledger.client)
        result = receipt.to_json()
        result["download_url"] = f"/v1/jobs/{job.job_id}/file"
        return result

    job = submit(request, "generate", run, cleanup=files.remove_all)
    holder["job"] = job
    return await respond(request, job)
