"""The suspended queue in SQLite: helpmail's ``suspended_*`` tables.

The rule this module keeps: the tables are the queue's own (``suspended_mail`` and the schema
version row in ``suspended_schema``), so they can live in the desk's database file beside the
ticket store, through their own connection, without touching its schema. Adding a mail is
idempotent on the mail (a unique key over Message-ID and content digest), and a decision is a
compare-and-set on the state in one ``BEGIN IMMEDIATE`` transaction, so two agents (or a retried
command) cannot accept and reject the same mail. ``sqlite3`` errors become
:class:`helpmail.errors.StoreError`.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Sequence
from pathlib import Path

from helpmail.adapters._sqlite_side import close_side_db, open_side_db
from helpmail.errors import StoreError
from helpmail.suspended import (
    Decision,
    SuspendedDecisionError,
    SuspendedMail,
    SuspendedState,
    Suspension,
    plan_decision,
)

#: the version of the ``suspended_*`` tables this code reads and writes
SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS suspended_schema (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS suspended_mail (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    mail_key        TEXT NOT NULL UNIQUE,
    message_id      TEXT,
    content_digest  TEXT NOT NULL,
    raw             BLOB NOT NULL,
    reason          TEXT NOT NULL,
    detail          TEXT NOT NULL,
    sender          TEXT,
    subject         TEXT NOT NULL DEFAULT '',
    support_address TEXT,
    source          TEXT,
    suspended_at    TEXT NOT NULL,
    state           TEXT NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'accepted', 'rejected')),
    decided_at      TEXT,
    decided_by      TEXT,
    note            TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS suspended_mail_state ON suspended_mail (state, seq);
"""

_COLUMNS = (
    "seq, message_id, content_digest, raw, reason, detail, sender, subject, support_address, "
    "source, suspended_at, state, decided_at, decided_by, note"
)


def _mail_key(message_id: str | None, content_digest: str) -> str:
    return f"{message_id or ''}\x1f{content_digest}"


def _id(seq: int) -> str:
    return f"s{seq}"


def _seq(suspended_id: str) -> int | None:
    text = suspended_id.strip().removeprefix("s")
    return int(text) if text.isdigit() else None


def _time(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None


def _row(row: tuple[object, ...]) -> SuspendedMail:
    (seq, message_id, digest, raw, reason, detail, sender, subject, support, source, at) = row[:11]
    (state, decided_at, decided_by, note) = row[11:]
    suspended_at = _time(str(at))
    assert suspended_at is not None
    return SuspendedMail(
        id=_id(int(str(seq))),
        suspension=Suspension(
            message_id=None if message_id is None else str(message_id),
            content_digest=str(digest),
            raw=bytes(raw) if isinstance(raw, bytes | bytearray | memoryview) else b"",
            reason=str(reason),
            detail=str(detail),
            sender=None if sender is None else str(sender),
            subject=str(subject),
            support_address=None if support is None else str(support),
            source=None if source is None else str(source),
            at=suspended_at,
        ),
        state=SuspendedState(str(state)),
        decided_at=_time(None if decided_at is None else str(decided_at)),
        decided_by=None if decided_by is None else str(decided_by),
        note=str(note),
    )


class SqliteSuspendedQueue:
    """A :class:`helpmail.suspended.SuspendedQueue` in an SQLite file (or ``":memory:"``)."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._db = open_side_db(
            self.path,
            schema=_SCHEMA,
            what="the suspended queue",
            version_table="suspended_schema",
            version=SCHEMA_VERSION,
        )

    def __repr__(self) -> str:
        return f"SqliteSuspendedQueue({self.path!r})"

    def suspend(self, suspension: Suspension) -> SuspendedMail:
        key = _mail_key(suspension.message_id, suspension.content_digest)
        try:
            self._db.execute(
                "INSERT INTO suspended_mail (mail_key, message_id, content_digest, raw, reason, "
                "detail, sender, subject, support_address, source, suspended_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (mail_key) DO NOTHING",
                (
                    key,
                    suspension.message_id,
                    suspension.content_digest,
                    suspension.raw,
                    suspension.reason,
                    suspension.detail,
                    suspension.sender,
                    suspension.subject,
                    suspension.support_address,
                    suspension.source,
                    suspension.at.isoformat(),
                ),
            )
            row = self._db.execute(
                f"SELECT {_COLUMNS} FROM suspended_mail WHERE mail_key = ?", (key,)
            ).fetchone()
        except sqlite3.Error as error:
            raise StoreError(f"cannot suspend mail: {error}") from None
        return _row(tuple(row))

    def get(self, suspended_id: str) -> SuspendedMail | None:
        seq = _seq(suspended_id)
        if seq is None:
            return None
        try:
            row = self._db.execute(
                f"SELECT {_COLUMNS} FROM suspended_mail WHERE seq = ?", (seq,)
            ).fetchone()
        except sqlite3.Error as error:
            raise StoreError(f"cannot read suspended mail {suspended_id}: {error}") from None
        return None if row is None else _row(tuple(row))

    def entries(self, state: SuspendedState | None = None) -> Sequence[SuspendedMail]:
        try:
            if state is None:
                rows = self._db.execute(f"SELECT {_COLUMNS} FROM suspended_mail ORDER BY seq")
            else:
                rows = self._db.execute(
                    f"SELECT {_COLUMNS} FROM suspended_mail WHERE state = ? ORDER BY seq",
                    (state.value,),
                )
            return [_row(tuple(r)) for r in rows.fetchall()]
        except sqlite3.Error as error:
            raise StoreError(f"cannot list suspended mail: {error}") from None

    def decide(self, suspended_id: str, decision: Decision) -> SuspendedMail:
        seq = _seq(suspended_id)
        if seq is None:
            raise SuspendedDecisionError(f"no suspended mail {suspended_id!r}")
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                row = self._db.execute(
                    f"SELECT {_COLUMNS} FROM suspended_mail WHERE seq = ?", (seq,)
                ).fetchone()
                if row is None:
                    raise SuspendedDecisionError(f"no suspended mail {suspended_id!r}")
                entry = _row(tuple(row))
                if plan_decision(entry, decision.state).changes:
                    self._db.execute(
                        "UPDATE suspended_mail SET state = ?, decided_at = ?, decided_by = ?, "
                        "note = ? WHERE seq = ? AND state = ?",
                        (
                            decision.state.value,
                            decision.at.isoformat(),
                            decision.by,
                            decision.note,
                            seq,
                            entry.state.value,
                        ),
                    )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            row = self._db.execute(
                f"SELECT {_COLUMNS} FROM suspended_mail WHERE seq = ?", (seq,)
            ).fetchone()
        except sqlite3.Error as error:
            raise StoreError(f"cannot decide on suspended mail {suspended_id}: {error}") from None
        return _row(tuple(row))

    def close(self) -> None:
        close_side_db(self._db, "the suspended queue")


__all__ = ["SCHEMA_VERSION", "SqliteSuspendedQueue"]
