"""The conformance suite for :class:`~helpmail.ports.TicketStore` implementations.

Both shipped stores (:class:`helpmail.adapters.MemoryStore`, :class:`helpmail.adapters.SqliteStore`)
pass it; a host application runs it against its own store. Two ways to use it:

* pytest: subclass :class:`TicketStoreConformance` in a test module named ``Test...`` and implement
  :meth:`~TicketStoreConformance.make_store`::

      from helpmail.testing.store_conformance import TicketStoreConformance

      class TestMyStore(TicketStoreConformance):
          def make_store(self):
              return MyStore(...)

* anything else: ``run_conformance(factory)`` runs every check and raises ``AssertionError`` on
  the first failure.

Each check gets a fresh, empty store. The checks assert behaviour only (what the import relies on):
atomic commits, the import key in the same transaction, ``AlreadyImported`` for a position seen
before, duplicate lookup by Message-ID + digest, ticket numbers, contacts, attachments,
quarantine, outbound messages.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from typing import Any

from helpmail.errors import StoreError
from helpmail.ports import (
    AlreadyImported,
    CommitRejected,
    ImportKey,
    MessageKind,
    MessageRef,
    TicketStore,
)
from helpmail.tickets.events import AttachmentRef, Origin
from helpmail.tickets.importing import (
    AddFollowUp,
    AttachBounce,
    CreateTicket,
    ImportCommit,
    OutcomeKind,
    Party,
    StoredAttachment,
)

T0 = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32

StoreFactory = Callable[[], TicketStore]


def key(
    uid: str, *, message_id: str | None = None, digest: str = "d0", source: str = "s"
) -> ImportKey:
    """An import key at position ``source/INBOX/uid`` (UIDVALIDITY 7)."""
    return ImportKey(
        ref=MessageRef(source=source, folder="INBOX", uid=uid, uidvalidity=7),
        message_id=message_id,
        content_digest=digest,
    )


def attachment(payload: bytes = PNG, name: str = "shot.png") -> StoredAttachment:
    """A stored attachment with the right SHA-256."""
    return StoredAttachment(
        ref=AttachmentRef(
            filename=name,
            media_type="image/png",
            size=len(payload),
            sha256=hashlib.sha256(payload).hexdigest(),
        ),
        payload=payload,
    )


def create(
    title: str = "Printer broken",
    *,
    address: str = "alice@example.org",
    contact: str | None = None,
    message_id: str | None = "m1@example.org",
    number_format: str = "{n}",
    attachments: tuple[StoredAttachment, ...] = (),
    participants: tuple[str, ...] = (),
) -> CreateTicket:
    """A :class:`CreateTicket` command with the issue-2 defaults."""
    return CreateTicket(
        title=title,
        text="It does not print.",
        status="email imported",
        reporter=Party(contact=contact, address=address, name="Alice", create_contact=True),
        created_by="mail-import",
        reported_at=T0,
        queue="support",
        manager="mgr",
        assignee="agent",
        message_id=message_id,
        attachments=attachments,
        participants=participants,
        number_format=number_format,
    )


def commit_create(
    store: TicketStore, uid: str = "1", *, message_id: str | None = "m1@example.org", **kwargs: Any
) -> str:
    """Commit a new ticket at position ``uid``; its id."""
    result = store.commit(
        ImportCommit(
            key=key(uid, message_id=message_id),
            outcome=OutcomeKind.CREATED,
            command=create(message_id=message_id, **kwargs),
            at=T0,
        )
    )
    assert result.ticket is not None
    return result.ticket.id


# --------------------------------------------------------------------------------------------
# The checks


def check_empty(store: TicketStore) -> None:
    """A new store is empty and answers every question with "nothing"."""
    assert list(store.tickets()) == []
    assert list(store.imports()) == []
    assert list(store.quarantined()) == []
    assert store.find_import(key("1").ref) is None
    assert store.find_same_mail("m1@example.org", "d0") is None
    assert store.get_ticket("1") is None
    assert store.find_ticket_by_number("1") is None
    assert dict(store.find_messages(["m1@example.org"])) == {}
    assert store.find_contact("alice@example.org") is None


def check_create_ticket(store: TicketStore) -> None:
    """A created ticket carries the import semantics and is readable every way."""
    ticket_id = commit_create(store)
    ticket = store.get_ticket(ticket_id)
    assert ticket is not None
    assert ticket.number == "1"
    assert ticket.title == "Printer broken"
    assert ticket.status == "email imported"
    assert ticket.created_by == "mail-import"
    assert ticket.reported_at == T0
    assert (ticket.queue, ticket.manager, ticket.assignee) == ("support", "mgr", "agent")
    assert ticket.reporter_address == "alice@example.org"
    contact = store.find_contact("alice@example.org")
    assert contact is not None
    assert ticket.reporter == contact
    assert "alice@example.org" in ticket.participants
    assert store.find_ticket_by_number("1") == ticket
    messages = list(store.messages_of(ticket_id))
    assert len(messages) == 1
    assert messages[0].kind is MessageKind.REQUEST
    assert messages[0].text == "It does not print."
    assert messages[0].author == contact
    found = store.find_messages(["m1@example.org", "unknown@x"])
    assert list(found) == ["m1@example.org"]
    assert found["m1@example.org"].ticket_id == ticket_id
    history = list(store.history_of(ticket_id))
    assert [h.text for h in history] == ["created from mail import"]
    assert history[0].actor == "mail-import"
    record = store.find_import(key("1").ref)
    assert record is not None
    assert record.ticket_id == ticket_id
    assert record.outcome == "created"
    assert [t.id for t in store.tickets()] == [ticket_id]


def check_numbers_sequential(store: TicketStore) -> None:
    """Ticket numbers follow the store's sequence, formatted by the command's format."""
    first = commit_create(store, "1", message_id="a@x")
    second = commit_create(store, "2", message_id="b@x", number_format="{year}-{n:04d}")
    one, two = store.get_ticket(first), store.get_ticket(second)
    assert one is not None
    assert two is not None
    assert one.number == "1"
    assert two.number == "2026-0002"
    assert [t.number for t in store.tickets()] == ["1", "2026-0002"]


def check_position_imported_once(store: TicketStore) -> None:
    """A second commit at the same position raises AlreadyImported and writes nothing."""
    commit_create(store, "1")
    try:
        commit_create(store, "1", title="Other", message_id="m2@example.org")
    except AlreadyImported:
        pass
    else:
        raise AssertionError("second commit at the same position was accepted")
    assert [t.title for t in store.tickets()] == ["Printer broken"]
    assert len(store.imports()) == 1
    assert dict(store.find_messages(["m2@example.org"])) == {}


def check_failed_commit_writes_nothing(store: TicketStore) -> None:
    """A commit that fails (follow-up on a missing ticket) leaves no trace, not even its key."""
    try:
        store.commit(
            ImportCommit(
                key=key("9", message_id="f@x"),
                outcome=OutcomeKind.FOLLOW_UP,
                command=AddFollowUp(
                    ticket_id="404",
                    text="hi",
                    informant=Party(contact=None, address="new@example.org", create_contact=True),
                    at=T0,
                ),
                at=T0,
            )
        )
    except CommitRejected:
        pass
    else:
        raise AssertionError("a follow-up on a missing ticket was accepted")
    assert store.find_import(key("9").ref) is None
    assert store.find_contact("new@example.org") is None
    assert list(store.imports()) == []


def check_follow_up(store: TicketStore) -> None:
    """A follow-up adds a message, sets the status, and adds the writer as participant."""
    ticket_id = commit_create(store)
    result = store.commit(
        ImportCommit(
            key=key("2", message_id="m2@example.org", digest="d2"),
            outcome=OutcomeKind.FOLLOW_UP,
            command=AddFollowUp(
                ticket_id=ticket_id,
                text="Still broken.",
                informant=Party(contact=None, address="Bob@Example.org", create_contact=True),
                at=T0 + dt.timedelta(hours=1),
                new_status="customer replied",
                message_id="m2@example.org",
                reply_method="marker",
                attachments=(attachment(),),
                fields=(("priority", "high"),),
            ),
            at=T0,
        )
    )
    assert result.ticket is not None
    assert result.ticket.status == "customer replied"
    assert "bob@example.org" in result.ticket.participants
    assert dict(result.ticket.fields) == {"priority": "high"}
    assert result.message is not None
    assert result.message.kind is MessageKind.FOLLOW_UP
    bob = store.find_contact("bob@example.org")
    assert bob is not None
    assert result.message.author == bob
    messages = list(store.messages_of(ticket_id))
    assert [m.kind for m in messages] == [MessageKind.REQUEST, MessageKind.FOLLOW_UP]
    assert messages[1].text == "Still broken."
    assert messages[1].reply_method == "marker"
    assert messages[1].attachments == (attachment().ref,)
    assert store.blob(attachment().ref.sha256) == PNG
    assert store.blob("0" * 64) is None


def check_automated_follow_up_keeps_status(store: TicketStore) -> None:
    """An automated follow-up without new status leaves status and participants alone."""
    ticket_id = commit_create(store)
    store.commit(
        ImportCommit(
            key=key("2", digest="d2"),
            outcome=OutcomeKind.FOLLOW_UP,
            command=AddFollowUp(
                ticket_id=ticket_id,
                text="I am out of office.",
                informant=Party(contact="unknown-contact", address="ooo@example.org"),
                at=T0,
                origin=Origin.AUTOMATED_MAIL,
            ),
            at=T0,
        )
    )
    ticket = store.get_ticket(ticket_id)
    assert ticket is not None
    assert ticket.status == "email imported"
    assert "ooo@example.org" not in ticket.participants
    assert store.find_contact("ooo@example.org") is None
    assert store.messages_of(ticket_id)[-1].origin is Origin.AUTOMATED_MAIL


def check_default_contact(store: TicketStore) -> None:
    """A party with a contact id is filed under it; no contact is created."""
    ticket_id = commit_create(store, contact="unknown-contact")
    ticket = store.get_ticket(ticket_id)
    assert ticket is not None
    assert ticket.reporter == "unknown-contact"
    assert store.find_contact("alice@example.org") is None


def check_same_mail_lookup(store: TicketStore) -> None:
    """Duplicates are found by (Message-ID, digest); a mail without Message-ID by digest only."""
    ticket_id = commit_create(store, "1", message_id="m1@example.org")
    first = store.find_same_mail("m1@example.org", "d0")
    assert first is not None
    assert first.ticket_id == ticket_id
    assert store.find_same_mail("m1@example.org", "other") is None
    assert store.find_same_mail(None, "d0") is None
    store.commit(
        ImportCommit(
            key=key("2", message_id="m1@example.org", digest="d0", source="other"),
            outcome=OutcomeKind.DUPLICATE,
            ticket_id=ticket_id,
            at=T0,
        )
    )
    again = store.find_same_mail("m1@example.org", "d0")
    assert again is not None
    assert again.key.ref.uid == "1"  # the first import
    copy = store.find_import(key("2", source="other").ref)
    assert copy is not None
    assert copy.outcome == "duplicate"
    assert copy.ticket_id == ticket_id
    store.commit(
        ImportCommit(
            key=key("3", message_id=None, digest="nomid"), outcome=OutcomeKind.DROPPED, at=T0
        )
    )
    dropped = store.find_same_mail(None, "nomid")
    assert dropped is not None
    assert dropped.ticket_id is None
    assert len(store.tickets()) == 1


def check_positions_distinguish_uidvalidity(store: TicketStore) -> None:
    """(source, folder, UIDVALIDITY, UID) is the position; a new UIDVALIDITY is a new position."""
    commit_create(store, "1")
    other = MessageRef(source="s", folder="INBOX", uid="1", uidvalidity=8)
    none = MessageRef(source="s", folder="INBOX", uid="1")
    assert store.find_import(other) is None
    assert store.find_import(none) is None
    store.commit(
        ImportCommit(
            key=ImportKey(ref=none, message_id=None, content_digest="x"),
            outcome=OutcomeKind.DROPPED,
            at=T0,
        )
    )
    found = store.find_import(none)
    assert found is not None
    assert found.key.ref == none


def check_bounce(store: TicketStore) -> None:
    """A bounce is filed on its ticket as an automated message; the status is unchanged."""
    ticket_id = commit_create(store)
    result = store.commit(
        ImportCommit(
            key=key("2", digest="b"),
            outcome=OutcomeKind.BOUNCE_ATTACHED,
            command=AttachBounce(
                ticket_id=ticket_id,
                at=T0,
                addresses=("alice@example.org",),
                reason="user_unknown",
                message_id="bounce@mx",
                text="550 5.1.1 unknown user",
                sender="MAILER-DAEMON@mx.example.org",
            ),
            at=T0,
        )
    )
    assert result.message is not None
    assert result.message.kind is MessageKind.BOUNCE
    assert result.message.origin is Origin.AUTOMATED_MAIL
    ticket = store.get_ticket(ticket_id)
    assert ticket is not None
    assert ticket.status == "email imported"
    assert [m.kind for m in store.messages_of(ticket_id)][-1] is MessageKind.BOUNCE


def check_attachments_content_addressed(store: TicketStore) -> None:
    """The same file on two tickets is one blob; each message keeps its own references."""
    other = b"\xff\xd8\xff" + b"\x01" * 20
    first = commit_create(store, "1", message_id="a@x", attachments=(attachment(),))
    second = commit_create(
        store, "2", message_id="b@x", attachments=(attachment(name="again.png"), attachment(other))
    )
    assert store.messages_of(first)[0].attachments == (attachment().ref,)
    refs = store.messages_of(second)[0].attachments
    assert [r.filename for r in refs] == ["again.png", "shot.png"]
    assert store.blob(attachment().ref.sha256) == PNG
    assert store.blob(attachment(other).ref.sha256) == other


def check_quarantine(store: TicketStore) -> None:
    """Quarantine keeps raw + error by position, replaces per position, is released by commit."""
    k = key("5", message_id=None, digest="raw")
    first = store.quarantine(k, b"broken", "ValueError: boom", T0)
    again = store.quarantine(k, b"broken", "ValueError: boom again", T0)
    assert first == again
    entry = store.find_quarantined(k.ref)
    assert entry is not None
    assert entry.raw == b"broken"
    assert entry.error == "ValueError: boom again"
    assert store.get_quarantined(first) == entry
    assert [q.id for q in store.quarantined()] == [first]
    assert store.find_import(k.ref) is None
    store.commit(
        ImportCommit(
            key=k,
            outcome=OutcomeKind.CREATED,
            command=create(message_id=None),
            at=T0,
            release_quarantine=first,
        )
    )
    assert list(store.quarantined()) == []
    assert store.find_quarantined(k.ref) is None
    assert store.find_import(k.ref) is not None


def check_outbound(store: TicketStore) -> None:
    """Outbound mails are found by Message-ID like inbound ones (threading, de-quoting)."""
    ticket_id = commit_create(store)
    store.record_outbound(
        ticket_id=ticket_id,
        message_id="hm.n.1.x@desk",
        at=T0,
        text="We are on it.",
        recipient="alice@example.org",
    )
    found = store.find_messages(["hm.n.1.x@desk"])
    assert found["hm.n.1.x@desk"].kind is MessageKind.OUTBOUND
    assert found["hm.n.1.x@desk"].text == "We are on it."
    assert found["hm.n.1.x@desk"].ticket_id == ticket_id
    try:
        store.record_outbound(ticket_id="404", message_id="x@y", at=T0, text="", recipient=None)
    except StoreError:
        pass
    else:
        raise AssertionError("outbound mail on a missing ticket was accepted")


def check_contact_reused(store: TicketStore) -> None:
    """A contact is created once per address key, whatever the case of the address."""
    first = commit_create(store, "1", message_id="a@x")
    second = commit_create(store, "2", message_id="b@x", address="ALICE@example.org")
    one, two = store.get_ticket(first), store.get_ticket(second)
    assert one is not None
    assert two is not None
    assert one.reporter == two.reporter
    assert one.reporter is not None


def check_sync(store: TicketStore) -> None:
    """``sync`` works on an empty store and after commits, and changes nothing visible."""
    store.sync()
    commit_create(store)
    store.sync()
    assert [t.title for t in store.tickets()] == ["Printer broken"]


#: Every check, in order.
CHECKS: tuple[Callable[[TicketStore], None], ...] = (
    check_empty,
    check_create_ticket,
    check_numbers_sequential,
    check_position_imported_once,
    check_failed_commit_writes_nothing,
    check_follow_up,
    check_automated_follow_up_keeps_status,
    check_default_contact,
    check_same_mail_lookup,
    check_positions_distinguish_uidvalidity,
    check_bounce,
    check_attachments_content_addressed,
    check_quarantine,
    check_outbound,
    check_contact_reused,
    check_sync,
)


def run_conformance(factory: StoreFactory) -> None:
    """Run every check on a fresh store from ``factory`` (closed afterwards)."""
    for check in CHECKS:
        store = factory()
        try:
            check(store)
        finally:
            store.close()


class TicketStoreConformance:
    """Subclass in a pytest module (class name ``Test...``) and implement :meth:`make_store`."""

    def make_store(self) -> TicketStore:
        """A fresh, empty store."""
        raise NotImplementedError

    def _run(self, check: Callable[[TicketStore], None]) -> None:
        store = self.make_store()
        try:
            check(store)
        finally:
            store.close()

    def test_empty(self) -> None:
        self._run(check_empty)

    def test_create_ticket(self) -> None:
        self._run(check_create_ticket)

    def test_numbers_sequential(self) -> None:
        self._run(check_numbers_sequential)

    def test_position_imported_once(self) -> None:
        self._run(check_position_imported_once)

    def test_failed_commit_writes_nothing(self) -> None:
        self._run(check_failed_commit_writes_nothing)

    def test_follow_up(self) -> None:
        self._run(check_follow_up)

    def test_automated_follow_up_keeps_status(self) -> None:
        self._run(check_automated_follow_up_keeps_status)

    def test_default_contact(self) -> None:
        self._run(check_default_contact)

    def test_same_mail_lookup(self) -> None:
        self._run(check_same_mail_lookup)

    def test_positions_distinguish_uidvalidity(self) -> None:
        self._run(check_positions_distinguish_uidvalidity)

    def test_bounce(self) -> None:
        self._run(check_bounce)

    def test_attachments_content_addressed(self) -> None:
        self._run(check_attachments_content_addressed)

    def test_quarantine(self) -> None:
        self._run(check_quarantine)

    def test_outbound(self) -> None:
        self._run(check_outbound)

    def test_contact_reused(self) -> None:
        self._run(check_contact_reused)

    def test_sync(self) -> None:
        self._run(check_sync)
