"""Ticket references: subject tags (configurable, linear time), signed ids, stored ids, policy."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpmail import parse_mail
from helpmail.message_ids import make_message_id
from helpmail.ports import MessageKind, MessageRecord, TicketRecord
from helpmail.testing import make_mail
from helpmail.tickets.refs import (
    RefEvidence,
    RefFacts,
    find_candidates,
    resolve,
    tag_numbers,
)
from helpmail.tickets.settings import SubjectMatchPolicy, TicketTagFormat

T0 = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)
KEY = b"secret"
TAG = TicketTagFormat()


def ticket(
    number: str = "12", *, reporter: str = "alice@example.org", ticket_id: str = "7"
) -> TicketRecord:
    return TicketRecord(
        id=ticket_id,
        number=number,
        title="t",
        status="open",
        reporter="contact-1",
        reporter_address=reporter,
        reported_at=T0,
        participants=(reporter.lower(), "carol@example.org"),
    )


@pytest.mark.parametrize(
    ("subject", "numbers"),
    [
        ("Re: [Ticket#12] Printer", ("12",)),
        ("AW: [ticket#12] Drucker", ("12",)),
        ("[Ticket# 12] spaced", ("12",)),
        ("[Ticket#12] and [Ticket#9] and [Ticket#12]", ("12", "9")),
        ("Ticket#12 without brackets", ()),
        ("[Ticket#] empty", ()),
        ("[Ticket#12a] not a number", ()),
        ("nothing here", ()),
    ],
)
def test_default_tag(subject: str, numbers: tuple[str, ...]) -> None:
    assert tag_numbers(subject, TAG) == numbers


def test_configured_tag_prefix_and_pattern() -> None:
    tag = TicketTagFormat(template="[ACME-{number}]", number_pattern=r"[A-Z]{2}[0-9]{4}")
    assert tag.render("AB1234") == "[ACME-AB1234]"
    assert tag_numbers("Re: [acme-AB1234] x", tag) == ("AB1234",)
    assert tag_numbers("Re: [ACME-1234] x", tag) == ()
    assert tag_numbers(tag.render("ZZ0001"), tag) == ("ZZ0001",)


@pytest.mark.parametrize(
    ("template", "pattern"),
    [
        ("[Ticket#]", r"[0-9]+"),
        ("{number}", r"[0-9]+"),
        ("[T#{number}]", r"([0-9]+)+"),
        ("[T#{number}]", r"([0-9]+)"),
        ("[T#{number}{number}]", r"[0-9]+"),
    ],
)
def test_bad_tag_formats_rejected(template: str, pattern: str) -> None:
    with pytest.raises(ValueError, match=r"."):
        TicketTagFormat(template=template, number_pattern=pattern)


@given(st.text(max_size=300))
def test_tag_search_never_raises(subject: str) -> None:
    for number in tag_numbers(subject, TAG):
        assert number.isdigit()


@given(st.integers(min_value=0, max_value=10**15), st.text(max_size=50), st.text(max_size=50))
def test_rendered_tag_is_found(number: int, before: str, after: str) -> None:
    subject = before + " " + TAG.render(str(number)) + " " + after
    assert str(number) in tag_numbers(subject, TAG)


def test_tag_search_is_linear_on_hostile_subjects() -> None:
    # Many near-miss prefixes: a backtracking pattern would blow up here.
    subject = "[Ticket#" * 20000 + "1" * 5000
    start = time.perf_counter()
    tag_numbers(subject, TAG)
    # generous bound; only catches exponential behaviour, the benchmark measures speed
    assert time.perf_counter() - start < 5


def test_signed_id_wins_and_names_recipient() -> None:
    mid = make_message_id(
        key=KEY, domain="desk.example", kind="n", ticket="7", recipient="bob@x.org"
    )
    mail = parse_mail(make_mail(subject="Re: [Ticket#99] x", in_reply_to=mid))
    candidates = find_candidates(mail, tag=TAG, signing_keys=(KEY,))
    assert candidates.ticket_keys == ("7",)
    assert candidates.tag_numbers == ("99",)
    facts = RefFacts(tickets={"7": ticket()}, by_number={"99": ticket("99", ticket_id="8")})
    ref = resolve(candidates, facts, sender_key="zed@x.org", policy=SubjectMatchPolicy.NEW_TICKET)
    assert ref.evidence is RefEvidence.SIGNED_MESSAGE_ID
    assert ref.ticket is not None
    assert ref.ticket.id == "7"
    assert ref.recipient == "bob@x.org"


def test_forged_signed_id_is_ignored() -> None:
    mid = make_message_id(key=b"other", domain="desk.example", kind="n", ticket="7")
    mail = parse_mail(make_mail(in_reply_to=mid))
    candidates = find_candidates(mail, tag=TAG, signing_keys=(KEY,))
    assert candidates.signed == ()
    assert candidates.thread_ids == (mid,)


def test_stored_message_id_in_references() -> None:
    mail = parse_mail(make_mail(subject="Re: hello", references=("old@x", "known@x")))
    stored = MessageRecord(
        id="1", ticket_id="7", kind=MessageKind.OUTBOUND, message_id="known@x", sender=None, at=T0
    )
    facts = RefFacts(tickets={"7": ticket()}, messages={"known@x": stored})
    candidates = find_candidates(mail, tag=TAG, signing_keys=())
    ref = resolve(candidates, facts, sender_key="stranger@x", policy=SubjectMatchPolicy.NEW_TICKET)
    assert ref.evidence is RefEvidence.KNOWN_MESSAGE_ID
    assert ref.parent == stored
    assert "References" in ref.detail


@pytest.mark.parametrize(
    ("policy", "sender", "is_contact", "follows"),
    [
        (SubjectMatchPolicy.NEW_TICKET, "alice@example.org", False, True),
        (SubjectMatchPolicy.NEW_TICKET, "carol@example.org", False, True),
        (SubjectMatchPolicy.NEW_TICKET, "mallory@evil.example", True, False),
        (SubjectMatchPolicy.ACCEPT_IF_KNOWN_CONTACT, "mallory@evil.example", True, True),
        (SubjectMatchPolicy.ACCEPT_IF_KNOWN_CONTACT, "mallory@evil.example", False, False),
        (SubjectMatchPolicy.ACCEPT, "mallory@evil.example", False, True),
    ],
)
def test_subject_policy_for_strangers(
    policy: SubjectMatchPolicy, sender: str, is_contact: bool, follows: bool
) -> None:
    mail = parse_mail(make_mail(subject="Re: [Ticket#12] x", sender=sender))
    candidates = find_candidates(mail, tag=TAG, signing_keys=())
    facts = RefFacts(by_number={"12": ticket()}, sender_is_contact=is_contact)
    ref = resolve(candidates, facts, sender_key=sender, policy=policy)
    if follows:
        assert ref.evidence is RefEvidence.SUBJECT_TAG
    else:
        assert ref.ticket is None
        assert any("not on it" in note for note in ref.notes)


def test_unknown_tag_is_noted() -> None:
    mail = parse_mail(make_mail(subject="[Ticket#404] x"))
    candidates = find_candidates(mail, tag=TAG, signing_keys=())
    ref = resolve(candidates, RefFacts(), sender_key=None, policy=SubjectMatchPolicy.ACCEPT)
    assert ref.ticket is None
    assert ref.notes == ("subject tag names unknown ticket 404",)


def test_reporter_writing_from_another_address_is_on_the_ticket() -> None:
    mail = parse_mail(make_mail(subject="Re: [Ticket#12] x", sender="alice@home.example"))
    candidates = find_candidates(mail, tag=TAG, signing_keys=())
    policy = SubjectMatchPolicy.NEW_TICKET
    facts = RefFacts(by_number={"12": ticket()}, sender_contact="contact-1")
    ref = resolve(candidates, facts, sender_key="alice@home.example", policy=policy)
    assert ref.evidence is RefEvidence.SUBJECT_TAG
    assert "sender is on the ticket" in ref.detail
    stranger = RefFacts(by_number={"12": ticket()}, sender_contact="contact-2")
    assert resolve(candidates, stranger, sender_key="x@y.example", policy=policy).ticket is None


def test_reporter_address_is_compared_by_key_with_idna() -> None:
    unicode_reporter = ticket(reporter="Jörg@Bücher.example")
    mail = parse_mail(make_mail(subject="Re: [Ticket#12] x", sender="jörg@xn--bcher-kva.example"))
    candidates = find_candidates(mail, tag=TAG, signing_keys=())
    author = mail.from_address
    assert author is not None
    ref = resolve(
        candidates,
        RefFacts(by_number={"12": unicode_reporter}),
        sender_key=author.key,
        policy=SubjectMatchPolicy.NEW_TICKET,
    )
    assert ref.evidence is RefEvidence.SUBJECT_TAG
