"""The ``deepsentry`` command line.

Each subpackage that offers commands has a ``cli`` module with ``register(subparsers)``; it adds its
parsers and sets ``func`` on them. Those modules import heavy libraries (torch, c2pa, web3) only inside
their handlers, so ``deepsentry --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys

from deepsentry import __version__
from deepsentry.errors import DeepsentryError

COMMAND_MODULES = (
    "deepsentry.daemon.cli",       # serve, pair, doctor, check, report
    "deepsentry.detector.cli",     # train, calibrate, eval
    "deepsentry.watermark.cli",    # watermark embed/detect
    "deepsentry.keys.cli",         # keys init/import/show/trust
    "deepsentry.ledger.cli",       # ledger node/…
    "deepsentry.provenance.cli",   # seal, verify
    "deepsentry.generator.cli",    # consent, generate
    "deepsentry.scan.cli",         # scan
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="deepsentry", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"deepsentry {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except DeepsentryError as exc:
        if getattr(args, "json", False):
            print(json.dumps(exc.to_json()))
        else:
            print(f"deepsentry: error: {exc.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
