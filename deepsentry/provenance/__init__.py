"""Provenance: C2PA Content Credentials, perceptual fingerprints, the registration flow and verification.

Public API::

    from deepsentry.provenance import (sign_c2pa, read_c2pa, fingerprint, allocate_watermark_id, finalize,
                                       seal, verify, verify_url, ProvenanceReport, Receipt)
"""

from deepsentry.provenance.c2pa import C2paReport, build_manifest, read_c2pa, sign_c2pa
from deepsentry.provenance.fingerprint import MATCH_THRESHOLD, fingerprint, similarity
from deepsentry.provenance.flow import (Receipt, allocate_watermark_id, finalize, require_signing_identity, seal,
                                        sha256_file)
from deepsentry.provenance.verify import VERDICTS, ProvenanceReport, verify, verify_url

__all__ = ["sign_c2pa", "read_c2pa", "build_manifest", "C2paReport", "fingerprint", "similarity",
           "MATCH_THRESHOLD", "allocate_watermark_id", "finalize", "require_signing_identity", "seal", "sha256_file", "Receipt", "verify",
           "verify_url", "ProvenanceReport", "VERDICTS"]
