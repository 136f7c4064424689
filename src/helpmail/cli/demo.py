"""``helpmail demo``: import the bundled sample mailbox into a fresh SQLite file and say what
happened to each mail, and which automatic mails it caused.

The demo is the whole import path for real: the sample mails (:mod:`helpmail.demo`) are delivered
into a Maildir, the demo configuration is loaded and validated like any other, and
:meth:`helpmail.service.Desk.import_from` imports the Maildir into a new
:class:`~helpmail.adapters.sqlite.SqliteStore`, with the delivery guard's state in the same file.
The ticket events go to a :class:`~helpmail.notify.notifier.Notifier` whose sender is a Maildir
outbox (:class:`~helpmail.adapters.outbox.MaildirOutbox`): nothing is sent anywhere, every mail the
import caused lands as a file a user can open (``mutt -f OUTBOX``). The directory it worked in is
kept (and printed) so the database and the outbox can be opened and the import re-run.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import attrs

from helpmail import demo
from helpmail.cli import _notices
from helpmail.cli._common import delivery_guard, describe, desk_options, result_dict
from helpmail.cli._output import dump_json, shorten, table
from helpmail.config import parse_toml
from helpmail.errors import HelpmailError

if TYPE_CHECKING:
    from helpmail.notify.notifier import Delivery
    from helpmail.service import ImportReport, MessageResult

HELP = "import the bundled sample mailbox into a fresh SQLite file and show what happened"
#: The Maildir key of each demo mail is its file name without ``.eml`` (sorted = delivery order).
MAILDIR = "mailbox"
DATABASE = "helpmail-demo.sqlite3"
#: The Maildir the automatic mails are written to (instead of being sent).
OUTBOX = "outbox"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dir",
        type=Path,
        metavar="DIR",
        help="work in DIR (created; must be empty) instead of a new temporary directory",
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON")


def _arrival(raw: bytes) -> float | None:
    """The Date header of a demo mail as a timestamp (the mail's arrival time in the Maildir)."""
    from email.utils import parsedate_to_datetime

    for line in raw.split(b"\n"):
        if not line.strip():
            return None
        if line.lower().startswith(b"date:"):
            try:
                return parsedate_to_datetime(line[5:].decode("ascii").strip()).timestamp()
            except (ValueError, TypeError, UnicodeDecodeError):
                return None
    return None


def deliver(folder: Path) -> list[str]:
    """Write the demo mails into a new Maildir at ``folder``; return their keys in order."""
    for sub in ("tmp", "new", "cur"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    keys = []
    previous = 0.0
    for name, raw in demo.mails():
        key = name.removesuffix(".eml")
        staging = folder / "tmp" / key
        staging.write_bytes(raw)
        # The arrival time is the Date header, kept strictly increasing: sources deliver in
        # arrival order, and the story needs the mails in file order.
        arrival = max(_arrival(raw) or 0.0, previous + 1.0)
        previous = arrival
        os.utime(staging, (arrival, arrival))
        staging.rename(folder / "new" / key)  # the Maildir delivery protocol: tmp, then new
        keys.append(key)
    return keys


def prepare(directory: Path | None) -> Path:
    """The (new or empty) working directory."""
    if directory is None:
        return Path(tempfile.mkdtemp(prefix="helpmail-demo-"))
    if directory.exists() and any(directory.iterdir()):
        raise HelpmailError(f"{directory} is not empty: the demo needs a fresh directory")
    directory.mkdir(parents=True, exist_ok=True)
    return directory


@attrs.frozen(kw_only=True)
class DemoRun:
    """What one demo run did: the import report, the automatic mails each message caused (by
    message key), and where the database and the outbox are."""

    report: ImportReport
    deliveries: dict[str, list[Delivery]]
    database: Path
    outbox: Path

    def mails_of(self, result: MessageResult) -> list[Delivery]:
        """The deliveries (sent and suppressed mails) the message of ``result`` caused."""
        return self.deliveries.get(result.ref.uid, [])


def run_demo(directory: Path) -> DemoRun:
    """Deliver the mails into ``directory``, import them with notifications into an outbox."""
    from helpmail.adapters.mailbox import MaildirSource
    from helpmail.adapters.outbox import MaildirOutbox
    from helpmail.adapters.sqlite import SqliteStore
    from helpmail.notify.notifier import notifier_from_config
    from helpmail.service import Desk

    env = {demo.DEMO_KEY_VARIABLE: demo.DEMO_SIGNING_KEY}
    config_file = directory / "demo.toml"
    config_file.write_text(demo.config_text(), encoding="utf-8")
    config = parse_toml(demo.config_text(), source=config_file, base_dir=directory, env=env)
    mailbox = config.mailbox("demo")
    assert mailbox.path is not None
    database = config.database.path
    assert database is not None
    deliver(mailbox.path)
    outbox = directory / OUTBOX
    deliveries: dict[str, list[Delivery]] = {}
    with contextlib.ExitStack() as stack:
        store = SqliteStore(database)
        stack.callback(store.close)
        guard = delivery_guard(database, stack)
        notices = _notices.MailNotices(notifier_from_config(config, MaildirOutbox(outbox), guard))
        source = MaildirSource(mailbox.path)
        stack.callback(source.close)
        desk = Desk(
            store=store,
            settings=config.import_settings(mailbox),
            on_events=notices,
            guard=guard,
            **desk_options(config, database, stack),
        )

        def progress(done: int, result: MessageResult) -> None:
            del done
            deliveries[result.ref.uid] = notices.take()

        report = desk.import_from(notices.source(source), progress=progress)
    return DemoRun(report=report, deliveries=deliveries, database=database, outbox=outbox)


def run(args: argparse.Namespace) -> int:
    directory = prepare(args.dir)
    started = dt.datetime.now(dt.UTC)
    done = run_demo(directory)
    report, database = done.report, done.database
    seconds = (dt.datetime.now(dt.UTC) - started).total_seconds()
    outbox_mails = sum(len(_notices.sent(d)) for d in done.deliveries.values())
    if args.json:
        dump_json(
            {
                "directory": str(directory),
                "database": str(database),
                "outbox": str(done.outbox),
                "summary": report.summary(),
                "counts": {kind.value: n for kind, n in report.counts.items() if n},
                "mails_sent": outbox_mails,
                "messages": [
                    {
                        "file": f"{r.ref.uid}.eml",
                        **result_dict(r),
                        "mails": _notices.as_dicts(done.mails_of(r)),
                    }
                    for r in report.results
                ],
            }
        )
        return 0
    print(f"helpmail demo: {report.total} sample mails imported into a fresh SQLite store\n")
    rows = []
    for result in report.results:
        rows.append(
            (result.ref.uid[:2], shorten(result.subject or "(no subject)", 44), describe(result))
        )
    lines = table(rows, headers=("#", "mail", "what happened")).splitlines()
    indent = " " * lines[0].index("what happened")
    print("\n".join(lines[:2]))
    for result, line in zip(report.results, lines[2:], strict=True):
        print(line)
        for notice in _notices.lines(done.mails_of(result)):
            print(f"{indent}  {'->' if notice.startswith('mail to') else ' x'} {notice}")
    print()
    print(report.summary())
    print(f"{outbox_mails} automatic mails written to the outbox (nothing was sent)")
    print(f"took {seconds:.2f} s")
    print()
    print(f"database:  {database}")
    print(f"mailbox:   {directory / MAILDIR}")
    print(f"outbox:    {done.outbox}   (a Maildir: mutt -f {done.outbox})")
    print(f"config:    {directory / 'demo.toml'}")
    print()
    print("Try next:")
    print(f"  sqlite3 {database} 'select number, status, title from tickets'")
    print(f"  ls {done.outbox / 'new'}")
    print(f"  helpmail suspended list --db {database}")
    print(f"  helpmail explain {directory / MAILDIR / 'new' / '08-en-new-disguised-exe'}")
    print(
        f"  {demo.DEMO_KEY_VARIABLE}={demo.DEMO_SIGNING_KEY} "
        f"helpmail import demo --config {directory / 'demo.toml'}"
        "   # a second run imports nothing new"
    )
    sys.stdout.flush()
    return 0
