"""The creator's keys, encrypted at rest: the Ethereum account that signs ledger transactions, the C2PA
signing identity (a local root CA and signing certificate, or an imported chain) and the trust anchors
a C2PA manifest is checked against. Used by the ledger (writes) and provenance (sealing, verifying).

Public API::

    from deepsentry.keys import KeyStore, SigningIdentity, get_passphrase, make_c2pa_chain, forget_keys
"""

from deepsentry.keys.store import KeyStore, SigningIdentity, forget_keys, get_passphrase, make_c2pa_chain

__all__ = ["KeyStore", "SigningIdentity", "get_passphrase", "make_c2pa_chain", "forget_keys"]
