"""Accept/reject from the suspended queue against the real desk: Desk + SqliteStore, one file."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from helpmail import parse_mail
from helpmail.adapters.sqlite import SqliteStore
from helpmail.adapters.sqlite_suspended import SqliteSuspendedQueue
from helpmail.admission import AdmissionFacts, AdmissionSettings, BlockEntry, SenderPattern, admit
from helpmail.contacts import ContactSettings, resolve_sender
from helpmail.desk.review import accept, accepted_ref, desk_importer, reject
from helpmail.ports import MessageRef
from helpmail.service import Desk
from helpmail.spam import SpamAction, SpamVerdict
from helpmail.suspended import SuspendedMail, SuspendedState, suspension_for
from helpmail.tickets.importing import OutcomeKind

NOW = dt.datetime(2026, 11, 23, 9, 30, tzinfo=dt.UTC)
RAW = (
    b"From: Carol New <carol@pushy.example>\r\nTo: support@acme.example\r\n"
    b"Subject: Printer on fire\r\nMessage-ID: <carol-1@pushy.example>\r\n"
    b"Date: Mon, 23 Nov 2026 08:00:00 +0000\r\n\r\nIt really is.\r\n"
)


class FixedClock:
    def now(self) -> dt.datetime:
        return NOW


def suspend(queue: SqliteSuspendedQueue) -> SuspendedMail:
    mail = parse_mail(RAW)
    sender = resolve_sender(mail.from_address, known=None, settings=ContactSettings())
    settings = AdmissionSettings(
        blocklist=(BlockEntry(pattern=SenderPattern.parse("pushy.example")),)
    )
    decision = admit(
        AdmissionFacts(sender=sender, spam=SpamVerdict(action=SpamAction.NONE)), settings
    )
    ref = MessageRef(source="maildir:/srv/mail", folder="INBOX", uid="1")
    return queue.suspend(suspension_for(mail, decision, at=NOW, ref=ref))


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "desk.sqlite3"


def test_accept_twice_imports_once(db: Path) -> None:
    store = SqliteStore(db)
    queue = SqliteSuspendedQueue(db)  # same file, own connection, own tables
    desk = Desk(store=store, clock=FixedClock())
    entry = suspend(queue)
    first = accept(queue, entry.id, importer=desk_importer(desk), now=NOW, by="ann")
    assert first.entry.state is SuspendedState.ACCEPTED
    assert first.entry.note.startswith("created ticket")
    second = accept(queue, entry.id, importer=desk_importer(desk), now=NOW, by="bob")
    assert not second.changed
    tickets = store.tickets()
    assert len(tickets) == 1
    assert tickets[0].title == "Printer on fire"
    store.close()
    queue.close()


def test_accept_after_crash_between_import_and_marking(db: Path) -> None:
    store = SqliteStore(db)
    queue = SqliteSuspendedQueue(db)
    desk = Desk(store=store, clock=FixedClock())
    entry = suspend(queue)
    # the import committed, then the process died before the entry was marked accepted
    crashed = desk.process_raw(entry.raw, ref=accepted_ref(entry))
    assert crashed.kind is OutcomeKind.CREATED
    store.close()
    queue.close()
    store, queue = SqliteStore(db), SqliteSuspendedQueue(db)
    result = accept(
        queue, entry.id, importer=desk_importer(Desk(store=store, clock=FixedClock())), now=NOW
    )
    assert result.entry.state is SuspendedState.ACCEPTED
    assert "already imported" in result.entry.note
    assert len(store.tickets()) == 1
    store.close()
    queue.close()


def test_reject_imports_nothing(db: Path) -> None:
    store = SqliteStore(db)
    queue = SqliteSuspendedQueue(db)
    entry = suspend(queue)
    result = reject(queue, entry.id, now=NOW, by="ann")
    assert result.entry.state is SuspendedState.REJECTED
    assert store.tickets() == []
    assert store.imports() == []
    store.close()
    queue.close()
