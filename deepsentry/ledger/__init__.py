"""The provenance ledger: a registry contract on an EVM node (embedded anvil by default), keys, outbox.

Public API::

    from deepsentry.ledger import open_registry, RegistryClient, LedgerRecord, start_node, NodeHandle, KeyStore
"""

from deepsentry.ledger.client import LedgerRecord, RegistryClient, open_registry, to_bytes32
from deepsentry.ledger.keys import KeyStore, SigningIdentity, get_passphrase
from deepsentry.ledger.node import NodeHandle, find_anvil, start_node

__all__ = ["open_registry", "RegistryClient", "LedgerRecord", "start_node", "NodeHandle", "find_anvil",
           "KeyStore", "SigningIdentity", "get_passphrase", "to_bytes32"]
