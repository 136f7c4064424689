"""``helpmail demo``: import the bundled sample mailbox into a fresh SQLite file and say what
happened to each mail.

The demo is the whole import path for real: the sample mails (:mod:`helpmail.demo`) are delivered
into a Maildir, the demo configuration is loaded and validated like any other, and
:meth:`helpmail.service.Desk.import_from` imports the Maildir into a new
:class:`~helpmail.adapters.sqlite.SqliteStore`. Nothing is sent anywhere. The directory it worked
in is kept (and printed) so the database can be opened and the import re-run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from helpmail import demo
from helpmail.cli._common import describe, result_dict
from helpmail.cli._output import dump_json, shorten, table
from helpmail.config import parse_toml
from helpmail.errors import HelpmailError

if TYPE_CHECKING:
    from helpmail.service import ImportReport

HELP = "import the bundled sample mailbox into a fresh SQLite file and show what happened"
#: The Maildir key of each demo mail is its file name without ``.eml`` (sorted = delivery order).
MAILDIR = "mailbox"
DATABASE = "helpmail-demo.sqlite3"


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


def run_demo(directory: Path) -> tuple[ImportReport, Path]:
    """Deliver the mails into ``directory``, import them, and return the report and the DB path."""
    from helpmail.adapters.mailbox import MaildirSource
    from helpmail.adapters.sqlite import SqliteStore
    from helpmail.service import Desk

    env = {demo.DEMO_KEY_VARIABLE: demo.DEMO_SIGNING_KEY}
    config_file = directory / "demo.toml"
    config_file.write_text(demo.config_text(), encoding="utf-8")
    config = parse_toml(demo.config_text(), source=config_file, base_dir=directory, env=env)
    mailbox = config.mailbox("demo")
    assert mailbox.path is not None
    assert config.database.path is not None
    deliver(mailbox.path)
    store = SqliteStore(config.database.path)
    source = MaildirSource(mailbox.path)
    try:
        desk = Desk(store=store, settings=config.import_settings(mailbox))
        report = desk.import_from(source)
    finally:
        source.close()
        store.close()
    return report, config.database.path


def run(args: argparse.Namespace) -> int:
    directory = prepare(args.dir)
    started = dt.datetime.now(dt.UTC)
    report, database = run_demo(directory)
    seconds = (dt.datetime.now(dt.UTC) - started).total_seconds()
    if args.json:
        dump_json(
            {
                "directory": str(directory),
                "database": str(database),
                "summary": report.summary(),
                "counts": {kind.value: n for kind, n in report.counts.items() if n},
                "messages": [
                    {"file": f"{r.ref.uid}.eml", **result_dict(r)} for r in report.results
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
    print(table(rows, headers=("#", "mail", "what happened")))
    print()
    print(report.summary())
    print(f"took {seconds:.2f} s")
    print()
    print(f"database:  {database}")
    print(f"mailbox:   {directory / MAILDIR}")
    print(f"config:    {directory / 'demo.toml'}")
    print()
    print("Try next:")
    print(f"  sqlite3 {database} 'select number, status, title from tickets'")
    print(f"  helpmail explain {directory / MAILDIR / 'new' / '08-en-new-disguised-exe'}")
    print(
        f"  {demo.DEMO_KEY_VARIABLE}={demo.DEMO_SIGNING_KEY} "
        f"helpmail import demo --config {directory / 'demo.toml'}"
        "   # a second run imports nothing new"
    )
    sys.stdout.flush()
    return 0
