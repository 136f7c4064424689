"""The suspended queue: idempotent suspension, accept (imports once) and reject (never replied)."""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from helpmail import Address, parse_mail
from helpmail.adapters.sqlite_suspended import SqliteSuspendedQueue
from helpmail.admission import (
    AdmissionAction,
    AdmissionFacts,
    AdmissionSettings,
    BlockEntry,
    SenderPattern,
    admit,
)
from helpmail.contacts import ContactSettings, resolve_sender
from helpmail.desk.conformance import check_suspended_queue
from helpmail.desk.review import accept, accepted_ref, reject
from helpmail.errors import StoreError
from helpmail.ports import MessageRef
from helpmail.spam import SpamAction, SpamVerdict
from helpmail.suspended import (
    MemorySuspendedQueue,
    SuspendedDecisionError,
    SuspendedMail,
    SuspendedQueue,
    SuspendedState,
    suspension_for,
)

NOW = dt.datetime(2026, 11, 23, 9, 30, tzinfo=dt.UTC)
DATA = Path(__file__).parent / "data" / "desk"
RAW = (
    b"From: Pushy Sales <sales@pushy.example>\r\nTo: support@desk.example\r\n"
    b"Subject: Buy our leads\r\nMessage-ID: <lead-1@pushy.example>\r\n"
    b"Date: Mon, 23 Nov 2026 08:00:00 +0000\r\n\r\nCheap leads!\r\n"
)
SETTINGS = AdmissionSettings(blocklist=(BlockEntry(pattern=SenderPattern.parse("pushy.example")),))


def suspended_entry(queue: SuspendedQueue, raw: bytes = RAW, uid: str = "1") -> SuspendedMail:
    mail = parse_mail(raw)
    sender = resolve_sender(mail.from_address, known=None, settings=ContactSettings())
    decision = admit(
        AdmissionFacts(sender=sender, spam=SpamVerdict(action=SpamAction.NONE)), SETTINGS
    )
    assert decision.action is AdmissionAction.SUSPEND
    ref = MessageRef(source="maildir:/srv/mail", folder="INBOX", uid=uid)
    return queue.suspend(
        suspension_for(mail, decision, at=NOW, ref=ref, support_address="support@desk.example")
    )


class IdempotentImporter:
    """Stands in for the desk's import: one ticket per source position, like the ticket store
    (a position already imported is skipped)."""

    def __init__(self) -> None:
        self.tickets: dict[MessageRef, str] = {}
        self.calls = 0

    def __call__(self, entry: SuspendedMail, ref: MessageRef) -> str:
        self.calls += 1
        if ref in self.tickets:
            return "already imported"
        number = str(len(self.tickets) + 1)
        mail = parse_mail(entry.raw)
        assert mail.message_id == entry.suspension.message_id
        self.tickets[ref] = number
        return f"created ticket {number}"


@pytest.fixture(params=["memory", "sqlite"])
def queue(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SuspendedQueue]:
    if request.param == "memory":
        yield MemorySuspendedQueue()
        return
    sqlite_queue = SqliteSuspendedQueue(tmp_path / "desk.sqlite")
    yield sqlite_queue
    sqlite_queue.close()


def test_memory_queue_conforms() -> None:
    check_suspended_queue(MemorySuspendedQueue)


def test_sqlite_queue_conforms(tmp_path: Path) -> None:
    counter = iter(range(100))
    check_suspended_queue(lambda: SqliteSuspendedQueue(tmp_path / f"q{next(counter)}.sqlite"))


def test_suspension_keeps_raw_mail_and_reason(queue: SuspendedQueue) -> None:
    entry = suspended_entry(queue)
    assert entry.raw == RAW
    assert entry.reason == "blocklist"
    assert "blocked by pushy.example (suspend)" in entry.suspension.detail
    assert entry.suspension.sender == "sales@pushy.example"
    assert entry.suspension.source == "maildir:/srv/mail/INBOX/1"
    assert entry.state is SuspendedState.PENDING
    assert "Buy our leads" in entry.line()


def test_two_copies_of_one_mail_are_one_entry(queue: SuspendedQueue) -> None:
    # the same mail read from two mailboxes (sent to two support addresses)
    first = suspended_entry(queue, uid="1")
    second = suspended_entry(
        queue, RAW.replace(b"To:", b"Delivered-To: x@desk.example\r\nTo:"), "2"
    )
    assert first.id == second.id
    assert len(queue.entries()) == 1


