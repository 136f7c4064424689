"""Composition (issue 6): loop headers, signed ids, threading, markers, return path, injection."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
from email.message import EmailMessage
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpmail.message_ids import read_message_id
from helpmail.notify import (
    NotifySettings,
    Person,
    Queue,
    ReturnPathMode,
    Sender,
    StaticDirectory,
    parse_verp,
    plan_notifications,
    verp_address,
)
from helpmail.notify.compose import one_line, reply_markers
from helpmail.templates import TemplateRenderer
from helpmail.tickets import events as ev

KEY = b"test-signing-key"
AT = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)
SETTINGS = NotifySettings(
    default_sender=Sender(address="desk@example.com", name="Example Desk"),
    signing_key=KEY,
    message_id_domain="desk.example.com",
    server_url="https://desk.example.com/",
)
DIRECTORY = StaticDirectory.of(
    [
        Person(id="anna", name="Anna Agent", address="anna@example.com", language="de"),
        Person(id="carla", name="Carla Customer", address="carla@example.org"),
        Person(id="mgr", name="Mia", address="mia@example.com"),
    ],
    [Queue(id="support", name="Support", address="support@example.com", members=("anna",))],
)
RENDERER = TemplateRenderer()


def snapshot(**changes: Any) -> ev.TicketSnapshot:
    base = ev.TicketSnapshot(
        id="T-17",
        number="1017",
        title="Printer on fire",
        status="new",
        queue="support",
        reporter="carla",
        manager="mgr",
    )
    return attrs.evolve(base, **changes)


def mails(event: ev.TicketEvent, settings: NotifySettings = SETTINGS, **kw: Any) -> list[Any]:
    plan = plan_notifications(event, settings, DIRECTORY, RENDERER, **kw)
    return [n.mail for n in plan.notifications if n.mail is not None]


def reparse(message: EmailMessage) -> EmailMessage:
    parsed = email.message_from_bytes(message.as_bytes(), policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def created(**changes: Any) -> ev.TicketCreated:
    return ev.TicketCreated(
        ticket=snapshot(**changes),
        at=AT,
        channel=ev.Channel.MAIL,
        via_mail_import=True,
        message_id="<CAF=abc@mail.example.org>",
    )


def test_compose_marks_every_mail_as_auto_generated() -> None:
    for mail in mails(created()):
        parsed = reparse(mail.message)
        # RFC 3834 §5: responders must not answer a message with Auto-Submitted other than "no".
        assert parsed["Auto-Submitted"] == "auto-generated"
        assert parsed["X-Auto-Response-Suppress"] == "All"
        assert parsed["X-Helpmail-Loop"] == "helpmail"
        assert parsed["Precedence"] is None
    bulk = attrs.evolve(SETTINGS, precedence_bulk=True)
    assert reparse(mails(created(), bulk)[0].message)["Precedence"] == "bulk"


def test_compose_subject_carries_ticket_tag() -> None:
    subjects = {m.envelope_to[0]: str(reparse(m.message)["Subject"]) for m in mails(created())}
    assert (
        subjects["carla@example.org"] == "[Ticket#1017] Ticket 1017 - Printer on fire is registered"
    )
    assert all(s.startswith("[Ticket#1017] ") for s in subjects.values())
    custom = attrs.evolve(SETTINGS, subject_tag="[Desk #{number}]")
    assert str(mails(created(), custom)[0].message["Subject"]).startswith("[Desk #1017] ")


def test_compose_message_id_is_signed_naming_ticket_and_recipient() -> None:
    for mail in mails(created()):
        signed = read_message_id(str(mail.message["Message-ID"]), [KEY])
        assert signed is not None
        assert (signed.kind, signed.ticket, signed.recipient) == ("n", "T-17", mail.envelope_to[0])
        assert read_message_id(str(mail.message["Message-ID"]), [b"other"]) is None


def test_compose_threading_in_reply_to_and_references() -> None:
    mail = mails(created())[0]
    parsed = reparse(mail.message)
    refs = str(parsed["References"]).split()
    assert parsed["In-Reply-To"] == "<CAF=abc@mail.example.org>"
    assert refs[-1] == "<CAF=abc@mail.example.org>"
    root = read_message_id(refs[0], [KEY])
    assert root is not None
    assert root.ticket == "T-17"
    assert root.kind == "t"
    # Without a triggering mail the notices of one ticket still share the thread root.
    escalated = mails(ev.Escalated(ticket=snapshot(), at=AT))[0]
    assert escalated.message["In-Reply-To"] == refs[0]
    many = [f"<m{i}@example.org>" for i in range(20)]
    trimmed = str(
        mails(ev.Escalated(ticket=snapshot(), at=AT), references=many)[0].message["References"]
    ).split()
    assert len(trimmed) == 10
    assert trimmed[0] == refs[0]
    assert trimmed[-1] == "<m19@example.org>"


def test_compose_reply_above_marker_text_and_html() -> None:
    markers = pytest.importorskip("helpmail.replies.markers")

    mail = mails(created())[0]
    parsed = reparse(mail.message)
    text_marker, html_marker = reply_markers("en")
    plain = parsed.get_body(("plain",))
    html = parsed.get_body(("html",))
    assert plain is not None
    assert html is not None
    lines = plain.get_content().splitlines()
    assert lines[0] == text_marker
    hit = markers.find_marker(lines, markers.DEFAULT_MARKERS)  # the import finds our marker
    assert hit is not None
    assert hit.start == 0
    html_text = html.get_content()
    assert html_marker in html_text
    assert f'id="{markers.REPLY_MARKER_HTML_ID}"' in html_marker
    assert html_text.index(html_marker) > html_text.index("<body>")


def test_compose_reply_marker_wording_configurable_and_localised() -> None:
    custom = attrs.evolve(SETTINGS, reply_marker="$helpdesk-replyabove$")
    plain = reparse(mails(created(), custom)[0].message).get_body(("plain",))
    assert plain is not None
    assert plain.get_content().splitlines()[0] == "$helpdesk-replyabove$"
    assert reply_markers("de")[0] != reply_markers("en")[0]
    assert reply_markers("nl-BE")[0] == reply_markers("nl")[0]


def test_compose_language_of_recipient() -> None:
    directory = StaticDirectory.of(
        [Person(id="anna", name="Anna", address="anna@example.com", language="de")],
        [Queue(id="support", members=("anna",))],
    )
    plan = plan_notifications(ev.Escalated(ticket=snapshot(), at=AT), SETTINGS, directory, RENDERER)
    mail = plan.notifications[0].mail
    assert mail is not None
    message = reparse(mail.message)
    assert str(message["Subject"]).startswith("[Ticket#1017] Eskaliert")


def test_compose_sender_queue_address_and_display_name() -> None:
    escalated = reparse(mails(ev.Escalated(ticket=snapshot(), at=AT))[0].message)
    assert escalated["From"].addresses[0].addr_spec == "support@example.com"
    assert escalated["From"].addresses[0].display_name == "Support"
    customer = [
        m
        for m in mails(created(support_address="help@example.com"))
        if m.envelope_to == ("carla@example.org",)
    ]
    assert reparse(customer[0].message)["From"].addresses[0].addr_spec == "help@example.com"


@pytest.mark.parametrize(
    "evil",
    [
        "Printer\r\nBcc: victim@example.net",
        "Printer\nBcc: victim@example.net",
        "Printer\rBcc: victim@example.net",
        "Printer\r\n\r\n<html>body injection",
        "Printer\u2028Bcc: victim@example.net",
        "Printer\x00\x0bBcc: victim@example.net",
    ],
)
def test_compose_no_header_injection_from_title_or_name(evil: str) -> None:
    directory = StaticDirectory.of(
        [Person(id="anna", name=evil, address="anna@example.com")],
        [Queue(id="support", name=evil, members=("anna",))],
    )
    plan = plan_notifications(
        ev.Escalated(ticket=snapshot(title=evil, number="10\r\nX-Evil: 1"), at=AT),
        attrs.evolve(SETTINGS, default_sender=Sender(address="desk@example.com", name=evil)),
        directory,
        RENDERER,
    )
    mail = plan.notifications[0].mail
    assert mail is not None
    raw = mail.message.as_bytes()
    parsed = reparse(mail.message)
    assert parsed["Bcc"] is None
    assert parsed["X-Evil"] is None
    headers = raw.split(b"\n\n", 1)[0]
    assert b"\nBcc:" not in headers
    assert b"\nX-Evil:" not in headers
    assert "Bcc: victim@example.net" in str(parsed["Subject"]) or "body injection" in str(
        parsed["Subject"]
    )
    assert parsed["To"].addresses[0].addr_spec == "anna@example.com"


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80))
def test_one_line_never_keeps_a_line_break(text: str) -> None:
    line = one_line(text)
    assert "\r" not in line
    assert "\n" not in line
    assert "\u2028" not in line
    assert "\x85" not in line


def test_return_path_from_dedicated_and_verp() -> None:
    event = ev.Escalated(ticket=snapshot(), at=AT)
    assert mails(event)[0].envelope_from == "support@example.com"
    dedicated = attrs.evolve(
        SETTINGS, return_path=ReturnPathMode.DEDICATED, bounce_address="bounces@desk.example.com"
    )
    assert mails(event, dedicated)[0].envelope_from == "bounces@desk.example.com"
    verp = attrs.evolve(dedicated, return_path=ReturnPathMode.VERP)
    sent = mails(event, verp)[0]
    assert sent.envelope_from == "bounces+T-17.support=example.com@desk.example.com"
    assert parse_verp(sent.envelope_from, "bounces@desk.example.com") == (
        "T-17",
        "support@example.com",
    )


def test_verp_round_trip_and_fallbacks() -> None:
    bounce = "bounces@desk.example.com"
    address = verp_address(bounce, "T-1", "a+b=c@example.org")
    assert parse_verp(address, bounce) == ("T-1", "a+b=c@example.org")
    assert parse_verp("someone@desk.example.com", bounce) is None
    assert parse_verp("bounces+T-1.x=y@other.example", bounce) is None
    assert (
        verp_address(bounce, "T-1", "x" * 60 + "@example.org") == bounce
    )  # RFC 5321 64-octet limit


def test_compose_message_is_valid_mime_with_text_and_html() -> None:
    parsed = reparse(mails(created())[0].message)
    assert parsed.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in parsed.iter_parts()] == ["text/plain", "text/html"]
    assert parsed["Date"] is not None
    assert parsed["Date"].datetime == AT


def test_import_helpmail_notify_does_not_import_email() -> None:
    import subprocess
    import sys

    code = (
        "import sys, helpmail, helpmail.notify, helpmail.templates; "
        "bad = [m for m in ('email', 'socket', 'ssl', 'smtplib') if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_compose_internationalised_addresses() -> None:
    from email import policy

    directory = StaticDirectory.of(
        [
            Person(id="j", name='Jürgen "JJ" Müller', address="jürgen@example.com"),
            Person(id="a", name="Anna", address="anna@müller.example"),
        ],
        [Queue(id="support", members=("j", "a"))],
    )
    plan = plan_notifications(ev.Escalated(ticket=snapshot(), at=AT), SETTINGS, directory, RENDERER)
    assert plan.failed == ()
    utf8_mail, idna_mail = (n.mail for n in plan.notifications)
    assert utf8_mail is not None
    assert idna_mail is not None
    # RFC 6531: a non-ASCII local part needs UTF-8 headers (sent with SMTPUTF8).
    assert utf8_mail.envelope_to == ("jürgen@example.com",)
    raw = utf8_mail.message.as_bytes(policy=policy.SMTPUTF8)
    assert 'To: "Jürgen \\"JJ\\" Müller" <jürgen@example.com>'.encode() in raw
    # An ASCII local part with a Unicode domain travels in ASCII with the IDNA domain.
    assert idna_mail.envelope_to == ("anna@xn--mller-kva.example",)
    ascii_raw = idna_mail.message.as_bytes(policy=policy.SMTP)
    assert ascii_raw.isascii()
    assert b"<anna@xn--mller-kva.example>" in ascii_raw


def test_compose_own_mail_coming_back_is_classified_as_own_loop() -> None:
    """What composition marks, the inbound classifier recognises (DESIGN.md "Loops")."""
    import helpmail

    bounces = pytest.importorskip("helpmail.bounces")
    raw = mails(created())[0].message.as_bytes()
    assert bounces.classify(helpmail.parse_mail(raw)).kind == "own_loop"
