"""The committed ABI/bytecode are exactly what the pinned solc-js makes of Registry.sol."""

from __future__ import annotations

import shutil

import pytest

from deepsentry.ledger import _abi
from deepsentry.ledger.compile import OUTPUT, SOLC_PINNED, compile_source, render


@pytest.mark.skipif(shutil.which("node") is None, reason="needs Node.js for solc-js")
def test_recompiling_registry_sol_reproduces_the_committed_abi_and_bytecode():
    compiled = compile_source()
    assert compiled["solc_version"].startswith(SOLC_PINNED + "+")
    assert compiled["abi"] == _abi.ABI
    assert compiled["bytecode"] == _abi.BYTECODE
    assert render(compiled) == OUTPUT.read_text()


def test_abi_has_the_registry_surface():
    names = {i["name"] for i in _abi.ABI if i["type"] == "function"}
    assert {"register", "revoke", "getByContentHash", "getByWatermark", "describe", "revokeConsent",
            "isConsentRevoked", "registerConsent"} <= names
    events = {i["name"]: i for i in _abi.ABI if i["type"] == "event"}
    indexed = {p["name"] for p in events["Registered"]["inputs"] if p["indexed"]}
    assert {"contentHash", "watermarkId"} <= indexed
