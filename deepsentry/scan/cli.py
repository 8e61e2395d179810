"""``deepsentry scan``: many files and URLs, on this machine or a Ray cluster."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("scan", help="check many files and URLs; results as JSON lines, CSV or Parquet")
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="files, folders (searched recursively for media), '-' for a list on stdin, or a "
                        ".txt/.csv list of paths and URLs")
    p.add_argument("--out", required=True, type=Path, help="results file (one record per item)")
    p.add_argument("--format", choices=("jsonl", "csv", "parquet"), default=None,
                   help="default: from --out's suffix, else jsonl")
    p.add_argument("--workers", type=int, default=1, help="model-holding workers (processes or Ray actors)")
    p.add_argument("--ray-address", default=None, metavar="ADDR",
                   help="run on Ray: 'auto' (this machine's cluster), 'ray://host:10001', or 'local' "
                        "(a Ray instance for this run); needs pip install -e '.[scale]'")
    p.add_argument("--resume", action="store_true", help="skip items already in --out and append the rest")
    p.add_argument("--explain", action="store_true", help="add Grad-CAM heatmaps to each result")
    p.add_argument("--no-provenance", action="store_true", help="skip the provenance check (faster)")
    p.add_argument("--ledger", action="store_true", help="look items up on the configured ledger node too")
    p.add_argument("--max-gb", type=float, default=50.0, help="stop handing out items past this many GB")
    p.add_argument("--report", type=Path, default=None, metavar="DIR", help="also write DIR/index.html")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_scan)


def _scan(args) -> int:
    from deepsentry.scan import ScanOptions, expand_inputs, run_scan
    from deepsentry.scan.report import summary_text

    items = expand_inputs(args.inputs)
    opts = ScanOptions(out=args.out, fmt=args.format, workers=args.workers, ray_address=args.ray_address,
                       resume=args.resume, explain=args.explain, provenance=not args.no_provenance,
                       ledger=args.ledger, max_bytes=int(args.max_gb * (1 << 30)), report_dir=args.report,
                       progress=not args.no_progress)
    summary = run_scan(items, opts)
    print(json.dumps(summary.to_json()) if args.json else summary_text(summary))
    return 0
