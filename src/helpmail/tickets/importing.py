"""Import semantics as values: the store commands one imported mail becomes, and its identity.

The rule this module keeps: **one message, one commit**. Whatever the pipeline decides for a message
(a new ticket, a follow-up, a bounce filed on a ticket, or only "seen, nothing to do") is one
:class:`ImportCommit` carrying the message's :class:`~helpmail.ports.ImportKey`; the store writes
the ticket change and the key in one transaction, so a crash leaves either both or neither, and a
rerun finds the key and skips the message (DESIGN.md "Idempotent import").

Commands name what to store, not how: the store allocates ids and ticket numbers, and
:func:`events_for` turns a committed command into the ticket events the notification policy reads.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from enum import StrEnum
from typing import TYPE_CHECKING

import attrs

from helpmail.ports import ImportKey, MessageRecord, TicketRecord
from helpmail.tickets.events import (
    AttachmentRef,
    BounceAttached,
    Channel,
    FollowUpAdded,
    Origin,
    TicketCreated,
    TicketEvent,
)

if TYPE_CHECKING:
    from helpmail.mail.model import InboundMail
    from helpmail.ports import MessageRef


class OutcomeKind(StrEnum):
    """What became of one message (one line of an import report)."""

    CREATED = "created"
    """A new ticket."""
    FOLLOW_UP = "follow_up"
    """A follow-up on a known ticket."""
    BOUNCE_ATTACHED = "bounce_attached"
    """A bounce filed on the ticket whose mail bounced."""
    DUPLICATE = "duplicate"
    """A second copy of an already imported mail (e.g. sent to two support addresses)."""
    ALREADY_IMPORTED = "already_imported"
    """This source position was imported before (a rerun); only the mailbox actions are redone."""
    DROPPED = "dropped"
    """Recorded, no ticket action: the desk's own mail coming back, or an unmatched bounce."""
    QUARANTINED = "quarantined"
    """Could not be processed; kept in the quarantine with its error."""
    SKIPPED_QUARANTINED = "skipped_quarantined"
    """In the quarantine from an earlier run; not retried (reprocess it explicitly)."""
    SUSPENDED = "suspended"
    """Held in the suspended queue for an agent (recorded, no ticket action, never answered)."""


#: Outcomes whose import record does not stand for the mail: a later copy of the same mail (an
#: agent accepting it from the suspended queue) is processed, not treated as a duplicate.
NOT_FILED: frozenset[str] = frozenset({OutcomeKind.SUSPENDED.value})


#: Outcomes that write nothing new to the store.
NO_COMMIT: frozenset[OutcomeKind] = frozenset(
    {OutcomeKind.ALREADY_IMPORTED, OutcomeKind.SKIPPED_QUARANTINED, OutcomeKind.QUARANTINED}
)


def content_digest(mail: InboundMail) -> str:
    """SHA-256 over the From address, the Date header, the Subject and the body digest.

    Trace headers (Received, Delivered-To, X-Original-To) are left out on purpose: two copies of one
    mail delivered to two support addresses differ there, and nowhere else.
    """
    author = mail.from_address
    date = " ".join((mail.header("Date") or "").split())
    parts = (author.key if author else "", date, mail.subject, mail.body_digest)
    return hashlib.sha256("\x1f".join(parts).encode("utf-8", "surrogatepass")).hexdigest()


def raw_digest(raw: bytes) -> str:
    """SHA-256 of raw bytes (the digest of a mail that could not be parsed)."""
    return hashlib.sha256(raw).hexdigest()


def import_key(ref: MessageRef, mail: InboundMail) -> ImportKey:
    """The idempotency key of ``mail`` read at ``ref``."""
    return ImportKey(ref=ref, message_id=mail.message_id, content_digest=content_digest(mail))


@attrs.frozen(kw_only=True)
class StoredAttachment:
    """An attachment to keep: its reference plus the bytes (stored content-addressed)."""

    ref: AttachmentRef
    payload: bytes = attrs.field(repr=False)
    inline: bool = False


@attrs.frozen(kw_only=True)
class Party:
    """Who wrote the mail, as the store should file it.

    ``contact`` is a known contact id (or the default contact); when it is ``None`` and
    ``create_contact`` is true the store creates a contact for ``address`` (with ``name``) in the
    same transaction and uses it.
    """

    contact: str | None
    address: str | None
    name: str = ""
    create_contact: bool = False


