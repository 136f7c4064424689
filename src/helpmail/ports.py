"""The Protocols a host application implements (or takes from :mod:`helpmail.adapters`).

helpmail's domain never does I/O; the service layer (:mod:`helpmail.service`) talks to the world
only through these ports. Every shipped adapter is one implementation; a host app can bring its own
(its ticket database, its mail transport) and check it with the conformance suites in
:mod:`helpmail.testing`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import attrs

from helpmail.errors import StoreError
from helpmail.tickets.events import AttachmentRef, Channel, Origin, TicketSnapshot

if TYPE_CHECKING:
    from helpmail.tickets.importing import CommitResult, ImportCommit


class Clock(Protocol):
    """Where "now" comes from (a fake clock in tests and replays)."""

    def now(self) -> dt.datetime:
        """The current time, timezone-aware."""
        ...


@attrs.frozen(kw_only=True)
class SystemClock:
    """The real clock (UTC)."""

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)


@attrs.frozen(kw_only=True)
class MessageRef:
    """Where one message lives in its source, stable across runs.

    ``source`` names the mailbox (``imap://user@host``, ``maildir:/path``, ``mbox:/path``),
    ``folder`` the folder, ``uidvalidity`` the IMAP UIDVALIDITY (``None`` for files) and ``uid`` the
    IMAP UID or the Maildir/mbox key. (source, folder, uidvalidity, uid) names a message exactly
    once (RFC 3501 §2.3.1.1).
    """

    source: str
    folder: str
    uid: str
    uidvalidity: int | None = None

    def __str__(self) -> str:
        validity = f";UIDVALIDITY={self.uidvalidity}" if self.uidvalidity is not None else ""
        return f"{self.source}/{self.folder}{validity}/{self.uid}"


@attrs.frozen(kw_only=True)
class SourceMessage:
    """One message read from a source: its place, bytes and server-side state."""

    ref: MessageRef
    raw: bytes = attrs.field(repr=False)
    flags: frozenset[str] = frozenset()
    internal_date: dt.datetime | None = None
    size: int = 0


class MailboxActionKind(StrEnum):
    """What to do with a message on its server once the store has committed its import."""

    LEAVE = "leave"
    MARK_SEEN = "mark_seen"
    MOVE = "move"
    DELETE = "delete"


@attrs.frozen(kw_only=True)
class MailboxAction:
    """One mailbox action; ``folder`` is the target of ``move``."""

    kind: MailboxActionKind
    folder: str | None = None


@runtime_checkable
class MailSource(Protocol):
    """A mailbox to read from: Maildir, mbox, IMAP, or a host's own.

    ``messages()`` streams (it must not load the whole mailbox); ``apply()`` is called only after
    the store has committed the import of that message, so a crash between the two leaves the
    message in place and the next run finds it already imported (idempotent import).
    """

    @property
    def name(self) -> str:
        """A stable name used in message keys (``MessageRef.source``)."""
        ...

    def messages(self) -> Iterator[SourceMessage]:
        """The messages to consider, oldest first, streamed."""
        ...

    def apply(self, ref: MessageRef, actions: tuple[MailboxAction, ...]) -> None:
        """Carry out mailbox actions for one message (after the store committed)."""
        ...

    def close(self) -> None:
        """Release connections and locks."""
        ...


@runtime_checkable
class Checkpointing(Protocol):
    """A mail source that can save its reading position while a scan is under way (optional).

    :meth:`helpmail.service.Desk.import_from` calls :meth:`checkpoint` whenever every message
    handed out so far is done: its import committed and made durable, its mailbox actions applied.
    The source may then save its position, so that a crash later in the scan does not read those
    messages again. A source without the method is read again from its last saved position after
    a crash, which is harmless (the store recognises what it has) but costs the download.
    """

    def checkpoint(self) -> None:
        """Every message handed out so far is done; save the position if that is useful."""
        ...


# --------------------------------------------------------------------------------------------
# The ticket store: what the import needs to read (facts) and the one write per message (commit).


class AlreadyImported(StoreError):
    """:meth:`TicketStore.commit` found the message's position already recorded.

    Another process (or an earlier run that crashed after its commit) imported it first; the
    service treats it as "skipped: already imported", never as an error.
    """


class CommitRejected(StoreError):
    """:meth:`TicketStore.commit` refused this one commit (its ticket is gone, a ticket number is
    taken, the quarantine entry to release does not exist). Nothing was written; the service puts
    the message in the quarantine instead of stopping the import."""


@attrs.frozen(kw_only=True)
class ImportKey:
    """What identifies one imported message (DESIGN.md "Idempotent import").

    ``ref`` is its position in the source (source, folder, UIDVALIDITY, UID or file key); a
    position is imported at most once. ``message_id`` (``None`` when the mail has none) and
    ``content_digest`` (SHA-256 over From, Date, Subject and the body digest, see
    :func:`helpmail.tickets.importing.content_digest`) identify the *mail*, so copies of one mail
    delivered to two support addresses (two positions) are recognised as one.
    """

    ref: MessageRef
    message_id: str | None
    content_digest: str


@attrs.frozen(kw_only=True)
class ImportRecord:
    """A recorded import: the key, what became of the message, the ticket it went to."""

    key: ImportKey
    outcome: str
    ticket_id: str | None = None
    at: dt.datetime


@attrs.frozen(kw_only=True)
class TicketRecord:
    """A ticket as the store holds it (what the import reads and the summaries print).

    ``reporter`` is the contact id the ticket is filed under, ``reporter_address`` the address the
    ticket was opened from; ``participants`` the address keys that belong to the ticket (reporter,
    Cc'd people, anyone who wrote a follow-up). ``reported_at`` is the arrival time of the mail
    that opened it.
    """

    id: str
    number: str
    title: str
    status: str
    reporter: str | None = None
    reporter_address: str | None = None
    created_by: str | None = None
    reported_at: dt.datetime
    queue: str | None = None
    manager: str | None = None
    assignee: str | None = None
    origin: Origin = Origin.CUSTOMER
    support_address: str | None = None
    participants: tuple[str, ...] = ()
    fields: tuple[tuple[str, str], ...] = ()

    def snapshot(self) -> TicketSnapshot:
        """The ticket as an event snapshot (:class:`helpmail.tickets.events.TicketSnapshot`)."""
        return TicketSnapshot(
            id=self.id,
            number=self.number,
            title=self.title,
            status=self.status,
            queue=self.queue,
            reporter=self.reporter,
            reporter_address=self.reporter_address,
            manager=self.manager,
            assignee=self.assignee,
            support_address=self.support_address,
            channel=Channel.MAIL,
            origin=self.origin,
            created_by_mail_import=True,
        )


class MessageKind(StrEnum):
    """What a stored message (an article of a ticket) is."""

    REQUEST = "request"
    """The mail that opened the ticket (its text is the request text)."""
    FOLLOW_UP = "follow_up"
    BOUNCE = "bounce"
    OUTBOUND = "outbound"
    """A mail the desk sent (recorded so replies can be threaded and de-quoted against it)."""


@attrs.frozen(kw_only=True)
class MessageRecord:
    """One message of a ticket: the request, a follow-up, a bounce, or an outbound mail."""

    id: str
    ticket_id: str
    kind: MessageKind
    message_id: str | None
    sender: str | None
    at: dt.datetime
    author: str | None = None
    """Contact id of the writer (the reporter, the informant of a follow-up)."""
    text: str = ""
    reply_method: str | None = None
    origin: Origin = Origin.CUSTOMER
    attachments: tuple[AttachmentRef, ...] = ()


@attrs.frozen(kw_only=True)
class HistoryRecord:
    """One line of a ticket's history (``"created from mail import"``)."""

    ticket_id: str
    at: dt.datetime
    actor: str | None
    text: str


@attrs.frozen(kw_only=True)
class QuarantineRecord:
    """A message that could not be processed: its raw bytes, key and error, kept for an operator.

    ``key.message_id`` / ``key.content_digest`` may be empty when the mail could not be parsed.
    The position is recorded so a rerun skips it (never retried forever); reprocess it with
    :meth:`helpmail.service.Desk.reprocess_quarantined`.
    """

    id: str
    key: ImportKey
    raw: bytes = attrs.field(repr=False)
    error: str
    at: dt.datetime


class SubjectSearch(Protocol):
    """An optional store capability: find tickets by normalised subject.

    The import asks it only when a scanner rule's ``create_or_update_ticket`` action matches by
    subject; a store without it simply finds none (the trace says so). Both reference stores have
    it.
    """

    def find_tickets_by_subject(self, subject: str) -> Sequence[TicketRecord]:
        """Tickets whose title normalises (:func:`helpmail.tickets.refs.normalise_subject`) to
        ``subject``."""
        ...


class TicketStore(Protocol):
    """Where tickets, their messages and the import bookkeeping live.

    Reads answer the pipeline's questions (the *facts*); :meth:`commit` is the one write per
    imported message and must be atomic: the ticket change, its history, the attachments and the
    import key are stored together or not at all. See ``docs/ports.md`` and run
    :mod:`helpmail.testing.store_conformance` against an implementation.
    """

    # -- facts for the pipeline ------------------------------------------------------------
    def find_import(self, ref: MessageRef) -> ImportRecord | None:
        """The import recorded for this source position, if any."""
        ...

    def find_same_mail(self, message_id: str | None, content_digest: str) -> ImportRecord | None:
        """The first import of the same mail: same Message-ID (or both none) and same digest.

        Records whose outcome is in :data:`helpmail.tickets.importing.NOT_FILED` (``suspended``)
        are skipped: a suspended mail that an agent accepts is imported, not a duplicate of its
        own suspension record.
        """
        ...

    def find_quarantined(self, ref: MessageRef) -> QuarantineRecord | None:
        """The quarantine entry for this source position, if any."""
        ...

    def get_ticket(self, ticket_id: str) -> TicketRecord | None:
        """The ticket with this id."""
        ...

    def find_ticket_by_number(self, number: str) -> TicketRecord | None:
        """The ticket with this human number (as in the subject tag)."""
        ...

    def find_messages(self, message_ids: Sequence[str]) -> Mapping[str, MessageRecord]:
        """Stored messages (inbound or outbound) by Message-ID; unknown ids are left out."""
        ...

    def find_contact(self, address_key: str) -> str | None:
        """The id of the contact that owns this address key (:attr:`helpmail.Address.key`).

        A contact may own several addresses: mail from any of them is the same person.
        """
        ...

    # -- writes ----------------------------------------------------------------------------
    def commit(self, commit: ImportCommit) -> CommitResult:
        """Store one message's outcome and its import key in ONE transaction.

        Raises :class:`AlreadyImported` when ``commit.key.ref`` is already recorded and
        :class:`CommitRejected` when the commit itself cannot be applied (nothing is written in
        either case). Other failures raise :class:`helpmail.errors.StoreError` and write nothing.
        """
        ...

    def quarantine(self, key: ImportKey, raw: bytes, error: str, at: dt.datetime) -> str:
        """Put a message in the quarantine (replacing an entry for the same position); its id."""
        ...

    def record_outbound(
        self, *, ticket_id: str, message_id: str, at: dt.datetime, text: str, recipient: str | None
    ) -> None:
        """Remember a mail the desk sent, so replies to it thread and de-quote against it."""
        ...

    def sync(self) -> None:
        """Make every commit so far durable (it survives a power loss), before the service
        deletes or moves the messages on their server. A store whose commits are durable anyway
        does nothing."""
        ...

    # -- reading back ----------------------------------------------------------------------
    def tickets(self) -> Sequence[TicketRecord]:
        """All tickets, oldest first."""
        ...

    def messages_of(self, ticket_id: str) -> Sequence[MessageRecord]:
        """The messages of a ticket in the order they were stored."""
        ...

    def history_of(self, ticket_id: str) -> Sequence[HistoryRecord]:
        """The history of a ticket, oldest first."""
        ...

    def quarantined(self) -> Sequence[QuarantineRecord]:
        """Everything in the quarantine, oldest first."""
        ...

    def get_quarantined(self, quarantine_id: str) -> QuarantineRecord | None:
        """One quarantine entry."""
        ...

    def imports(self) -> Sequence[ImportRecord]:
        """Every recorded import, in order."""
        ...

    def blob(self, sha256: str) -> bytes | None:
        """A kept attachment's bytes by SHA-256 (content addressed)."""
        ...

    def close(self) -> None:
        """Release the store (close the database)."""
        ...
