"""``helpmail import SOURCE --db PATH [--config FILE]``: import a mailbox into an SQLite store.

SOURCE is a Maildir folder, an mbox file, an ``imap://`` / ``imaps://`` URL (the password comes
from the environment variable ``HELPMAIL_IMAP_PASSWORD``, never from the URL), or the name of a
``[[mailboxes]]`` entry of the configuration. The import is idempotent: a second run over the same
mailbox imports nothing new and says so. A progress line is drawn on stderr only when stderr is a
terminal; the summary goes to stdout.

The automatic mails of each ticket event (see :mod:`helpmail.cli._notices`) go out through the
``[smtp]`` section, or into a Maildir with ``--outbox DIR``; ``--no-mail`` turns them off. With
neither ``[smtp]`` nor ``--outbox`` none are sent, and stderr says so once.

Exit status: 0 when every message was handled (imported, skipped as known, or dropped by policy),
1 when a message went to the quarantine or a mailbox action failed, 2 for errors that stopped the
run (configuration, store, source).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

from helpmail.cli._common import (
    close_source,
    count_messages,
    database_path,
    delivery_guard,
    describe,
    desk_options,
    load,
    mailbox_settings,
    open_source,
    result_dict,
    rules_hook,
)
from helpmail.cli._notices import MailRouteKind, mail_log_to, mail_route
from helpmail.cli._output import Progress, dump_json, shorten, table

HELP = "import a Maildir folder, an mbox file or an IMAP folder into an SQLite ticket store"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "source",
        metavar="SOURCE",
        help="Maildir folder, mbox file, imap(s)://user@host/FOLDER, or a configured mailbox name",
    )
    parser.add_argument(
        "--db", type=Path, metavar="PATH", help="SQLite file (default: [database] path)"
    )
    parser.add_argument("--config", type=Path, metavar="FILE", help="TOML configuration file")
    parser.add_argument(
        "--limit", type=int, metavar="N", help="stop after N messages (the rest waits for next run)"
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="print one line for every message"
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    add_mail_arguments(parser)


def add_mail_arguments(parser: argparse.ArgumentParser) -> None:
    """``--outbox DIR`` and ``--no-mail``: where the automatic mails go (default: ``[smtp]``)."""
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--outbox",
        type=Path,
        metavar="DIR",
        help="write the automatic mails into the Maildir DIR instead of sending them via [smtp]",
    )
    where.add_argument("--no-mail", action="store_true", help="send no automatic mails")


def run(args: argparse.Namespace) -> int:
    from helpmail.adapters.sqlite import SqliteStore
    from helpmail.service import Desk, MessageResult
    from helpmail.tickets.importing import OutcomeKind

    config = load(args.config)
    db = database_path(args.db, config)
    route = mail_route(config, outbox=args.outbox, no_mail=args.no_mail)
    source, mailbox = open_source(args.source, config, db=db)
    bar = Progress("importing")
    total = count_messages(source) if bar.enabled else None
    if total is not None and args.limit is not None:
        total = min(total, args.limit)
    everything = args.verbose or args.json
    quarantined: list[MessageResult] = []

    with contextlib.ExitStack() as stack:
        stack.callback(close_source, source)
        store = SqliteStore(db)
        stack.callback(store.close)
        stack.callback(bar.close)
        # bounces block their addresses in the desk's file: the next run still knows them; the
        # same guard admits every automatic mail (caps and blocks apply)
        guard = delivery_guard(db, stack)
        notices = route.notices(config, guard, stack)
        if notices is not None:  # failures on stderr; with -v each mail sent too
            stack.enter_context(mail_log_to(sys.stderr, verbose=args.verbose))
        desk = Desk(
            store=store,
            settings=mailbox_settings(config, mailbox),
            rules=rules_hook(config),
            on_events=notices,
            guard=guard,
            **desk_options(config, db, stack),
        )

        def progress(done: int, result: MessageResult) -> None:
            if notices is not None:
                notices.drain()  # after every message: memory stays flat
            bar.update(done, total)
            if result.kind is OutcomeKind.QUARANTINED and not everything:
                quarantined.append(result)

        if route.kind is MailRouteKind.UNCONFIGURED:
            print(route.describe(), file=sys.stderr, flush=True)
        # Keep every per-message result only when they are printed: a huge mailbox then
        # imports in constant memory (the counts are always complete).
        report = desk.import_from(
            notices.source(source) if notices is not None else source,
            progress=progress,
            limit=args.limit,
            keep=None if everything else 0,
        )
    mails_sent = notices.sent_total if notices is not None else 0
    mails_held = notices.held_total if notices is not None else 0
    if everything:
        quarantined = [r for r in report.results if r.kind is OutcomeKind.QUARANTINED]
    failed_actions = list(report.action_errors)
    # Messages an IMAP source did not download (too big), each with its reason.
    skipped = [(str(s.ref), s.reason) for s in getattr(source, "skipped", ())]
    if args.json:
        dump_json(
            {
                "source": args.source,
                "database": str(db),
                "summary": report.summary(),
                "counts": {kind.value: n for kind, n in report.counts.items() if n},
                "messages": [result_dict(r) for r in report.results],
                "action_errors": [{"ref": str(ref), "error": e} for ref, e in failed_actions],
                "skipped_on_server": [{"ref": where, "reason": why} for where, why in skipped],
                "mails": {
                    "route": route.kind.value,
                    "sent": mails_sent,
                    "held_or_failed": mails_held,
                },
            }
        )
        return 1 if quarantined or failed_actions else 0
    shown = report.results if args.verbose else quarantined
    if shown:
        rows = [
            (r.ref.uid[:24], shorten(r.subject or "(no subject)", 40), describe(r)) for r in shown
        ]
        print(table(rows, headers=("message", "subject", "what happened")))
        print()
    for ref, error in failed_actions:
        print(f"mailbox action failed for {ref} (applied again next run): {error}")
    for where, why in skipped:
        print(f"not downloaded: {where} ({why})")
    counts = [(kind.value.replace("_", " "), str(n)) for kind, n in report.counts.items() if n]
    print(f"{args.source} -> {db}")
    if counts:
        print(table([(f"  {what}", n) for what, n in counts]))
    print(report.summary())
    if route.on:
        print(f"{mails_sent} automatic mails sent ({mails_held} held/failed)")
    if report.total and report.counts[OutcomeKind.ALREADY_IMPORTED] == report.total:
        print("everything was already imported: nothing new")
    if quarantined:
        print(f"{len(quarantined)} message(s) went to the quarantine (see above)")
    return 1 if quarantined or failed_actions else 0
