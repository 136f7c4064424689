"""The delivery guard's state in SQLite: helpmail's ``guard_*`` tables.

The rule this module keeps: the tables are the guard's own (``guard_block``, ``guard_ticket``,
``guard_mail`` and the schema version row in ``guard_schema``), so they can live in the desk's
database file beside the ticket store, through their own connection (WAL, so readers never wait
on the writer), without touching any other table. Times are stored as UTC ISO 8601 text, which
sorts as time does; expiry is computed from these stored times only. ``sqlite3`` errors become
:class:`helpmail.errors.StoreError`.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Sequence
from pathlib import Path

from helpmail.adapters._sqlite_side import close_side_db, open_side_db
from helpmail.bounces.model import BounceReason
from helpmail.errors import StoreError
from helpmail.guard import AddressBlock, Direction, MailRecord, TicketBlock

#: the version of the ``guard_*`` tables this code reads and writes
SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS guard_schema (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS guard_block (
    address             TEXT PRIMARY KEY,
    reason              TEXT NOT NULL,
    hard                INTEGER NOT NULL,
    blocked_at          TEXT NOT NULL,
    blocked_until       TEXT,
    status              TEXT,
    diagnostic          TEXT,
    bounce_message_id   TEXT,
    original_message_id TEXT,
    bounces             INTEGER NOT NULL DEFAULT 1,
    alert               INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS guard_ticket (
    ticket        TEXT PRIMARY KEY,
    blocked_at    TEXT NOT NULL,
    blocked_until TEXT NOT NULL,
    mails         INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS guard_mail (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    ticket    TEXT,
    at        TEXT NOT NULL,
    direction TEXT NOT NULL CHECK (direction IN ('in', 'out')),
    address   TEXT,
    automatic INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS guard_mail_address ON guard_mail (address, at);
CREATE INDEX IF NOT EXISTS guard_mail_ticket ON guard_mail (ticket, at);
CREATE INDEX IF NOT EXISTS guard_mail_at ON guard_mail (at);
"""

_BLOCK_COLUMNS = (
    "address, reason, hard, blocked_at, blocked_until, status, diagnostic, bounce_message_id, "
    "original_message_id, bounces, alert"
)


