"""Consented face generation: face swap and face animation, every output watermarked, C2PA-signed and
registered on the ledger.

Public API::

    from deepsentry.generator import generate
    receipt = generate("swap", consent=Path("c.json"), source=Path("me.jpg"), target=Path("clip.mp4"),
                       out=Path("out.mp4"), settings=settings, track=None, progress=None)

Refusals raise :class:`deepsentry.errors.ConsentError` (codes ``consent_missing``, ``consent_invalid``,
``consent_signature``, ``consent_expired``, ``consent_mode``, ``consent_revoked``, ``face_mismatch``).
Heavy modules (dlib, cv2, PyAV) load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["generate", "check_consent", "create_consent", "load_consent", "MODES", "FACE_MATCH_THRESHOLD"]

if TYPE_CHECKING:  # pragma: no cover
    from deepsentry.generator.consent import FACE_MATCH_THRESHOLD, MODES, create_consent, load_consent
    from deepsentry.generator.pipeline import check_consent, generate


def __getattr__(name: str) -> Any:
    if name in ("generate", "check_consent"):
        from deepsentry.generator import pipeline

        return getattr(pipeline, name)
    if name in ("create_consent", "load_consent", "MODES", "FACE_MATCH_THRESHOLD"):
        from deepsentry.generator import consent

        return getattr(consent, name)
    raise AttributeError(name)
