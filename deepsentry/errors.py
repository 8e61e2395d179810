"""One error tree for the whole package.

Every error that can reach a user carries a stable machine-readable ``code`` and the HTTP status the
daemon answers with. The daemon renders any :class:`DeepsentryError` as
``{"error": {"code": ..., "message": ..., "details": ...}}``; the CLI prints ``message`` and exits non-zero.
"""

from __future__ import annotations

from typing import Any


class DeepsentryError(Exception):
    """Root of every error deepsentry raises on purpose."""

    code: str = "internal_error"
    http_status: int = 500

    def __init__(self, message: str, *, code: str | None = None, http_status: int | None = None,
                 details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if http_status is not None:
            self.http_status = http_status
        self.details = details or {}

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            body["details"] = self.details
        return {"error": body}


class BadRequest(DeepsentryError, ValueError):
    code, http_status = "bad_request", 400


class AuthError(DeepsentryError):
    code, http_status = "unauthorized", 401


class Forbidden(DeepsentryError):
    code, http_status = "forbidden", 403


class NotFound(DeepsentryError, LookupError):
    code, http_status = "not_found", 404


class TooLarge(DeepsentryError):
    """Input over a configured limit (bytes, pixels, duration, frames)."""

    code, http_status = "too_large", 413


class UnsupportedMedia(DeepsentryError):
    """Bytes that are not an image or video we can read (random bytes, empty file, unknown type)."""

    code, http_status = "unsupported_media", 415


class MediaDecodeError(DeepsentryError):
    """A media file that claims a known format but cannot be decoded (corrupt or truncated)."""

    code, http_status = "corrupt_media", 422


class NoFaceFound(DeepsentryError):
    code, http_status = "no_faces", 422


class UrlRefused(DeepsentryError):
    """A URL refused before any connection: bad scheme, or a host resolving to a private address."""

    code, http_status = "url_refused", 400


class FetchError(DeepsentryError):
    """A remote URL could not be fetched (unreachable, HTTP error, timeout, extractor failure)."""

    code, http_status = "fetch_failed", 502


class Busy(DeepsentryError):
    code, http_status = "busy", 429


class ModelUnavailable(DeepsentryError):
    code, http_status = "model_unavailable", 503


class LedgerError(DeepsentryError):
    """The EVM node cannot be reached or refused a call."""

    code, http_status = "ledger_error", 503


class LedgerUnreachable(LedgerError):
    """No node answers at the configured URL (after retries): writes queue in the outbox, reads say so."""

    code, http_status = "ledger_unreachable", 503


class AlreadyRegistered(LedgerError):
    """The registry already holds a record for this content hash."""

    code, http_status = "already_registered", 409


class ConsentError(DeepsentryError):
    """The generator refuses: consent missing, invalid, expired, revoked, wrong mode or face mismatch."""

    code, http_status = "consent_refused", 403


class WatermarkError(DeepsentryError):
    code, http_status = "watermark_error", 422


class ProvenanceError(DeepsentryError):
    code, http_status = "provenance_error", 422


class KeyStoreError(DeepsentryError):
    """Keys missing, or the passphrase does not open them."""

    code, http_status = "keystore_error", 403
