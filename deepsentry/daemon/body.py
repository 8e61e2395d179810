"""Request bodies: multipart uploads streamed to disk, JSON objects, and the extension's frames.

Every cap is enforced while reading, before anything is decoded: total multipart bytes, part count,
bytes per file, JSON nesting depth (see :mod:`deepsentry.jsonio`), frame count and the pixels a frames
request may decode (read from each image's header). Anything malformed is a 400 in the error shape;
nothing a client sends can crash the process or leave a file behind.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import math
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from deepsentry import jsonio
from deepsentry.daemon import appkeys
from deepsentry.errors import BadRequest, DeepsentryError, TooLarge, UnsupportedMedia
from deepsentry.settings import Settings

JSON_BODY_MAX = 96 * 1024 * 1024      # base64 frames from the extension
MAX_PARTS = 16                        # multipart parts (files and fields) in one request
FIELD_MAX = 4096                      # bytes of one text field
_OFF_LOOP_JSON = 1 << 20              # JSON bodies larger than this are decoded off the event loop


def uploads_dir(settings: Settings) -> Path:
    d = settings.data_dir / "uploads"
    d.mkdir(parents=True, exist_ok=True)
    return d


def sweep_uploads(settings: Settings) -> int:
    """Remove what a previous daemon left in the uploads folder (it was killed mid-request): every
    request's files live there only while that request or its job runs. Returns the entries removed."""
    d = uploads_dir(settings)
    n = 0
    for p in d.iterdir():
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)
        n += 1
    return n


_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def flag(value: Any, name: str = "flag") -> bool:
    """A boolean from JSON (true/false) or a query string (1/0, true/false, yes/no, on/off); anything
    else is a 400, so a typo never silently means false."""
    if isinstance(value, bool):
        return value
    text = str(value).lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise BadRequest(f"'{name}' must be true or false, not {str(value)[:40]!r}", code="bad_request")


def only_keys(body: dict[str, Any], allowed: tuple[str, ...]) -> None:
    """Refuse (400) a JSON body with keys other than ``allowed``."""
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise BadRequest(f"unknown field(s) in the JSON body: {', '.join(repr(u[:40]) for u in unknown)}; "
                         f"expected {', '.join(allowed)}", code="bad_request")


def query_flags(request: web.Request, allowed: tuple[str, ...] = ("wait", "explain", "nocache")) -> dict[str, bool]:
    """The route's boolean query parameters; an unknown parameter is a 400."""
    unknown = sorted(set(request.query) - set(allowed))
    if unknown:
        raise BadRequest(f"unknown query parameter(s): {', '.join(u[:40] for u in unknown)}; this route takes "
                         f"{', '.join(allowed)}", code="bad_request")
    return {k: flag(request.query[k], k) for k in allowed if k in request.query}


@dataclass
class Upload:
    """A file part on disk (removed with :meth:`remove`, idempotent)."""

    path: Path
    sha256: str
    size: int
    filename: str | None

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


class Uploads(dict):
    """The file parts of one request by field name; ``remove_all`` deletes every one of them."""

    def remove_all(self) -> None:
        for u in self.values():
            u.remove()

    def only(self, fields: dict[str, str], files: tuple[str, ...], texts: tuple[str, ...]) -> None:
        """Refuse (400, every part removed) a body with parts other than these file and text fields."""
        unknown = sorted((set(self) - set(files)) | (set(fields) - set(texts)))
        if unknown:
            self.remove_all()
            raise BadRequest(f"unknown multipart field(s): {', '.join(repr(u[:40]) for u in unknown)}; this route "
                             f"takes {', '.join(files + texts)}", code="bad_multipart")
        empty = sorted(name for name, u in self.items() if u.size == 0)
        if empty:
            self.remove_all()
            raise UnsupportedMedia(f"the uploaded file {empty[0]!r} is empty", code="empty_file")

    def main(self) -> Upload | None:
        """The ``file`` part (or the first one), with every other part removed from disk now."""
        if not self:
            return None
        upload = self.get("file") or next(iter(self.values()))
        for name, other in list(self.items()):
            if other is not upload:
                other.remove()
                del self[name]
        return upload


