"""The delivery guard's state in SQLite: helpmail's ``guard_*`` tables.

The rule this module keeps: the tables are the guard's own (``guard_block``, ``guard_ticket``,
``guard_mail`` and the schema version row in ``guard_schema``), so they can live in the desk's
database file beside the ticket store, through their own connection (WAL, so readers never wait
on the writer), without touching any other table. Times are stored as UTC ISO 8601 text, which
sorts as time does; expiry is computed from these stored times only. ``sqlite3`` errors become
:class:`helpmail.errors.StoreError`. A read-decide-write unit of the guard (admitting a mail,
merging a bounce) is one ``BEGIN IMMEDIATE`` transaction, so several processes sharing the file
keep the caps and lose no bounce.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

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
    """A :class:`helpmail.guard.GuardState` in an SQLite file (or ``":memory:"``).

    :meth:`transaction` is ``BEGIN IMMEDIATE`` ... ``COMMIT`` on the state's own connection: it
    takes the file's write lock at the start, so a second process (or a second state object on
    the same file) waits for it - up to ``busy_timeout`` seconds, then :class:`StoreError` -
    and its reads see the first one's writes. A plain deferred ``BEGIN`` would not do: two
    readers could both decide on the same count before either writes. A re-entrant lock keeps
    the threads that share this object out of each other's transactions (they share one
    connection, hence one transaction). An exception inside rolls the unit back.
    """

    def __init__(self, path: str | Path, *, busy_timeout: float = 5.0) -> None:
        self.path = str(path)
        self._db = open_side_db(
            self.path,
            schema=_SCHEMA,
            what="the guard state",
            wal=True,
            version_table="guard_schema",
            version=SCHEMA_VERSION,
        )
        self._lock = threading.RLock()
        self._depth = 0
        try:
            self._db.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        except sqlite3.Error as error:  # pragma: no cover - a pragma on an open connection
            self.close()
            raise StoreError(f"cannot set the busy timeout of the guard state: {error}") from None

    def __enter__(self) -> SqliteGuardState:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SqliteGuardState({self.path!r})"

    def close(self) -> None:
        with self._lock:
            close_side_db(self._db, "the guard state")

    # -- transactions --------------------------------------------------------------------------

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        with self._lock:
            if self._depth:  # an inner unit joins the outer one
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
                return
            try:
                self._db.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as error:
                raise StoreError(f"cannot start a guard transaction: {error}") from None
            self._depth = 1
            try:
                yield
            except BaseException:
                self._depth = 0
                with contextlib.suppress(sqlite3.Error):
                    self._db.execute("ROLLBACK")
                raise
            self._depth = 0
            try:
                self._db.execute("COMMIT")
            except sqlite3.Error as error:
                with contextlib.suppress(sqlite3.Error):
                    self._db.execute("ROLLBACK")
                raise StoreError(f"cannot commit a guard transaction: {error}") from None

    def _rows(self, what: str, query: str, values: Sequence[object] = ()) -> list[Any]:
        with self._lock:
            try:
                return self._db.execute(query, values).fetchall()
            except sqlite3.Error as error:
                raise StoreError(f"cannot {what}: {error}") from None

    def _write(self, what: str, query: str, values: Sequence[object] = ()) -> int:
        with self._lock:
            try:
                return self._db.execute(query, values).rowcount
            except sqlite3.Error as error:
                raise StoreError(f"cannot {what}: {error}") from None

    # -- address blocks ------------------------------------------------------------------------

    def get_block(self, address: str) -> AddressBlock | None:
        rows = self._rows(
            f"read the block of {address}",
            f"SELECT {_BLOCK_COLUMNS} FROM guard_block WHERE address = ?",
            (address,),
        )
        return _block(tuple(rows[0])) if rows else None

    def put_block(self, block: AddressBlock) -> None:
        self._write(
            f"store the block of {block.address}",
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

    def remove_block(self, address: str) -> bool:
        removed = self._write(
            f"clear the block of {address}", "DELETE FROM guard_block WHERE address = ?", (address,)
        )
        return removed > 0

    def blocks(self) -> Sequence[AddressBlock]:
        rows = self._rows(
            "list blocks", f"SELECT {_BLOCK_COLUMNS} FROM guard_block ORDER BY address"
        )
        return [_block(tuple(r)) for r in rows]

    # -- ticket blocks -------------------------------------------------------------------------

    def get_ticket_block(self, ticket: str) -> TicketBlock | None:
        rows = self._rows(
            f"read the flood block of {ticket}",
            "SELECT ticket, blocked_at, blocked_until, mails FROM guard_ticket WHERE ticket = ?",
            (ticket,),
        )
        if not rows:
            return None
        row = rows[0]
        return TicketBlock(
            ticket=str(row[0]),
            blocked_at=_time(row[1]),
            blocked_until=_time(row[2]),
            mails=int(row[3]),
        )

    def put_ticket_block(self, block: TicketBlock) -> None:
        self._write(
            f"store the flood block of {block.ticket}",
            "INSERT OR REPLACE INTO guard_ticket (ticket, blocked_at, blocked_until, mails) "
            "VALUES (?, ?, ?, ?)",
            (block.ticket, _text(block.blocked_at), _text(block.blocked_until), block.mails),
        )

    # -- mail log ------------------------------------------------------------------------------

    def add_mail(self, record: MailRecord) -> None:
        self._write(
            "log a mail",
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

    def remove_mail(self, record: MailRecord) -> bool:
        # ``IS`` compares NULL with NULL as equal (a mail without ticket or address).
        removed = self._write(
            "forget a mail",
            "DELETE FROM guard_mail WHERE seq = (SELECT seq FROM guard_mail "
            "WHERE ticket IS ? AND at = ? AND direction = ? AND address IS ? AND automatic = ? "
            "ORDER BY seq DESC LIMIT 1)",
            (
                record.ticket,
                _text(record.at),
                record.direction.value,
                record.address,
                int(record.automatic),
            ),
        )
        return removed > 0

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
        return [_time(r[0]) for r in self._rows("count mails", query, values)]

    def prune(self, before: dt.datetime) -> int:
        return self._write(
            "prune the mail log", "DELETE FROM guard_mail WHERE at < ?", (_text(before),)
        )


__all__ = ["SCHEMA_VERSION", "SqliteGuardState"]
