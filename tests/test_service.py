"""The Desk service: idempotent import, duplicates, quarantine, mailbox actions after commit."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest

from helpmail.adapters.memory import MemoryStore
from helpmail.adapters.sqlite import SqliteStore
from helpmail.errors import StoreError
from helpmail.message_ids import make_message_id
from helpmail.ports import (
    Checkpointing,
    MailboxAction,
    MailboxActionKind,
    MessageKind,
    MessageRef,
    SourceMessage,
    TicketStore,
)
from helpmail.service import Desk, ImportReport, explain
from helpmail.testing import FakeClock, ListSource, make_mail
from helpmail.tickets.events import FollowUpAdded, TicketCreated, TicketEvent
from helpmail.tickets.importing import CommitResult, ImportCommit, OutcomeKind
from helpmail.tickets.settings import ImportSettings

KEY = b"desk-key"
SEEN = (MailboxAction(kind=MailboxActionKind.MARK_SEEN),)
SETTINGS = ImportSettings(
    signing_keys=(KEY,), own_addresses=("support@desk.example",), after_import=SEEN
)


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TicketStore]:
    made: TicketStore = (
        MemoryStore() if request.param == "memory" else SqliteStore(tmp_path / "t.db")
    )
    yield made
    made.close()


def desk(store: TicketStore, **kwargs: object) -> Desk:
    return Desk(store=store, settings=SETTINGS, clock=FakeClock(), **kwargs)  # type: ignore[arg-type]


def mailbox() -> list[bytes]:
    return [
        make_mail(subject="Printer broken", message_id="a@x"),
        make_mail(
            subject="Re: [Ticket#1] Printer broken",
            message_id="b@x",
            body="Still broken.\n\nOn Mon, 5 Jan 2026, Desk wrote:\n> old text\n> more text\n",
            date="Mon, 05 Jan 2026 09:00:00 +0000",
        ),
        make_mail(subject="VPN down", message_id="c@x", sender="bob@example.com", body="No VPN."),
    ]


def shape(store: TicketStore) -> list[tuple[str, str, list[tuple[str, str]]]]:
    return [
        (t.number, t.title, [(m.kind.value, m.text) for m in store.messages_of(t.id)])
        for t in store.tickets()
    ]


def test_import_creates_tickets_and_follow_ups(store: TicketStore) -> None:
    source = ListSource(mailbox())
    events: list[TicketEvent] = []
    report = desk(store, on_events=events.extend).import_from(source)
    assert [r.kind for r in report.results] == [
        OutcomeKind.CREATED,
        OutcomeKind.FOLLOW_UP,
        OutcomeKind.CREATED,
    ]
    assert [r.ticket_number for r in report.results] == ["1", "1", "2"]
    assert shape(store) == [
        (
            "1",
            "Printer broken",
            [("request", "Hello, I need help."), ("follow_up", "Still broken.")],
        ),
        ("2", "VPN down", [("request", "No VPN.")]),
    ]
    assert report.counts[OutcomeKind.CREATED] == 2
    assert report.summary() == "3 messages: 2 created, 1 follow up"
    assert [type(e) for e in events] == [TicketCreated, FollowUpAdded, TicketCreated]
    assert isinstance(events[0], TicketCreated)
    assert events[0].ticket.number == "1"
    assert events[0].via_mail_import
    assert [h.text for h in store.history_of("1")] == ["created from mail import"]
    # mailbox actions only for committed messages, after the commit
    assert [ref.uid for ref, _ in source.applied] == ["1", "2", "3"]
    assert report.results[0].line() == "created ticket 1: 'Printer broken'"


def test_second_run_creates_nothing_and_redoes_actions(store: TicketStore) -> None:
    source = ListSource(mailbox())
    desk(store).import_from(source)
    before = shape(store)
    source.applied.clear()
    report = desk(store).import_from(source)
    assert [r.kind for r in report.results] == [OutcomeKind.ALREADY_IMPORTED] * 3
    assert shape(store) == before
    assert [ref.uid for ref, _ in source.applied] == ["1", "2", "3"]


def test_same_mail_to_two_support_addresses_is_one_ticket(store: TicketStore) -> None:
    copy_a = make_mail(subject="Help", message_id="same@x", headers=[("Delivered-To", "a@desk")])
    copy_b = make_mail(subject="Help", message_id="same@x", headers=[("Delivered-To", "b@desk")])
    d = desk(store)
    first = d.import_from(ListSource([copy_a], name="imap://a"))
    second = d.import_from(ListSource([copy_b], name="imap://b"))
    assert first.results[0].kind is OutcomeKind.CREATED
    assert second.results[0].kind is OutcomeKind.DUPLICATE
    assert second.results[0].ticket_number == "1"
    assert "duplicate" in second.results[0].line()
    assert len(store.tickets()) == 1
    assert len(store.imports()) == 2


def test_same_message_id_different_content_both_kept(store: TicketStore) -> None:
    one = make_mail(subject="First", message_id="dup@x", body="one")
    two = make_mail(subject="Second", message_id="dup@x", body="two")
    report = desk(store).import_from(ListSource([one, two]))
    assert [r.kind for r in report.results] == [OutcomeKind.CREATED, OutcomeKind.CREATED]
    assert [t.title for t in store.tickets()] == ["First", "Second"]


def test_no_message_id_dedupes_by_content(store: TicketStore) -> None:
    one = make_mail(message_id=None, subject="No id")
    report = desk(store).import_from(ListSource([one, one]))
    assert [r.kind for r in report.results] == [OutcomeKind.CREATED, OutcomeKind.DUPLICATE]
    other = make_mail(message_id=None, subject="No id", body="different")
    assert desk(store).process_raw(other).kind is OutcomeKind.CREATED


def test_failure_goes_to_quarantine_once(store: TicketStore) -> None:
    calls = 0

    def broken(*args: object, **kwargs: object) -> object:
        nonlocal calls
        calls += 1
        raise RuntimeError("extractor exploded")

    raws = [
        make_mail(subject="Printer", message_id="a@x"),
        make_mail(subject="Re: [Ticket#1] Printer", message_id="b@x"),
    ]
    source = ListSource(raws)
    report = desk(store, extract_reply=broken).import_from(source)
    assert [r.kind for r in report.results] == [OutcomeKind.CREATED, OutcomeKind.QUARANTINED]
    error = report.results[1].error
    assert error is not None
    assert "RuntimeError: extractor exploded" in error
    assert [ref.uid for ref, _ in source.applied] == ["1"]  # quarantined mail left in place
    [entry] = store.quarantined()
    assert entry.raw == raws[1]
    assert entry.key.ref == source.ref(1)
    # a rerun skips it: never retried forever
    rerun = desk(store, extract_reply=broken).import_from(source)
    assert [r.kind for r in rerun.results] == [
        OutcomeKind.ALREADY_IMPORTED,
        OutcomeKind.SKIPPED_QUARANTINED,
    ]
    assert calls == 1
    # after a fix, reprocessing files it and empties the quarantine
    fixed = desk(store).reprocess_quarantined()
    assert [r.kind for r in fixed.results] == [OutcomeKind.FOLLOW_UP]
    assert store.quarantined() == []
    assert [m.kind for m in store.messages_of("1")] == [MessageKind.REQUEST, MessageKind.FOLLOW_UP]
    again = desk(store).import_from(source)
    assert [r.kind for r in again.results] == [OutcomeKind.ALREADY_IMPORTED] * 2


def test_reprocess_failing_again_stays_quarantined(store: TicketStore) -> None:
    def broken(*args: object, **kwargs: object) -> object:
        raise ValueError("still broken")

    d = desk(store, classify=broken)
    d.import_from(ListSource([make_mail()]))
    report = d.reprocess_quarantined()
    assert [r.kind for r in report.results] == [OutcomeKind.QUARANTINED]
    [entry] = store.quarantined()
    assert "still broken" in entry.error


def test_oversized_message_is_quarantined_unparsed(store: TicketStore) -> None:
    small = attrs.evolve(SETTINGS, max_message_size=100)
    d = Desk(store=store, settings=small, clock=FakeClock())
    result = d.process_raw(make_mail(body="x" * 500))
    assert result.kind is OutcomeKind.QUARANTINED
    assert result.error is not None
    assert "max_message_size" in result.error


def test_store_failure_stops_the_import(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "t.db")
    store.close()
    with pytest.raises(StoreError):
        desk(store).import_from(ListSource([make_mail()]))


def test_crash_between_commit_and_action_is_repaired(store: TicketStore) -> None:
    class Crashing(ListSource):
        def apply(self, ref: object, actions: object) -> None:
            raise KeyboardInterrupt  # the process dies right after the commit

    raws = [make_mail()]
    with pytest.raises(KeyboardInterrupt):
        desk(store).import_from(Crashing(raws))
    source = ListSource(raws)
    report = desk(store).import_from(source)
    assert report.results[0].kind is OutcomeKind.ALREADY_IMPORTED
    assert source.seen == {"1"}
    assert len(store.tickets()) == 1


def test_progress_and_limit(store: TicketStore) -> None:
    seen: list[int] = []
    report = desk(store).import_from(
        ListSource(mailbox()), progress=lambda done, result: seen.append(done), limit=2
    )
    assert seen == [1, 2]
    assert report.total == 2


def test_explain_touches_no_store(tmp_path: Path) -> None:
    outcome = explain(make_mail(subject="[Ticket#1] hi"), settings=SETTINGS)
    assert outcome.kind is OutcomeKind.CREATED
    assert "no ticket" in outcome.render() or "unknown ticket 1" in outcome.render()
    path = tmp_path / "t.db"
    store = SqliteStore(path)
    desk(store).import_from(ListSource([make_mail(subject="Printer", message_id="a@x")]))
    store.close()
    readonly = SqliteStore(path, readonly=True)
    follow = explain(
        make_mail(subject="Re: [Ticket#1] x", message_id="b@x"), settings=SETTINGS, store=readonly
    )
    assert follow.kind is OutcomeKind.FOLLOW_UP
    assert len(readonly.imports()) == 1
    readonly.close()


def test_explain_never_raises() -> None:
    outcome = explain(b"\xff\x00" * 100)
    assert outcome.kind in (OutcomeKind.CREATED, OutcomeKind.DROPPED, OutcomeKind.QUARANTINED)


def test_reply_to_outbound_mail_is_threaded_and_dequoted(store: TicketStore) -> None:
    d = desk(store)
    d.process_raw(make_mail(subject="Printer", message_id="a@x"))
    mid = make_message_id(key=KEY, domain="desk.example", kind="n", ticket="1", recipient="alice")
    store.record_outbound(
        ticket_id="1",
        message_id=mid,
        at=dt.datetime(2026, 1, 5, tzinfo=dt.UTC),
        text="Please restart the printer.\nThanks, Desk",
        recipient="alice@example.org",
    )
    result = d.process_raw(
        make_mail(
            subject="Re: your request",
            message_id="c@x",
            in_reply_to=mid,
            body="Done, works now.\n\n> Please restart the printer.\n> Thanks, Desk\n",
        )
    )
    assert result.kind is OutcomeKind.FOLLOW_UP
    assert store.messages_of("1")[-1].text.strip() == "Done, works now."


def test_import_report_counts_every_kind() -> None:
    report = ImportReport()
    assert set(report.counts) == set(OutcomeKind)
    assert report.summary() == "0 messages: nothing to do"


def test_mailbox_actions_follow_a_durability_sync() -> None:
    log: list[str] = []

    class Recording(MemoryStore):
        def commit(self, commit: ImportCommit) -> CommitResult:
            log.append(f"commit {commit.key.ref.uid}")
            return super().commit(commit)

        def sync(self) -> None:
            log.append("sync")

    class Source(ListSource):
        def apply(self, ref: MessageRef, actions: tuple[MailboxAction, ...]) -> None:
            log.append(f"apply {ref.uid}")
            super().apply(ref, actions)

    d = desk(Recording())
    d.action_batch = 2
    d.import_from(Source([make_mail(message_id=f"{i}@x", subject=f"s{i}") for i in range(3)]))
    assert log == [
        "commit 1",
        "commit 2",
        "sync",
        "apply 1",
        "apply 2",
        "commit 3",
        "sync",
        "apply 3",
    ]


def test_keep_bounds_results_but_counts_all(store: TicketStore) -> None:
    raws = [make_mail(message_id=f"{i}@x", subject=f"s{i}") for i in range(5)]
    report = desk(store).import_from(ListSource(raws), keep=2)
    assert len(report.results) == 2
    assert report.total == 5
    assert report.counts[OutcomeKind.CREATED] == 5


def _bounce_for(original: str) -> bytes:
    return (
        "From: Mail Delivery System <MAILER-DAEMON@mx.example.net>\r\n"
        "To: support@desk.example\r\nSubject: Undelivered Mail Returned to Sender\r\n"
        "Message-ID: <bounce-1@mx.example.net>\r\nDate: Mon, 05 Jan 2026 09:00:00 +0000\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain\r\n\r\nNot delivered.\r\n"
        "--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx\r\n\r\n"
        "Final-Recipient: rfc822; alice@example.org\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        "Diagnostic-Code: smtp; 550 5.1.1 user unknown\r\n"
        "--b\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"From: support@desk.example\r\nMessage-ID: <{original}>\r\n--b--\r\n"
    ).encode()


def test_bounce_attached_event_and_guard_block(store: TicketStore) -> None:
    from helpmail.guard import DeliveryGuard
    from helpmail.tickets.events import BounceAttached

    guard = DeliveryGuard()
    events: list[TicketEvent] = []
    d = desk(store, guard=guard, on_events=events.extend)
    d.process_raw(make_mail(subject="Printer", message_id="a@x"))
    sent = make_message_id(key=KEY, domain="desk.example", kind="n", ticket="1", recipient="alice")
    store.record_outbound(
        ticket_id="1", message_id=sent, at=d.clock.now(), text="We are on it.", recipient=None
    )
    result = d.process_raw(_bounce_for(sent))
    assert result.kind is OutcomeKind.BOUNCE_ATTACHED
    bounce = events[-1]
    assert isinstance(bounce, BounceAttached)
    assert bounce.addresses == ("alice@example.org",)
    assert bounce.reason == "user_unknown"
    assert bounce.hard
    assert bounce.original_message_id == sent
    assert not guard.check("alice@example.org", "1", d.clock.now())
    assert [m.kind for m in store.messages_of("1")][-1] is MessageKind.BOUNCE
    assert store.get_ticket("1") is not None


def test_commit_rejected_by_store_is_quarantined_not_fatal() -> None:
    from helpmail.ports import CommitRejected

    class Vanishing(MemoryStore):
        def commit(self, commit: ImportCommit) -> CommitResult:
            if commit.outcome is OutcomeKind.FOLLOW_UP:
                raise CommitRejected("no ticket 1")
            return super().commit(commit)

    store = Vanishing()
    raws = [
        make_mail(subject="Printer", message_id="a@x"),
        make_mail(subject="Re: [Ticket#1] Printer", message_id="b@x"),
        make_mail(subject="Other", message_id="c@x"),
    ]
    report = desk(store).import_from(ListSource(raws))
    assert [r.kind for r in report.results] == [
        OutcomeKind.CREATED,
        OutcomeKind.QUARANTINED,
        OutcomeKind.CREATED,
    ]
    [entry] = store.quarantined()
    assert "store refused the commit: no ticket 1" in entry.error


# --- checkpoints: a source that can save its position mid-scan ----------------------------------


class CheckpointSource(ListSource):
    """Records, at each checkpoint, how many messages were handed out and which were applied."""

    def __init__(self, raws: list[bytes]) -> None:
        super().__init__(raws)
        self.handed_out = 0
        self.checkpoints: list[tuple[int, list[str]]] = []

    def messages(self) -> Iterator[SourceMessage]:
        for message in super().messages():
            self.handed_out += 1
            yield message

    def checkpoint(self) -> None:
        self.checkpoints.append((self.handed_out, [ref.uid for ref, _ in self.applied]))


def numbered(count: int) -> list[bytes]:
    return [make_mail(subject=f"Case {n}", message_id=f"case-{n}@x") for n in range(count)]


def test_a_checkpointing_source_is_told_when_everything_handed_out_is_done(
    store: TicketStore,
) -> None:
    source = CheckpointSource(numbered(10))
    assert isinstance(source, Checkpointing)
    helpdesk = desk(store)
    helpdesk.action_batch = 4
    helpdesk.import_from(source)
    # after 4, 8 and at the end; every message handed out by then has had its actions applied
    assert [n for n, _ in source.checkpoints] == [4, 8, 10]
    for handed_out, applied in source.checkpoints:
        assert applied == [str(uid) for uid in range(1, handed_out + 1)]


def test_checkpoints_come_even_when_no_message_has_actions(store: TicketStore) -> None:
    source = CheckpointSource(numbered(9))
    helpdesk = Desk(
        store=store,
        settings=attrs.evolve(SETTINGS, after_import=()),
        clock=FakeClock(),
    )
    helpdesk.action_batch = 4
    helpdesk.import_from(source)
    assert [n for n, _ in source.checkpoints] == [4, 8, 9]


def test_no_checkpoint_after_a_failure(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "t.db")
    source = CheckpointSource(numbered(6))
    helpdesk = desk(store)
    helpdesk.action_batch = 4
    calls = 0
    real = store.commit

    def failing_commit(commit: ImportCommit) -> CommitResult:
        nonlocal calls
        calls += 1
        if calls == 6:
            raise StoreError("disk full")
        return real(commit)

    store.commit = failing_commit  # type: ignore[method-assign]
    with pytest.raises(StoreError):
        helpdesk.import_from(source)
    store.close()
    # the checkpoint after 4; none after the failing 6th (its import never happened)
    assert [n for n, _ in source.checkpoints] == [4]
    assert [ref.uid for ref, _ in source.applied] == ["1", "2", "3", "4", "5"]
