"""``deepsentry ledger node|status|flush|lookup|revoke|consent-revoke``."""

from __future__ import annotations

import sys

from deepsentry.keys.cli import cli_settings, print_result


def register(sub) -> None:
    led = sub.add_parser("ledger", help="the provenance ledger (embedded anvil node or configured RPC)")
    lsub = led.add_subparsers(dest="ledger_command", metavar="SUBCOMMAND")
    p = lsub.add_parser("node", help="run the embedded node in the foreground (Ctrl-C stops it, state is kept)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_node)
    p = lsub.add_parser("status", help="node, contract, account and outbox state")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_status)
    p = lsub.add_parser("flush", help="deliver registrations waiting in the outbox")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_flush)
    p = lsub.add_parser("lookup", help="look a record up by content hash (sha256 hex) or --watermark ID")
    p.add_argument("hash", nargs="?")
    p.add_argument("--watermark", type=int)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_lookup)
    p = lsub.add_parser("revoke", help="revoke a record you registered (by content hash)")
    p.add_argument("hash")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_revoke)
    p = lsub.add_parser("consent-revoke", help="revoke a consent hash (owner, or with --secret-hex)")
    p.add_argument("consent_hash")
    p.add_argument("--secret-hex", help="the revocation secret given to the subject")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_consent_revoke)
    led.set_defaults(func=lambda a: (led.print_help(), 2)[1])



def cmd_node(args) -> int:
    import signal
    import time

    from deepsentry.errors import LedgerError
    from deepsentry.ledger import open_registry

    s = cli_settings()
    if s.ledger_rpc_url:
        raise LedgerError(f"settings select an external node ({s.ledger_rpc_url}); nothing to run", code="external_node")
    client = open_registry(s)
    if client.node is None:
        raise LedgerError(f"another deepsentry process already runs the embedded node at {client.url}",
                          code="node_running")
    info = {"url": client.url, "chain": client.caip2, "contract": client.address,
            "state": str(client.node.state_path), "pid": client.node.process.pid}
    print_result(info, args.json)
    sys.stdout.flush()
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    try:
        while not stop and client.node.running:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        client.close()
    return 0


def cmd_status(args) -> int:
    from deepsentry.errors import LedgerError
    from deepsentry.keys import KeyStore
    from deepsentry.ledger import open_registry

    s = cli_settings()
    out = {"rpc": s.ledger_rpc_url or "embedded", "enabled": s.ledger_enabled}
    ks = KeyStore(s.config_dir)
    out["account"] = ks.address
    try:
        with open_registry(s) as c:
            out.update({"url": c.url, "chain": c.caip2, "contract": c.address, "outbox": c.outbox_counts()})
            out.update(c.ping())
            if ks.address:
                out["balance_wei"] = c.w3.eth.get_balance(ks.address)
            out["reachable"] = True
    except LedgerError as exc:
        out.update({"reachable": False, "error": exc.message})
        print_result(out, args.json)
        return 1
    print_result(out, args.json)
    return 0


def cmd_flush(args) -> int:
    from deepsentry.ledger import open_registry

    with open_registry(cli_settings()) as c:
        res = c.flush_outbox()
    print_result(res, args.json)
    return 0 if res["pending"] == 0 and res["failed"] == 0 else 1


def cmd_lookup(args) -> int:
    from deepsentry.errors import BadRequest
    from deepsentry.ledger import open_registry

    if (args.hash is None) == (args.watermark is None):
        raise BadRequest("give either a content hash or --watermark ID")
    with open_registry(cli_settings()) as c:
        rec = c.lookup_by_hash(args.hash) if args.hash else c.lookup_by_watermark(args.watermark)
    if rec is None:
        print_result({"record": None}, args.json)
        return 1
    print_result(rec.to_json(), args.json)
    return 0


def cmd_revoke(args) -> int:
    from deepsentry.ledger import open_registry

    with open_registry(cli_settings()) as c:
        rec = c.revoke(args.hash)
    print_result(rec.to_json(), args.json)
    return 0


def cmd_consent_revoke(args) -> int:
    from deepsentry.ledger import open_registry

    with open_registry(cli_settings()) as c:
        c.revoke_consent(args.consent_hash, bytes.fromhex(args.secret_hex) if args.secret_hex else None)
        print_result({"consent_hash": args.consent_hash, "revoked": c.is_consent_revoked(args.consent_hash)}, args.json)
    return 0
