"""Shared constants for the ledger tests (imported by name: pytest puts this folder on sys.path)."""

from deepsentry.settings import load_settings

PASS = "ledger-test-passphrase"


def make_settings(root, **kw):
    return load_settings(config_dir=root / "config", data_dir=root / "data", ledger_rpc_url=None, **kw)
