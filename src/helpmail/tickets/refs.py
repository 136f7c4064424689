"""Ticket references: which ticket a mail belongs to, and which evidence says so.

Three kinds of evidence, strongest first:

1. **helpmail's own signed Message-IDs** in In-Reply-To / References
   (:mod:`helpmail.message_ids`): the HMAC proves the writer received a mail of that ticket, and the
   id names the recipient too. A forged or guessed id does not verify.
2. **References to stored Message-IDs** (RFC 5322 §3.6.4: In-Reply-To and References hold the
   ids of the messages replied to): any inbound or outbound message the store holds.
3. **The ticket tag in the subject** (``[Ticket#123]``; configurable, matched in linear time).
   Anyone can type it, so :class:`~helpmail.tickets.settings.SubjectMatchPolicy` decides whether a
   tag from a sender who is not on the ticket is followed (Zammad #5064); the default opens a new
   ticket instead, and the trace says which ticket the tag named.

Everything here is pure: :func:`find_candidates` reads the mail, the service looks the
candidates up in the store, :func:`resolve` decides. The result says which evidence matched.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import StrEnum
from typing import TYPE_CHECKING

import attrs

from helpmail.mail.model import address_key
from helpmail.message_ids import SignedId, read_message_id
from helpmail.tickets.settings import SubjectMatchPolicy, TicketTagFormat

if TYPE_CHECKING:
    from helpmail.mail.model import InboundMail
    from helpmail.ports import MessageRecord, TicketRecord

#: Subjects longer than this are cut before searching (a tag sits near the start).
MAX_SUBJECT = 2000
#: At most this many thread ids are looked up (References can be very long).
MAX_THREAD_IDS = 50


class RefEvidence(StrEnum):
    """Which evidence tied the mail to its ticket."""

    SIGNED_MESSAGE_ID = "signed_message_id"
    KNOWN_MESSAGE_ID = "known_message_id"
    SUBJECT_TAG = "subject_tag"
    BOUNCED_MESSAGE_ID = "bounced_message_id"
    """The original Message-ID inside a bounce names a stored message of the ticket."""
    RULE_NUMBER = "rule_number"
    """A scanner rule's ``number_pattern`` found the ticket number in the subject."""
    SAME_SUBJECT = "same_subject"
    """A scanner rule matches by subject: a ticket with the same normalised subject."""


@attrs.frozen(kw_only=True)
class SignedRef:
    """A verified helpmail Message-ID found in In-Reply-To/References."""

    message_id: str
    signed: SignedId


@attrs.frozen(kw_only=True)
class RefCandidates:
    """What the mail offers as references, before any lookup.

    ``tag_numbers`` are ticket numbers from subject tags (in order), ``signed`` verified signed
    ids, ``thread_ids`` the In-Reply-To then References ids (newest first) to look up in the store.
    """

    tag_numbers: tuple[str, ...] = ()
    signed: tuple[SignedRef, ...] = ()
    thread_ids: tuple[str, ...] = ()
    in_reply_to: tuple[str, ...] = ()

    @property
    def ticket_keys(self) -> tuple[str, ...]:
        """Ticket ids/numbers named by signed ids (looked up by id, then by number)."""
        return tuple(dict.fromkeys(s.signed.ticket for s in self.signed))


def tag_numbers(subject: str, tag: TicketTagFormat) -> tuple[str, ...]:
    """Ticket numbers in subject tags, in order, without repeats."""
    found = tag.regex().findall(subject[:MAX_SUBJECT])
    return tuple(dict.fromkeys(found))


def find_candidates(
    mail: InboundMail, *, tag: TicketTagFormat, signing_keys: tuple[bytes, ...]
) -> RefCandidates:
    """Collect the subject tags, signed ids and thread ids of ``mail`` (no lookups)."""
    thread_ids = mail.thread_ids[:MAX_THREAD_IDS]
    signed: list[SignedRef] = []
    if signing_keys:
        for mid in thread_ids:
            decoded = read_message_id(mid, signing_keys)
            if decoded is not None:
                signed.append(SignedRef(message_id=mid, signed=decoded))
    return RefCandidates(
        tag_numbers=tag_numbers(mail.subject, tag),
        signed=tuple(signed),
        thread_ids=thread_ids,
        in_reply_to=mail.in_reply_to,
    )


