"""Scanner rule actions the import carries out: create contact, match by subject or number."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpmail.adapters.memory import MemoryStore
from helpmail.adapters.sqlite import SqliteStore
from helpmail.rules import (
    Action,
    AllOf,
    CreateContact,
    CreateOrUpdateTicket,
    Leaf,
    Rule,
    RuleSet,
    TicketMatch,
)
from helpmail.service import Desk
from helpmail.testing import FakeClock, make_mail
from helpmail.tickets.importing import OutcomeKind
from helpmail.tickets.refs import normalise_subject
from helpmail.tickets.settings import ImportSettings, SubjectMatchPolicy, UnknownSenderPolicy

Store = MemoryStore | SqliteStore


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    made: Store = MemoryStore() if request.param == "memory" else SqliteStore(tmp_path / "t.db")
    yield made
    made.close()


def ruleset(*actions: Action, when: str | None = None) -> RuleSet:
    """One rule with ``actions``, for every mail or for senders containing ``when``."""
    leaves = [Leaf(field="from", op="contains", value=when)] if when else []
    return RuleSet(rules=[Rule(name="r", when=AllOf(conditions=leaves), actions=list(actions))])


def make_desk(store: Store, rules: RuleSet, **settings: object) -> Desk:
    return Desk(
        store=store,
        settings=ImportSettings(**settings),  # type: ignore[arg-type]
        clock=FakeClock(),
        rules=rules.evaluate,
    )


@pytest.mark.parametrize(
    ("subject", "key"),
    [
        ("Re: AW: Fwd: Printer  broken", "printer broken"),
        ("RE[2]: Printer broken", "printer broken"),
        ("SV: VS: WG: Drucker", "drucker"),
        ("Reboot: now", "reboot: now"),
        ("Re:", ""),
        (" " * 30 + "Re:  Re : x", "x"),
    ],
)
def test_normalise_subject(subject: str, key: str) -> None:
    assert normalise_subject(subject) == key


def test_update_by_same_subject(store: Store) -> None:
    desk = make_desk(store, ruleset(CreateOrUpdateTicket(match_by=["reference", "subject"])))
    first = desk.process_raw(make_mail(subject="Printer broken", message_id="1@x"))
    second = desk.process_raw(make_mail(subject="AW: Re: printer  BROKEN", message_id="2@x"))
    assert first.kind is OutcomeKind.CREATED
    assert second.kind is OutcomeKind.FOLLOW_UP
    assert second.ticket_number == first.ticket_number
    assert any(s.decision == "same_subject" for s in second.trace)
    other = desk.process_raw(make_mail(subject="VPN down", message_id="3@x"))
    assert other.kind is OutcomeKind.CREATED


def test_subject_match_only_when_configured(store: Store) -> None:
    desk = make_desk(store, ruleset(CreateOrUpdateTicket()))
    desk.process_raw(make_mail(subject="Printer broken", message_id="1@x"))
    again = desk.process_raw(make_mail(subject="Re: Printer broken", message_id="2@x"))
    assert again.kind is OutcomeKind.CREATED


def test_subject_match_from_a_stranger_follows_the_tag_policy(store: Store) -> None:
    desk = make_desk(store, ruleset(CreateOrUpdateTicket(match_by=["subject"])))
    desk.process_raw(make_mail(subject="Printer broken", message_id="1@x"))
    stranger = make_mail(subject="Re: Printer broken", message_id="2@x", sender="eve@evil.example")
    assert desk.process_raw(stranger).kind is OutcomeKind.CREATED
    trusting = make_desk(
        store,
        ruleset(CreateOrUpdateTicket(match_by=["subject"])),
        subject_match=SubjectMatchPolicy.ACCEPT,
    )
    again = make_mail(subject="Re: Printer broken", message_id="3@x", sender="eve@evil.example")
    assert trusting.process_raw(again).kind is OutcomeKind.FOLLOW_UP


def test_number_pattern_finds_the_ticket(store: Store) -> None:
    rules = ruleset(CreateOrUpdateTicket(number_pattern=r"Case (\d{1,9})"))
    desk = make_desk(store, rules, subject_match=SubjectMatchPolicy.ACCEPT)
    first = desk.process_raw(make_mail(subject="Printer broken", message_id="1@x"))
    assert first.ticket_number is not None
    follow = desk.process_raw(
        make_mail(subject=f"Update on Case {first.ticket_number}", message_id="2@x")
    )
    assert follow.kind is OutcomeKind.FOLLOW_UP
    assert follow.ticket_number == first.ticket_number
    assert any(s.decision == "rule_number" for s in follow.trace)
    unknown = desk.process_raw(make_mail(subject="Update on Case 999", message_id="3@x"))
    assert unknown.kind is OutcomeKind.CREATED
    assert any("no such ticket" in s.detail for s in unknown.trace)


def test_create_contact_rule_overrides_the_default_contact(store: Store) -> None:
    rules = ruleset(CreateContact(), when="partner.example")
    desk = make_desk(store, rules, unknown_sender=UnknownSenderPolicy.DEFAULT_CONTACT)
    desk.process_raw(make_mail(sender="pat@partner.example", message_id="1@x"))
    desk.process_raw(make_mail(sender="joe@other.example", message_id="2@x"))
    partner, other = store.tickets()
    contact = store.find_contact("pat@partner.example")
    assert contact is not None
    assert partner.reporter == contact
    assert other.reporter == "unknown-contact"
    assert store.find_contact("joe@other.example") is None


def test_create_contact_rule_keeps_a_known_contact(store: Store) -> None:
    known = store.add_contact("pat@partner.example")
    desk = make_desk(store, ruleset(CreateContact()))
    result = desk.process_raw(make_mail(sender="pat@partner.example"))
    assert store.tickets()[0].reporter == known
    assert any(s.step == "contact" and s.decision == "kept" for s in result.trace)


def test_create_contact_rule_links_a_follow_up_writer(store: Store) -> None:
    rules = ruleset(CreateContact(), CreateOrUpdateTicket(match_by=["subject"]))
    desk = make_desk(
        store,
        rules,
        unknown_sender=UnknownSenderPolicy.DEFAULT_CONTACT,
        subject_match=SubjectMatchPolicy.ACCEPT,
    )
    desk.process_raw(make_mail(subject="Printer broken", message_id="1@x"))
    follow = desk.process_raw(
        make_mail(subject="Re: Printer broken", message_id="2@x", sender="carol@example.net")
    )
    assert follow.kind is OutcomeKind.FOLLOW_UP
    [ticket] = store.tickets()
    assert "carol@example.net" in ticket.participants
    assert store.find_contact("carol@example.net") is not None


def test_rules_are_evaluated_once_for_a_new_conversation(store: Store) -> None:
    rules = ruleset(CreateOrUpdateTicket(match_by=[TicketMatch.SUBJECT]))
    calls: list[object] = []

    def counting(facts: object) -> object:
        calls.append(facts)
        return rules.evaluate(facts)  # type: ignore[arg-type]

    Desk(store=store, clock=FakeClock(), rules=counting).process_raw(make_mail())
    assert len(calls) == 1


@given(st.text(max_size=200))
def test_normalise_subject_is_idempotent(subject: str) -> None:
    once = normalise_subject(subject)
    assert normalise_subject(once) == once


@given(st.lists(st.sampled_from(["Re:", "AW: ", "Fwd:", "RE[3]:", " "]), max_size=60), st.text())
def test_prefixes_never_change_the_thread(prefixes: list[str], subject: str) -> None:
    base = normalise_subject(subject)
    assert normalise_subject("".join(prefixes) + base) == base
