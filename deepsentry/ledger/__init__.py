"""The provenance ledger: a registry contract on an EVM node (embedded anvil by default) and its outbox.

Public API::

    from deepsentry.ledger import open_registry, RegistryClient, LedgerRecord, start_node, NodeHandle
"""

from deepsentry.ecc import import_py_ecc

import_py_ecc()

from deepsentry.ledger.client import LedgerRecord, RegistryClient, open_registry, to_bytes32  # noqa: E402
from deepsentry.ledger.node import NodeHandle, find_anvil, start_node  # noqa: E402

__all__ = ["open_registry", "RegistryClient", "LedgerRecord", "start_node", "NodeHandle", "find_anvil",
           "to_bytes32"]