@attrs.frozen(kw_only=True)
class RefFacts:
    """What the store knows about the candidates.

    ``tickets`` maps ticket ids *and* numbers named by signed ids or subject tags to tickets;
    ``messages`` maps stored Message-IDs to their messages; ``sender_is_contact`` tells whether
    the sender is a contact the desk knows.
    """

    tickets: Mapping[str, TicketRecord] = attrs.field(factory=dict)
    by_number: Mapping[str, TicketRecord] = attrs.field(factory=dict)
    messages: Mapping[str, MessageRecord] = attrs.field(factory=dict)
    sender_is_contact: bool = False
    sender_contact: str | None = None
    """The contact owning the sender's address (any of a contact's addresses is that person)."""


@attrs.frozen(kw_only=True)
class TicketRef:
    """The decision: the ticket the mail belongs to (``ticket`` ``None``: none, a new ticket).

    ``evidence`` says what matched, ``detail`` explains it in a line, ``recipient`` is the person
    a signed id was addressed to, ``parent`` the stored message the mail answers (its text helps
    reply extraction). ``notes`` list evidence that was looked at and not followed (a tag naming
    an unknown ticket, a tag from a stranger refused by the policy).
    """

    ticket: TicketRecord | None
    evidence: RefEvidence | None
    detail: str
    recipient: str | None = None
    parent: MessageRecord | None = None
    notes: tuple[str, ...] = ()


#: Reply and forward prefixes of many mail programs and languages (Re, AW, Fwd, WG, SV, VS, Antw,
#: TR, RV, Odp, R), optionally counted (``Re[2]:``); one prefix per match, bounded, linear time.
_SUBJECT_PREFIX = re.compile(
    r"\s*(?:re|aw|fw|fwd|wg|sv|vs|antw|tr|rv|odp|r|ref|rif|enc)"
    r"\s{0,5}(?:\[\d{1,4}\]|\(\d{1,4}\))?\s{0,5}[:：]\s*",
    re.IGNORECASE,
)


def normalise_subject(subject: str) -> str:
    """The subject a thread keeps: reply/forward prefixes (``Re:``, ``AW:``, ``Fwd:``...)
    stripped, white space collapsed, case folded. ``""`` when nothing is left."""
    pos = 0
    while (found := _SUBJECT_PREFIX.match(subject, pos)) is not None and found.end() > pos:
        pos = found.end()
    return " ".join(subject[pos:].split()).casefold()


def _on_ticket(
    ticket: TicketRecord, sender_key: str | None, sender_contact: str | None = None
) -> bool:
    """Whether the sender belongs to ``ticket``: the reporter's address, another address of the
    reporter's contact, or a participant (all compared by address key: case, IDNA)."""
    if sender_contact is not None and ticket.reporter and sender_contact == ticket.reporter:
        return True
    if sender_key is None:
        return False
    if ticket.reporter_address and sender_key == address_key(ticket.reporter_address):
        return True
    return sender_key in {address_key(p) for p in ticket.participants}


