"""``generate()``: consent gate -> frames -> watermark on every frame -> H.264 -> C2PA + ledger -> receipt.

Nothing leaves this function unlabelled: the encoded file lives under a hidden temporary name next to
``out`` until ``deepsentry.provenance.finalize`` has signed and registered it, and every failure path
removes the temporary file (``finalize`` itself removes ``out`` when it fails).
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from deepsentry import __version__, media
from deepsentry.errors import BadRequest, ConsentError, NoFaceFound
from deepsentry.generator import consent as consent_mod
from deepsentry.generator import landmarks as lm
from deepsentry.generator import video

MODES = consent_mod.MODES
GENERATOR_NAME = "deepsentry.generator"
ANIMATE_MAX_SIDE = 1280        # animate outputs the source photo's size, downscaled to this long side
Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class ConsentCheck:
    consent: consent_mod.SignedConsent
    source_face: lm.Face
    distance: float


def _noop(_f: float, _m: str) -> None:
    pass


def check_consent(mode: str, consent_path: Path | str | None, source_img: np.ndarray, *, client=None,
                  today=None) -> ConsentCheck:
    """Every consent refusal, in order: missing/invalid, signature, expiry, mode, ledger revocation (when
    ``client`` is given), source face. Raises :class:`ConsentError` with a specific ``code``."""
    c = consent_mod.load_consent(consent_path)
    c.verify_signature()
    c.check_expiry(today)
    c.check_mode(mode)
    if client is not None:
        check_not_revoked(c, client)
    try:
        face = lm.main_face(source_img, "source photo")
    except NoFaceFound as exc:
        raise ConsentError(f"{exc.message}, so it cannot be matched to the consented face",
                           code="face_mismatch") from exc
    dist = c.check_face(lm.embedding(source_img, face.points))
    return ConsentCheck(c, face, dist)


def check_not_revoked(c: consent_mod.SignedConsent, client) -> None:
    if client.is_consent_revoked(c.consent_hash):
        raise ConsentError(f"the consent of {c.subject_name!r} was revoked on the ledger", code="consent_revoked",
                           details={"consent_hash": c.consent_hash})


def generate(mode: str, *, consent: Path | str | None, source: Path | str, target: Path | str, out: Path | str,
             settings, track: int | None = None, point: tuple[float, float] | None = None,
             progress: Progress | None = None, client=None, overwrite: bool = False, passphrase: str | None = None):
    """Generate a labelled synthetic video and return the provenance ``Receipt``.

    ``mode`` "swap": the consented face from ``source`` onto one face track of the ``target`` video (track by
    ``track`` index counted left to right in the first frame with faces, or nearest to ``point``, else the
    largest), keeping the target's audio. ``mode`` "animate": the ``source`` photo driven by the ``target``
    (driving) video. ``client``: an open ``RegistryClient`` (the daemon's); None opens the one ``settings``
    name and closes it afterwards. ``passphrase`` opens the creator's signing keys (default
    ``$DEEPSENTRY_PASSPHRASE``).
    """
    from deepsentry.generator.consent import read_image

    progress = progress or _noop
    if mode not in MODES:
        raise BadRequest(f"mode must be one of {', '.join(MODES)}", code="bad_mode")
    out = Path(out)
    target = Path(target)
    if out.exists() and not overwrite:
        raise BadRequest(f"{out} already exists", code="output_exists")
    if media.SUFFIXES.get(out.suffix.lower(), ("", ""))[1] not in ("video/mp4", "video/quicktime"):
        raise BadRequest("the output must be an .mp4 file", code="bad_output")
    # Consent first, before touching anything else (no ledger yet: cheap local checks).
    consent_mod.load_consent(consent)          # missing or malformed: refuse before reading anything else
    src_img = read_image(Path(source))
    progress(0.0, "checking consent")
    check = check_consent(mode, consent, src_img)
    info = video.probe(target)
    from deepsentry import provenance

    provenance.require_signing_identity(settings, passphrase)   # no keys: say so before rendering

    own_client = client is None
    if own_client:
        from deepsentry.ledger import open_registry

        client = open_registry(settings, passphrase=passphrase)
    tmp = out.with_name(f".{out.stem}.{secrets.token_hex(4)}.partial.mp4")
    try:
        check_not_revoked(check.consent, client)
        from deepsentry import watermark

        wm_id = provenance.allocate_watermark_id(client)
        progress(0.02, "consent verified")
        t0 = time.monotonic()
        if mode == "swap":
            frames = _swap_frames(src_img, check.source_face, target, info, track, point, progress)
        else:
            frames = _animate_frames(src_img, check.source_face, target, info, progress)
        marker = None

        def marked() -> Iterator[np.ndarray]:
            nonlocal marker
            for f in frames:
                if marker is None:
                    h, w = f.shape[:2]
                    marker = watermark.FrameMarker(wm_id, w - w % 2, h - h % 2, reuse=True, polarity=True)
                yield marker.mark(np.ascontiguousarray(f[: f.shape[0] - f.shape[0] % 2, : f.shape[1] - f.shape[1] % 2]))

        out.parent.mkdir(parents=True, exist_ok=True)
        n = video.encode(tmp, marked(), info.fps, audio_from=target if info.has_audio else None)
        elapsed = time.monotonic() - t0
        progress(0.92, "signing and registering")
        check_not_revoked(check.consent, client)     # revoked while we were rendering: nothing is published
        generator = {"name": GENERATOR_NAME, "version": __version__, "mode": mode,
                     "method": "landmark piecewise-affine swap, Poisson blend" if mode == "swap"
                     else "landmark-driven piecewise-affine animation",
                     "frames": n, "fps": round(n / elapsed, 2) if elapsed > 0 else None,
                     "face_distance": round(check.distance, 4), "subject": check.consent.subject_name}
        receipt = provenance.finalize(tmp, out, watermark_id=wm_id, consent_hash=check.consent.consent_hash_bytes,
                                      mode=mode, generator=generator, settings=settings, client=client,
                                      passphrase=passphrase)
        progress(1.0, "done")
        return receipt
    except BaseException:
        if out.exists() and not overwrite:
            out.unlink(missing_ok=True)
        raise
    finally:
        tmp.unlink(missing_ok=True)
        if own_client:
            client.close()


# --- frame sources ------------------------------------------------------------------------------
def _swap_frames(src_img, src_face, target: Path, info: video.VideoInfo, track, point, progress) -> Iterator[np.ndarray]:
    from deepsentry.generator.swap import prepare_source, swap_frame
    from deepsentry.generator.tracking import follow

    total = max(info.frames, 1)
    tr = follow(video.frames(target), track=track, point=point,
                progress=lambda i: progress(0.02 + 0.28 * min(1.0, (i + 1) / total), "tracking the face"))
    if not tr.valid.any():
        raise NoFaceFound("the chosen face could not be followed in the target video")
    src = prepare_source(src_img, src_face.points)

    def gen():
        for i, frame in enumerate(video.frames(target)):
            if i < len(tr.valid) and tr.valid[i]:
                frame = swap_frame(frame, src, tr.points[i])
            progress(0.3 + 0.6 * min(1.0, (i + 1) / total), "swapping")
            yield frame
    return gen()


def _animate_frames(src_img, src_face, driving: Path, info: video.VideoInfo, progress) -> Iterator[np.ndarray]:
    from deepsentry.generator.animate import animate_frame, driven_points, prepare_source
    from deepsentry.generator.tracking import follow

    total = max(info.frames, 1)
    tr = follow(video.frames(driving),
                progress=lambda i: progress(0.02 + 0.28 * min(1.0, (i + 1) / total), "reading the driver's motion"))
    if not tr.valid[0]:
        first = int(np.argmax(tr.valid))
    else:
        first = 0
    points = src_face.points
    scale = ANIMATE_MAX_SIDE / max(src_img.shape[:2])
    if scale < 1.0:                      # the output is the photo's size: keep it a sensible video size
        import cv2

        src_img = cv2.resize(src_img, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        points = points * scale
    src = prepare_source(src_img, points)
    d0 = tr.points[first]

    def gen():
        last = src.points
        for i in range(len(tr.valid)):
            if tr.valid[i]:
                last = driven_points(src.points, d0, tr.points[i])
            progress(0.3 + 0.6 * min(1.0, (i + 1) / total), "animating")
            yield animate_frame(src, last)
    return gen()
