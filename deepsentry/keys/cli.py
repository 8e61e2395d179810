"""``deepsentry keys init|import|show|trust``: the creator's account and C2PA signing identity."""

from __future__ import annotations

import json


def cli_settings():
    from deepsentry.settings import load_settings

    return load_settings()


def print_result(obj, as_json: bool) -> None:
    if as_json:
        print(json.dumps(obj, indent=2, default=str))
    else:
        for k, v in obj.items():
            print(f"{k}: {v}")


def register(sub) -> None:
    keys = sub.add_parser("keys", help="the creator's Ethereum account and C2PA signing identity")
    ksub = keys.add_subparsers(dest="keys_command", metavar="SUBCOMMAND")
    p = ksub.add_parser("init", help="create the account and a local root CA + C2PA signing cert (encrypted)")
    p.add_argument("--subject", default="deepsentry creator", help="common name on the signing certificate")
    p.add_argument("--force", action="store_true", help="replace existing keys")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_keys_init)
    p = ksub.add_parser("import", help="use your own C2PA certificate chain (leaf first) and private key")
    p.add_argument("--chain", required=True, help="PEM file: signing certificate then its issuers")
    p.add_argument("--key", required=True, help="PEM private key (PKCS#8 or traditional)")
    p.add_argument("--key-password-env", help="environment variable holding the key file's password")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_keys_import)
    p = ksub.add_parser("show", help="address, certificate subject and trust anchors (no secrets)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_keys_show)
    p = ksub.add_parser("trust", help="add a PEM certificate as a C2PA trust anchor")
    p.add_argument("pem")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_keys_trust)
    keys.set_defaults(func=lambda a: (keys.print_help(), 2)[1])


def cmd_keys_init(args) -> int:
    from deepsentry.keys import KeyStore

    print_result(KeyStore(cli_settings().config_dir).init(subject=args.subject, force=args.force), args.json)
    return 0


def cmd_keys_import(args) -> int:
    import os
    from pathlib import Path

    from deepsentry.errors import BadRequest
    from deepsentry.keys import KeyStore

    pw = None
    if args.key_password_env:
        if args.key_password_env not in os.environ:
            raise BadRequest(f"${args.key_password_env} is not set")
        pw = os.environ[args.key_password_env].encode()
    info = KeyStore(cli_settings().config_dir).import_identity(Path(args.chain).read_bytes(), Path(args.key).read_bytes(),
                                                            key_password=pw)
    print_result(info, args.json)
    return 0


def cmd_keys_show(args) -> int:
    from deepsentry.keys import KeyStore

    print_result(KeyStore(cli_settings().config_dir).show(), args.json)
    return 0


def cmd_keys_trust(args) -> int:
    from deepsentry.keys import KeyStore

    dest = KeyStore(cli_settings().config_dir).add_trust_anchor(args.pem)
    print_result({"added": str(dest)}, args.json)
    return 0
