"""Contacts with several addresses, unknown senders, organisations by domain, follow-up senders."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpmail import Address, parse_mail
from helpmail.contacts import (
    Contact,
    ContactBook,
    ContactSettings,
    FollowUpSenderKind,
    Organisation,
    SenderKind,
    TicketParties,
    follow_up_sender,
    is_free_mail,
    organisation_for_domain,
    resolve_sender,
    sender_address,
)
from helpmail.desk.matching import DomainPattern
from helpmail.tickets.settings import UnknownSenderPolicy

BOB = Contact(
    id="c-bob", name="Bob", addresses=("bob@customer.example", "Bob.Private@Mail.Example")
)
ALICE = Contact(id="c-alice", addresses=("alice@partner.example",), organisation="partner")
BOOK = ContactBook(contacts=(BOB, ALICE))
ORGS = ContactSettings(
    organisations_by_domain=True,
    organisations=(
        Organisation(
            id="acme",
            domains=(DomainPattern.parse("acme.example"), DomainPattern.parse("*.acme.example")),
        ),
        Organisation(id="acme-eu", domains=(DomainPattern.parse("eu.acme.example"),)),
        Organisation(id="google", domains=(DomainPattern.parse("gmail.com"),)),
    ),
)


def resolve(spec: str, settings: ContactSettings = ORGS, name: str = "") -> object:
    address = Address(addr_spec=spec, name=name)
    return resolve_sender(address, known=BOOK.find_contact(address.key), settings=settings)


def test_any_address_of_a_contact_is_the_same_person() -> None:
    for spec in ("bob@customer.example", "BOB@Customer.Example", "bob.private@mail.example"):
        result = resolve_sender(
            Address(addr_spec=spec),
            known=BOOK.find_contact(Address(addr_spec=spec).key),
            settings=ORGS,
        )
        assert result.kind is SenderKind.KNOWN
        assert result.contact_id == "c-bob"


def test_secondary_address_is_named_in_the_trace() -> None:
    spec = "bob.private@mail.example"
    result = resolve_sender(Address(addr_spec=spec), known=BOOK.find_contact(spec), settings=ORGS)
    assert "secondary address of bob@customer.example" in result.detail


def test_display_name_is_never_identity() -> None:
    address = Address(addr_spec="mallory@evil.example", name="bob@customer.example")
    assert BOOK.find_contact(address.key) is None
    result = resolve_sender(address, known=None, settings=ContactSettings())
    assert result.kind is SenderKind.NEW_CONTACT
    assert result.new_contact is not None
    assert result.new_contact.address == "mallory@evil.example"


def test_unknown_sender_becomes_new_contact_or_default_contact() -> None:
    new = resolve_sender(
        Address(addr_spec="carol@new.example", name="Carol"), known=None, settings=ContactSettings()
    )
    assert new.kind is SenderKind.NEW_CONTACT
    assert new.new_contact is not None
    assert new.new_contact.name == "Carol"
    assert new.contact_id is None
    default = resolve_sender(
        Address(addr_spec="carol@new.example"),
        known=None,
        settings=ContactSettings(
            unknown_sender=UnknownSenderPolicy.DEFAULT_CONTACT, default_contact="unknown-contact"
        ),
    )
    assert default.kind is SenderKind.DEFAULT_CONTACT
    assert default.contact_id == "unknown-contact"
    assert default.new_contact is None


def test_invalid_sender_never_becomes_a_contact() -> None:
    for spec in ("not an address", "bob@", "bob@localhost", "a..b@example.com"):
        result = resolve_sender(Address(addr_spec=spec), known=None, settings=ContactSettings())
        assert result.kind is SenderKind.INVALID, spec
        assert result.new_contact is None
        assert result.problem
        assert result.contact_id == "unknown-contact"
    missing = resolve_sender(None, known=None, settings=ContactSettings())
    assert missing.kind is SenderKind.MISSING
    assert missing.contact_id == "unknown-contact"


def test_sender_is_from_then_sender_never_reply_to() -> None:
    raw = (
        b"Sender: list@lists.example\r\nReply-To: other@x.example\r\nTo: s@d.example\r\n\r\nhi\r\n"
    )
    found = sender_address(parse_mail(raw))
    assert found is not None
    assert found.addr_spec == "list@lists.example"
    raw = b"From: bob@c.example\r\nReply-To: other@x.example\r\n\r\nhi\r\n"
    found = sender_address(parse_mail(raw))
    assert found is not None
    assert found.addr_spec == "bob@c.example"


def test_organisation_by_exact_domain_and_subdomain_rule() -> None:
    assert organisation_for_domain("acme.example", ORGS).organisation == "acme"
    assert organisation_for_domain("it.acme.example", ORGS).organisation == "acme"
    assert organisation_for_domain("a.b.acme.example", ORGS).organisation == "acme"
    # an exact rule beats a subdomain rule
    assert organisation_for_domain("eu.acme.example", ORGS).organisation == "acme-eu"
    assert organisation_for_domain("notacme.example", ORGS).organisation is None
    assert organisation_for_domain("ACME.Example", ORGS).rule == "acme.example"


def test_exact_rule_does_not_cover_subdomains_and_subdomain_rule_not_apex() -> None:
    settings = ContactSettings(
        organisations_by_domain=True,
        organisations=(
            Organisation(id="a", domains=(DomainPattern.parse("a.example"),)),
            Organisation(id="b", domains=(DomainPattern.parse("*.b.example"),)),
        ),
    )
    assert organisation_for_domain("x.a.example", settings).organisation is None
    assert organisation_for_domain("b.example", settings).organisation is None


def test_free_mail_domain_never_maps_to_an_organisation() -> None:
    # even though "google" lists gmail.com
    match = organisation_for_domain("gmail.com", ORGS)
    assert match.organisation is None
    assert "free-mail" in match.note
    result = resolve_sender(Address(addr_spec="someone@gmail.com"), known=None, settings=ORGS)
    assert result.organisation is None
    assert result.new_contact is not None
    assert result.new_contact.organisation is None
    assert is_free_mail("GoogleMail.com")
    assert is_free_mail("mail.yahoo.com")
    assert not is_free_mail("acme.example")


def test_organisations_by_domain_off_by_default() -> None:
    settings = ContactSettings(organisations=ORGS.organisations)
    assert organisation_for_domain("acme.example", settings).organisation is None


def test_new_contact_gets_its_organisation_by_domain() -> None:
    result = resolve_sender(Address(addr_spec="dave@it.acme.example"), known=None, settings=ORGS)
    assert result.organisation == "acme"
    assert result.new_contact is not None
    assert result.new_contact.organisation == "acme"
    assert "organisation acme by domain rule *.acme.example" in result.detail


def test_known_contact_keeps_its_own_organisation() -> None:
    result = resolve_sender(Address(addr_spec="alice@partner.example"), known=ALICE, settings=ORGS)
    assert result.organisation == "partner"


def test_secondary_address_follow_up_is_accepted_on_that_persons_ticket() -> None:
    parties = TicketParties(reporter_contact="c-bob", reporter_address="bob@customer.example")
    spec = "bob.private@mail.example"
    sender = resolve_sender(Address(addr_spec=spec), known=BOOK.find_contact(spec), settings=ORGS)
    check = follow_up_sender(sender, parties)
    assert check.kind is FollowUpSenderKind.REPORTER_OTHER_ADDRESS
    assert check.belongs


@pytest.mark.parametrize(
    ("spec", "kind"),
    [
        ("BOB@customer.example", FollowUpSenderKind.REPORTER),
        ("alice@partner.example", FollowUpSenderKind.PARTICIPANT),
        ("mallory@evil.example", FollowUpSenderKind.STRANGER),
    ],
)
def test_follow_up_sender_kinds(spec: str, kind: FollowUpSenderKind) -> None:
    parties = TicketParties(
        reporter_contact="c-bob",
        reporter_address="bob@customer.example",
        participants=("Alice@Partner.example",),
    )
    address = Address(addr_spec=spec)
    sender = resolve_sender(address, known=BOOK.find_contact(address.key), settings=ORGS)
    result = follow_up_sender(sender, parties)
    assert result.kind is kind
    assert result.belongs is (kind is not FollowUpSenderKind.STRANGER)


@given(
    local=st.from_regex(r"[a-z][a-z0-9.]{0,10}[a-z0-9]", fullmatch=True).filter(
        lambda s: ".." not in s
    ),
    upper=st.booleans(),
)
def test_case_of_address_never_splits_a_contact(local: str, upper: bool) -> None:
    contact = Contact(id="x", addresses=(f"{local}@customer.example",))
    book = ContactBook(contacts=(contact,))
    spec = f"{local.upper() if upper else local}@CUSTOMER.example"
    assert book.find_contact(Address(addr_spec=spec).key) == contact


def test_store_fact_may_be_a_bare_contact_id() -> None:
    # TicketStore.find_contact gives only the id; the follow-up check still works by id
    result = resolve_sender(
        Address(addr_spec="bob.private@mail.example"), known="c-bob", settings=ORGS
    )
    assert result.kind is SenderKind.KNOWN
    assert result.contact_id == "c-bob"
    parties = TicketParties(reporter_contact="c-bob", reporter_address="bob@customer.example")
    assert follow_up_sender(result, parties).kind is FollowUpSenderKind.REPORTER_OTHER_ADDRESS


def test_ticket_parties_of_a_stored_ticket() -> None:
    import datetime as dt

    from helpmail.ports import TicketRecord

    ticket = TicketRecord(
        id="t1",
        number="1",
        title="Printer",
        status="open",
        reported_at=dt.datetime(2026, 11, 23, tzinfo=dt.UTC),
        reporter="c-bob",
        reporter_address="bob@customer.example",
        participants=("bob@customer.example", "alice@partner.example"),
    )
    parties = TicketParties.of_ticket(ticket)
    spec = "bob.private@mail.example"
    sender = resolve_sender(Address(addr_spec=spec), known=BOOK.find_contact(spec), settings=ORGS)
    assert follow_up_sender(sender, parties).kind is FollowUpSenderKind.REPORTER_OTHER_ADDRESS
    alice = resolve_sender(Address(addr_spec="alice@partner.example"), known=None, settings=ORGS)
    assert follow_up_sender(alice, parties).kind is FollowUpSenderKind.PARTICIPANT