@attrs.frozen(kw_only=True)
class CreateTicket:
    """Open a ticket from a mail (issue 2 import semantics).

    ``status`` "email imported", ``title`` the subject, ``text`` the request text, ``reporter``
    the sender (or the default contact), ``created_by`` the default employee, ``reported_at`` the
    arrival time, ``queue``/``manager``/``assignee`` the queue defaults, ``history`` the history
    line. ``number_format`` formats the store's sequence into the ticket number.
    """

    title: str
    text: str
    status: str
    reporter: Party
    created_by: str
    reported_at: dt.datetime
    queue: str | None = None
    manager: str | None = None
    assignee: str | None = None
    origin: Origin = Origin.CUSTOMER
    message_id: str | None = None
    attachments: tuple[StoredAttachment, ...] = ()
    participants: tuple[str, ...] = ()
    support_address: str | None = None
    history: str = "created from mail import"
    fields: tuple[tuple[str, str], ...] = ()
    number_format: str = "{n}"


@attrs.frozen(kw_only=True)
class AddFollowUp:
    """Add a follow-up to ``ticket_id``: only the new text (the reply), the informant, the status.

    ``new_status`` is set on the ticket when given (the desk's status for portal follow-ups).
    ``origin`` is ``automated_mail`` for an auto-reply filed on the ticket.
    """

    ticket_id: str
    text: str
    informant: Party
    at: dt.datetime
    new_status: str | None = None
    message_id: str | None = None
    reply_method: str | None = None
    origin: Origin = Origin.CUSTOMER
    attachments: tuple[StoredAttachment, ...] = ()
    fields: tuple[tuple[str, str], ...] = ()
    history: str | None = None


@attrs.frozen(kw_only=True)
class AttachBounce:
    """File a bounce on the ticket whose mail bounced (never answered)."""

    ticket_id: str
    at: dt.datetime
    addresses: tuple[str, ...] = ()
    reason: str = "unknown"
    message_id: str | None = None
    text: str = ""
    sender: str | None = None
    hard: bool = False
    original_message_id: str | None = None


StoreCommand = CreateTicket | AddFollowUp | AttachBounce


@attrs.frozen(kw_only=True)
class ImportCommit:
    """Everything one message writes, in one transaction.

    ``command`` is ``None`` for outcomes that only record the key (duplicate, dropped, suspended);
    ``ticket_id`` then names the ticket the key is tied to, if any (the duplicate's original).
    ``release_quarantine`` removes that quarantine entry in the same transaction (reprocessing).
    """

    key: ImportKey
    outcome: OutcomeKind
    command: StoreCommand | None = None
    ticket_id: str | None = None
    at: dt.datetime
    release_quarantine: str | None = None


@attrs.frozen(kw_only=True)
class CommitResult:
    """What the store did: the ticket as it is now, the stored message, and the key's record."""

    ticket: TicketRecord | None = None
    message: MessageRecord | None = None


def format_ticket_number(sequence: int, number_format: str, at: dt.datetime) -> str:
    """The human ticket number for the store's ``sequence`` (``{n}``, ``{year}``, ``{month}``,
    ``{day}``; format specs allowed: ``"{year}{n:05d}"`` -> ``202600042``)."""
    return number_format.format(n=sequence, year=at.year, month=at.month, day=at.day)


def events_for(commit: ImportCommit, result: CommitResult) -> tuple[TicketEvent, ...]:
    """The ticket events a committed command caused (for the notification policy)."""
    command = commit.command
    ticket = result.ticket
    if command is None or ticket is None:
        return ()
    snapshot = ticket.snapshot()
    if isinstance(command, CreateTicket):
        return (
            TicketCreated(
                ticket=snapshot,
                at=command.reported_at,
                actor=command.created_by,
                channel=Channel.MAIL,
                origin=command.origin,
                via_mail_import=True,
                text=command.text,
                attachments=tuple(a.ref for a in command.attachments),
                message_id=command.message_id,
            ),
        )
    if isinstance(command, AddFollowUp):
        informant = command.informant.contact
        if informant is None and result.message is not None:
            informant = result.message.author
        return (
            FollowUpAdded(
                ticket=snapshot,
                at=command.at,
                actor=informant,
                channel=Channel.MAIL,
                via_mail_import=True,
                text=command.text,
                informant=informant,
                informant_address=command.informant.address,
                attachments=tuple(a.ref for a in command.attachments),
                new_status=command.new_status,
                reply_method=command.reply_method,
                origin=command.origin,
                message_id=command.message_id,
            ),
        )
    return (
        BounceAttached(
            ticket=snapshot,
            at=command.at,
            addresses=command.addresses,
            reason=command.reason,
            hard=command.hard,
            message_id=command.message_id,
            original_message_id=command.original_message_id,
        ),
    )
