"""Scan state in SQLite: folder watermarks and mailbox checks in helpmail's ``scanner_*`` tables.

The rule this module keeps: the scanner's tables are its own (``scanner_folders``,
``scanner_checks``), so they can live in the same database file as the ticket store without
touching its schema. Each write is its own short transaction; ``sqlite3`` errors become
:class:`helpmail.errors.StoreError`.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

from helpmail.adapters._sqlite_side import close_side_db, open_side_db
from helpmail.errors import StoreError
from helpmail.scanner.state import CheckRecord, FolderState

_SCHEMA = """
CREATE TABLE IF NOT EXISTS scanner_folders (
    mailbox     TEXT NOT NULL,
    folder      TEXT NOT NULL,
    uidvalidity INTEGER NOT NULL,
    last_uid    INTEGER NOT NULL,
    PRIMARY KEY (mailbox, folder)
);
CREATE TABLE IF NOT EXISTS scanner_checks (
    mailbox   TEXT NOT NULL,
    at        TEXT NOT NULL,
    ok        INTEGER NOT NULL,
    error     TEXT,
    messages  INTEGER NOT NULL DEFAULT 0,
    skipped   INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS scanner_checks_mailbox ON scanner_checks (mailbox, ok, at);
"""

#: how many check records to keep per mailbox
KEEP_CHECKS = 100


class SQLiteScanState:
    """A :class:`helpmail.scanner.ScanState` in an SQLite file (or ``":memory:"``)."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._db = open_side_db(self.path, schema=_SCHEMA, what="the scan state")

    def __repr__(self) -> str:
        return f"SQLiteScanState({self.path!r})"

    def folder_state(self, mailbox: str, folder: str) -> FolderState | None:
        try:
            row = self._db.execute(
                "SELECT uidvalidity, last_uid FROM scanner_folders "
                "WHERE mailbox = ? AND folder = ?",
                (mailbox, folder),
            ).fetchone()
        except sqlite3.Error as error:
            raise StoreError(f"cannot read scan state: {error}") from None
        if row is None:
            return None
        return FolderState(uidvalidity=int(row[0]), last_uid=int(row[1]))

    def save_folder_state(self, mailbox: str, folder: str, state: FolderState) -> None:
        try:
            self._db.execute(
                "INSERT INTO scanner_folders (mailbox, folder, uidvalidity, last_uid) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (mailbox, folder) DO UPDATE SET "
                "uidvalidity = excluded.uidvalidity, last_uid = excluded.last_uid",
                (mailbox, folder, state.uidvalidity, state.last_uid),
            )
        except sqlite3.Error as error:
            raise StoreError(f"cannot save scan state: {error}") from None

    def record_check(self, mailbox: str, record: CheckRecord) -> None:
        try:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute(
                "INSERT INTO scanner_checks (mailbox, at, ok, error, messages, skipped) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (
                    mailbox,
                    record.at.isoformat(),
                    int(record.ok),
                    record.error,
                    record.messages,
                    record.skipped,
                ),
            )
            self._db.execute(
                "DELETE FROM scanner_checks WHERE mailbox = ? AND rowid NOT IN (SELECT rowid FROM "
                "scanner_checks WHERE mailbox = ? ORDER BY rowid DESC LIMIT ?)",
                (mailbox, mailbox, KEEP_CHECKS),
            )
            self._db.execute("COMMIT")
        except sqlite3.Error as error:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise StoreError(f"cannot record check: {error}") from None

    def _check(self, mailbox: str, only_ok: bool) -> CheckRecord | None:
        query = (
            "SELECT at, ok, error, messages, skipped FROM scanner_checks WHERE mailbox = ?"
            + (" AND ok = 1" if only_ok else "")
            + " ORDER BY rowid DESC LIMIT 1"
        )
        try:
            row = self._db.execute(query, (mailbox,)).fetchone()
        except sqlite3.Error as error:
            raise StoreError(f"cannot read checks: {error}") from None
        if row is None:
            return None
        return CheckRecord(
            at=dt.datetime.fromisoformat(row[0]),
            ok=bool(row[1]),
            error=row[2],
            messages=int(row[3]),
            skipped=int(row[4]),
        )

    def last_check(self, mailbox: str) -> CheckRecord | None:
        return self._check(mailbox, only_ok=False)

    def last_successful_check(self, mailbox: str) -> CheckRecord | None:
        return self._check(mailbox, only_ok=True)

    def close(self) -> None:
        close_side_db(self._db, "the scan state")