def test_accept_imports_once_even_when_repeated(queue: SuspendedQueue) -> None:
    entry = suspended_entry(queue)
    importer = IdempotentImporter()
    first = accept(queue, entry.id, importer=importer, now=NOW, by="agent-ann")
    assert first.changed
    assert first.entry.state is SuspendedState.ACCEPTED
    assert first.entry.note == "created ticket 1"
    assert first.step == "suspended_queue"
    second = accept(queue, entry.id, importer=importer, now=NOW, by="agent-bob")
    assert not second.changed
    assert "already accepted" in second.detail
    assert len(importer.tickets) == 1
    assert importer.calls == 1
    decided = queue.get(entry.id)
    assert decided is not None
    assert decided.decided_by == "agent-ann"


def test_accept_after_a_crash_between_import_and_marking_imports_once(
    queue: SuspendedQueue,
) -> None:
    entry = suspended_entry(queue)
    importer = IdempotentImporter()
    importer(entry, accepted_ref(entry))  # the import committed, then the process died
    result = accept(queue, entry.id, importer=importer, now=NOW)
    assert result.entry.state is SuspendedState.ACCEPTED
    assert result.entry.note == "already imported"
    assert len(importer.tickets) == 1


def test_accepted_mail_is_imported_under_its_own_stable_position(queue: SuspendedQueue) -> None:
    entry = suspended_entry(queue)
    assert accepted_ref(entry) == accepted_ref(entry)
    assert accepted_ref(entry).uid == entry.id
    assert str(accepted_ref(entry)) != entry.suspension.source


def test_reject_drops_and_never_imports(queue: SuspendedQueue) -> None:
    entry = suspended_entry(queue)
    importer = IdempotentImporter()
    result = reject(queue, entry.id, now=NOW, by="agent-ann")
    assert result.entry.state is SuspendedState.REJECTED
    assert "never replied" in result.detail
    assert not reject(queue, entry.id, now=NOW).changed
    with pytest.raises(SuspendedDecisionError, match="already rejected"):
        accept(queue, entry.id, importer=importer, now=NOW)
    assert importer.calls == 0
    assert queue.entries(SuspendedState.PENDING) == []


def test_reject_after_accept_is_refused(queue: SuspendedQueue) -> None:
    entry = suspended_entry(queue)
    accept(queue, entry.id, importer=IdempotentImporter(), now=NOW)
    with pytest.raises(SuspendedDecisionError, match="already accepted"):
        reject(queue, entry.id, now=NOW)


def test_unknown_entry(queue: SuspendedQueue) -> None:
    with pytest.raises(SuspendedDecisionError, match="no suspended mail"):
        reject(queue, "s999", now=NOW)


def test_sqlite_queue_survives_reopening_and_shares_the_file(tmp_path: Path) -> None:
    path = tmp_path / "desk.sqlite"
    with closing(sqlite3.connect(path)) as other, other:  # the desk's tables in the same file
        other.execute("CREATE TABLE tickets (id TEXT PRIMARY KEY)")
    queue = SqliteSuspendedQueue(path)
    entry = suspended_entry(queue)
    queue.close()
    reopened = SqliteSuspendedQueue(path)
    again = reopened.get(entry.id)
    assert again == entry
    reopened.close()
    with closing(sqlite3.connect(path)) as db:
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        version = db.execute("SELECT version FROM suspended_schema").fetchone()[0]
    assert {"tickets", "suspended_mail", "suspended_schema"} <= tables
    assert version == 1


def test_two_agents_cannot_accept_and_reject_the_same_mail(tmp_path: Path) -> None:
    path = tmp_path / "desk.sqlite"
    ann, bob = SqliteSuspendedQueue(path), SqliteSuspendedQueue(path)
    entry = suspended_entry(ann)
    seen_by_bob = bob.get(entry.id)
    assert seen_by_bob is not None
    assert seen_by_bob.state is SuspendedState.PENDING
    reject(ann, entry.id, now=NOW, by="ann")
    with pytest.raises(SuspendedDecisionError):
        accept(bob, entry.id, importer=IdempotentImporter(), now=NOW, by="bob")
    ann.close()
    bob.close()


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "desk.sqlite"
    SqliteSuspendedQueue(path).close()
    with closing(sqlite3.connect(path)) as db, db:
        db.execute("UPDATE suspended_schema SET version = 99")
    with pytest.raises(StoreError, match="schema version 99"):
        SqliteSuspendedQueue(path)


def test_unopenable_database_is_a_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError):
        SqliteSuspendedQueue(tmp_path / "no-such-dir" / "desk.sqlite")


def test_demo_mails_are_suspended_or_rejected() -> None:
    # the two demo mails in tests/data/desk parse and carry what the desk reads
    blocked = parse_mail((DATA / "blocked-sender.eml").read_bytes())
    assert blocked.from_address == Address(
        addr_spec="offers@leadgen-blast.example", name="LeadGen Blast"
    )
    spam = parse_mail((DATA / "spam-trusted-spamassassin.eml").read_bytes())
    assert spam.header("X-Spam-Flag") == "YES"
