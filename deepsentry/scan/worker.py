"""One worker's model holder: loads the detector once and scans items with it, never raising."""

from __future__ import annotations

import base64
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from deepsentry.errors import DeepsentryError
from deepsentry.scan.items import Item

THUMB_PX = 200


def item_key(item: Item) -> str:
    """What resume recognises an item by: a file's content SHA-256, a URL as written (a file that cannot
    be read: its path)."""
    if item.kind == "url":
        return item.ref
    from deepsentry.media import sha256_file

    try:
        return sha256_file(item.ref)
    except OSError:
        return "unreadable:" + item.ref


def error_record(item: Item, code: str, message: str) -> dict[str, Any]:
    return {"item": item.ref, "kind": item.kind, "key": item_key(item), "status": "error",
            "error": {"code": code, "message": message}}


def record_of(item: Item, result: dict[str, Any]) -> dict[str, Any]:
    """The record of a finished analysis: the analysis JSON itself plus the item it came from."""
    v = result["verdict"]
    prov = result.get("provenance") or {}
    return {"item": item.ref, "kind": item.kind,
            "key": item.ref if item.kind == "url" else result["media"]["sha256"],
            "status": "ok", "verdict": v["label"], "fake_prob": v.get("fake_prob"),
            "faces": len(result["faces"]), "provenance": prov.get("verdict"), "result": result}


class Scanner:
    """Holds a loaded :class:`~deepsentry.detector.pipeline.Analyzer` (one per worker process or Ray
    actor) and turns items into records. ``settings``: overrides for ``load_settings``."""

    def __init__(self, settings: dict[str, Any] | None = None, *, explain: bool = False,
                 provenance: bool = True, ledger: bool = False, thumbnails: bool = False) -> None:
        from deepsentry.detector.pipeline import Analyzer
        from deepsentry.settings import load_settings

        self.settings = load_settings(**(settings or {}))
        if not ledger:
            self.settings = self.settings.replace(ledger_enabled=False)
        self.analyzer = Analyzer(self.settings)
        self.explain = explain
        self.thumbnails = thumbnails
        self._client = None
        if provenance and ledger:
            from deepsentry.ledger import open_registry

            try:
                self._client = open_registry(self.settings)
            except DeepsentryError:
                self.settings = self.settings.replace(ledger_enabled=False)
        self.provenance = self._provenance if provenance else None

    def _provenance(self, path: Path) -> dict:
        from deepsentry.analysis import provenance_block

        return provenance_block(path, self.settings, client=self._client, source=None)

    def scan(self, item: Item) -> dict[str, Any]:
        from deepsentry.analysis import analyze_with_provenance

        t0 = time.perf_counter()
        workdir = None
        try:
            if item.kind == "url":
                from deepsentry.media.fetch import check_url, fetch_url

                s = self.settings
                check_url(item.ref, s.url_allowlist)
                workdir = Path(tempfile.mkdtemp(prefix="deepsentry-scan-"))
                path = fetch_url(item.ref, workdir, limits=s.limits, allowlist=s.url_allowlist,
                                 timeout=s.limits.fetch_timeout_s).path
                source = item.ref
            else:
                path, source = Path(item.ref), None
                if not path.is_file():
                    raise DeepsentryError(f"no such file: {item.ref}", code="file_not_found")
            result = analyze_with_provenance(self.analyzer, path, self.provenance, explain=self.explain,
                                             source_url=source).to_json()
            rec = record_of(item, result)
            if self.thumbnails:
                try:
                    rec["thumb"] = thumbnail(path, result)
                except DeepsentryError:     # a picture for the report only: never fails the item
                    rec["thumb"] = None
        except DeepsentryError as exc:
            rec = error_record(item, exc.code, exc.message)
        except Exception as exc:  # noqa: BLE001 - one bad item is a row, never the end of the run
            rec = error_record(item, "internal_error", f"{type(exc).__name__}: {exc}")
        finally:
            if workdir is not None:
                shutil.rmtree(workdir, ignore_errors=True)
        rec["seconds"] = round(time.perf_counter() - t0, 3)
        return rec

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


def thumbnail(path: Path, result: dict[str, Any]) -> str | None:
    """A JPEG (base64) of the frame where the most suspicious face was first seen, every face's box drawn
    on it, at most ``THUMB_PX`` wide; None when nothing can be drawn."""
    import cv2

    from deepsentry import media

    faces = result["faces"]
    worst = max(faces, key=lambda f: f["fake_prob"] or 0.0) if faces else None
    t = worst["boxes"][0]["t"] if worst else 0.0
    mf = media.open(path)
    if mf.kind == "image":
        img = mf.image()
    else:
        got = list(mf.sample(start=max(0.0, t - 0.01), max_frames=1))
        if not got:
            return None
        img = got[0].image
    img = img[:, :, ::-1].copy()
    for f in faces:
        b = min(f["boxes"], key=lambda b: abs(b["t"] - t))
        colour = (40, 40, 220) if f is worst and result["verdict"]["label"] == "fake" else (60, 200, 60)
        cv2.rectangle(img, (int(b["x"]), int(b["y"])), (int(b["x"] + b["w"]), int(b["y"] + b["h"])), colour,
                      max(2, img.shape[1] // 200))
    scale = THUMB_PX / img.shape[1]
    if scale < 1:
        img = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    ok, jpg = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 80])
    return base64.b64encode(jpg.tobytes()).decode() if ok else None
