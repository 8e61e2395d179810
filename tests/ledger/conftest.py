"""Ledger fixtures: one keyed home and one embedded anvil node for the session (real processes)."""

from __future__ import annotations

import pytest
from ledger_helpers import PASS, make_settings

from deepsentry.keys import KeyStore
from deepsentry.ledger import open_registry


@pytest.fixture(scope="session")
def keyed_settings(tmp_path_factory):
    s = make_settings(tmp_path_factory.mktemp("ledger-home"))
    KeyStore(s.config_dir).init(PASS)
    return s


@pytest.fixture(scope="session")
def registry(keyed_settings):
    client = open_registry(keyed_settings, passphrase=PASS)
    yield client
    client.close()


@pytest.fixture(scope="session")
def other_client(registry, tmp_path_factory):
    """A second account (not the registrant) talking to the same contract."""
    from deepsentry.ledger import RegistryClient

    root = tmp_path_factory.mktemp("other")
    ks = KeyStore(root / "config")
    ks.init("other-passphrase")
    return RegistryClient.from_url(registry.url, chain_id=registry.chain_id, address=registry.address,
                                   data_dir=root / "data", keystore=ks, passphrase="other-passphrase", embedded=True)
