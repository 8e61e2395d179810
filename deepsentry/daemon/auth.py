"""Pairing token and short pairing codes.

The token is 256 random bits, created on first use and kept in ``<config_dir>/token`` with 0600
permissions. A pairing code is a short, copyable form derived from the token (HMAC), which the
extension can trade for the token at ``POST /v1/pair``; that endpoint only answers allowed extension
origins and is rate-limited, so the code's 40 bits cannot be brute-forced.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import os
import secrets
import time
from pathlib import Path

from deepsentry.errors import AuthError, Busy, KeyStoreError

TOKEN_BYTES = 32


def load_or_create_token(path: Path) -> str:
    """Read the pairing token, creating it (0600, parent dir 0700) on first use."""
    path = Path(path)
    try:
        token = path.read_text().strip()
        if len(token) == 2 * TOKEN_BYTES:
            if path.stat().st_mode & 0o077:
                os.chmod(path, 0o600)
            return token
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    token = secrets.token_hex(TOKEN_BYTES)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, (token + "\n").encode())
    finally:
        os.close(fd)
    try:
        os.replace(tmp, path)
    except OSError as exc:  # pragma: no cover - disk trouble
        raise KeyStoreError(f"cannot write pairing token to {path}: {exc}") from exc
    return token


def pairing_code(token: str) -> str:
    """Short code (``XXXX-XXXX``, 40 bits) derived from the token."""
    digest = hmac.new(token.encode(), b"deepsentry-pairing-code-v1", hashlib.sha256).digest()
    code = base64.b32encode(digest[:5]).decode()
    return f"{code[:4]}-{code[4:]}"


def normalise_code(code: str) -> str:
    c = "".join(ch for ch in code.upper() if ch.isalnum())
    return f"{c[:4]}-{c[4:]}" if len(c) == 8 else c


def check_bearer(header: str | None, token: str) -> None:
    """Raise AuthError unless ``header`` is ``Bearer <token>`` (constant-time compare)."""
    if not header:
        raise AuthError("missing Authorization header: pair the extension with `deepsentry pair`",
                        code="missing_token")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value:
        raise AuthError("Authorization must be 'Bearer <token>'", code="bad_token")
    if not secrets.compare_digest(value.strip().encode(), token.encode()):
        raise AuthError("wrong pairing token: pair again with `deepsentry pair`", code="bad_token")


class PairingLimiter:
    """At most ``attempts`` pairing attempts per ``window`` seconds, daemon-wide, that did not give the
    right code. :meth:`begin` counts an attempt at once (before the request's body is read), so any
    number of concurrent guesses is held to the limit; :meth:`_Attempt.refund` gives back the attempt
    of a right code."""

    def __init__(self, attempts: int = 5, window: float = 60.0) -> None:
        self.attempts, self.window = attempts, window
        self._failures: list[float] = []

    def begin(self) -> "_Attempt":
        now = time.monotonic()
        self._failures = [t for t in self._failures if now - t < self.window]
        if len(self._failures) >= self.attempts:
            retry = int(self.window - (now - self._failures[0])) + 1
            raise Busy("too many pairing attempts; wait a minute, then enter the code again", code="rate_limited",
                       details={"retry_after": retry})
        self._failures.append(now)
        return _Attempt(self, now)


class _Attempt:
    def __init__(self, limiter: PairingLimiter, stamp: float) -> None:
        self._limiter, self._stamp = limiter, stamp

    def refund(self) -> None:
        with contextlib.suppress(ValueError):
            self._limiter._failures.remove(self._stamp)
