"""``Report``: what a report is made from, validated once, rendered to HTML or PDF."""

from __future__ import annotations

import base64
import binascii
import datetime as _dt
import math
import re
from dataclasses import dataclass
from typing import Any

from deepsentry.errors import BadRequest, DeepsentryError
from deepsentry.settings import Limits

FORMATS = ("html", "pdf")
# A result arrives from the client, so its shape is checked before anything is drawn: numbers are finite
# numbers, images are base64 of an image whose header passes these limits (nothing is decoded here).
IMAGE_LIMITS = Limits(max_bytes=4 * 1024 * 1024, max_pixels=4_000_000)
MAX_FACES, MAX_THUMBNAILS, MAX_POINTS = 64, 64, 4096
_B64 = re.compile(r"^[A-Za-z0-9+/]*={0,2}$")


def _bad(what: str) -> BadRequest:
    return BadRequest(f"the result's {what} is not as /v1/analyze gives it", code="bad_request")


def _num(x: Any, what: str, optional: bool = False) -> None:
    if optional and x is None:
        return
    if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x):
        raise _bad(what)


def image_bytes(b64: Any, what: str) -> bytes:
    """The bytes of a base64 image field, its header checked against ``IMAGE_LIMITS``."""
    from deepsentry.media import image_header

    if not isinstance(b64, str) or len(b64) > IMAGE_LIMITS.max_bytes * 4 // 3 + 4 or not _B64.match(b64):
        raise _bad(what)
    try:
        raw = base64.b64decode(b64, validate=True)
        image_header(raw, IMAGE_LIMITS)
    except (binascii.Error, ValueError, DeepsentryError) as exc:
        raise _bad(what) from exc
    return raw


def _list(x: Any, what: str, limit: int) -> list:
    if not isinstance(x, list) or len(x) > limit or not all(isinstance(i, dict) for i in x):
        raise _bad(what)
    return x


def check_result(result: dict[str, Any]) -> None:
    """400 unless ``result`` has the shape of an analysis result (the fields a report reads)."""
    media, verdict = result.get("media"), result.get("verdict")
    if not isinstance(media, dict) or not isinstance(verdict, dict):
        raise BadRequest("send a result as /v1/analyze returns it (with media, verdict and faces)", code="bad_request")
    if not isinstance(media.get("sha256"), str) or not re.fullmatch(r"[0-9a-f]{64}", media["sha256"]):
        raise _bad("media.sha256")
    for k in ("width", "height", "duration", "frames_sampled"):
        _num(media.get(k), f"media.{k}", optional=True)
    for k in ("fake_prob", "threshold"):
        _num(verdict.get(k), f"verdict.{k}", optional=True)
    band = verdict.get("uncertain_band")
    if band is not None and (not isinstance(band, list) or len(band) != 2):
        raise _bad("verdict.uncertain_band")
    for b in band or []:
        _num(b, "verdict.uncertain_band")
    points = 0
    for i, face in enumerate(_list(result.get("faces"), "faces", MAX_FACES)):
        _num(face.get("fake_prob"), f"faces[{i}].fake_prob", optional=True)
        boxes = _list(face.get("boxes", []), f"faces[{i}].boxes", MAX_POINTS)
        probs = _list(face.get("frame_probs", []), f"faces[{i}].frame_probs", MAX_POINTS)
        points += len(boxes) + len(probs)
        for b in boxes:
            for k in ("t", "x", "y", "w", "h"):
                _num(b.get(k), f"faces[{i}].boxes.{k}")
        for p in probs:
            _num(p.get("t"), f"faces[{i}].frame_probs.t")
            _num(p.get("p"), f"faces[{i}].frame_probs.p", optional=True)
        branches = face.get("branches", {})
        if not isinstance(branches, dict) or len(branches) > 16:
            raise _bad(f"faces[{i}].branches")
        for v in branches.values():
            _num(v.get("fake_prob") if isinstance(v, dict) else v, f"faces[{i}].branches", optional=True)
        if face.get("heatmap") is not None:
            if not isinstance(face["heatmap"], dict):
                raise _bad(f"faces[{i}].heatmap")
            _num(face["heatmap"].get("t"), f"faces[{i}].heatmap.t")
            image_bytes(face["heatmap"].get("png"), f"faces[{i}].heatmap.png")
    if points > MAX_POINTS:
        raise _bad("faces")
    for i, th in enumerate(_list(result.get("thumbnails", []), "thumbnails", MAX_THUMBNAILS)):
        for k in ("t", "width", "height"):
            _num(th.get(k), f"thumbnails[{i}].{k}")
        image_bytes(th.get("jpeg"), f"thumbnails[{i}].jpeg")


def _str_or_none(body: dict[str, Any], key: str, limit: int = 4096) -> str | None:
    v = body.get(key)
    if v is None:
        return None
    if not isinstance(v, str):
        raise BadRequest(f"'{key}' must be a string", code="bad_request")
    return v[:limit]


@dataclass(frozen=True)
class Report:
    result: dict[str, Any]          # an analysis result as /v1/analyze returns it
    analysed_at: str                # ISO 8601, UTC
    media_url: str | None = None
    page_url: str | None = None
    media_duration: float | None = None   # the whole video's, when only frames of it were analysed

    @classmethod
    def from_json(cls, body: Any) -> "Report":
        """From ``{"result": {...}, "analysed_at"?, "media_url"?, "page_url"?}``; 400 on anything else."""
        if not isinstance(body, dict) or not isinstance(body.get("result"), dict):
            raise BadRequest("send {\"result\": <an analysis result>}", code="bad_request")
        result = body["result"]
        check_result(result)
        when = _str_or_none(body, "analysed_at", 64) or now_iso()
        duration = body.get("media_duration")
        if duration is not None and (isinstance(duration, bool) or not isinstance(duration, (int, float))
                                     or not 0 <= duration < 1e7):
            raise BadRequest("'media_duration' must be a number of seconds", code="bad_request")
        return cls(result=result, analysed_at=when, media_url=_str_or_none(body, "media_url"),
                   page_url=_str_or_none(body, "page_url"), media_duration=duration)

    def to_json(self) -> dict[str, Any]:
        return {"result": self.result, "analysed_at": self.analysed_at, "media_url": self.media_url,
                "page_url": self.page_url, "media_duration": self.media_duration}

    @property
    def duration(self) -> float | None:
        return self.media_duration if self.media_duration is not None else self.result["media"].get("duration")

    @property
    def sha256(self) -> str:
        return self.result["media"]["sha256"]

    @property
    def source(self) -> str | None:
        return self.media_url or self.result["media"].get("source_url") or self.page_url

    def html(self) -> str:
        from deepsentry.report.html import render_html

        return render_html(self)

    def pdf(self) -> bytes:
        from deepsentry.report.pdf import render_pdf

        return render_pdf(self)

    def render(self, fmt: str) -> bytes:
        if fmt not in FORMATS:
            raise BadRequest(f"format must be one of {', '.join(FORMATS)}", code="bad_request")
        return self.pdf() if fmt == "pdf" else self.html().encode()


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")
