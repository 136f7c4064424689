"""An in-memory :class:`~helpmail.ports.TicketStore` for tests, ``explain`` replays and small hosts.

The rule it keeps is the store contract: :meth:`MemoryStore.commit` is all-or-nothing. Every change
of a commit is computed first and applied only when nothing can fail any more, so an exception
leaves the store as it was. It passes :mod:`helpmail.testing.store_conformance` like the SQLite
store.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Mapping, Sequence
from typing import TypeVar

import attrs

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
from helpmail.tickets.events import Origin
from helpmail.tickets.importing import (
    NOT_FILED,
    AddFollowUp,
    AttachBounce,
    CommitResult,
    CreateTicket,
    ImportCommit,
    Party,
    format_ticket_number,
)

V = TypeVar("V")


def _merge(old: tuple[str, ...], new: Sequence[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys((*old, *new)))


def _merge_fields(
    old: tuple[tuple[str, str], ...], new: tuple[tuple[str, str], ...]
) -> tuple[tuple[str, str], ...]:
    merged = dict(old)
    merged.update(new)
    return tuple(merged.items())


class _Overlay(dict[str, V]):
    """Reads fall through to ``base``; writes stay in the overlay until applied."""

    def __init__(self, base: dict[str, V]) -> None:
        super().__init__()
        self.base = base

    @property
    def changes(self) -> dict[str, V]:
        return dict(self.items())

    def __missing__(self, key: str) -> V:
        return self.base[key]

    def get(self, key: str, default: V | None = None) -> V | None:  # type: ignore[override]
        if dict.__contains__(self, key):
            return dict.__getitem__(self, key)
        return self.base.get(key, default)

    def __contains__(self, key: object) -> bool:
        return dict.__contains__(self, key) or key in self.base


class MemoryStore:
    """A ticket store in dictionaries (thread-safe through one lock; nothing is persisted)."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._tickets: dict[str, TicketRecord] = {}
        self._numbers: dict[str, str] = {}
        self._messages: list[MessageRecord] = []
        self._by_message_id: dict[str, MessageRecord] = {}
        self._history: list[HistoryRecord] = []
        self._imports: dict[MessageRef, ImportRecord] = {}
        self._import_order: list[ImportRecord] = []
        self._by_mail: dict[tuple[str | None, str], ImportRecord] = {}
        self._quarantine: dict[str, QuarantineRecord] = {}
        self._contacts: dict[str, str] = {}
        self._blobs: dict[str, bytes] = {}
        self._sequence = 0
        self._quarantine_sequence = 0
        self._contact_sequence = 0
        self._closed = False

    # -- facts -----------------------------------------------------------------------------
    def find_import(self, ref: MessageRef) -> ImportRecord | None:
        with self._lock:
            return self._imports.get(ref)

    def find_same_mail(self, message_id: str | None, content_digest: str) -> ImportRecord | None:
        with self._lock:
            return self._by_mail.get((message_id, content_digest))

    def find_quarantined(self, ref: MessageRef) -> QuarantineRecord | None:
        with self._lock:
            return next((q for q in self._quarantine.values() if q.key.ref == ref), None)

    def get_ticket(self, ticket_id: str) -> TicketRecord | None:
        with self._lock:
            return self._tickets.get(ticket_id)

    def find_ticket_by_number(self, number: str) -> TicketRecord | None:
        with self._lock:
            ticket_id = self._numbers.get(number)
            return self._tickets.get(ticket_id) if ticket_id is not None else None

    def find_messages(self, message_ids: Sequence[str]) -> Mapping[str, MessageRecord]:
        with self._lock:
            return {m: self._by_message_id[m] for m in message_ids if m in self._by_message_id}

    def find_contact(self, address_key: str) -> str | None:
        with self._lock:
            return self._contacts.get(address_key)

    def find_tickets_by_subject(self, subject: str) -> Sequence[TicketRecord]:
        """Tickets whose title has the normalised subject ``subject``
        (:func:`helpmail.tickets.refs.normalise_subject`)."""
        from helpmail.tickets.refs import normalise_subject

        with self._lock:
            return [t for t in self._tickets.values() if normalise_subject(t.title) == subject]

    def add_contact(self, address: str, *, name: str = "") -> str:
        """Create a contact with ``address`` as its primary address (or return the contact that
        already owns it)."""
        key = address_key(address)
        with self._lock:
            found = self._contacts.get(key)
            if found is None:
                self._contact_sequence += 1
                found = self._contacts[key] = f"contact-{self._contact_sequence}"
            return found

    def add_contact_address(self, contact_id: str, address: str) -> None:
        """Give ``contact_id`` a further address (mail from it is the same person); raises
        :class:`~helpmail.errors.StoreError` when the address belongs to another contact."""
        key = address_key(address)
        with self._lock:
            if contact_id not in set(self._contacts.values()):
                raise StoreError(f"no contact {contact_id!r}")
            owner = self._contacts.get(key)
            if owner is not None and owner != contact_id:
                raise StoreError(f"{address} belongs to {owner}, not {contact_id}")
            self._contacts[key] = contact_id

    # -- writes ----------------------------------------------------------------------------
    def commit(self, commit: ImportCommit) -> CommitResult:
        with self._lock:
            self._check_open()
            if commit.key.ref in self._imports:
                raise AlreadyImported(f"{commit.key.ref} is already imported")
            if commit.release_quarantine is not None and (
                commit.release_quarantine not in self._quarantine
            ):
                raise CommitRejected(f"no quarantine entry {commit.release_quarantine}")
            # Compute everything first (changes kept apart from the live tables); apply only
            # when nothing can fail any more.
            tickets = _Overlay(self._tickets)
            numbers = _Overlay(self._numbers)
            contacts = _Overlay(self._contacts)
            new_messages: list[MessageRecord] = []
            new_history: list[HistoryRecord] = []
            blobs: dict[str, bytes] = {}
            sequence = self._sequence
            contact_sequence = self._contact_sequence

            def party_contact(party: Party) -> str | None:
                nonlocal contact_sequence
                if party.contact is not None or not party.create_contact or not party.address:
                    return party.contact
                key = address_key(party.address)
                if key not in contacts:
                    contact_sequence += 1
                    contacts[key] = f"contact-{contact_sequence}"
                return contacts[key]

            ticket: TicketRecord | None = None
            message: MessageRecord | None = None
            ticket_id = commit.ticket_id
            command = commit.command
            message_number = len(self._messages) + 1
            if isinstance(command, CreateTicket):
                sequence += 1
                ticket_id = str(sequence)
                number = format_ticket_number(sequence, command.number_format, command.reported_at)
                if number in numbers:
                    raise CommitRejected(f"ticket number {number} is taken")
                reporter = party_contact(command.reporter)
                participants = _merge((), command.participants)
                if command.reporter.address:
                    participants = _merge(participants, (address_key(command.reporter.address),))
                ticket = TicketRecord(
                    id=ticket_id,
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
                    fields=command.fields,
                )
                tickets[ticket_id] = ticket
                numbers[number] = ticket_id
                message = MessageRecord(
                    id=str(message_number),
                    ticket_id=ticket_id,
                    kind=MessageKind.REQUEST,
                    message_id=command.message_id,
                    sender=command.reporter.address,
                    at=command.reported_at,
                    author=reporter,
                    text=command.text,
                    origin=command.origin,
                    attachments=tuple(a.ref for a in command.attachments),
                )
                new_history.append(
                    HistoryRecord(
                        ticket_id=ticket_id,
                        at=command.reported_at,
                        actor=command.created_by,
                        text=command.history,
                    )
                )
                blobs.update({a.ref.sha256: a.payload for a in command.attachments})
            elif isinstance(command, AddFollowUp | AttachBounce):
                old = tickets.get(command.ticket_id)
                if old is None:
                    raise CommitRejected(f"no ticket {command.ticket_id}")
                ticket_id = old.id
                if isinstance(command, AddFollowUp):
                    informant = party_contact(command.informant)
                    participants = old.participants
                    if command.informant.address and command.origin is Origin.CUSTOMER:
                        participants = _merge(
                            participants, (address_key(command.informant.address),)
                        )
                    ticket = attrs.evolve(
                        old,
                        status=command.new_status or old.status,
                        participants=participants,
                        fields=_merge_fields(old.fields, command.fields),
                    )
                    message = MessageRecord(
                        id=str(message_number),
                        ticket_id=ticket_id,
                        kind=MessageKind.FOLLOW_UP,
                        message_id=command.message_id,
                        sender=command.informant.address,
                        at=command.at,
                        author=informant,
                        text=command.text,
                        reply_method=command.reply_method,
                        origin=command.origin,
                        attachments=tuple(a.ref for a in command.attachments),
                    )
                    if command.history:
                        new_history.append(
                            HistoryRecord(
                                ticket_id=ticket_id,
                                at=command.at,
                                actor=informant,
                                text=command.history,
                            )
                        )
                    blobs.update({a.ref.sha256: a.payload for a in command.attachments})
                else:
                    ticket = old
                    message = MessageRecord(
                        id=str(message_number),
                        ticket_id=ticket_id,
                        kind=MessageKind.BOUNCE,
                        message_id=command.message_id,
                        sender=command.sender,
                        at=command.at,
                        text=command.text,
                        reply_method=command.reason,
                        origin=Origin.AUTOMATED_MAIL,
                    )
                tickets[ticket_id] = ticket
            elif ticket_id is not None:
                ticket = tickets.get(ticket_id)
            record = ImportRecord(
                key=commit.key, outcome=commit.outcome.value, ticket_id=ticket_id, at=commit.at
            )
            # Apply (nothing below can fail).
            self._tickets.update(tickets.changes)
            self._numbers.update(numbers.changes)
            self._contacts.update(contacts.changes)
            self._sequence = sequence
            self._contact_sequence = contact_sequence
            if message is not None:
                new_messages.append(message)
            for item in new_messages:
                self._messages.append(item)
                if item.message_id and item.message_id not in self._by_message_id:
                    self._by_message_id[item.message_id] = item
            self._history.extend(new_history)
            self._blobs.update(blobs)
            self._imports[commit.key.ref] = record
            self._import_order.append(record)
            if commit.outcome.value not in NOT_FILED:
                # A suspension record does not stand for the mail (see find_same_mail).
                self._by_mail.setdefault((commit.key.message_id, commit.key.content_digest), record)
            if commit.release_quarantine is not None:
                del self._quarantine[commit.release_quarantine]
            return CommitResult(ticket=ticket, message=message)

    def quarantine(self, key: ImportKey, raw: bytes, error: str, at: dt.datetime) -> str:
        with self._lock:
            self._check_open()
            existing = self.find_quarantined(key.ref)
            if existing is not None:
                quarantine_id = existing.id
            else:
                self._quarantine_sequence += 1
                quarantine_id = str(self._quarantine_sequence)
            self._quarantine[quarantine_id] = QuarantineRecord(
                id=quarantine_id, key=key, raw=raw, error=error, at=at
            )
            return quarantine_id

    def record_outbound(
        self, *, ticket_id: str, message_id: str, at: dt.datetime, text: str, recipient: str | None
    ) -> None:
        with self._lock:
            self._check_open()
            if ticket_id not in self._tickets:
                raise CommitRejected(f"no ticket {ticket_id}")
            record = MessageRecord(
                id=str(len(self._messages) + 1),
                ticket_id=ticket_id,
                kind=MessageKind.OUTBOUND,
                message_id=message_id,
                sender=None,
                at=at,
                text=text,
                origin=Origin.EMPLOYEE,
            )
            self._messages.append(record)
            self._by_message_id.setdefault(message_id, record)

    def sync(self) -> None:
        """Nothing to do (and nothing that would survive a restart)."""

    # -- reading back ----------------------------------------------------------------------
    def tickets(self) -> Sequence[TicketRecord]:
        with self._lock:
            return sorted(self._tickets.values(), key=lambda t: int(t.id))

    def messages_of(self, ticket_id: str) -> Sequence[MessageRecord]:
        with self._lock:
            return [m for m in self._messages if m.ticket_id == ticket_id]

    def history_of(self, ticket_id: str) -> Sequence[HistoryRecord]:
        with self._lock:
            return [h for h in self._history if h.ticket_id == ticket_id]

    def quarantined(self) -> Sequence[QuarantineRecord]:
        with self._lock:
            return sorted(self._quarantine.values(), key=lambda q: int(q.id))

    def get_quarantined(self, quarantine_id: str) -> QuarantineRecord | None:
        with self._lock:
            return self._quarantine.get(quarantine_id)

    def imports(self) -> Sequence[ImportRecord]:
        with self._lock:
            return list(self._import_order)

    def blob(self, sha256: str) -> bytes | None:
        with self._lock:
            return self._blobs.get(sha256)

    def close(self) -> None:
        self._closed = True

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError("the store is closed")
