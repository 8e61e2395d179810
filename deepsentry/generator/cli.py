"""``deepsentry consent create|verify|revoke`` and ``deepsentry generate swap|animate``."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path


def _modes(text: str) -> list[str]:
    return [m.strip() for m in text.split(",") if m.strip()]


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected YYYY-MM-DD, got {text!r}") from exc


def _point(text: str) -> tuple[float, float]:
    try:
        x, y = (float(v) for v in text.split(","))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected X,Y, got {text!r}") from exc
    return x, y


def register(sub) -> None:
    c = sub.add_parser("consent", help="create, verify or revoke a consent record for generation")
    csub = c.add_subparsers(dest="consent_command", metavar="ACTION", required=True)

    p = csub.add_parser("create", help="the depicted person signs what may be generated from their face")
    p.add_argument("--subject-name", required=True)
    p.add_argument("--photo", required=True, type=Path, help="reference photo of the subject's face")
    p.add_argument("--modes", required=True, type=_modes, help="comma-separated: swap,animate")
    p.add_argument("--expires", required=True, type=_date, help="last valid day, YYYY-MM-DD (UTC)")
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--subject-key", type=Path, help="the subject's Ed25519 key (PEM); default: create one, "
                   "encrypted with $DEEPSENTRY_PASSPHRASE, in <data dir>/consent-keys/")
    p.add_argument("--creator", help="who will generate (default: $USER)")
    p.add_argument("--no-ledger", action="store_true", help="do not claim the consent on the ledger now")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_create)

    p = csub.add_parser("verify", help="check a consent record: signature, expiry, ledger revocation, photo")
    p.add_argument("file", type=Path)
    p.add_argument("--photo", type=Path, help="also check that this photo shows the consented face")
    p.add_argument("--no-ledger", action="store_true", help="skip the ledger revocation check")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_verify)

    p = csub.add_parser("revoke", help="revoke a consent on the ledger (needs the subject's key)")
    p.add_argument("file", type=Path)
    p.add_argument("--subject-key", type=Path, help="default: found by fingerprint next to the file or in the data dir")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_revoke)

    g = sub.add_parser("generate", help="consented face swap or animation, watermarked, signed and registered")
    gsub = g.add_subparsers(dest="generate_command", metavar="MODE", required=True)
    for mode, tgt, helptext in (("swap", "--target", "put the consented face onto a face in a video"),
                                ("animate", "--driving", "animate the consented photo with a driving video")):
        p = gsub.add_parser(mode, help=helptext)
        p.add_argument("--consent", required=True, type=Path)
        p.add_argument("--source", required=True, type=Path, help="photo of the consented person")
        p.add_argument(tgt, dest="target", required=True, type=Path,
                       help="target video" if mode == "swap" else "driving video")
        p.add_argument("-o", "--out", required=True, type=Path)
        if mode == "swap":
            t = p.add_mutually_exclusive_group()
            t.add_argument("--track", type=int, help="face index in the first frame with faces, left to right")
            t.add_argument("--track-point", type=_point, help="X,Y: the face nearest this pixel")
        p.add_argument("--overwrite", action="store_true")
        p.add_argument("--no-progress", action="store_true")
        p.add_argument("--json", action="store_true")
        p.set_defaults(func=_generate, mode=mode)


def _settings():
    from deepsentry.settings import load_settings

    return load_settings()


def _emit(args, obj: dict, lines: list[str]) -> None:
    if getattr(args, "json", False):
        print(json.dumps(obj, indent=2, default=str))
    else:
        print("\n".join(lines))


def _create(args) -> int:
    from deepsentry.generator import consent as cm

    settings = _settings()
    signed, key_path = cm.create_consent(subject_name=args.subject_name, photo=args.photo, modes=args.modes,
                                         expires=args.expires, out=args.out, settings=settings,
                                         subject_key=args.subject_key, creator=args.creator)
    ledger = "skipped"
    if not args.no_ledger and settings.ledger_enabled:
        ledger = claim_on_ledger(signed, key_path, settings)
    _emit(args, {"consent": str(args.out), "consent_hash": signed.consent_hash, "subject_key": str(key_path),
                 "modes": list(signed.modes), "expires": signed.record.expires, "ledger": ledger},
          [f"consent written to {args.out}", f"consent hash  {signed.consent_hash}",
           f"subject key   {key_path} (encrypted; the subject needs it to revoke)",
           f"modes         {', '.join(signed.modes)}; expires {signed.record.expires}", f"ledger        {ledger}"])
    return 0


def claim_on_ledger(signed, key_path: Path, settings, client=None, passphrase: str | None = None) -> str:
    """Claim the consent hash on the ledger with the subject's revocation commit, so only the subject's key
    (or this creator) can revoke it. Returns a short status."""
    from deepsentry.errors import DeepsentryError
    from deepsentry.generator import consent as cm

    own = client is None
    try:
        if own:
            from deepsentry.ledger import open_registry

            client = open_registry(settings, passphrase=passphrase)
        if client.consent_info(signed.consent_hash) is None:
            key = cm.load_subject_key(key_path, passphrase)
            client.register_consent(signed.consent_hash, cm.revocation_secret(key, cm.revocation_key_hash(signed)))
        return "claimed"
    except DeepsentryError as exc:
        print(f"deepsentry: warning: consent not claimed on the ledger ({exc.message}); "
              "anyone may revoke it until it is", file=sys.stderr)
        return f"not claimed: {exc.code}"
    finally:
        if own and client is not None:
            client.close()


def consent_status(path: Path, settings, *, photo: Path | None = None, ledger: bool = True, client=None) -> dict:
    """Everything ``consent verify`` reports; ``valid`` is False on any failure."""
    from deepsentry.errors import DeepsentryError
    from deepsentry.generator import consent as cm

    report: dict = {"file": str(path), "valid": False}
    try:
        c = cm.load_consent(path)
        report.update(subject=c.subject_name, creator=c.record.creator, modes=list(c.modes),
                      issued=c.record.issued, expires=c.record.expires, consent_hash=c.consent_hash)
        c.verify_signature()
        report["signature"] = "valid"
        c.check_expiry()
        report["expired"] = False
        if ledger and settings.ledger_enabled:
            own = client is None
            if own:
                from deepsentry.ledger import open_registry

                client = open_registry(settings)
            try:
                info = client.consent_info(c.consent_hash)
                report["ledger"] = ("revoked" if info and info["revoked"] else "claimed" if info else "unclaimed")
            finally:
                if own:
                    client.close()
            if report["ledger"] == "revoked":
                raise cm.ConsentError("the consent was revoked on the ledger", code="consent_revoked")
        else:
            report["ledger"] = "not checked"
        if photo is not None:
            img = cm.read_image(photo)
            report["face_distance"] = round(c.check_face(cm.face_embedding_of(img, "photo")), 4)
        report["valid"] = True
    except DeepsentryError as exc:
        report["error"] = exc.to_json()["error"]
    return report


def _verify(args) -> int:
    r = consent_status(args.file, _settings(), photo=args.photo, ledger=not args.no_ledger)
    lines = [f"{args.file}: {'VALID' if r['valid'] else 'NOT VALID'}"]
    for k in ("subject", "creator", "modes", "issued", "expires", "consent_hash", "signature", "ledger",
              "face_distance"):
        if k in r:
            lines.append(f"  {k:13} {', '.join(r[k]) if isinstance(r[k], list) else r[k]}")
    if "error" in r:
        lines.append(f"  reason        {r['error']['message']} ({r['error']['code']})")
    _emit(args, r, lines)
    return 0 if r["valid"] else 1


def _revoke(args) -> int:
    from deepsentry.errors import KeyStoreError
    from deepsentry.generator import consent as cm
    from deepsentry.ledger import open_registry

    settings = _settings()
    c = cm.load_consent(args.file)
    c.verify_signature()
    secret = None
    try:
        key_path = args.subject_key or cm.find_subject_key(c, settings, near=Path(args.file).parent)
        key = cm.load_subject_key(key_path)
        if cm._raw_public(key) != c.public_key_bytes:
            raise KeyStoreError(f"{key_path} is not the key of {c.subject_name!r}", code="bad_key")
        secret = cm.revocation_secret(key, cm.revocation_key_hash(c))
    except KeyStoreError:
        if args.subject_key:
            raise
        # no subject key here: the creator who claimed the consent may still revoke it as its owner
    with open_registry(settings) as client:
        client.revoke_consent(c.consent_hash, secret)
        revoked = client.is_consent_revoked(c.consent_hash)
    _emit(args, {"consent_hash": c.consent_hash, "revoked": revoked},
          [f"consent {c.consent_hash} revoked on the ledger" if revoked else "revocation did not take effect"])
    return 0 if revoked else 1


def _generate(args) -> int:
    from deepsentry.generator import generate

    settings = _settings()
    bar = None
    if not args.no_progress and not args.json and sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(total=100, unit="%", file=sys.stderr, bar_format="{l_bar}{bar}| {n:.0f}% [{elapsed}]")

    def progress(frac: float, msg: str) -> None:
        if bar is not None:
            bar.set_description(msg)
            bar.n = round(100 * frac, 1)
            bar.refresh()

    try:
        receipt = generate(args.mode, consent=args.consent, source=args.source, target=args.target, out=args.out,
                           settings=settings, track=getattr(args, "track", None),
                           point=getattr(args, "track_point", None), progress=progress, overwrite=args.overwrite)
    finally:
        if bar is not None:
            bar.close()
    data = receipt.to_json()
    _emit(args, data, [f"wrote {args.out}"] + [f"  {k:14} {v}" for k, v in data.items()
                                               if not isinstance(v, (dict, list))])
    return 0