def resolve_by_rule(
    *,
    number: str | None,
    subject: str | None,
    facts: RefFacts,
    subject_tickets: tuple[TicketRecord, ...],
    sender_key: str | None,
    policy: SubjectMatchPolicy,
) -> TicketRef:
    """The ticket a scanner rule's ``create_or_update_ticket`` action finds when the mail carries
    no reference: the ticket ``number`` its pattern found, else the newest ticket with the same
    normalised ``subject`` (``None``: the rule does not match by subject).

    Both are text anyone can type, so the subject-tag policy applies to them as to a tag: the
    sender must be on the ticket unless the policy says otherwise.
    """
    notes: list[str] = []

    def allowed(ticket: TicketRecord, what: str) -> str | None:
        if policy is SubjectMatchPolicy.ACCEPT:
            return "policy accept"
        if _on_ticket(ticket, sender_key, facts.sender_contact):
            return "sender is on the ticket"
        if policy is SubjectMatchPolicy.ACCEPT_IF_KNOWN_CONTACT and facts.sender_is_contact:
            return "sender is a known contact"
        notes.append(
            f"{what} names ticket {ticket.number} but sender {sender_key or '(none)'} is not on it"
            f" (policy {policy.value})"
        )
        return None

    if number is not None:
        ticket = facts.by_number.get(number)
        if ticket is None:
            notes.append(f"rule number pattern found {number}: no such ticket")
        else:
            why = allowed(ticket, f"rule number {number}")
            if why is not None:
                return TicketRef(
                    ticket=ticket,
                    evidence=RefEvidence.RULE_NUMBER,
                    detail=f"ticket {number}: found by the rule's number pattern ({why})",
                    notes=tuple(notes),
                )
    if subject:
        for ticket in sorted(subject_tickets, key=_newest, reverse=True):
            why = allowed(ticket, f"subject {subject!r}")
            if why is not None:
                return TicketRef(
                    ticket=ticket,
                    evidence=RefEvidence.SAME_SUBJECT,
                    detail=f"ticket {ticket.number}: same subject {subject!r} ({why})",
                    notes=tuple(notes),
                )
        if not subject_tickets:
            notes.append(f"no ticket with the subject {subject!r}")
    return TicketRef(ticket=None, evidence=None, detail="no ticket reference", notes=tuple(notes))


def _newest(ticket: TicketRecord) -> tuple[object, ...]:
    return (ticket.reported_at, int(ticket.id) if ticket.id.isdigit() else 0, ticket.id)


def resolve(
    candidates: RefCandidates,
    facts: RefFacts,
    *,
    sender_key: str | None,
    policy: SubjectMatchPolicy,
) -> TicketRef:
    """Decide the ticket from the candidates and what the store knows about them."""
    notes: list[str] = []
    # 1. helpmail's own signed Message-IDs.
    for ref in candidates.signed:
        ticket = facts.tickets.get(ref.signed.ticket) or facts.by_number.get(ref.signed.ticket)
        if ticket is None:
            notes.append(f"signed id {ref.message_id} names unknown ticket {ref.signed.ticket}")
            continue
        who = f" sent to {ref.signed.recipient}" if ref.signed.recipient else ""
        return TicketRef(
            ticket=ticket,
            evidence=RefEvidence.SIGNED_MESSAGE_ID,
            detail=f"ticket {ticket.number}: signed Message-ID {ref.message_id}{who} verifies",
            recipient=ref.signed.recipient,
            parent=facts.messages.get(ref.message_id),
            notes=tuple(notes),
        )
    # 2. Stored Message-IDs (inbound or outbound) in In-Reply-To / References.
    for mid in candidates.thread_ids:
        message = facts.messages.get(mid)
        if message is None:
            continue
        ticket = facts.tickets.get(message.ticket_id)
        if ticket is None:
            continue
        where = "In-Reply-To" if mid in candidates.in_reply_to else "References"
        return TicketRef(
            ticket=ticket,
            evidence=RefEvidence.KNOWN_MESSAGE_ID,
            detail=f"ticket {ticket.number}: {where} names stored {message.kind} message <{mid}>",
            parent=message,
            notes=tuple(notes),
        )
    # 3. The subject tag, subject to the sender policy.
    for number in candidates.tag_numbers:
        ticket = facts.by_number.get(number)
        if ticket is None:
            notes.append(f"subject tag names unknown ticket {number}")
            continue
        if policy is SubjectMatchPolicy.ACCEPT:
            why = "policy accept"
        elif _on_ticket(ticket, sender_key, facts.sender_contact):
            why = "sender is on the ticket"
        elif policy is SubjectMatchPolicy.ACCEPT_IF_KNOWN_CONTACT and facts.sender_is_contact:
            why = "sender is a known contact"
        else:
            notes.append(
                f"subject tag names ticket {number} but sender {sender_key or '(none)'} is not on"
                f" it (policy {policy.value}): new ticket"
            )
            continue
        return TicketRef(
            ticket=ticket,
            evidence=RefEvidence.SUBJECT_TAG,
            detail=f"ticket {number}: subject tag ({why})",
            notes=tuple(notes),
        )
    return TicketRef(ticket=None, evidence=None, detail="no ticket reference", notes=tuple(notes))
