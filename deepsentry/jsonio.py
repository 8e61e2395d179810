"""JSON in and out of the process, safe for untrusted input.

``loads`` is the one way bytes from outside (request bodies, uploaded consent records, C2PA manifests
read from uploaded files) become Python objects:

- the nesting depth is measured *before* the decoder runs, with a vectorised scan, because CPython's C
  decoder recurses once per level and, when a dependency has raised the interpreter's recursion limit
  (``py_ecc`` sets it to 100,000), a deep document overflows the C stack and kills the process instead
  of raising;
- ``NaN``, ``Infinity`` and ``-Infinity`` are refused: they are not JSON, and a result that carried one
  back out could not be read by any client.

``dumps`` never writes a non-finite number: a stray NaN in a result becomes ``null``.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

from deepsentry.errors import BadRequest

MAX_DEPTH = 64                 # far deeper than anything the API, consent records or C2PA manifests use

_OPEN = np.zeros(256, np.int8)
_OPEN[[ord("["), ord("{")]] = 1
_OPEN[[ord("]"), ord("}")]] = -1
_KEEP = bytes(b for b in range(256) if chr(b) not in '[]{}"')


def nesting_depth(raw: bytes) -> int:
    """The deepest ``[``/``{`` nesting of a JSON text, brackets inside strings not counted. Linear time,
    a few C passes over the bytes (escaped quotes and backslashes are removed first, so what remains
    between two quotes is exactly a string's content)."""
    if not raw:
        return 0
    s = raw.replace(b"\\\\", b"").replace(b'\\"', b"").translate(None, _KEEP)
    if not s:
        return 0
    a = np.frombuffer(s, np.uint8)
    in_string = (np.cumsum(a == ord('"')) % 2).astype(bool)
    steps = np.where(in_string | (a == ord('"')), 0, _OPEN[a])
    return int(np.cumsum(steps, dtype=np.int64).max(initial=0))


def _no_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


def loads(raw: bytes | str, *, what: str = "JSON", max_depth: int = MAX_DEPTH, code: str = "bad_json") -> Any:
    """Decode untrusted JSON; ``BadRequest`` (``code``) for malformed text, nesting deeper than
    ``max_depth``, or a non-finite number."""
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else bytes(raw)
    depth = nesting_depth(data)
    if depth > max_depth:
        raise BadRequest(f"{what} is nested {depth} levels deep; at most {max_depth} are accepted", code=code)
    try:
        return json.loads(data, parse_constant=_no_constant)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise BadRequest(f"malformed {what}: {exc}", code=code) from exc


def _finite(obj: Any) -> Any:
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def dumps(obj: Any, **kw: Any) -> str:
    """``json.dumps`` that always writes valid JSON: non-finite floats become ``null``."""
    try:
        return json.dumps(obj, allow_nan=False, **kw)
    except ValueError:
        return json.dumps(_finite(obj), allow_nan=False, **kw)
