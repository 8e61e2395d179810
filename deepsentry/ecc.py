"""Importing ``py_ecc`` (pulled in by web3 and eth_account) without its side effect.

py_ecc raises the interpreter's recursion limit to 100,000 when it is first imported. At that depth a
deeply nested input overflows the C stack in the JSON decoder and kills the process instead of raising,
so the limit is put back as soon as it has been imported. Call :func:`import_py_ecc` before the first
import of web3 or eth_account.
"""

from __future__ import annotations

import sys


def import_py_ecc() -> None:
    limit = sys.getrecursionlimit()
    import py_ecc  # noqa: F401

    sys.setrecursionlimit(limit)
