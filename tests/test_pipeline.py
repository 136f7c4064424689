"""The sans-IO pipeline: analyse + facts -> decide -> Outcome (commands, actions, trace)."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpmail import parse_mail
from helpmail.message_ids import make_message_id
from helpmail.pipeline import (
    Analysis,
    Facts,
    Outcome,
    TraceStep,
    analyse,
    decide,
    position_outcome,
)
from helpmail.ports import (
    ImportKey,
    ImportRecord,
    MailboxAction,
    MailboxActionKind,
    MessageKind,
    MessageRecord,
    MessageRef,
    QuarantineRecord,
    TicketRecord,
)
from helpmail.testing import make_mail
from helpmail.tickets.events import Origin
from helpmail.tickets.importing import (
    AddFollowUp,
    AttachBounce,
    CreateTicket,
    OutcomeKind,
    content_digest,
)
from helpmail.tickets.settings import AttachmentPolicy, ImportSettings, UnknownSenderPolicy

NOW = dt.datetime(2026, 1, 5, 10, 0, tzinfo=dt.UTC)
ARRIVAL = dt.datetime(2026, 1, 5, 8, 1, tzinfo=dt.UTC)
REF = MessageRef(source="maildir:/x", folder="INBOX", uid="k1")
KEY = b"desk-key"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 40
EXE = b"MZ\x90\x00" + b"\x00" * 60
SETTINGS = ImportSettings(
    signing_keys=(KEY,),
    own_addresses=("support@desk.example",),
    queue="first-line",
    manager="mia",
    assignee="alex",
    follow_up_status="customer replied",
)


def ticket(number: str = "12", ticket_id: str = "7") -> TicketRecord:
    return TicketRecord(
        id=ticket_id,
        number=number,
        title="Printer broken",
        status="open",
        reporter="contact-1",
        reporter_address="alice@example.org",
        reported_at=NOW,
        participants=("alice@example.org",),
    )


def run(
    raw: bytes,
    facts: Facts | None = None,
    settings_: ImportSettings = SETTINGS,
    **kwargs: object,
) -> Outcome:
    analysis = analyse(parse_mail(raw), settings_, ref=REF)
    return decide(analysis, facts or Facts(), settings_, NOW, arrival=ARRIVAL, **kwargs)  # type: ignore[arg-type]


def steps(outcome: Outcome, step: str) -> list[TraceStep]:
    return [s for s in outcome.trace if s.step == step]


def test_new_ticket_import_semantics() -> None:
    outcome = run(make_mail(subject="  Printer   broken ", body="It does not print."))
    assert outcome.kind is OutcomeKind.CREATED
    command = outcome.command
    assert isinstance(command, CreateTicket)
    assert command.title == "Printer broken"
    assert command.text == "It does not print."
    assert command.status == "email imported"
    assert command.created_by == "mail-import"
    assert command.reported_at == ARRIVAL
    assert (command.queue, command.manager, command.assignee) == ("first-line", "mia", "alex")
    assert command.history == "created from mail import"
    assert command.origin is Origin.CUSTOMER
    assert command.reporter.address == "alice@example.org"
    assert command.reporter.create_contact
    assert command.support_address == "support@desk.example"
    assert "support@desk.example" not in command.participants
    assert outcome.commit is not None
    assert outcome.commit.key == ImportKey(
        ref=REF, message_id="msg-1@example.org", content_digest=outcome.commit.key.content_digest
    )
    assert [s.step for s in outcome.trace] == [
        "parse",
        "classify",
        "dedupe",
        "ticket_ref",
        "sender",
        "action",
    ]


def test_reported_time_falls_back_to_date_header() -> None:
    analysis = analyse(parse_mail(make_mail()), SETTINGS, ref=REF)
    outcome = decide(analysis, Facts(), SETTINGS, NOW)
    assert isinstance(outcome.command, CreateTicket)
    assert outcome.command.reported_at == dt.datetime(2026, 1, 5, 8, 0, tzinfo=dt.UTC)


def test_no_subject_gets_a_title() -> None:
    outcome = run(make_mail(subject=""))
    assert isinstance(outcome.command, CreateTicket)
    assert outcome.command.title == "(no subject)"


def test_unknown_sender_default_contact_policy() -> None:
    custom = attrs.evolve(
        SETTINGS, unknown_sender=UnknownSenderPolicy.DEFAULT_CONTACT, default_contact="walk-in"
    )
    outcome = run(make_mail(), settings_=custom)
    assert isinstance(outcome.command, CreateTicket)
    assert outcome.command.reporter.contact == "walk-in"
    assert not outcome.command.reporter.create_contact
    assert outcome.command.reporter.address == "alice@example.org"
    assert steps(outcome, "sender")[0].decision == "default contact"


@pytest.mark.parametrize("sender", ["bob@localhost", "Bob <bob>", "bob@exa_mple..org"])
def test_malformed_sender_never_becomes_a_contact(sender: str) -> None:
    outcome = run(make_mail(sender=sender))
    assert isinstance(outcome.command, CreateTicket)
    assert outcome.command.reporter.contact == "unknown-contact"
    assert not outcome.command.reporter.create_contact
    assert steps(outcome, "sender")[0].decision == "default contact"


def test_known_contact_is_reporter() -> None:
    outcome = run(make_mail(), Facts(sender_contact="contact-9"))
    assert isinstance(outcome.command, CreateTicket)
    assert outcome.command.reporter.contact == "contact-9"


def test_missing_sender_uses_default_contact() -> None:
    raw = b"Subject: anonymous\r\nMessage-ID: <a@b>\r\n\r\nhello\r\n"
    outcome = run(raw)
    assert isinstance(outcome.command, CreateTicket)
    assert outcome.command.reporter.contact == "unknown-contact"
    assert outcome.command.reporter.address is None


def test_follow_up_uses_extract_reply_with_parent_text() -> None:
    mid = make_message_id(key=KEY, domain="desk.example", kind="n", ticket="7")
    parent = MessageRecord(
        id="2",
        ticket_id="7",
        kind=MessageKind.OUTBOUND,
        message_id=mid,
        sender=None,
        at=NOW,
        text="We are on it.",
    )
    calls: list[tuple[object, object]] = []

    @attrs.frozen
    class Reply:
        text: str
        method: str

    def fake_extract(source: object, *, html: str | None = None, parent: object = None) -> Reply:
        calls.append((source, parent))
        return Reply(text="Thanks!", method="parent")

    facts = Facts(tickets={"7": ticket()}, messages={mid: parent})
    outcome = run(
        make_mail(subject="Re: news", in_reply_to=mid, body="Thanks!\n> We are on it."),
        facts,
        extract_reply=fake_extract,
    )
    assert outcome.kind is OutcomeKind.FOLLOW_UP
    command = outcome.command
    assert isinstance(command, AddFollowUp)
    assert command.ticket_id == "7"
    assert command.text == "Thanks!"
    assert command.reply_method == "parent"
    assert command.new_status == "customer replied"
    assert command.informant.contact == "contact-1"  # the reporter
    assert calls[0][1] == "We are on it."
    assert steps(outcome, "reply")[0].decision == "parent"
    assert outcome.ticket == ticket()


def test_follow_up_with_real_reply_extraction() -> None:
    body = "Still broken.\n\nOn Mon, 5 Jan 2026, Desk wrote:\n> Have you tried turning it off?\n"
    outcome = run(
        make_mail(subject="Re: [Ticket#12] Printer", body=body), Facts(by_number={"12": ticket()})
    )
    assert isinstance(outcome.command, AddFollowUp)
    assert outcome.command.text.strip() == "Still broken."


@pytest.mark.parametrize(
    ("policy", "name", "payload", "kept"),
    [
        (AttachmentPolicy(), "photo.png", PNG, True),
        (AttachmentPolicy(), "invoice.png", EXE, False),
        (AttachmentPolicy(), "doc.pdf", b"%PDF-1.7\n" + b"0" * 20, False),
        (AttachmentPolicy.everything(), "doc.pdf", b"%PDF-1.7\n" + b"0" * 20, True),
        (AttachmentPolicy(max_size=10), "photo.png", PNG, False),
        (AttachmentPolicy.nothing(), "photo.png", PNG, False),
        (AttachmentPolicy(allowed_types=frozenset({"application/pdf"})), "d.bin", b"%PDF-1", True),
    ],
)
def test_attachment_policy_by_content(
    policy: AttachmentPolicy, name: str, payload: bytes, kept: bool
) -> None:
    custom = attrs.evolve(SETTINGS, attachments=policy)
    outcome = run(make_mail(attachments=[(name, "image/png", payload)]), settings_=custom)
    assert isinstance(outcome.command, CreateTicket)
    assert (len(outcome.command.attachments) == 1) is kept
    step = steps(outcome, "attachment")[0]
    assert step.decision == ("kept" if kept else "refused")
    assert name in step.detail


def test_exe_named_png_refusal_names_sniffed_type() -> None:
    outcome = run(make_mail(attachments=[("cat.png", "image/png", EXE)]))
    detail = steps(outcome, "attachment")[0].detail
    assert "application/vnd.microsoft.portable-executable" in detail
    assert "image/png" in detail  # what the sender declared


def test_auto_reply_without_ticket_opens_automated_ticket() -> None:
    raw = make_mail(subject="Out of office", headers=[("Auto-Submitted", "auto-replied")])
    outcome = run(raw)
    assert outcome.kind is OutcomeKind.CREATED
    assert isinstance(outcome.command, CreateTicket)
    assert outcome.command.origin is Origin.AUTOMATED_MAIL
    assert outcome.mail_kind == "auto_reply"
    dropping = attrs.evolve(SETTINGS, ticket_for_unmatched=frozenset())
    assert run(raw, settings_=dropping).kind is OutcomeKind.DROPPED


def test_auto_reply_on_ticket_is_automated_follow_up_without_status() -> None:
    raw = make_mail(subject="Re: [Ticket#12] x", headers=[("Auto-Submitted", "auto-replied")])
    outcome = run(raw, Facts(by_number={"12": ticket()}))
    assert isinstance(outcome.command, AddFollowUp)
    assert outcome.command.origin is Origin.AUTOMATED_MAIL
    assert outcome.command.new_status is None


def _bounce(original: str) -> bytes:
    return (
        "From: Mail Delivery System <MAILER-DAEMON@mx.example.net>\r\n"
        "To: support@desk.example\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        "Message-ID: <bounce-1@mx.example.net>\r\n"
        "Date: Mon, 05 Jan 2026 09:00:00 +0000\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
        "--b\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example.net\r\n\r\n"
        "Final-Recipient: rfc822; gone@example.com\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        "Diagnostic-Code: smtp; 550 5.1.1 <gone@example.com>: user unknown\r\n"
        "--b\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"From: support@desk.example\r\nTo: gone@example.com\r\nMessage-ID: <{original}>\r\n"
        "Subject: [Ticket#12] Printer\r\n"
        "--b--\r\n"
    ).encode()


def test_bounce_tied_by_original_message_id() -> None:
    original = "sent-1@desk.example"
    stored = MessageRecord(
        id="3", ticket_id="7", kind=MessageKind.OUTBOUND, message_id=original, sender=None, at=NOW
    )
    outcome = run(_bounce(original), Facts(tickets={"7": ticket()}, messages={original: stored}))
    assert outcome.kind is OutcomeKind.BOUNCE_ATTACHED
    command = outcome.command
    assert isinstance(command, AttachBounce)
    assert command.ticket_id == "7"
    assert command.addresses == ("gone@example.com",)
    assert command.reason == "user_unknown"
    assert steps(outcome, "ticket_ref")[0].decision == "bounced_message_id"


def test_bounce_tied_by_signed_original_id() -> None:
    original = make_message_id(key=KEY, domain="desk.example", kind="n", ticket="7", recipient="x")
    outcome = run(_bounce(original), Facts(tickets={"7": ticket()}))
    assert outcome.kind is OutcomeKind.BOUNCE_ATTACHED


def test_unmatched_bounce_is_dropped_never_a_ticket() -> None:
    raw = _bounce("unknown@elsewhere").replace(b"[Ticket#12] ", b"")
    outcome = run(raw)
    assert outcome.kind is OutcomeKind.DROPPED
    assert outcome.commit is not None
    assert outcome.commit.command is None
    assert "tied to no ticket" in steps(outcome, "action")[0].detail


def test_own_mail_is_dropped_with_trace() -> None:
    own = make_message_id(key=KEY, domain="desk.example", kind="n", ticket="7")
    outcome = run(make_mail(message_id=own, sender="support@desk.example"))
    assert outcome.kind is OutcomeKind.DROPPED
    assert outcome.mail_kind == "own_loop"
    assert steps(outcome, "action")[0].decision == "dropped"
    from_own = run(make_mail(sender="Desk <SUPPORT@desk.example>"))
    assert from_own.kind is OutcomeKind.DROPPED


def test_duplicate_from_other_position() -> None:
    raw = make_mail()
    digest = content_digest(parse_mail(raw))
    first = ImportRecord(
        key=ImportKey(
            ref=MessageRef(source="maildir:/other", folder="INBOX", uid="z"),
            message_id="msg-1@example.org",
            content_digest=digest,
        ),
        outcome="created",
        ticket_id="7",
        at=NOW,
    )
    outcome = run(raw, Facts(same_mail=first))
    assert outcome.kind is OutcomeKind.DUPLICATE
    assert outcome.commit is not None
    assert outcome.commit.command is None
    assert outcome.commit.ticket_id == "7"
    assert "duplicate" in [s.decision for s in outcome.trace]


def test_content_digest_ignores_trace_headers() -> None:
    one = make_mail(headers=[("Delivered-To", "a@desk.example"), ("Received", "from a")])
    two = make_mail(headers=[("Delivered-To", "b@desk.example"), ("Received", "from b")])
    three = make_mail(body="Other text")
    assert content_digest(parse_mail(one)) == content_digest(parse_mail(two))
    assert content_digest(parse_mail(one)) != content_digest(parse_mail(three))


def test_position_outcomes() -> None:
    actions = (MailboxAction(kind=MailboxActionKind.MARK_SEEN),)
    custom = attrs.evolve(SETTINGS, after_import=actions)
    key = ImportKey(ref=REF, message_id=None, content_digest="d")
    imported = ImportRecord(key=key, outcome="created", ticket_id="7", at=NOW)
    skip = position_outcome(REF, imported=imported, quarantined=None, settings=custom)
    assert skip is not None
    assert skip.kind is OutcomeKind.ALREADY_IMPORTED
    assert skip.mailbox_actions == actions  # redone after a crash between commit and flagging
    held = QuarantineRecord(id="1", key=key, raw=b"x", error="boom", at=NOW)
    parked = position_outcome(REF, imported=None, quarantined=held, settings=custom)
    assert parked is not None
    assert parked.kind is OutcomeKind.SKIPPED_QUARANTINED
    assert parked.mailbox_actions == ()
    assert position_outcome(REF, imported=None, quarantined=None, settings=custom) is None


def test_rules_hook_sets_fields_and_mailbox_actions() -> None:
    from helpmail.rules import AllOf, Leaf, MoveToFolder, Rule, RuleSet, SetField

    rules = RuleSet(
        rules=[
            Rule(
                name="vip",
                when=AllOf(conditions=[Leaf(field="from", op="contains", value="alice")]),
                actions=[SetField(name="priority", value="high"), MoveToFolder(folder="Done")],
            )
        ]
    )
    outcome = run(make_mail(), rules=rules.evaluate)
    assert isinstance(outcome.command, CreateTicket)
    assert dict(outcome.command.fields) == {"priority": "high"}
    assert outcome.mailbox_actions == (MailboxAction(kind=MailboxActionKind.MOVE, folder="Done"),)
    assert steps(outcome, "rules")[0].decision == "vip"


def test_rules_hook_can_quarantine() -> None:
    from helpmail.rules import AllOf, Quarantine, Rule, RuleSet

    rules = RuleSet(rules=[Rule(name="hold", when=AllOf(conditions=()), actions=[Quarantine()])])
    outcome = run(make_mail(), rules=rules.evaluate)
    assert outcome.kind is OutcomeKind.QUARANTINED
    assert outcome.commit is None
    assert outcome.error is not None


def test_malformed_mail_is_traced_not_raised() -> None:
    raw = b"\x00\xff garbage\r\nSubject: =?bogus?Q?x?=\r\nContent-Type: multipart/mixed\r\n\r\n--"
    outcome = run(raw)
    parse = steps(outcome, "parse")[0]
    assert "defect" in parse.decision
    assert outcome.kind is OutcomeKind.CREATED


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000))
def test_pipeline_never_raises_on_bytes(raw: bytes) -> None:
    outcome = run(raw)
    assert outcome.kind in (OutcomeKind.CREATED, OutcomeKind.DROPPED)
    json.dumps(outcome.to_dict())


def test_outcome_render_and_json() -> None:
    outcome = run(make_mail(attachments=[("a.png", "image/png", PNG)]))
    text = outcome.render()
    assert text.startswith("outcome: created")
    assert "classify: human" in text
    data = json.loads(json.dumps(outcome.to_dict()))
    assert data["outcome"] == "created"
    assert data["command"]["type"] == "CreateTicket"
    assert data["command"]["attachments"][0]["type"] == "image/png"


def test_analysis_lookups() -> None:
    mid = make_message_id(key=KEY, domain="desk.example", kind="n", ticket="7")
    analysis: Analysis = analyse(
        parse_mail(make_mail(subject="[Ticket#3] x", in_reply_to=mid, references=("a@b",))),
        SETTINGS,
        ref=REF,
    )
    assert analysis.lookups.ticket_keys == ("7",)
    assert analysis.lookups.ticket_numbers == ("3",)
    assert set(analysis.lookups.message_ids) == {mid, "a@b"}
    assert analysis.lookups.sender_key == "alice@example.org"


def test_domain_modules_import_no_io() -> None:
    code = (
        "import sys, helpmail, helpmail.pipeline, helpmail.tickets.refs,"
        " helpmail.tickets.importing, helpmail.tickets.settings, helpmail.ports, helpmail.testing,"
        " helpmail.testing.store_conformance, helpmail.adapters\n"
        "bad = {'sqlite3', 'socket', 'ssl', 'smtplib', 'imaplib', 'imapclient', 'email', 'mailbox'}"
        " & set(sys.modules)\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_new_ticket_title_drops_a_foreign_ticket_tag() -> None:
    # a stranger's "Re: [Ticket#1] ..." opens a new ticket (policy new_ticket); its title must not
    # carry ticket 1's tag, or every mail of the new ticket would name two tickets
    from helpmail.service import explain

    raw = (
        b"From: Ivan <ivan@other.example>\r\nTo: support@desk.example\r\n"
        b"Subject: Re: [Ticket#1] Cannot log in\r\nMessage-ID: <x1@other.example>\r\n\r\nHello\r\n"
    )
    outcome = explain(raw)
    assert outcome.command is not None
    assert getattr(outcome.command, "title", None) == "Re: Cannot log in"
    tag_only = raw.replace(b"Re: [Ticket#1] Cannot log in", b"[Ticket#1]")
    untitled = explain(tag_only).command
    assert untitled is not None
    assert getattr(untitled, "title", None) == ImportSettings().untitled
