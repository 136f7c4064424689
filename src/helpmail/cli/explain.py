"""``helpmail explain MAIL.eml [--config FILE] [--json]``: the decision trace for one mail.

Runs the same pipeline as an import (parse, classify, bounce, ticket reference, sender,
attachments, reply extraction, rules) and prints every decision with its reason. No store is
written: without ``--db`` every mail looks new (no ticket is known); with ``--db PATH`` the facts
(known tickets, imported mails, contacts) are read from that store, opened read-only.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from helpmail.cli._common import desk_settings, load, rules_hook
from helpmail.cli._output import dump_json
from helpmail.errors import HelpmailError

HELP = "show the decision trace for one mail, without touching any store"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("mail", metavar="MAIL.eml", help="the raw mail (RFC 5322); - reads stdin")
    parser.add_argument("--config", type=Path, metavar="FILE", help="TOML configuration file")
    parser.add_argument(
        "--db",
        type=Path,
        metavar="PATH",
        help="read known tickets from this SQLite store (opened read-only)",
    )
    parser.add_argument("--json", action="store_true", help="print the outcome as JSON")


def read_mail(name: str) -> bytes:
    """The raw bytes of ``name`` (``-``: standard input)."""
    if name == "-":
        return sys.stdin.buffer.read()
    try:
        return Path(name).read_bytes()
    except OSError as error:
        raise HelpmailError(f"{name}: cannot read: {error.strerror or error}") from None


def run(args: argparse.Namespace) -> int:
    from helpmail.service import explain

    raw = read_mail(args.mail)
    config = load(args.config)
    settings = config.import_settings()
    store = None
    if args.db is not None:
        from helpmail.adapters.sqlite import SqliteStore

        store = SqliteStore(args.db, readonly=True)
    try:
        outcome = explain(
            raw,
            settings=settings,
            store=store,
            rules=rules_hook(config),
            desk=desk_settings(config),
        )
    finally:
        if store is not None:
            store.close()
    if args.json:
        dump_json({"mail": args.mail, **outcome.to_dict()})
    else:
        print(outcome.render())
    return 0
