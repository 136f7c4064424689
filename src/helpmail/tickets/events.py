"""Ticket events as frozen values: what happened to a ticket, when, through which channel, by whom.

The import pipeline emits :class:`TicketCreated` and :class:`FollowUpAdded` (and
:class:`BounceAttached` for bounces tied to a ticket); a host application reports the others when
they happen in its own UI. The notification policy (:mod:`helpmail.notify`) turns any of them into
automatic mails. Every event carries a :class:`TicketSnapshot` taken *at the moment of the event*,
so "the queue that holds the ticket now" is a value, not a later database read (an escalation
warning goes to the queue still responsible, the mail after an escalation to the new queue).
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

import attrs


class Channel(StrEnum):
    """How a ticket or message came in."""

    MAIL = "mail"
    PHONE = "phone"
    WEB_PORTAL = "web_portal"
    CLIENT = "client"
    API = "api"


class Origin(StrEnum):
    """Who caused a ticket to exist."""

    CUSTOMER = "customer"
    EMPLOYEE = "employee"
    AUTOMATED_MAIL = "automated_mail"


@attrs.frozen(kw_only=True)
class AttachmentRef:
    """An attachment kept with a ticket (content addressed by SHA-256)."""

    filename: str | None
    media_type: str
    size: int
    sha256: str


@attrs.frozen(kw_only=True)
class TicketSnapshot:
    """The state of a ticket at the moment of an event.

    ``queue`` is the resource holding the ticket now; ``dispatcher`` the acting dispatcher (person
    id) if any; ``external_recipients`` are per-ticket addresses that get new/closed alerts.
    ``support_address`` is the desk address the customer wrote to (replies go out from it).
    """

    id: str
    number: str
    title: str
    status: str
    queue: str | None = None
    reporter: str | None = None
    reporter_address: str | None = None
    manager: str | None = None
    assignee: str | None = None
    dispatcher: str | None = None
    support_address: str | None = None
    language: str | None = None
    external_recipients: tuple[str, ...] = ()
    channel: Channel | None = None
    origin: Origin | None = None
    created_by_mail_import: bool = False


@attrs.frozen(kw_only=True)
class TicketEvent:
    """Base of all events. ``actor`` is the person id who caused it (``None``: the system)."""

    ticket: TicketSnapshot
    at: dt.datetime
    actor: str | None = None


@attrs.frozen(kw_only=True)
class TicketCreated(TicketEvent):
    """A new ticket. ``previous_status`` is set when a status was merely set back to "new"."""

    channel: Channel
    origin: Origin = Origin.CUSTOMER
    via_mail_import: bool = False
    text: str = ""
    attachments: tuple[AttachmentRef, ...] = ()
    previous_status: str | None = None
    message_id: str | None = None
    """Message-ID of the mail that created the ticket (notifications thread on it)."""


@attrs.frozen(kw_only=True)
class RequestFromUser(TicketEvent):
    """A user's new request arrived by mail or a client (the usual dispatcher alert)."""

    channel: Channel = Channel.MAIL


@attrs.frozen(kw_only=True)
class InquiryAuthorised(TicketEvent):
    """A dispatcher qualified the inquiry and assigned it to ``ticket.queue``."""


@attrs.frozen(kw_only=True)
class ForwardedToQueue(TicketEvent):
    """The ticket moved from ``from_queue`` to ``ticket.queue``."""

    from_queue: str | None = None


@attrs.frozen(kw_only=True)
class EscalationWarning(TicketEvent):
    """The ticket will escalate soon; ``ticket.queue`` is the queue still responsible."""

    deadline: dt.datetime | None = None


@attrs.frozen(kw_only=True)
class Escalated(TicketEvent):
    """The ticket escalated automatically from ``from_queue`` to ``ticket.queue``."""

    from_queue: str | None = None


@attrs.frozen(kw_only=True)
class DeadlinePassed(TicketEvent):
    """The ticket's deadline passed."""

    deadline: dt.datetime | None = None


@attrs.frozen(kw_only=True)
class StatusChanged(TicketEvent):
    """``ticket.status`` changed from ``old_status``; ``manual`` when a person did it."""

    old_status: str
    manual: bool = True


@attrs.frozen(kw_only=True)
class TicketClosed(TicketEvent):
    """The status became completed."""

    old_status: str | None = None


@attrs.frozen(kw_only=True)
class CommentAdded(TicketEvent):
    """A comment or answer; ``visible_to_customer`` for answers the customer may see."""

    text: str = ""
    visible_to_customer: bool = False


@attrs.frozen(kw_only=True)
class FollowUpAdded(TicketEvent):
    """A follow-up message on an existing ticket (by mail import or another channel).

    ``text`` is only what the writer added (see :func:`helpmail.extract_reply`); ``new_status`` is
    the status the follow-up sets, if any.
    """

    channel: Channel = Channel.MAIL
    via_mail_import: bool = False
    text: str = ""
    informant: str | None = None
    informant_address: str | None = None
    attachments: tuple[AttachmentRef, ...] = ()
    new_status: str | None = None
    reply_method: str | None = None
    origin: Origin = Origin.CUSTOMER
    """``automated_mail`` for an auto-reply filed on the ticket: it triggers no automatic mail."""
    message_id: str | None = None
    """Message-ID of the imported mail (notifications thread on it)."""


@attrs.frozen(kw_only=True)
class BounceAttached(TicketEvent):
    """A bounce of one of the ticket's outgoing mails was filed on the ticket (never answered).

    ``reason`` is the first bounced recipient's reason (a :class:`helpmail.bounces.BounceReason`
    value, or ``"complaint"``), ``hard`` whether any recipient failed hard; ``message_id`` is the
    bounce's own Message-ID and ``original_message_id`` the id of the mail that bounced.
    """

    addresses: tuple[str, ...] = ()
    reason: str = "unknown"
    hard: bool = False
    message_id: str | None = None
    original_message_id: str | None = None


AnyEvent = (
    TicketCreated
    | RequestFromUser
    | InquiryAuthorised
    | ForwardedToQueue
    | EscalationWarning
    | Escalated
    | DeadlinePassed
    | StatusChanged
    | TicketClosed
    | CommentAdded
    | FollowUpAdded
    | BounceAttached
)
