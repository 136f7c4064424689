"""Support addresses: which one a mail was sent to, one ticket for two, our own mail."""

from __future__ import annotations

from helpmail import parse_mail
from helpmail.addresses import (
    AddressSource,
    SupportAddress,
    SupportAddresses,
    own_sender,
    route_to_support_address,
)

DESK = SupportAddresses(
    addresses=(
        SupportAddress(address="support@desk.example", name="ACME Support", queue="first-level"),
        SupportAddress(
            address="Sales@Desk.example", name="ACME Sales", queue="sales", priority="high"
        ),
        SupportAddress(address="billing@desk.example", name="Billing, Invoices", queue="billing"),
    )
)


def mail(headers: str) -> bytes:
    return (
        headers.strip() + "\r\nSubject: hi\r\nMessage-ID: <m1@x.example>\r\n\r\nbody\r\n"
    ).encode()


def test_to_address_is_chosen_and_keeps_its_queue() -> None:
    routing = route_to_support_address(
        parse_mail(mail("From: bob@customer.example\r\nTo: Support <SUPPORT@desk.example>")), DESK
    )
    assert routing.support is not None
    assert routing.support.queue == "first-level"
    assert routing.source is AddressSource.TO
    assert routing.step == "support_address"


def test_mail_to_two_support_addresses_makes_one_routing_decision() -> None:
    raw = mail(
        "From: bob@customer.example\r\nTo: sales@desk.example\r\nCc: support@desk.example\r\n"
        "Delivered-To: support@desk.example"
    )
    routing = route_to_support_address(parse_mail(raw), DESK)
    assert routing.support is not None
    assert routing.support.queue == "sales"
    assert [s.address for s in routing.others] == ["support@desk.example"]
    assert "one ticket" in routing.detail


def test_both_copies_of_a_mail_to_two_mailboxes_route_the_same() -> None:
    # the same mail delivered into the support and the sales mailbox: only Delivered-To differs
    common = "From: bob@customer.example\r\nTo: support@desk.example, sales@desk.example"
    first = route_to_support_address(
        parse_mail(mail("Delivered-To: sales@desk.example\r\n" + common)), DESK
    )
    second = route_to_support_address(
        parse_mail(mail("Delivered-To: support@desk.example\r\n" + common)), DESK
    )
    assert first.support == second.support
    assert first.support is not None
    assert first.support.address == "support@desk.example"


def test_bcc_support_address_found_via_delivered_to() -> None:
    raw = mail(
        "Delivered-To: billing@desk.example\r\nFrom: bob@customer.example\r\n"
        "To: alice@partner.example"
    )
    routing = route_to_support_address(parse_mail(raw), DESK)
    assert routing.support is not None
    assert routing.support.address == "billing@desk.example"
    assert routing.source is AddressSource.DELIVERED_TO


def test_bcc_support_address_found_via_x_original_to() -> None:
    raw = mail("X-Original-To: sales@desk.example\r\nFrom: bob@c.example\r\nTo: a@partner.example")
    routing = route_to_support_address(parse_mail(raw), DESK)
    assert routing.source is AddressSource.X_ORIGINAL_TO


def test_bcc_support_address_found_via_received_for() -> None:
    raw = mail(
        "Received: from mail.customer.example (mail.customer.example [203.0.113.5])\r\n"
        "\tby mx.desk.example (Postfix) with ESMTPS id 4F1\r\n"
        "\tfor <billing@desk.example>; Mon, 23 Nov 2026 08:00:00 +0000\r\n"
        "From: bob@customer.example\r\nTo: alice@partner.example"
    )
    routing = route_to_support_address(parse_mail(raw), DESK)
    assert routing.support is not None
    assert routing.support.address == "billing@desk.example"
    assert routing.source is AddressSource.RECEIVED_FOR


def test_to_is_trusted_before_delivered_to() -> None:
    raw = mail(
        "Delivered-To: billing@desk.example\r\nFrom: bob@c.example\r\nTo: support@desk.example"
    )
    routing = route_to_support_address(parse_mail(raw), DESK)
    assert routing.support is not None
    assert routing.support.address == "support@desk.example"
    assert [m.source for m in routing.matches] == [AddressSource.TO, AddressSource.DELIVERED_TO]


def test_subaddress_belongs_to_its_base_address() -> None:
    raw = mail("From: bob@c.example\r\nTo: support+urgent@desk.example")
    routing = route_to_support_address(parse_mail(raw), DESK)
    assert routing.support is not None
    assert routing.support.address == "support@desk.example"
    strict = SupportAddresses(addresses=DESK.addresses, subaddress_separator=None)
    assert route_to_support_address(parse_mail(raw), strict).source is AddressSource.DEFAULT


def test_mail_naming_no_support_address_uses_the_default() -> None:
    raw = mail("From: bob@c.example\r\nTo: list@lists.example")
    routing = route_to_support_address(parse_mail(raw), DESK)
    assert routing.source is AddressSource.DEFAULT
    assert routing.support is not None
    assert routing.support.address == "support@desk.example"
    desk = SupportAddresses(addresses=DESK.addresses, default="billing@desk.example")
    chosen = route_to_support_address(parse_mail(raw), desk).support
    assert chosen is not None
    assert chosen.address == "billing@desk.example"
    assert route_to_support_address(parse_mail(raw), SupportAddresses()).support is None


def test_idna_and_case_do_not_matter() -> None:
    desk = SupportAddresses(addresses=(SupportAddress(address="hilfe@bücher.example"),))
    raw = mail("From: bob@c.example\r\nTo: HILFE@xn--bcher-kva.example")
    assert route_to_support_address(parse_mail(raw), desk).source is AddressSource.TO


def test_display_name_never_matches() -> None:
    raw = mail('From: bob@c.example\r\nTo: "support@desk.example" <alice@partner.example>')
    assert route_to_support_address(parse_mail(raw), DESK).source is AddressSource.DEFAULT


def test_own_support_address_as_sender_is_never_customer_mail() -> None:
    raw = mail("From: ACME Sales <sales@DESK.example>\r\nTo: support@desk.example")
    found = own_sender(parse_mail(raw), DESK)
    assert found is not None
    assert found.support.address == "Sales@Desk.example"
    assert found.header == "From"
    assert "never imported as customer mail" in found.detail


def test_own_support_address_in_sender_header() -> None:
    raw = mail("From: bob@c.example\r\nSender: support@desk.example\r\nTo: x@y.example")
    found = own_sender(parse_mail(raw), DESK)
    assert found is not None
    assert found.header == "Sender"


def test_customer_mail_is_not_own_mail() -> None:
    raw = mail('From: "support@desk.example" <bob@c.example>\r\nTo: support@desk.example')
    assert own_sender(parse_mail(raw), DESK) is None


def test_from_header_of_replies_uses_the_display_name() -> None:
    assert DESK.addresses[0].from_header() == "ACME Support <support@desk.example>"
    assert DESK.addresses[2].from_header() == '"Billing, Invoices" <billing@desk.example>'
    assert SupportAddress(address="a@desk.example").from_header() == "a@desk.example"
