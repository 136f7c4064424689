"""The desk steps wired into the import: support addresses, contacts, spam, admission, suspended
queue, against the real Desk service and both reference stores."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpmail.adapters.memory import MemoryStore
from helpmail.adapters.sqlite import SqliteStore
from helpmail.adapters.sqlite_suspended import SqliteSuspendedQueue
from helpmail.addresses import SupportAddress, SupportAddresses
from helpmail.admission import (
    AdmissionSettings,
    BlockEntry,
    DeskPolicy,
    SenderPattern,
    Strength,
)
from helpmail.contacts import ContactSettings, Organisation, UnknownSenderPolicy
from helpmail.desk.matching import DomainPattern
from helpmail.desk.review import accept, desk_importer, reject
from helpmail.desk.steps import DeskSettings
from helpmail.errors import StoreError
from helpmail.mail.model import InboundMail
from helpmail.ports import MessageRef, SourceMessage
from helpmail.service import Desk, explain
from helpmail.spam import ImapFacts, SpamAction, SpamSettings, SpamVerdict
from helpmail.suspended import MemorySuspendedQueue, SuspendedState
from helpmail.testing import FakeClock, ListSource, make_mail
from helpmail.tickets.importing import CreateTicket, ImportCommit, OutcomeKind
from helpmail.tickets.settings import ImportSettings

Store = MemoryStore | SqliteStore

SUPPORT = SupportAddresses(
    addresses=(
        SupportAddress(address="support@desk.example", name="ACME Support", queue="support"),
        SupportAddress(
            address="billing@desk.example", name="ACME Billing", queue="billing", priority="high"
        ),
    )
)
SPAM = SpamSettings(
    trusted_hosts=(
        DomainPattern.parse("mx.desk.example"),
        DomainPattern.parse("imap.desk.example"),
    ),
    trusted_networks=(ipaddress.ip_network("10.1.0.0/16"),),
)
DESK = DeskSettings(
    support_addresses=SUPPORT,
    spam=SPAM,
    admission=AdmissionSettings(
        blocklist=(
            BlockEntry(pattern=SenderPattern.parse("pushy.example")),
            BlockEntry(pattern=SenderPattern.parse("spammer.example"), strength=Strength.REJECT),
        )
    ),
)
#: Dovecot's LMTP hop (the top one), fed by the trusted MX
TOP = (
    "from mx.desk.example (mx.desk.example [10.1.0.5]) by imap.desk.example (Dovecot)"
    " with LMTP id 6Ab1 for <support@desk.example>; Mon, 05 Jan 2026 08:00:02 +0000"
)
MX = (
    "from mail.sender.example (mail.sender.example [198.51.100.7]) by mx.desk.example"
    " (Postfix) with ESMTPS id 4F1; Mon, 05 Jan 2026 08:00:01 +0000"
)


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    made: Store = MemoryStore() if request.param == "memory" else SqliteStore(tmp_path / "t.db")
    yield made
    made.close()


def make_desk(
    store: Store,
    desk: DeskSettings = DESK,
    *,
    queue: MemorySuspendedQueue | SqliteSuspendedQueue | None = None,
    settings: ImportSettings | None = None,
    **kwargs: object,
) -> Desk:
    return Desk(
        store=store,
        settings=settings,
        clock=FakeClock(),
        desk=desk,
        suspended=queue if queue is not None else MemorySuspendedQueue(),
        **kwargs,  # type: ignore[arg-type]
    )


def steps(result_trace: object) -> dict[str, str]:
    return {s.step: s.decision for s in result_trace}  # type: ignore[attr-defined]


# --------------------------------------------------------------------------------------------
# without desk settings nothing changes


def test_without_desk_settings_the_import_is_as_before(store: Store) -> None:
    plain = Desk(store=store, clock=FakeClock())
    result = plain.process_raw(make_mail(sender="x@spammer.example"))
    assert result.kind is OutcomeKind.CREATED
    assert "admission" not in steps(result.trace)
    assert plain.settings == ImportSettings()


# --------------------------------------------------------------------------------------------
# support addresses


def test_support_address_decides_queue_from_and_defaults(store: Store) -> None:
    result = make_desk(store).process_raw(make_mail(to="ACME Billing <BILLING@desk.example>"))
    assert result.kind is OutcomeKind.CREATED
    ticket = store.tickets()[0]
    assert ticket.support_address == "billing@desk.example"
    assert ticket.queue == "billing"
    assert ("priority", "high") in ticket.fields
    assert steps(result.trace)["support_address"] == "billing@desk.example"


def test_delivered_to_names_the_support_address(store: Store) -> None:
    raw = make_mail(
        to="all-staff@lists.example", headers=[("Delivered-To", "billing@desk.example")]
    )
    make_desk(store).process_raw(raw)
    assert store.tickets()[0].support_address == "billing@desk.example"
    assert store.tickets()[0].queue == "billing"


def test_mail_to_two_support_addresses_makes_one_ticket(store: Store) -> None:
    raw = make_mail(to="support@desk.example, billing@desk.example")
    result = make_desk(store).process_raw(raw)
    assert result.kind is OutcomeKind.CREATED
    [ticket] = store.tickets()
    assert ticket.support_address == "support@desk.example"
    # the other support address is not a participant of the ticket
    assert all("desk.example" not in p for p in ticket.participants)


def test_two_delivered_copies_make_one_ticket(store: Store) -> None:
    to = "support@desk.example, billing@desk.example"
    copies = [
        make_mail(to=to, headers=[("Delivered-To", "support@desk.example")]),
        make_mail(to=to, headers=[("Delivered-To", "billing@desk.example")]),
    ]
    report = make_desk(store).import_from(ListSource(copies))
    assert [r.kind for r in report.results] == [OutcomeKind.CREATED, OutcomeKind.DUPLICATE]
    assert len(store.tickets()) == 1


def test_mail_from_our_own_support_address_is_never_customer_mail(store: Store) -> None:
    result = make_desk(store).process_raw(make_mail(sender="ACME <Support@desk.example>"))
    assert result.kind is OutcomeKind.DROPPED
    assert store.tickets() == []
    assert not result.events


def test_own_sender_without_own_addresses_is_rejected_by_the_desk_step(store: Store) -> None:
    # the pure pipeline alone (no Desk merging the addresses into own_addresses)
    outcome = explain(
        make_mail(sender="billing@desk.example"), desk=DESK, settings=ImportSettings()
    )
    assert outcome.kind is OutcomeKind.DROPPED


# --------------------------------------------------------------------------------------------
# contacts


def test_unknown_sender_to_default_contact_when_the_desk_says_so(store: Store) -> None:
    desk = DeskSettings(
        support_addresses=SUPPORT,
        contacts=ContactSettings(
            unknown_sender=UnknownSenderPolicy.DEFAULT_CONTACT, default_contact="walk-in"
        ),
    )
    make_desk(store, desk).process_raw(make_mail(sender="new@example.org"))
    ticket = store.tickets()[0]
    assert ticket.reporter == "walk-in"
    assert store.find_contact("new@example.org") is None


def test_organisation_by_domain_lands_on_the_ticket(store: Store) -> None:
    desk = DeskSettings(
        support_addresses=SUPPORT,
        contacts=ContactSettings(
            organisations_by_domain=True,
            organisations=(
                Organisation(id="org-acme", domains=(DomainPattern.parse("*.acme-corp.example"),)),
            ),
        ),
    )
    make_desk(store, desk).process_raw(make_mail(sender="ann@sales.acme-corp.example"))
    make_desk(store, desk).process_raw(make_mail(sender="joe@gmail.com", message_id="g@x"))
    first, second = store.tickets()
    assert ("organisation", "org-acme") in first.fields
    assert not any(k == "organisation" for k, _ in second.fields)


def test_follow_up_from_a_secondary_address_is_the_reporter(store: Store) -> None:
    desk = make_desk(store)
    created = desk.process_raw(make_mail(sender="Ann <ann@work.example>", message_id="a1@x"))
    ticket = store.tickets()[0]
    assert ticket.reporter is not None
    store.add_contact_address(ticket.reporter, "Ann.Private@Home.example")
    follow = desk.process_raw(
        make_mail(
            sender="Ann <ann.private@home.example>",
            subject=f"Re: [Ticket#{created.ticket_number}] Hello",
            message_id="a2@x",
        )
    )
    assert follow.kind is OutcomeKind.FOLLOW_UP, follow.trace
    assert steps(follow.trace)["follow_up_sender"] == "reporter other address"
    message = store.messages_of(ticket.id)[-1]
    assert message.author == ticket.reporter


def test_a_stranger_with_the_tag_still_opens_a_new_ticket(store: Store) -> None:
    desk = make_desk(store)
    created = desk.process_raw(make_mail(sender="ann@work.example", message_id="a1@x"))
    other = desk.process_raw(
        make_mail(
            sender="eve@else.example",
            subject=f"Re: [Ticket#{created.ticket_number}] Hello",
            message_id="e1@x",
        )
    )
    assert other.kind is OutcomeKind.CREATED


def test_contact_addresses_are_one_person_and_exclusive(store: Store) -> None:
    ann = store.add_contact("ann@work.example", name="Ann")
    assert store.add_contact("ANN@work.example") == ann
    store.add_contact_address(ann, "ann@home.example")
    store.add_contact_address(ann, "ann@home.example")  # again: no-op
    assert store.find_contact("ann@home.example") == ann
    bob = store.add_contact("bob@work.example")
    with pytest.raises(StoreError):
        store.add_contact_address(bob, "ann@home.example")
    with pytest.raises(StoreError):
        store.add_contact_address("contact-999", "x@y.example")


# --------------------------------------------------------------------------------------------
# admission, spam and the suspended queue


def test_blocked_domain_with_reject_is_dropped_and_never_answered(store: Store) -> None:
    queue = MemorySuspendedQueue()
    result = make_desk(store, queue=queue).process_raw(make_mail(sender="x@spammer.example"))
    assert result.kind is OutcomeKind.DROPPED
    assert not result.events
    assert queue.entries() == []
    assert store.tickets() == []
    assert [r.outcome for r in store.imports()] == ["dropped"]


def test_blocked_domain_with_suspend_goes_to_the_queue(store: Store) -> None:
    queue = MemorySuspendedQueue()
    desk = make_desk(store, queue=queue)
    source = ListSource([make_mail(sender="Carol <carol@pushy.example>")])
    report = desk.import_from(source)
    [result] = report.results
    assert result.kind is OutcomeKind.SUSPENDED
    assert not result.events
    assert store.tickets() == []
    [entry] = queue.entries()
    assert entry.reason == "blocklist"
    assert entry.suspension.support_address == "support@desk.example"
    assert entry.suspension.source == str(
        MessageRef(source="memory:test", folder="INBOX", uid="1", uidvalidity=1)
    )
    # a rerun skips the position: still one entry, still no ticket
    again = desk.import_from(source)
    assert [r.kind for r in again.results] == [OutcomeKind.ALREADY_IMPORTED]
    assert len(queue.entries()) == 1


def test_suspended_then_accepted_makes_exactly_one_ticket(tmp_path: Path) -> None:
    db = tmp_path / "desk.db"
    store, queue = SqliteStore(db), SqliteSuspendedQueue(db)
    desk = make_desk(store, queue=queue)
    to = "support@desk.example, billing@desk.example"
    copies = [
        make_mail(sender="carol@pushy.example", to=to, headers=[("Delivered-To", a)])
        for a in ("support@desk.example", "billing@desk.example")
    ]
    report = desk.import_from(ListSource(copies))
    assert [r.kind for r in report.results] == [OutcomeKind.SUSPENDED, OutcomeKind.SUSPENDED]
    [entry] = queue.entries()  # two copies, one entry
    first = accept(queue, entry.id, importer=desk_importer(desk), now=FakeClock().now(), by="ann")
    assert first.entry.state is SuspendedState.ACCEPTED
    assert "created ticket" in first.entry.note
    second = accept(queue, entry.id, importer=desk_importer(desk), now=FakeClock().now())
    assert not second.changed
    # a rerun over the mailbox: positions already imported, no second ticket
    desk.import_from(ListSource(copies))
    # and the same mail again from a new position is a duplicate of the accepted import
    late = desk.process_raw(copies[0], ref=MessageRef(source="other", folder="INBOX", uid="9"))
    assert late.kind is OutcomeKind.DUPLICATE
    assert len(store.tickets()) == 1
    assert store.tickets()[0].reporter_address == "carol@pushy.example"
    store.close()
    queue.close()


def test_accept_after_a_crash_between_import_and_marking(tmp_path: Path) -> None:
    db = tmp_path / "desk.db"
    store, queue = SqliteStore(db), SqliteSuspendedQueue(db)
    desk = make_desk(store, queue=queue)
    desk.process_raw(make_mail(sender="carol@pushy.example"))
    [entry] = queue.entries()
    desk_importer(desk)(entry, MessageRef(source="suspended:", folder="accepted", uid=entry.id))
    # the process died here; a new one accepts
    result = accept(queue, entry.id, importer=desk_importer(desk), now=FakeClock().now())
    assert result.entry.state is SuspendedState.ACCEPTED
    assert "already imported" in result.entry.note
    assert len(store.tickets()) == 1
    store.close()
    queue.close()


class CrashingStore(MemoryStore):
    def __init__(self) -> None:
        super().__init__()
        self.crash = True

    def commit(self, commit: ImportCommit):  # type: ignore[no-untyped-def]
        if self.crash:
            self.crash = False
            raise StoreError("disk gone")
        return super().commit(commit)


def test_crash_between_suspend_and_commit_is_safe() -> None:
    store, queue = CrashingStore(), MemorySuspendedQueue()
    desk = make_desk(store, queue=queue)
    source = ListSource([make_mail(sender="carol@pushy.example")])
    with pytest.raises(StoreError):
        desk.import_from(source)
    assert len(queue.entries()) == 1  # suspended, the import not recorded
    report = desk.import_from(source)
    assert [r.kind for r in report.results] == [OutcomeKind.SUSPENDED]
    assert len(queue.entries()) == 1


def test_rejected_suspended_mail_imports_nothing(store: Store) -> None:
    queue = MemorySuspendedQueue()
    make_desk(store, queue=queue).process_raw(make_mail(sender="carol@pushy.example"))
    [entry] = queue.entries()
    reject(queue, entry.id, now=FakeClock().now())
    assert store.tickets() == []


def test_suspension_without_a_queue_is_quarantined_not_lost(store: Store) -> None:
    desk = Desk(store=store, clock=FakeClock(), desk=DESK)
    result = desk.process_raw(make_mail(sender="carol@pushy.example"))
    assert result.kind is OutcomeKind.QUARANTINED
    assert len(store.quarantined()) == 1


def test_policy_known_contacts_suspends_strangers_but_takes_follow_ups(store: Store) -> None:
    desk_settings = DeskSettings(
        support_addresses=SUPPORT, admission=AdmissionSettings(policy=DeskPolicy.KNOWN_CONTACTS)
    )
    queue = MemorySuspendedQueue()
    desk = make_desk(store, desk_settings, queue=queue)
    store.add_contact("ann@work.example")
    assert desk.process_raw(make_mail(sender="ann@work.example")).kind is OutcomeKind.CREATED
    stranger = desk.process_raw(make_mail(sender="eve@else.example", message_id="e@x"))
    assert stranger.kind is OutcomeKind.SUSPENDED
    assert queue.entries()[0].reason == "policy"


def spam_mail(status: str, *, trusted: bool) -> bytes:
    """A mail with a SpamAssassin header added by our MX (``trusted``) or by the sender."""
    if trusted:
        trace = f"Received: {TOP}\r\nX-Spam-Status: {status}\r\nReceived: {MX}\r\n"
    else:  # below the MX's hop: written before our MX saw the mail
        trace = f"Received: {TOP}\r\nReceived: {MX}\r\nX-Spam-Status: {status}\r\n"
    return trace.encode() + make_mail(sender="someone@sender.example")


def test_trusted_spam_score_suspends(store: Store) -> None:
    queue = MemorySuspendedQueue()
    result = make_desk(store, queue=queue).process_raw(
        spam_mail("Yes, score=8.2 required=5.0", trusted=True)
    )
    assert result.kind is OutcomeKind.SUSPENDED
    assert queue.entries()[0].reason == "spam"


def test_trusted_high_spam_score_rejects(store: Store) -> None:
    result = make_desk(store).process_raw(spam_mail("Yes, score=30 required=5.0", trusted=True))
    assert result.kind is OutcomeKind.DROPPED


def test_spoofed_spam_headers_from_an_untrusted_hop_are_ignored(store: Store) -> None:
    result = make_desk(store).process_raw(spam_mail("Yes, score=30", trusted=False))
    assert result.kind is OutcomeKind.CREATED
    assert steps(result.trace)["spam"] != "reject"


def test_allowlist_overrides_spam_suspicion(store: Store) -> None:
    desk_settings = DeskSettings(
        support_addresses=SUPPORT,
        spam=SPAM,
        admission=AdmissionSettings(allowlist=(SenderPattern.parse("sender.example"),)),
    )
    result = make_desk(store, desk_settings).process_raw(
        spam_mail("Yes, score=8.2 required=5.0", trusted=True)
    )
    assert result.kind is OutcomeKind.CREATED


class RecordingChecker:
    def __init__(self, action: SpamAction) -> None:
        self.action = action
        self.seen: list[ImapFacts | None] = []

    def check(self, mail: InboundMail, imap: ImapFacts | None = None) -> SpamVerdict:
        self.seen.append(imap)
        return SpamVerdict(action=self.action, checker="recording")


def test_a_plugged_in_spam_checker_decides_and_sees_the_imap_flags(store: Store) -> None:
    checker = RecordingChecker(SpamAction.SUSPEND)
    desk = make_desk(store, spam_checker=checker)
    message = SourceMessage(
        ref=MessageRef(source="imap", folder="INBOX", uid="7"),
        raw=make_mail(),
        flags=frozenset({"$Junk"}),
    )
    result = desk.process_one(message)
    assert result.kind is OutcomeKind.SUSPENDED
    assert checker.seen == [ImapFacts(flags=frozenset({"$Junk"}))]


def test_imap_junk_flag_is_a_verdict_without_a_checker(store: Store) -> None:
    message = SourceMessage(
        ref=MessageRef(source="imap", folder="INBOX", uid="7"),
        raw=make_mail(),
        flags=frozenset({"$Junk"}),
    )
    result = make_desk(store).process_one(message)
    assert result.kind is OutcomeKind.SUSPENDED


def test_bounces_skip_the_desk_steps(store: Store) -> None:
    bounce = make_mail(
        sender="MAILER-DAEMON@mx.spammer.example",
        subject="Undelivered Mail Returned to Sender",
        headers=[("Auto-Submitted", "auto-replied")],
        body="This is the mail system. I'm sorry to have to inform you that your message"
        " could not be delivered.\n\n<x@spammer.example>: User unknown",
    )
    result = make_desk(store).process_raw(bounce)
    assert "admission" not in steps(result.trace)


def test_trace_order_classify_ref_desk_steps_rules_action() -> None:
    from helpmail.rules import Rule, RuleSet, SetField

    rules = RuleSet(rules=[Rule(name="tag", actions=[SetField(name="source", value="mail")])])
    outcome = explain(make_mail(), desk=DESK, rules=rules.evaluate)
    order = [s.step for s in outcome.trace]
    expected = [
        "parse",
        "classify",
        "dedupe",
        "ticket_ref",
        "support_address",
        "sender",
        "spam",
        "admission",
        "rules",
        "action",
    ]
    assert order == expected
    assert outcome.kind is OutcomeKind.CREATED
    command = outcome.command
    assert isinstance(command, CreateTicket)
    assert ("source", "mail") in command.fields


def test_explain_json_names_the_suspension() -> None:
    outcome = explain(make_mail(sender="carol@pushy.example"), desk=DESK)
    assert outcome.kind is OutcomeKind.SUSPENDED
    data = outcome.to_dict()
    assert data["outcome"] == "suspended"
    assert data["suspension"] == {
        "reason": "blocklist",
        "detail": outcome.suspension.detail if outcome.suspension else None,
        "support_address": "support@desk.example",
    }
    assert "suspension" not in explain(make_mail()).to_dict()


def test_the_spam_checker_is_not_asked_about_our_own_mail(store: Store) -> None:
    checker = RecordingChecker(SpamAction.REJECT)
    desk = make_desk(store, spam_checker=checker)
    result = desk.process_raw(make_mail(sender="support@desk.example"))
    assert result.kind is OutcomeKind.DROPPED
    assert checker.seen == []
