"""The embedded default :class:`~helpmail.ports.TicketStore`: one SQLite file (stdlib ``sqlite3``).

Rules this module keeps:

* **One transaction per import commit.** :meth:`SqliteStore.commit` runs in ``BEGIN IMMEDIATE`` ...
  ``COMMIT``: the ticket (or follow-up, or bounce), its history, attachments, a new contact and the
  message's import key are written together or not at all. The unique index on the source position
  makes a second import of the same position impossible (:class:`~helpmail.ports.AlreadyImported`).
* **Durable before the mailbox is touched.** WAL journal with ``synchronous=NORMAL``: a commit
  survives a killed process at once; :meth:`SqliteStore.sync` (an ``fsync`` of the WAL and the
  database file) makes every commit so far survive a power loss too. The service calls it before
  it deletes, moves or flags messages on their server, once per batch of messages, so the cost
  of an ``fsync`` is shared. ``synchronous="FULL"`` syncs every commit instead.
* **Schema versioned** with ``PRAGMA user_version`` and ordered migrations kept as data
  (:data:`MIGRATIONS`); each migration runs in its own transaction. Foreign keys are on.
* **Content-addressed attachments**: the ``blobs`` table holds each distinct file once, by SHA-256.
* ``sqlite3`` errors become :class:`helpmail.errors.StoreError` at this boundary.

Other parts of helpmail may keep their own tables in the same file (``scanner_*``, ``guard_*``);
this store only touches the tables listed in :data:`MIGRATIONS`.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from helpmail.errors import StoreError
from helpmail.mail.model import address_key
from helpmail.ports import (
    AlreadyImported,
    CommitRejected,
    HistoryRecord,
    ImportKey,
    ImportRecord,
    MessageKind,
    MessageRecord,
    MessageRef,
    QuarantineRecord,
    TicketRecord,
)
from helpmail.tickets.events import AttachmentRef, Origin
from helpmail.tickets.importing import (
    NOT_FILED,
    AddFollowUp,
    AttachBounce,
    CommitResult,
    CreateTicket,
    ImportCommit,
    Party,
    StoredAttachment,
    format_ticket_number,
)

#: Ordered schema migrations: (version, statements). Version N is applied when user_version < N.
MIGRATIONS: tuple[tuple[int, tuple[str, ...]], ...] = (
    (
        1,
        (
            """CREATE TABLE contacts (
                id          INTEGER PRIMARY KEY,
                address_key TEXT NOT NULL UNIQUE,
                address     TEXT NOT NULL,
                name        TEXT NOT NULL DEFAULT ''
            )""",
            """CREATE TABLE tickets (
                id               INTEGER PRIMARY KEY,
                number           TEXT NOT NULL UNIQUE,
                title            TEXT NOT NULL,
                status           TEXT NOT NULL,
                reporter         TEXT,
                reporter_address TEXT,
                created_by       TEXT,
                reported_at      TEXT NOT NULL,
                queue            TEXT,
                manager          TEXT,
                assignee         TEXT,
                origin           TEXT NOT NULL,
                support_address  TEXT,
                fields           TEXT NOT NULL DEFAULT '{}'
            )""",
            """CREATE TABLE ticket_participants (
                id          INTEGER PRIMARY KEY,
                ticket_id   INTEGER NOT NULL REFERENCES tickets(id),
                address_key TEXT NOT NULL,
                UNIQUE (ticket_id, address_key)
            )""",
            """CREATE TABLE messages (
                id           INTEGER PRIMARY KEY,
                ticket_id    INTEGER NOT NULL REFERENCES tickets(id),
                kind         TEXT NOT NULL,
                message_id   TEXT,
                sender       TEXT,
                author       TEXT,
                at           TEXT NOT NULL,
                text         TEXT NOT NULL,
                reply_method TEXT,
                origin       TEXT NOT NULL
            )""",
            "CREATE INDEX messages_by_message_id ON messages(message_id)",
            "CREATE INDEX messages_by_ticket ON messages(ticket_id)",
            """CREATE TABLE blobs (
                sha256 TEXT PRIMARY KEY,
                size   INTEGER NOT NULL,
                data   BLOB NOT NULL
            ) WITHOUT ROWID""",
            """CREATE TABLE message_attachments (
                message    INTEGER NOT NULL REFERENCES messages(id),
                position   INTEGER NOT NULL,
                sha256     TEXT NOT NULL REFERENCES blobs(sha256),
                filename   TEXT,
                media_type TEXT NOT NULL,
                size       INTEGER NOT NULL,
                inline     INTEGER NOT NULL,
                PRIMARY KEY (message, position)
            ) WITHOUT ROWID""",
            """CREATE TABLE history (
                id        INTEGER PRIMARY KEY,
                ticket_id INTEGER NOT NULL REFERENCES tickets(id),
                at        TEXT NOT NULL,
                actor     TEXT,
                text      TEXT NOT NULL
            )""",
            "CREATE INDEX history_by_ticket ON history(ticket_id)",
            # uidvalidity -1 stands for "none" (files): NULLs would not collide in a UNIQUE index.
            """CREATE TABLE imports (
                id             INTEGER PRIMARY KEY,
                source         TEXT NOT NULL,
                folder         TEXT NOT NULL,
                uidvalidity    INTEGER NOT NULL,
                uid            TEXT NOT NULL,
                message_id     TEXT,
                content_digest TEXT NOT NULL,
                outcome        TEXT NOT NULL,
                ticket_id      INTEGER REFERENCES tickets(id),
                at             TEXT NOT NULL
            )""",
            "CREATE UNIQUE INDEX imports_by_position ON imports(source, folder, uidvalidity, uid)",
            "CREATE INDEX imports_by_mail ON imports(content_digest, message_id)",
            """CREATE TABLE quarantine (
                id             INTEGER PRIMARY KEY,
                source         TEXT NOT NULL,
                folder         TEXT NOT NULL,
                uidvalidity    INTEGER NOT NULL,
                uid            TEXT NOT NULL,
                message_id     TEXT,
                content_digest TEXT NOT NULL,
                raw            BLOB NOT NULL,
                error          TEXT NOT NULL,
                at             TEXT NOT NULL
            )""",
            "CREATE UNIQUE INDEX quarantine_by_position"
            " ON quarantine(source, folder, uidvalidity, uid)",
        ),
    ),
    (
        2,
        # A contact's further addresses (the first one stays in ``contacts``): mail from any of
        # them is the same person.
        (
            """CREATE TABLE contact_addresses (
                address_key TEXT PRIMARY KEY,
                contact_id  INTEGER NOT NULL REFERENCES contacts(id),
                address     TEXT NOT NULL
            ) WITHOUT ROWID""",
        ),
    ),
)

#: The schema version this code writes.
SCHEMA_VERSION = MIGRATIONS[-1][0]

_TICKET_COLUMNS = (
    "id, number, title, status, reporter, reporter_address, created_by, reported_at, queue,"
    " manager, assignee, origin, support_address, fields"
)
_MESSAGE_COLUMNS = "id, ticket_id, kind, message_id, sender, author, at, text, reply_method, origin"
_IMPORT_COLUMNS = (
    "source, folder, uidvalidity, uid, message_id, content_digest, outcome, ticket_id, at"
)


def _time(value: dt.datetime) -> str:
    return value.isoformat()


def _parse_time(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value)


def _validity(ref: MessageRef) -> int:
    return -1 if ref.uidvalidity is None else ref.uidvalidity


def _ref(source: str, folder: str, uidvalidity: int, uid: str) -> MessageRef:
    return MessageRef(
        source=source,
        folder=folder,
        uid=uid,
        uidvalidity=None if uidvalidity == -1 else uidvalidity,
    )


class SqliteStore:
    """A :class:`~helpmail.ports.TicketStore` in one SQLite file.

    ``path`` is the database file (created, and migrated to :data:`SCHEMA_VERSION`, unless
    ``readonly``). ``synchronous`` is SQLite's durability level per commit (``"NORMAL"`` by
    default, see the module docstring and :meth:`sync`). The connection is shared by threads
    under a lock.
    """

    def __init__(
        self, path: str | os.PathLike[str], *, readonly: bool = False, synchronous: str = "NORMAL"
    ) -> None:
        self.path = Path(path)
        self.readonly = readonly
        if synchronous.upper() not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise StoreError(f"unknown synchronous level {synchronous!r}")
        self._lock = threading.RLock()
        try:
            if readonly:
                if not self.path.exists():
                    raise StoreError(f"no database at {self.path}")
                uri = self.path.resolve().as_uri() + "?mode=ro"
                self._db = sqlite3.connect(
                    uri, uri=True, isolation_level=None, check_same_thread=False
                )
            else:
                self._db = sqlite3.connect(
                    str(self.path), isolation_level=None, check_same_thread=False, timeout=30
                )
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute(f"PRAGMA synchronous={synchronous.upper()}")
            self._db.execute("PRAGMA foreign_keys=ON")
            from helpmail.tickets.refs import normalise_subject

            self._db.create_function("helpmail_subject", 1, normalise_subject, deterministic=True)
            if not readonly:
                self._migrate()
            version = self.schema_version()
        except sqlite3.Error as error:
            if getattr(self, "_db", None) is not None:
                self._db.close()  # a file that cannot be opened as a store keeps no connection
            raise StoreError(f"cannot open ticket store {self.path}: {error}") from error
        if version > SCHEMA_VERSION:
            self._db.close()
            raise StoreError(
                f"{self.path} has schema version {version}, newer than this helpmail "
                f"({SCHEMA_VERSION}); upgrade helpmail"
            )
        if readonly and version < 1:
            self._db.close()
            raise StoreError(f"{self.path} is not a helpmail ticket store (schema {version})")
        if readonly and version < SCHEMA_VERSION:
            self._db.close()
            raise StoreError(
                f"{self.path} has schema version {version}, older than this helpmail's "
                f"({SCHEMA_VERSION}); open it once for writing to upgrade it"
            )

    # -- plumbing --------------------------------------------------------------------------
    def schema_version(self) -> int:
        """``PRAGMA user_version`` of the file."""
        row = self._db.execute("PRAGMA user_version").fetchone()
        return int(row[0])

    def _migrate(self) -> None:
        for version, statements in MIGRATIONS:
            if self.schema_version() >= version:
                continue
            self._db.execute("BEGIN IMMEDIATE")
            try:
                if self.schema_version() < version:  # another process may have migrated
                    for statement in statements:
                        self._db.execute(statement)
                    self._db.execute(f"PRAGMA user_version = {int(version)}")
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                yield self._db
            except sqlite3.Error as error:
                raise StoreError(f"ticket store {self.path}: {error}") from error

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        if self.readonly:
            raise StoreError(f"ticket store {self.path} is open read-only")
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as error:
                raise StoreError(f"ticket store {self.path}: {error}") from error
            try:
                yield self._db
                self._db.execute("COMMIT")
            except BaseException as error:
                with suppress(sqlite3.Error):
                    self._db.execute("ROLLBACK")
                if isinstance(error, sqlite3.Error):
                    raise StoreError(f"ticket store {self.path}: {error}") from error
                raise

    # -- row conversion ----------------------------------------------------------------------
    def _ticket(self, db: sqlite3.Connection, row: Sequence[Any]) -> TicketRecord:
        participants = tuple(
            r[0]
            for r in db.execute(
                "SELECT address_key FROM ticket_participants WHERE ticket_id = ? ORDER BY id",
                (row[0],),
            )
        )
        fields: dict[str, str] = json.loads(row[13])
        return TicketRecord(
            id=str(row[0]),
            number=row[1],
            title=row[2],
            status=row[3],
            reporter=row[4],
            reporter_address=row[5],
            created_by=row[6],
            reported_at=_parse_time(row[7]),
            queue=row[8],
            manager=row[9],
            assignee=row[10],
            origin=Origin(row[11]),
            support_address=row[12],
            participants=participants,
            fields=tuple(fields.items()),
        )

    def _message(self, db: sqlite3.Connection, row: Sequence[Any]) -> MessageRecord:
        attachments = tuple(
            AttachmentRef(filename=r[0], media_type=r[1], size=r[2], sha256=r[3])
            for r in db.execute(
                "SELECT filename, media_type, size, sha256 FROM message_attachments"
                " WHERE message = ? ORDER BY position",
                (row[0],),
            )
        )
        return MessageRecord(
            id=str(row[0]),
            ticket_id=str(row[1]),
            kind=MessageKind(row[2]),
            message_id=row[3],
            sender=row[4],
            author=row[5],
            at=_parse_time(row[6]),
            text=row[7],
            reply_method=row[8],
            origin=Origin(row[9]),
            attachments=attachments,
        )

    @staticmethod
    def _import(row: Sequence[Any]) -> ImportRecord:
        return ImportRecord(
            key=ImportKey(
                ref=_ref(row[0], row[1], row[2], row[3]),
                message_id=row[4],
                content_digest=row[5],
            ),
            outcome=row[6],
            ticket_id=None if row[7] is None else str(row[7]),
            at=_parse_time(row[8]),
        )

    @staticmethod
    def _quarantine(row: Sequence[Any]) -> QuarantineRecord:
        return QuarantineRecord(
            id=str(row[0]),
            key=ImportKey(
                ref=_ref(row[1], row[2], row[3], row[4]), message_id=row[5], content_digest=row[6]
            ),
            raw=bytes(row[7]),
            error=row[8],
            at=_parse_time(row[9]),
        )

    # -- facts -----------------------------------------------------------------------------
    def find_import(self, ref: MessageRef) -> ImportRecord | None:
        with self._read() as db:
            row = db.execute(
                f"SELECT {_IMPORT_COLUMNS} FROM imports"
                " WHERE source = ? AND folder = ? AND uidvalidity = ? AND uid = ?",
                (ref.source, ref.folder, _validity(ref), ref.uid),
            ).fetchone()
            return None if row is None else self._import(row)

    def find_same_mail(self, message_id: str | None, content_digest: str) -> ImportRecord | None:
        with self._read() as db:
            row = db.execute(
                f"SELECT {_IMPORT_COLUMNS} FROM imports"
                " WHERE content_digest = ? AND message_id IS ? AND outcome NOT IN"
                f" ({', '.join('?' for _ in NOT_FILED)}) ORDER BY id LIMIT 1",
                (content_digest, message_id, *sorted(NOT_FILED)),
            ).fetchone()
            return None if row is None else self._import(row)

    def find_quarantined(self, ref: MessageRef) -> QuarantineRecord | None:
        with self._read() as db:
            row = db.execute(
                "SELECT id, source, folder, uidvalidity, uid, message_id, content_digest, raw,"
                " error, at FROM quarantine"
                " WHERE source = ? AND folder = ? AND uidvalidity = ? AND uid = ?",
                (ref.source, ref.folder, _validity(ref), ref.uid),
            ).fetchone()
            return None if row is None else self._quarantine(row)

    def get_ticket(self, ticket_id: str) -> TicketRecord | None:
        if not ticket_id.isdigit():
            return None
        with self._read() as db:
            row = db.execute(
                f"SELECT {_TICKET_COLUMNS} FROM tickets WHERE id = ?", (int(ticket_id),)
            ).fetchone()
            return None if row is None else self._ticket(db, row)

    def find_ticket_by_number(self, number: str) -> TicketRecord | None:
        with self._read() as db:
            row = db.execute(
                f"SELECT {_TICKET_COLUMNS} FROM tickets WHERE number = ?", (number,)
            ).fetchone()
            return None if row is None else self._ticket(db, row)

    def find_messages(self, message_ids: Sequence[str]) -> Mapping[str, MessageRecord]:
        found: dict[str, MessageRecord] = {}
        if not message_ids:
            return found
        with self._read() as db:
            for mid in dict.fromkeys(message_ids):
                row = db.execute(
                    f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE message_id = ?"
                    " ORDER BY id LIMIT 1",
                    (mid,),
                ).fetchone()
                if row is not None:
                    found[mid] = self._message(db, row)
        return found

    def find_contact(self, address_key: str) -> str | None:
        with self._read() as db:
            return self._contact_by_key(db, address_key)

    @staticmethod
    def _contact_by_key(db: sqlite3.Connection, key: str) -> str | None:
        row = db.execute(
            "SELECT id FROM contacts WHERE address_key = ?"
            " UNION ALL SELECT contact_id FROM contact_addresses WHERE address_key = ? LIMIT 1",
            (key, key),
        ).fetchone()
        return None if row is None else f"contact-{row[0]}"

    def find_tickets_by_subject(self, subject: str) -> Sequence[TicketRecord]:
        """Tickets whose title has the normalised subject ``subject``
        (:func:`helpmail.tickets.refs.normalise_subject`; a scan of the titles)."""
        with self._read() as db:
            rows = db.execute(
                f"SELECT {_TICKET_COLUMNS} FROM tickets WHERE helpmail_subject(title) = ?"
                " ORDER BY id",
                (subject,),
            ).fetchall()
            return [self._ticket(db, row) for row in rows]

    def add_contact(self, address: str, *, name: str = "") -> str:
        """Create a contact with ``address`` as its primary address (or return the contact that
        already owns it)."""
        key = address_key(address)
        with self._write() as db:
            found = self._contact_by_key(db, key)
            if found is not None:
                return found
            cursor = db.execute(
                "INSERT INTO contacts (address_key, address, name) VALUES (?, ?, ?)",
                (key, address, name),
            )
            return f"contact-{cursor.lastrowid}"

    def add_contact_address(self, contact_id: str, address: str) -> None:
        """Give ``contact_id`` a further address (mail from it is the same person).

        Raises :class:`~helpmail.errors.StoreError` when the contact does not exist or the
        address belongs to another contact; adding an address the contact has is a no-op.
        """
        key = address_key(address)
        number = contact_id.removeprefix("contact-")
        with self._write() as db:
            if not number.isdigit() or (
                db.execute("SELECT 1 FROM contacts WHERE id = ?", (int(number),)).fetchone() is None
            ):
                raise StoreError(f"no contact {contact_id!r}")
            owner = self._contact_by_key(db, key)
            if owner == contact_id:
                return
            if owner is not None:
                raise StoreError(f"{address} belongs to {owner}, not {contact_id}")
            db.execute(
                "INSERT INTO contact_addresses (address_key, contact_id, address) VALUES (?, ?, ?)",
                (key, int(number), address),
            )

    # -- writes ----------------------------------------------------------------------------
    def commit(self, commit: ImportCommit) -> CommitResult:
        key = commit.key
        with self._write() as db:
            exists = db.execute(
                "SELECT 1 FROM imports WHERE source = ? AND folder = ? AND uidvalidity = ?"
                " AND uid = ?",
                (key.ref.source, key.ref.folder, _validity(key.ref), key.ref.uid),
            ).fetchone()
            if exists is not None:
                raise AlreadyImported(f"{key.ref} is already imported")
            command = commit.command
            ticket_id: int | None = None
            ticket: TicketRecord | None = None
            message: MessageRecord | None = None
            if isinstance(command, CreateTicket):
                ticket, message = self._create(db, command)
                ticket_id = int(ticket.id)
            elif isinstance(command, AddFollowUp):
                ticket_id, message = self._follow_up(db, command)
            elif isinstance(command, AttachBounce):
                ticket_id, message = self._bounce(db, command)
            elif commit.ticket_id is not None and commit.ticket_id.isdigit():
                ticket_id = int(commit.ticket_id)
            db.execute(
                f"INSERT INTO imports ({_IMPORT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    key.ref.source,
                    key.ref.folder,
                    _validity(key.ref),
                    key.ref.uid,
                    key.message_id,
                    key.content_digest,
                    commit.outcome.value,
                    ticket_id,
                    _time(commit.at),
                ),
            )
            if commit.release_quarantine is not None:
                gone = db.execute(
                    "DELETE FROM quarantine WHERE id = ?", (int(commit.release_quarantine),)
                ).rowcount
                if gone != 1:
                    raise CommitRejected(f"no quarantine entry {commit.release_quarantine}")
            if ticket is None:
                ticket = self._ticket_by_id(db, ticket_id)
        return CommitResult(ticket=ticket, message=message)

    def _ticket_by_id(self, db: sqlite3.Connection, ticket_id: int | None) -> TicketRecord | None:
        if ticket_id is None:
            return None
        row = db.execute(f"SELECT {_TICKET_COLUMNS} FROM tickets WHERE id = ?", (ticket_id,))
        found = row.fetchone()
        return None if found is None else self._ticket(db, found)

    @staticmethod
    def _contact(db: sqlite3.Connection, party: Party) -> str | None:
        if party.contact is not None or not party.create_contact or not party.address:
            return party.contact
        key = address_key(party.address)
        found = SqliteStore._contact_by_key(db, key)
        if found is None:
            cursor = db.execute(
                "INSERT INTO contacts (address_key, address, name) VALUES (?, ?, ?)",
                (key, party.address, party.name),
            )
            return f"contact-{cursor.lastrowid}"
        return found

    @staticmethod
    def _participants(db: sqlite3.Connection, ticket_id: int, keys: Sequence[str]) -> None:
        db.executemany(
            "INSERT OR IGNORE INTO ticket_participants (ticket_id, address_key) VALUES (?, ?)",
            [(ticket_id, key) for key in keys],
        )

    @staticmethod
    def _attachments(
        db: sqlite3.Connection, message: int, attachments: Sequence[StoredAttachment]
    ) -> None:
        for position, item in enumerate(attachments, start=1):
            db.execute(
                "INSERT OR IGNORE INTO blobs (sha256, size, data) VALUES (?, ?, ?)",
                (item.ref.sha256, item.ref.size, item.payload),
            )
            db.execute(
                "INSERT INTO message_attachments"
                " (message, position, sha256, filename, media_type, size, inline)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    message,
                    position,
                    item.ref.sha256,
                    item.ref.filename,
                    item.ref.media_type,
                    item.ref.size,
                    int(item.inline),
                ),
            )

    def _add_message(
        self,
        db: sqlite3.Connection,
        ticket_id: int,
        *,
        kind: MessageKind,
        message_id: str | None,
        sender: str | None,
        author: str | None,
        at: dt.datetime,
        text: str,
        reply_method: str | None = None,
        origin: Origin,
        attachments: Sequence[StoredAttachment] = (),
    ) -> MessageRecord:
        cursor = db.execute(
            "INSERT INTO messages (ticket_id, kind, message_id, sender, author, at, text,"
            " reply_method, origin) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                ticket_id,
                kind.value,
                message_id,
                sender,
                author,
                _time(at),
                text,
                reply_method,
                origin.value,
            ),
        )
        row = cursor.lastrowid
        assert row is not None
        self._attachments(db, row, attachments)
        return MessageRecord(
            id=str(row),
            ticket_id=str(ticket_id),
            kind=kind,
            message_id=message_id,
            sender=sender,
            author=author,
            at=at,
            text=text,
            reply_method=reply_method,
            origin=origin,
            attachments=tuple(a.ref for a in attachments),
        )

    def _create(
        self, db: sqlite3.Connection, command: CreateTicket
    ) -> tuple[TicketRecord, MessageRecord]:
        row = db.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM tickets").fetchone()
        ticket_id = int(row[0])
        number = format_ticket_number(ticket_id, command.number_format, command.reported_at)
        reporter = self._contact(db, command.reporter)
        try:
            db.execute(
                f"INSERT INTO tickets ({_TICKET_COLUMNS})"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    ticket_id,
                    number,
                    command.title,
                    command.status,
                    reporter,
                    command.reporter.address,
                    command.created_by,
                    _time(command.reported_at),
                    command.queue,
                    command.manager,
                    command.assignee,
                    command.origin.value,
                    command.support_address,
                    json.dumps(dict(command.fields)),
                ),
            )
        except sqlite3.IntegrityError as error:
            raise CommitRejected(f"ticket number {number} is taken") from error
        keys = list(command.participants)
        if command.reporter.address:
            keys.append(address_key(command.reporter.address))
        participants = tuple(dict.fromkeys(keys))
        self._participants(db, ticket_id, participants)
        message = self._add_message(
            db,
            ticket_id,
            kind=MessageKind.REQUEST,
            message_id=command.message_id,
            sender=command.reporter.address,
            author=reporter,
            at=command.reported_at,
            text=command.text,
            origin=command.origin,
            attachments=command.attachments,
        )
        db.execute(
            "INSERT INTO history (ticket_id, at, actor, text) VALUES (?, ?, ?, ?)",
            (ticket_id, _time(command.reported_at), command.created_by, command.history),
        )
        ticket = TicketRecord(
            id=str(ticket_id),
            number=number,
            title=command.title,
            status=command.status,
            reporter=reporter,
            reporter_address=command.reporter.address,
            created_by=command.created_by,
            reported_at=command.reported_at,
            queue=command.queue,
            manager=command.manager,
            assignee=command.assignee,
            origin=command.origin,
            support_address=command.support_address,
            participants=participants,
            fields=tuple(dict(command.fields).items()),
        )
        return ticket, message

    def _existing(self, db: sqlite3.Connection, ticket_id: str) -> tuple[int, dict[str, str]]:
        row = (
            db.execute("SELECT id, fields FROM tickets WHERE id = ?", (int(ticket_id),)).fetchone()
            if ticket_id.isdigit()
            else None
        )
        if row is None:
            raise CommitRejected(f"no ticket {ticket_id}")
        fields: dict[str, str] = json.loads(row[1])
        return int(row[0]), fields

    def _follow_up(self, db: sqlite3.Connection, command: AddFollowUp) -> tuple[int, MessageRecord]:
        ticket_id, fields = self._existing(db, command.ticket_id)
        informant = self._contact(db, command.informant)
        if command.new_status:
            db.execute(
                "UPDATE tickets SET status = ? WHERE id = ?", (command.new_status, ticket_id)
            )
        if command.fields:
            fields.update(command.fields)
            db.execute(
                "UPDATE tickets SET fields = ? WHERE id = ?", (json.dumps(fields), ticket_id)
            )
        if command.informant.address and command.origin is Origin.CUSTOMER:
            self._participants(db, ticket_id, [address_key(command.informant.address)])
        message = self._add_message(
            db,
            ticket_id,
            kind=MessageKind.FOLLOW_UP,
            message_id=command.message_id,
            sender=command.informant.address,
            author=informant,
            at=command.at,
            text=command.text,
            reply_method=command.reply_method,
            origin=command.origin,
            attachments=command.attachments,
        )
        if command.history:
            db.execute(
                "INSERT INTO history (ticket_id, at, actor, text) VALUES (?, ?, ?, ?)",
                (ticket_id, _time(command.at), informant, command.history),
            )
        return ticket_id, message

    def _bounce(self, db: sqlite3.Connection, command: AttachBounce) -> tuple[int, MessageRecord]:
        ticket_id, _ = self._existing(db, command.ticket_id)
        message = self._add_message(
            db,
            ticket_id,
            kind=MessageKind.BOUNCE,
            message_id=command.message_id,
            sender=command.sender,
            author=None,
            at=command.at,
            text=command.text,
            reply_method=command.reason,
            origin=Origin.AUTOMATED_MAIL,
        )
        return ticket_id, message

    def quarantine(self, key: ImportKey, raw: bytes, error: str, at: dt.datetime) -> str:
        ref = key.ref
        with self._write() as db:
            db.execute(
                "INSERT INTO quarantine (source, folder, uidvalidity, uid, message_id,"
                " content_digest, raw, error, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (source, folder, uidvalidity, uid) DO UPDATE SET"
                " message_id = excluded.message_id, content_digest = excluded.content_digest,"
                " raw = excluded.raw, error = excluded.error, at = excluded.at",
                (
                    ref.source,
                    ref.folder,
                    _validity(ref),
                    ref.uid,
                    key.message_id,
                    key.content_digest,
                    raw,
                    error,
                    _time(at),
                ),
            )
            row = db.execute(
                "SELECT id FROM quarantine WHERE source = ? AND folder = ? AND uidvalidity = ?"
                " AND uid = ?",
                (ref.source, ref.folder, _validity(ref), ref.uid),
            ).fetchone()
            return str(row[0])

    def record_outbound(
        self, *, ticket_id: str, message_id: str, at: dt.datetime, text: str, recipient: str | None
    ) -> None:
        del recipient  # kept in the signed Message-ID itself
        with self._write() as db:
            number, _ = self._existing(db, ticket_id)
            self._add_message(
                db,
                number,
                kind=MessageKind.OUTBOUND,
                message_id=message_id,
                sender=None,
                author=None,
                at=at,
                text=text,
                origin=Origin.EMPLOYEE,
            )

    def sync(self) -> None:
        """``fsync`` the WAL and the database file: every commit so far survives a power loss.

        In WAL mode a commit appends to the ``-wal`` file and a checkpoint (which syncs the WAL
        first) copies it into the database, so flushing both files covers every committed
        transaction.
        """
        if self.readonly:
            return
        with self._lock:
            for path in (self.path, self.path.with_name(self.path.name + "-wal")):
                try:
                    fd = os.open(path, os.O_RDONLY)
                except FileNotFoundError:
                    continue
                except OSError as error:
                    raise StoreError(f"cannot sync {path}: {error}") from error
                try:
                    os.fsync(fd)
                except OSError as error:
                    raise StoreError(f"cannot sync {path}: {error}") from error
                finally:
                    os.close(fd)

    # -- reading back ----------------------------------------------------------------------
    def tickets(self) -> Sequence[TicketRecord]:
        with self._read() as db:
            rows = db.execute(f"SELECT {_TICKET_COLUMNS} FROM tickets ORDER BY id").fetchall()
            return [self._ticket(db, row) for row in rows]

    def messages_of(self, ticket_id: str) -> Sequence[MessageRecord]:
        if not ticket_id.isdigit():
            return []
        with self._read() as db:
            rows = db.execute(
                f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE ticket_id = ? ORDER BY id",
                (int(ticket_id),),
            ).fetchall()
            return [self._message(db, row) for row in rows]

    def history_of(self, ticket_id: str) -> Sequence[HistoryRecord]:
        if not ticket_id.isdigit():
            return []
        with self._read() as db:
            rows = db.execute(
                "SELECT ticket_id, at, actor, text FROM history WHERE ticket_id = ? ORDER BY id",
                (int(ticket_id),),
            ).fetchall()
            return [
                HistoryRecord(ticket_id=str(r[0]), at=_parse_time(r[1]), actor=r[2], text=r[3])
                for r in rows
            ]

    def quarantined(self) -> Sequence[QuarantineRecord]:
        with self._read() as db:
            rows = db.execute(
                "SELECT id, source, folder, uidvalidity, uid, message_id, content_digest, raw,"
                " error, at FROM quarantine ORDER BY id"
            ).fetchall()
            return [self._quarantine(row) for row in rows]

    def get_quarantined(self, quarantine_id: str) -> QuarantineRecord | None:
        if not quarantine_id.isdigit():
            return None
        with self._read() as db:
            row = db.execute(
                "SELECT id, source, folder, uidvalidity, uid, message_id, content_digest, raw,"
                " error, at FROM quarantine WHERE id = ?",
                (int(quarantine_id),),
            ).fetchone()
            return None if row is None else self._quarantine(row)

    def imports(self) -> Sequence[ImportRecord]:
        with self._read() as db:
            rows = db.execute(f"SELECT {_IMPORT_COLUMNS} FROM imports ORDER BY id").fetchall()
            return [self._import(row) for row in rows]

    def blob(self, sha256: str) -> bytes | None:
        with self._read() as db:
            row = db.execute("SELECT data FROM blobs WHERE sha256 = ?", (sha256,)).fetchone()
            return None if row is None else bytes(row[0])

    def close(self) -> None:
        with self._lock:
            try:
                self._db.close()
            except sqlite3.Error as error:  # pragma: no cover - close rarely fails
                raise StoreError(f"closing {self.path}: {error}") from error
