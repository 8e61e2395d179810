"""The provenance ledger: a registry contract on an EVM node (embedded anvil by default), keys, outbox.

Public API::

    from deepsentry.ledger import open_registry, RegistryClient, LedgerRecord, start_node, NodeHandle, KeyStore
"""

import sys as _sys

# py_ecc (imported by web3 and eth_account) raises the interpreter's recursion limit to 100,000 when it
# is first imported. At that depth a deeply nested input overflows the C stack in the JSON decoder and
# kills the process instead of raising, so the limit is put back as soon as it has been imported.
_limit = _sys.getrecursionlimit()
import py_ecc  # noqa: E402,F401

_sys.setrecursionlimit(_limit)

from deepsentry.ledger.client import LedgerRecord, RegistryClient, open_registry, to_bytes32
from deepsentry.ledger.keys import KeyStore, SigningIdentity, get_passphrase
from deepsentry.ledger.node import NodeHandle, find_anvil, start_node

__all__ = ["open_registry", "RegistryClient", "LedgerRecord", "start_node", "NodeHandle", "find_anvil",
           "KeyStore", "SigningIdentity", "get_passphrase", "to_bytes32"]
