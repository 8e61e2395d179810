"""C2PA signing and validation with real c2pa-python: our files, tampering, trust, conformance samples."""

from __future__ import annotations

import hashlib

import pytest
from prov_helpers import FIXTURES, flip_byte, small_clip, write_image

from deepsentry.errors import ProvenanceError
from deepsentry.keys import KeyStore, SigningIdentity
from deepsentry.keys import make_c2pa_chain
from deepsentry.provenance import build_manifest, read_c2pa, sign_c2pa, verify
from deepsentry.provenance.c2pa import TRAINED_ALGORITHMIC


def _manifest(wm_id=0x1234ABCD, consent=b"\x07" * 32):
    return build_manifest(title="t", watermark_id=wm_id, consent_hash=consent,
                          ledger={"chain": "eip155:31337", "contract": "0x" + "ab" * 20}, mode="test",
                          generator={"model": "unit"})


@pytest.mark.parametrize("ext", [".jpg", ".png", ".mp4"])
def test_signed_file_is_trusted_and_one_byte_change_is_tampered(ext, tmp_path, prov_settings, identity):
    src = small_clip(tmp_path / "src.mp4") if ext == ".mp4" else write_image(tmp_path / f"src{ext}")
    out = tmp_path / f"signed{ext}"
    manifest_bytes = sign_c2pa(src, out, _manifest(), identity)
    assert 1000 < len(manifest_bytes) < 20000                       # no thumbnail: a few kB
    assert out.stat().st_size - src.stat().st_size < 20000
    rep = read_c2pa(out, prov_settings)
    assert rep.state == "trusted" and rep.failures == [] and rep.ours
    assert rep.watermark_id == 0x1234ABCD
    assert rep.consent_hash == (b"\x07" * 32).hex()
    assert rep.ledger == {"chain": "eip155:31337", "contract": "0x" + "ab" * 20}
    assert rep.digital_source_type == TRAINED_ALGORITHMIC
    assert rep.signer["common_name"] == "deepsentry creator"
    bad = read_c2pa(flip_byte(out, tmp_path / f"tampered{ext}"), prov_settings)
    assert bad.state == "invalid" and not bad.valid
    assert any(c.endswith("Hash.mismatch") for c in bad.failure_codes), bad.failure_codes
    assert read_c2pa(src, prov_settings) is None                      # unsigned: no manifest


def test_without_our_root_the_signature_is_valid_but_untrusted(tmp_path, prov_settings, identity):
    out = tmp_path / "signed.png"
    sign_c2pa(write_image(tmp_path / "src.png"), out, _manifest(), identity)
    rep = read_c2pa(out, trust_pem="")
    assert rep.state == "valid" and rep.valid and not rep.trusted
    assert rep.failure_codes == ["signingCredential.untrusted"]


def test_user_added_trust_anchor(tmp_path, prov_settings):
    from cryptography.hazmat.primitives import serialization

    _, root, key, cert = make_c2pa_chain("someone else")
    pem = lambda c: c.public_bytes(serialization.Encoding.PEM)  # noqa: E731
    ident = SigningIdentity(chain_pem=pem(cert) + pem(root), alg="es256", subject="someone else",
                            key_pem=key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                      serialization.NoEncryption()))
    out = tmp_path / "other.jpg"
    sign_c2pa(write_image(tmp_path / "src.jpg"), out, _manifest(), ident)
    from prov_helpers import make_settings

    s = make_settings(tmp_path / "home")
    KeyStore(s.config_dir).trust_dir.mkdir(parents=True)
    assert read_c2pa(out, s).state == "valid"
    (tmp_path / "root.pem").write_bytes(pem(root))
    KeyStore(s.config_dir).add_trust_anchor(tmp_path / "root.pem")
    assert read_c2pa(out, s).state == "trusted"


def test_unsupported_output_format_is_refused(tmp_path, identity):
    with pytest.raises(ProvenanceError) as e:
        sign_c2pa(write_image(tmp_path / "src.png"), tmp_path / "out.bmp", _manifest(), identity)
    assert e.value.code == "c2pa_unsupported_format"


def test_conformance_samples_read_correctly(prov_settings):
    valid = read_c2pa(FIXTURES / "adobe-20220124-C.jpg", prov_settings)
    assert valid.state == "valid" and valid.valid and not valid.trusted
    assert valid.failure_codes == ["signingCredential.untrusted"]      # valid-but-untrusted, not invalid
    broken = read_c2pa(FIXTURES / "adobe-20220124-E-sig-CA.jpg", prov_settings)
    assert broken.state == "invalid"
    assert any(c.startswith("claimSignature") for c in broken.failure_codes), broken.failure_codes
    assert read_c2pa(FIXTURES / "adobe-20220124-A.jpg", prov_settings) is None
    assert (FIXTURES / "README.md").read_text().count("CC BY-SA 4.0") >= 1


def test_verify_reports_the_conformance_samples(prov_settings, prov_registry):
    v = verify(FIXTURES / "adobe-20220124-C.jpg", prov_settings, prov_registry)
    assert v.verdict == "c2pa_valid" and v.c2pa.failure_codes == ["signingCredential.untrusted"]
    assert any("not in the trust list" in e for e in v.evidence)
    v = verify(FIXTURES / "adobe-20220124-E-sig-CA.jpg", prov_settings, prov_registry)
    assert v.verdict == "c2pa_invalid" and v.to_json()["c2pa"]["state"] == "invalid"
    v = verify(FIXTURES / "adobe-20220124-A.jpg", prov_settings, prov_registry)
    assert v.verdict == "unknown" and v.c2pa is None and v.record is None
    j = v.to_json()
    assert {"verdict", "sha256", "record", "c2pa", "watermark", "evidence"} <= set(j)
    assert j["sha256"] == hashlib.sha256((FIXTURES / "adobe-20220124-A.jpg").read_bytes()).hexdigest()
