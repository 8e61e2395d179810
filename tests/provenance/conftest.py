"""Provenance fixtures: keys + an embedded anvil registry for the session (real node, real c2pa)."""

from __future__ import annotations

import pytest
from prov_helpers import PASS, make_settings

from deepsentry.keys import KeyStore
from deepsentry.ledger import open_registry


@pytest.fixture(scope="session")
def prov_settings(tmp_path_factory):
    s = make_settings(tmp_path_factory.mktemp("prov-home"))
    KeyStore(s.config_dir).init(PASS)
    return s


@pytest.fixture(scope="session")
def prov_registry(prov_settings):
    client = open_registry(prov_settings, passphrase=PASS)
    yield client
    client.close()


@pytest.fixture(scope="session")
def identity(prov_settings):
    return KeyStore(prov_settings.config_dir).load_signing_identity(PASS)
