"""The words a user reads about a verdict, a provenance result or a failure: one table each, used by
the report and the CLI (the extension's ``shared/wording.js`` carries the same tables; a test keeps
the two in step).

A detector score is evidence, not proof, so the wording is graded and never says "real" without
"likely": the strength words follow the calibrated bands that come with the weights (below the
uncertain band: likely real; inside it: uncertain; above it: likely fake; at 0.9 and over: strong)."""

from __future__ import annotations

from typing import Any

STRONG_FAKE = 0.90
STRONG_REAL = 0.10

VERDICT_WORDS = {
    "fake_strong": ("LIKELY FAKE", "FAKE", "Strong evidence of manipulation"),
    "fake": ("LIKELY FAKE", "FAKE", "Substantial evidence of manipulation"),
    "uncertain": ("UNCERTAIN", "UNSURE", "Mixed evidence: the detector cannot tell whether this face was manipulated"),
    "real": ("LIKELY REAL", "REAL", "Little evidence of manipulation"),
    "real_strong": ("LIKELY REAL", "REAL", "Very little evidence of manipulation"),
    "no_faces": ("NO FACE", "NO FACE", "No face large enough to judge was found"),
    "faces_too_small": ("FACES TOO SMALL", "SMALL", "Faces were found, but they are too small to judge"),
    "no_weights": ("NO SCORE", "NO SCORE", "No detector weights are installed, so faces were found but not scored"),
}

KNOWN_LIMITS = (
    "A score is evidence, not proof: a low score does not show that media is authentic (Content Credentials "
    "and the ledger can), and a high one does not say who made it or how.",
    "Fakes from generators and editors unlike the ones in the training data can be missed or land in "
    "\"uncertain\".",
    "Black-and-white photos, heavy compression, strong filters, profile views and faces smaller than about "
    "40 pixels are scored less reliably.",
    "Frames captured by the browser and frames decoded from the file can give slightly different scores; the "
    "number of frames used is shown with every result.",
)

CAUTIONS = {
    "greyscale": "This picture is black-and-white, which the detector scores less reliably: weigh the score with care.",
}

C2PA_CODES = {
    "signingCredential.untrusted": "the signer's certificate is not issued by an authority this computer trusts",
    "signingCredential.expired": "the signer's certificate had expired when it signed",
    "signingCredential.revoked": "the signer's certificate has been revoked",
    "claimSignature.mismatch": "the signature does not match the manifest: the credentials were altered",
    "assertion.dataHash.mismatch": "the file's content changed after it was signed",
    "assertion.bmffHash.mismatch": "the video's content changed after it was signed",
    "assertion.hashedURI.mismatch": "a part of the manifest changed after it was signed",
    "manifest.unreadable": "the Content Credentials are present but cannot be read",
}

PROVENANCE_WORDS = {
    "registered": "Registered synthetic media: its creator registered it on the deepsentry ledger as made with consent.",
    "registered_copy": "A re-encoded copy of registered synthetic media (found by its watermark and fingerprint).",
    "revoked": "Registered synthetic media whose registration or consent has been revoked.",
    "c2pa_valid": "Has valid Content Credentials (a C2PA manifest whose signature checks out).",
    "c2pa_invalid": "Has Content Credentials that do not validate: the file or its manifest changed after signing.",
    "unknown": "No provenance found: no Content Credentials, no watermark, not on the ledger.",
}


def percent(p: float | None) -> str:
    """0.998 reads ">99%", 0.004 "<1%": a rounded 100% or 0% claims a certainty the model does not have."""
    if p is None:
        return "–"
    if p > 0.99:
        return ">99%"
    if p < 0.01:
        return "<1%"
    return f"{int(p * 100 + 0.5)}%"  # half up, as the extension's Math.round


def grade(verdict: dict[str, Any]) -> str:
    """The key into ``VERDICT_WORDS`` for a result's ``verdict`` object."""
    label, p = verdict.get("label"), verdict.get("fake_prob")
    if label == "no_faces":
        return "faces_too_small" if verdict.get("reason") == "faces_too_small" else "no_faces"
    if p is None:
        return "no_weights" if verdict.get("reason") == "no_weights" else "uncertain"
    if label == "fake":
        return "fake_strong" if p >= STRONG_FAKE else "fake"
    if label == "real":
        return "real_strong" if p <= STRONG_REAL else "real"
    return "uncertain"


def headline(result: dict[str, Any]) -> tuple[str, str]:
    """(badge word, one sentence) for an analysis result, provenance first when it names the media."""
    prov = (result.get("provenance") or {}).get("verdict")
    if prov in ("registered", "registered_copy", "revoked"):
        return "REGISTERED SYNTHETIC", PROVENANCE_WORDS[prov]
    word, _compact, sentence = VERDICT_WORDS[grade(result.get("verdict") or {})]
    return word, sentence


def cautions(result: dict[str, Any]) -> list[str]:
    """What about this media makes its score less reliable, in words."""
    media = result.get("media") or {}
    scored = (result.get("verdict") or {}).get("fake_prob") is not None
    return [CAUTIONS["greyscale"]] if scored and media.get("greyscale") else []


def frames_used(result: dict[str, Any]) -> str:
    """How many frames the verdict rests on and where they came from."""
    media = result.get("media") or {}
    n = media.get("frames_sampled") or 0
    if media.get("kind") == "image":
        return "Based on the image itself."
    if media.get("kind") == "frames":
        return f"Based on {n} frame{'s' if n != 1 else ''} captured by the browser."
    return f"Based on {n} frame{'s' if n != 1 else ''} sampled by deepsentry from the video."


def c2pa_summary(c2pa: dict[str, Any] | None) -> list[tuple[str, str]]:
    """Rows (label, text) describing a C2PA report in words: who signed, when, with what, and whether it holds."""
    if not c2pa:
        return []
    signer = c2pa.get("signer") or {}
    state = c2pa.get("state")
    rows = [("Signed by", signer.get("common_name") or signer.get("issuer") or "unknown signer")]
    if signer.get("issuer") and signer.get("issuer") != signer.get("common_name"):
        rows.append(("Certificate issued by", signer["issuer"]))
    if signer.get("time"):
        rows.append(("Signed at", str(signer["time"])))
    if c2pa.get("claim_generator"):
        rows.append(("Made with", str(c2pa["claim_generator"])))
    if c2pa.get("digital_source_type"):
        src = str(c2pa["digital_source_type"]).rsplit("/", 1)[-1]
        rows.append(("Declared source", {"trainedAlgorithmicMedia": "generated by an AI model",
                                         "compositeSynthetic": "a composite with synthetic parts"}.get(src, src)))
    rows.append(("Validation", {"trusted": "valid, signed by a trusted signer",
                                "valid": "valid signature, but the signer is not one this computer trusts",
                                "invalid": "does not validate"}.get(state, str(state))))
    for f in c2pa.get("failures") or []:
        code = f.get("code", "")
        rows.append((f"Problem: {code}", C2PA_CODES.get(code, f.get("explanation") or "see the C2PA specification")))
    return rows
