"""``POST /v1/analyze``: a file upload, captured frames, or a media/page URL, each answered from the
result cache when the same content (or URL) was analysed recently, else queued as a job."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable

from aiohttp import web

from deepsentry.daemon import appkeys
from deepsentry.analysis import analyze_with_provenance
from deepsentry.daemon.body import flag, only_keys, parse_frames, query_flags, read_body, uploads_dir
from deepsentry.daemon.routes.jobs import respond, submit
from deepsentry.errors import BadRequest
from deepsentry.settings import Settings


def cache_key(kind: str, ident: str, explain: bool, provenance: bool = True) -> str:
    return f"{kind}:{ident}:{'x' if explain else ''}{'' if provenance else ':np'}"


async def check_url(settings: Settings, url: Any) -> str:
    if not isinstance(url, str) or not url:
        raise BadRequest("'url' must be a non-empty string", code="bad_url")
    from deepsentry.media.fetch import check_url as _check

    await asyncio.get_running_loop().run_in_executor(None, _check, url, settings.url_allowlist)
    return url


def fetch(settings: Settings, url: str, workdir: Path):
    from deepsentry.media.fetch import fetch_url

    return fetch_url(url, workdir, limits=settings.limits, allowlist=settings.url_allowlist,
                     timeout=settings.limits.fetch_timeout_s)


def url_workdir(settings: Settings) -> tuple[Path, Callable[[], None]]:
    """A private folder for one URL job's download, and the cleanup that removes it."""
    workdir = Path(tempfile.mkdtemp(dir=uploads_dir(settings), prefix="url-"))
    return workdir, lambda: shutil.rmtree(workdir, ignore_errors=True)


async def analyze(request: web.Request) -> web.Response:
    app = request.app
    settings = app[appkeys.SETTINGS]
    jobs = app[appkeys.JOBS]
    analyzer = app[appkeys.ANALYZER]
    ledger = app[appkeys.LEDGER]
    query = query_flags(request, ("wait", "explain", "nocache", "provenance"))
    files, body = await read_body(request, settings)
    try:
        if request.content_type.startswith("multipart/"):
            files.only(body, ("file",), ("explain", "nocache", "provenance"))
        elif "frames" in body:
            only_keys(body, ("frames", "page_url", "media_url", "explain", "nocache"))
        else:
            only_keys(body, ("url", "explain", "nocache", "provenance"))
        json_body = not request.content_type.startswith("multipart/")
        for name in ("explain", "nocache", "provenance"):
            if json_body and name in body and not isinstance(body[name], bool):
                raise BadRequest(f"'{name}' must be true or false", code="bad_request")
        explain = flag(body.get("explain", query.get("explain", False)), "explain")
        nocache = flag(body.get("nocache", query.get("nocache", False)), "nocache")
        # provenance=false: the verdict alone, without waiting for the provenance check (its watermark
        # read takes longer than the detector on a CPU); "provenance" is then null, as for frames
        with_provenance = flag(body.get("provenance", query.get("provenance", True)), "provenance")
    except BaseException:
        files.remove_all()
        raise

    async def cached_or(key: str, make_job: Callable[[], Any], cleanup: Callable[[], None] | None = None):
        if not nocache and (cached := jobs.results.get_fresh(key)) is not None:
            if cleanup:
                cleanup()
            return await respond(request, jobs.finished("analyze", cached))
        return await respond(request, make_job())

    provenance = ledger.provenance_of if with_provenance else None
    if files:
        upload = files.main()

        def run_file(progress):
            return analyze_with_provenance(analyzer, upload.path, provenance, progress=progress,
                                           explain=explain).to_json()

        key = cache_key("sha", upload.sha256, explain, with_provenance)
        return await cached_or(key, lambda: submit(request, "analyze", run_file, [key], cleanup=upload.remove),
                               cleanup=upload.remove)

    if "frames" in body:
        frames = parse_frames(body, settings)
        del body["frames"]                      # the job holds the encoded frames only
        source = body.get("media_url") or body.get("page_url")
        source = source if isinstance(source, str) else None

        def run_frames(progress):
            progress(0.02, "decoding")
            decoded = analyzer.decode_frames(frames.frames)
            return analyzer.analyze_frames(decoded, sha256=frames.sha256, size=frames.size, source_url=source,
                                           progress=progress, explain=explain).to_json()

        key = cache_key("sha", frames.sha256, explain)
        return await cached_or(key, lambda: submit(request, "analyze", run_frames, [key], held_bytes=frames.size))

    if "url" in body:
        url = await check_url(settings, body.get("url"))

        def make_url_job():
            workdir, cleanup = url_workdir(settings)

            def run_url(progress):
                progress(0.01, "fetching")
                fetched = fetch(settings, url, workdir)
                sha_key = cache_key("sha", _sha256(fetched.path), explain, with_provenance)
                cached = jobs.results.get_fresh(sha_key)
                if cached is not None and not nocache:
                    return {**cached, "media": {**cached["media"], "source_url": url}}
                result = analyze_with_provenance(analyzer, fetched.path, provenance, progress=progress,
                                                 explain=explain, source_url=url).to_json()
                jobs.results.put(sha_key, result)
                return result

            return submit(request, "analyze", run_url, [key], cleanup=cleanup)

        key = cache_key("url", url, explain, with_provenance)
        return await cached_or(key, make_url_job)
    raise BadRequest("send a file (multipart field 'file'), {\"url\": ...} or {\"frames\": [...]}",
                     code="bad_request")


def _sha256(path: Path) -> str:
    from deepsentry.media import sha256_file

    return sha256_file(path)