async def read_multipart(request: web.Request, settings: Settings) -> tuple[Uploads, dict[str, str]]:
    """Stream every file part to disk (hashing as it goes); small text fields come back as a dict.
    Caps: ``limits.max_bytes`` per file and for the whole body, :data:`MAX_PARTS` parts."""
    max_bytes = settings.limits.max_bytes
    body_max = max_bytes + 1024 * 1024
    if request.content_length and request.content_length > body_max:
        raise TooLarge(f"upload of {request.content_length} bytes is over the limit of {max_bytes}")
    files = Uploads()
    fields: dict[str, str] = {}
    total = 0
    try:
        reader = await request.multipart()
        parts = 0
        while (part := await reader.next()) is not None:
            parts += 1
            if parts > MAX_PARTS:
                raise BadRequest(f"more than {MAX_PARTS} parts in one multipart body", code="bad_multipart")
            if part.filename is None and part.name != "file":
                raw = await part.read_chunk(FIELD_MAX)
                total += len(raw)
                fields[part.name or ""] = raw.decode("utf-8", "replace")
                continue
            fd, tmp = tempfile.mkstemp(dir=uploads_dir(settings), prefix="up-")
            upload = Upload(Path(tmp), "", 0, part.filename)
            if (old := files.get(part.name or "file")) is not None:
                old.remove()
            files[part.name or "file"] = upload
            digest, size = hashlib.sha256(), 0
            with os.fdopen(fd, "wb") as fh:
                while chunk := await part.read_chunk(1 << 20):
                    size += len(chunk)
                    total += len(chunk)
                    if size > max_bytes:
                        raise TooLarge(f"upload is over the limit of {max_bytes} bytes")
                    if total > body_max:
                        raise TooLarge(f"the request's files are over the limit of {max_bytes} bytes together")
                    digest.update(chunk)
                    fh.write(chunk)
            upload.sha256, upload.size = digest.hexdigest(), size
    except DeepsentryError:
        files.remove_all()
        raise
    except (ValueError, AssertionError, HttpProcessingError, UnicodeDecodeError) as exc:
        files.remove_all()
        raise BadRequest(f"malformed multipart body: {getattr(exc, 'message', None) or exc}",
                         code="bad_multipart") from exc
    except BaseException:
        files.remove_all()          # client went away, or the daemon is stopping
        raise
    return files, fields


async def read_json(request: web.Request) -> dict[str, Any]:
    big = request.content_length is None or request.content_length > _OFF_LOOP_JSON
    gate = request.app.get(appkeys.BIG_BODIES) if big else None
    try:
        if gate is None:
            raw = await request.read()
        else:
            async with gate:
                raw = await request.read()
    except web.HTTPRequestEntityTooLarge as exc:
        raise TooLarge("JSON body too large") from exc
    if len(raw) > _OFF_LOOP_JSON:
        body = await asyncio.get_running_loop().run_in_executor(None, jsonio.loads, raw)
    else:
        body = jsonio.loads(raw or b"null")
    if not isinstance(body, dict):
        raise BadRequest("the JSON body must be an object", code="bad_json")
    return body


async def read_body(request: web.Request, settings: Settings) -> tuple[Uploads, dict[str, Any]]:
    ctype = request.content_type
    if ctype.startswith("multipart/"):
        return await read_multipart(request, settings)
    if ctype == "application/json":
        return Uploads(), await read_json(request)
    raise UnsupportedMedia(f"send multipart/form-data (a file) or application/json, not {ctype or 'no content type'}",
                           code="unsupported_content_type")


@dataclass(frozen=True)
class FramesBody:
    """The extension's captured frames, still encoded: decoding happens in the job, after admission."""

    frames: tuple[tuple[float, bytes], ...]
    sha256: str
    size: int
    pixels: int


def parse_frames(body: dict[str, Any], settings: Settings) -> FramesBody:
    """Validate ``{"frames": [{"t", "jpeg"}, ...]}``: count, finite non-negative times, base64, a known
    image type per frame, and the pixels all frames would decode to (from their headers) against
    ``limits.max_request_pixels``."""
    from deepsentry.media import image_header

    limits = settings.limits
    frames = body.get("frames")
    if not isinstance(frames, list) or not frames:
        raise BadRequest("'frames' must be a non-empty list of {t, jpeg}", code="bad_frames")
    if len(frames) > limits.max_request_frames:
        raise TooLarge(f"{len(frames)} frames sent; at most {limits.max_request_frames}")
    out: list[tuple[float, bytes]] = []
    digest, size, pixels = hashlib.sha256(), 0, 0
    for i, fr in enumerate(frames):
        if not isinstance(fr, dict) or not isinstance(fr.get("jpeg"), str):
            raise BadRequest(f"frame {i}: expected an object with a base64 'jpeg' string", code="bad_frames")
        t = fr.get("t", i)
        if not isinstance(t, (int, float)) or isinstance(t, bool) or not math.isfinite(t) or t < 0:
            raise BadRequest(f"frame {i}: 't' must be a finite number of seconds >= 0", code="bad_frames")
        data = fr["jpeg"]
        if data.startswith("data:"):
            data = data.partition(",")[2]
        try:
            raw = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise BadRequest(f"frame {i}: invalid base64", code="bad_frames") from exc
        w, h = image_header(raw, limits)
        pixels += w * h
        if pixels > limits.max_request_pixels:
            raise TooLarge(f"the frames would decode to over {limits.max_request_pixels} pixels together; "
                           "send fewer or smaller frames",
                           details={"limit": "max_request_pixels", "max": limits.max_request_pixels})
        digest.update(raw)
        size += len(raw)
        out.append((float(t), raw))
    return FramesBody(tuple(out), digest.hexdigest(), size, pixels)
