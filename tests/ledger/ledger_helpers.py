"""Shared constants for the ledger tests (imported by name: pytest puts this folder on sys.path)."""

import shutil

from deepsentry.settings import load_settings

PASS = "ledger-test-passphrase"


def make_settings(root, **kw):
    return load_settings(config_dir=root / "config", data_dir=root / "data", ledger_rpc_url=None, **kw)


def clone_keys(settings, root):
    """Settings for a fresh home under ``root`` holding a copy of ``settings``' keys (no new scrypt work)."""
    new = make_settings(root)
    shutil.copytree(settings.config_dir / "keys", new.config_dir / "keys")
    return new
