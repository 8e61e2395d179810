"""``deepsentry seal IN -o OUT`` and ``deepsentry verify FILE|URL``."""

from __future__ import annotations

import json


def register(sub) -> None:
    p = sub.add_parser("seal", help="watermark, C2PA-sign and register media you made; prints the receipt")
    p.add_argument("input")
    p.add_argument("-o", "--output", required=True, help="output file (.jpg .png .webp .mp4 .mov)")
    p.add_argument("--source-type", choices=("ai", "composite", "capture"), default="ai",
                   help="IPTC digitalSourceType recorded in the manifest (default: ai)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_seal)
    p = sub.add_parser("verify", help="provenance of a file or URL: ledger, C2PA, watermark")
    p.add_argument("target", help="file path or http(s) URL")
    p.add_argument("--no-watermark", action="store_true", help="skip the watermark check")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_verify)


def cmd_seal(args) -> int:
    from deepsentry.provenance.flow import SOURCE_TYPES, seal
    from deepsentry.settings import load_settings

    receipt = seal(args.input, args.output, load_settings(), source_type=SOURCE_TYPES[args.source_type])
    if args.json:
        print(json.dumps(receipt.to_json(), indent=2))
    else:
        led = receipt.ledger or {}
        print(f"sealed {receipt.path}\n  sha256 {receipt.sha256}\n  watermark id {receipt.watermark_id}\n"
              f"  ledger {led.get('status', 'disabled')} {led.get('chain', '')} {led.get('contract', '')} "
              f"tx {led.get('tx_hash')}\n  receipt {receipt.receipt_path}")
    return 0


def cmd_verify(args) -> int:
    from deepsentry.provenance.verify import verify, verify_url
    from deepsentry.settings import load_settings

    s = load_settings()
    if args.target.startswith(("http://", "https://")):
        report = verify_url(args.target, s)
    else:
        report = verify(args.target, s, check_watermark=not args.no_watermark)
    if args.json:
        print(json.dumps(report.to_json(), indent=2, default=str))
    else:
        print(f"{report.verdict}  {report.source}\n  sha256 {report.sha256}")
        for e in report.evidence:
            print(f"  - {e}")
    return 0
