"""``helpmail suspended list|accept|reject --db PATH [--config FILE]``: the suspended queue.

``list`` shows the mail held back by the admission step (pending by default) with the reason;
``accept ID...`` imports each mail as a normal mail through the desk (same idempotency rules:
accepting twice imports once) and marks it accepted; ``reject ID...`` drops it (never answered).
The queue lives in the ``suspended_*`` tables of the desk's SQLite file (``--db``, or
``[database] path`` of ``--config``). ``--config`` gives the import settings used by ``accept``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from helpmail.errors import ConfigError, HelpmailError

if TYPE_CHECKING:
    from helpmail.config import Config
    from helpmail.service import Desk
    from helpmail.suspended import SuspendedMail

HELP = "list, accept or reject mail held in the suspended queue (spam, blocked senders, ...)"

#: the desk's configuration sections (registered here until helpmail.config lists them)
DESK_SECTIONS = {
    "support_addresses": "helpmail.desk.config:parse_support_addresses",
    "contacts": "helpmail.desk.config:parse_contacts",
    "admission": "helpmail.desk.config:parse_admission",
    "spam": "helpmail.desk.config:parse_spam",
}


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", type=Path, metavar="PATH", help="the desk's SQLite database")
    parser.add_argument("--config", type=Path, metavar="FILE", help="TOML configuration")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="show suspended mail (pending unless --state/--all)")
    _common(listing)
    listing.add_argument(
        "--state", choices=["pending", "accepted", "rejected"], default="pending", help="filter"
    )
    listing.add_argument("--all", action="store_true", help="every entry, whatever its state")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    accepting = actions.add_parser("accept", help="import suspended mail as normal mail")
    _common(accepting)
    accepting.add_argument("ids", nargs="+", metavar="ID", help="suspended mail id (s1, s2, ...)")
    accepting.add_argument("--by", metavar="NAME", help="the agent deciding (recorded)")
    rejecting = actions.add_parser("reject", help="drop suspended mail (it is never answered)")
    _common(rejecting)
    rejecting.add_argument("ids", nargs="+", metavar="ID", help="suspended mail id (s1, s2, ...)")
    rejecting.add_argument("--by", metavar="NAME", help="the agent deciding (recorded)")
    rejecting.add_argument("--note", default="", help="why (recorded)")


def _config(path: Path | None) -> Config | None:
    if path is None:
        return None
    from helpmail import config as c

    for name, parser in DESK_SECTIONS.items():
        c.SECTIONS.setdefault(name, parser)
    return c.load_config(path)


def _database(args: argparse.Namespace, config: Config | None) -> Path:
    db: Path | None = args.db
    if db is None and config is not None:
        db = config.database.path
    if db is None:
        raise ConfigError("--db", "give the database (--db PATH, or [database] path in --config)")
    if not db.exists():
        raise ConfigError("--db", f"no database at {db}")
    return db


def _entry_dict(entry: SuspendedMail) -> dict[str, Any]:
    s = entry.suspension
    return {
        "id": entry.id,
        "state": entry.state.value,
        "reason": s.reason,
        "detail": s.detail,
        "sender": s.sender,
        "subject": s.subject,
        "support_address": s.support_address,
        "message_id": s.message_id,
        "source": s.source,
        "suspended_at": s.at.isoformat(),
        "decided_at": entry.decided_at.isoformat() if entry.decided_at else None,
        "decided_by": entry.decided_by,
        "note": entry.note,
        "size": len(s.raw),
    }


def run(args: argparse.Namespace) -> int:
    import datetime as dt

    from helpmail.adapters.sqlite_suspended import SqliteSuspendedQueue
    from helpmail.cli._output import dump_json, shorten, table
    from helpmail.desk.review import accept, desk_importer, reject
    from helpmail.suspended import SuspendedState

    config = _config(args.config)
    db = _database(args, config)
    queue = SqliteSuspendedQueue(db)
    try:
        if args.action == "list":
            state = None if args.all else SuspendedState(args.state)
            entries = queue.entries(state)
            if args.json:
                dump_json([_entry_dict(e) for e in entries])
                return 0
            if not entries:
                print(f"no {'' if state is None else state.value + ' '}suspended mail")
                return 0
            rows = [
                [
                    e.id,
                    e.state.value,
                    e.reason,
                    shorten(e.suspension.sender or "(no sender)", 32),
                    shorten(e.suspension.subject, 36),
                    shorten(e.suspension.detail, 60),
                ]
                for e in entries
            ]
            print(table(rows, ["id", "state", "reason", "sender", "subject", "why"]))
            return 0
        now = dt.datetime.now(dt.UTC)
        failed = 0
        desk = None
        try:
            for suspended_id in args.ids:
                try:
                    if args.action == "accept":
                        if desk is None:
                            desk = _desk(db, config)
                        result = accept(
                            queue, suspended_id, importer=desk_importer(desk), now=now, by=args.by
                        )
                    else:
                        result = reject(queue, suspended_id, now=now, by=args.by, note=args.note)
                except HelpmailError as error:
                    print(f"helpmail: {suspended_id}: {error}", file=sys.stderr)
                    failed += 1
                    continue
                print(result.detail)
        finally:
            if desk is not None:
                desk.store.close()
        return 1 if failed else 0
    finally:
        queue.close()


def _desk(db: Path, config: Config | None) -> Desk:
    """The :class:`helpmail.service.Desk` that imports accepted mail into ``db``."""
    from helpmail.adapters.sqlite import SqliteStore
    from helpmail.service import Desk

    settings = config.import_settings() if config is not None else None
    return Desk(store=SqliteStore(db), settings=settings)