def _text(moment: dt.datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("the delivery guard needs timezone-aware times")
    return moment.astimezone(dt.UTC).isoformat(timespec="microseconds")


def _time(value: object) -> dt.datetime:
    return dt.datetime.fromisoformat(str(value))


def _opt(value: object) -> str | None:
    return None if value is None else str(value)


def _block(row: Sequence[object]) -> AddressBlock:
    (address, reason, hard, at, until, status, diagnostic, bounce_id, original_id, n, alert) = row
    return AddressBlock(
        address=str(address),
        reason=BounceReason(str(reason)),
        hard=bool(hard),
        blocked_at=_time(at),
        blocked_until=None if until is None else _time(until),
        status=_opt(status),
        diagnostic=_opt(diagnostic),
        bounce_message_id=_opt(bounce_id),
        original_message_id=_opt(original_id),
        bounces=int(str(n)),
        alert=bool(alert),
    )


class SqliteGuardState:
    """A :class:`helpmail.guard.GuardState` in an SQLite file (or ``":memory:"``)."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._db = open_side_db(
            self.path,
            schema=_SCHEMA,
            what="the guard state",
            wal=True,
            version_table="guard_schema",
            version=SCHEMA_VERSION,
        )

    def __enter__(self) -> SqliteGuardState:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SqliteGuardState({self.path!r})"

    def close(self) -> None:
        close_side_db(self._db, "the guard state")

    # -- address blocks ------------------------------------------------------------------------

    def get_block(self, address: str) -> AddressBlock | None:
        try:
            row = self._db.execute(
                f"SELECT {_BLOCK_COLUMNS} FROM guard_block WHERE address = ?", (address,)
            ).fetchone()
        except sqlite3.Error as error:
            raise StoreError(f"cannot read the block of {address}: {error}") from None
        return None if row is None else _block(tuple(row))

    def put_block(self, block: AddressBlock) -> None:
        try:
            self._db.execute(
                f"INSERT OR REPLACE INTO guard_block ({_BLOCK_COLUMNS}) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    block.address,
                    block.reason.value,
                    int(block.hard),
                    _text(block.blocked_at),
                    None if block.blocked_until is None else _text(block.blocked_until),
                    block.status,
                    block.diagnostic,
                    block.bounce_message_id,
                    block.original_message_id,
                    block.bounces,
                    int(block.alert),
                ),
            )
        except sqlite3.Error as error:
            raise StoreError(f"cannot store the block of {block.address}: {error}") from None

    def remove_block(self, address: str) -> bool:
        try:
            cursor = self._db.execute("DELETE FROM guard_block WHERE address = ?", (address,))
        except sqlite3.Error as error:
            raise StoreError(f"cannot clear the block of {address}: {error}") from None
        return cursor.rowcount > 0

    def blocks(self) -> Sequence[AddressBlock]:
        try:
            rows = self._db.execute(
                f"SELECT {_BLOCK_COLUMNS} FROM guard_block ORDER BY address"
            ).fetchall()
        except sqlite3.Error as error:
            raise StoreError(f"cannot list blocks: {error}") from None
        return [_block(tuple(r)) for r in rows]

    # -- ticket blocks -------------------------------------------------------------------------

    def get_ticket_block(self, ticket: str) -> TicketBlock | None:
        try:
            row = self._db.execute(
                "SELECT ticket, blocked_at, blocked_until, mails FROM guard_ticket "
                "WHERE ticket = ?",
                (ticket,),
            ).fetchone()
        except sqlite3.Error as error:
            raise StoreError(f"cannot read the flood block of {ticket}: {error}") from None
        if row is None:
            return None
        return TicketBlock(
            ticket=str(row[0]),
            blocked_at=_time(row[1]),
            blocked_until=_time(row[2]),
            mails=int(row[3]),
        )

    def put_ticket_block(self, block: TicketBlock) -> None:
        try:
            self._db.execute(
                "INSERT OR REPLACE INTO guard_ticket (ticket, blocked_at, blocked_until, mails) "
                "VALUES (?, ?, ?, ?)",
                (block.ticket, _text(block.blocked_at), _text(block.blocked_until), block.mails),
            )
        except sqlite3.Error as error:
            raise StoreError(f"cannot store the flood block of {block.ticket}: {error}") from None

    # -- mail log ------------------------------------------------------------------------------

    def add_mail(self, record: MailRecord) -> None:
        try:
            self._db.execute(
                "INSERT INTO guard_mail (ticket, at, direction, address, automatic) "
                "VALUES (?, ?, ?, ?, ?)",
                (
                    record.ticket,
                    _text(record.at),
                    record.direction.value,
                    record.address,
                    int(record.automatic),
                ),
            )
        except sqlite3.Error as error:
            raise StoreError(f"cannot log a mail: {error}") from None

    def mail_times(
        self,
        *,
        since: dt.datetime,
        address: str | None = None,
        ticket: str | None = None,
        direction: Direction | None = None,
        automatic: bool | None = None,
    ) -> Sequence[dt.datetime]:
        clauses = ["at >= ?"]
        values: list[object] = [_text(since)]
        if address is not None:
            clauses.append("address = ?")
            values.append(address)
        if ticket is not None:
            clauses.append("ticket = ?")
            values.append(ticket)
        if direction is not None:
            clauses.append("direction = ?")
            values.append(direction.value)
        if automatic is not None:
            clauses.append("automatic = ?")
            values.append(int(automatic))
        query = f"SELECT at FROM guard_mail WHERE {' AND '.join(clauses)} ORDER BY at, seq"
        try:
            rows = self._db.execute(query, values).fetchall()
        except sqlite3.Error as error:
            raise StoreError(f"cannot count mails: {error}") from None
        return [_time(r[0]) for r in rows]

    def prune(self, before: dt.datetime) -> int:
        try:
            cursor = self._db.execute("DELETE FROM guard_mail WHERE at < ?", (_text(before),))
        except sqlite3.Error as error:
            raise StoreError(f"cannot prune the mail log: {error}") from None
        return cursor.rowcount


__all__ = ["SCHEMA_VERSION", "SqliteGuardState"]
