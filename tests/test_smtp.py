"""The SMTP and outbox senders (issue 6), against a real aiosmtpd server started here.

The server (``tests/smtp_server.py``) runs in a thread (aiosmtpd ``Controller``) on a pre-bound
port, with a test CA and a server certificate made by the ``openssl`` CLI: STARTTLS and implicit
TLS with AUTH, a handler that refuses some recipients, and one that drops the connection in the
middle of DATA.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import logging
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

from helpmail.adapters.outbox import MaildirOutbox
from helpmail.adapters.smtp import (
    RecipientsRefused,
    SmtpSecurity,
    SmtpSender,
    SmtpSettings,
    parse_smtp_settings,
)
from helpmail.errors import ConfigError, SendError
from helpmail.notify import (
    NotifySettings,
    OutgoingMail,
    Person,
    Queue,
    Sender,
    StaticDirectory,
    plan_notifications,
)
from helpmail.templates import TemplateRenderer
from helpmail.tickets import events as ev
from smtp_server import (  # the fixtures tls, starttls_server, plain_server too
    PASSWORD,
    USER,
    Server,
    Sink,
    Tls,
    authenticator,
    plain_server,
    server_context,
    start_smtp,
    starttls_server,
    tls,
)

__all__ = ["plain_server", "starttls_server", "tls"]  # fixtures from tests/smtp_server.py

pytestmark = pytest.mark.smtp


# --- servers (tests/smtp_server.py) -----------------------------------------------------------


@pytest.fixture
def tls_server(tls: Tls) -> Iterator[Server]:
    yield from start_smtp(
        Sink(),
        ssl_context=server_context(tls),
        authenticator=authenticator,
        auth_required=True,
        auth_require_tls=False,
    )


@pytest.fixture
def dropping_server() -> Iterator[Server]:
    yield from start_smtp(Sink(drop_in_data=True))


# --- a mail to send ---------------------------------------------------------------------------


def outgoing(*to: str) -> OutgoingMail:
    settings = NotifySettings(
        default_sender=Sender(address="desk@example.com", name="Désk Ünicode"),
        signing_key=b"k",
        message_id_domain="desk.example.com",
    )
    directory = StaticDirectory.of(
        [Person(id="anna", name="Anna", address="anna@example.com")],
        [Queue(id="q", members=("anna",))],
    )
    event = ev.Escalated(
        ticket=ev.TicketSnapshot(
            id="T-5", number="5", title="Ümlaut title " + "x" * 200, status="open", queue="q"
        ),
        at=dt.datetime(2026, 11, 23, tzinfo=dt.UTC),
    )
    plan = plan_notifications(event, settings, directory, TemplateRenderer())
    mail = plan.notifications[0].mail
    assert mail is not None
    return attrs.evolve(mail, envelope_to=to or mail.envelope_to)


def smtp(port: int, tls: Tls | None, **changes: Any) -> SmtpSettings:
    base = SmtpSettings(
        host="127.0.0.1", port=port, security=SmtpSecurity.STARTTLS, username=USER,
        password=PASSWORD, ca_file=str(tls.ca) if tls else None, timeout=5,
    )  # fmt: skip
    return attrs.evolve(base, **changes)


def _assert_crlf_only(data: bytes) -> None:
    assert b"\r\n" in data
    assert b"\n" not in data.replace(b"\r\n", b"")
    assert max(len(line) for line in data.split(b"\r\n")) <= 998  # RFC 5321 §4.5.3.1.6


# --- tests ------------------------------------------------------------------------------------


def test_smtp_starttls_with_auth_and_verified_certificate(
    starttls_server: Server, tls: Tls
) -> None:
    mail = outgoing()
    receipt = SmtpSender(smtp(starttls_server.port, tls)).send(mail)
    assert receipt.accepted == ("anna@example.com",)
    assert receipt.refused == {}
    [got] = starttls_server.sink.received
    assert got.tls
    assert got.login == USER.encode()
    assert got.mail_from == mail.envelope_from
    assert got.rcpt_tos == ["anna@example.com"]
    _assert_crlf_only(got.content)
    parsed = email.message_from_bytes(got.content, policy=email.policy.default)
    assert parsed["Message-ID"] == mail.message_id
    assert parsed["Auto-Submitted"] == "auto-generated"


def test_smtp_implicit_tls_with_auth(tls_server: Server, tls: Tls) -> None:
    SmtpSender(smtp(tls_server.port, tls, security=SmtpSecurity.TLS)).send(outgoing())
    [got] = tls_server.sink.received
    assert got.tls
    assert got.login == USER.encode()
    _assert_crlf_only(got.content)


def test_smtp_certificate_validation_on_by_default(starttls_server: Server, tls: Tls) -> None:
    with pytest.raises(SendError, match="certificate not trusted"):
        SmtpSender(smtp(starttls_server.port, None)).send(outgoing())
    assert starttls_server.sink.received == []


def test_smtp_certificate_validation_can_be_switched_off_explicitly(tls_server: Server) -> None:
    SmtpSender(smtp(tls_server.port, None, security=SmtpSecurity.TLS, verify=False)).send(
        outgoing()
    )
    assert len(tls_server.sink.received) == 1


def test_smtp_starttls_required_never_falls_back_to_plain(plain_server: Server) -> None:
    settings = smtp(plain_server.port, None, username=None, password=None)
    with pytest.raises(SendError, match="does not offer STARTTLS"):
        SmtpSender(settings).send(outgoing())
    assert plain_server.sink.received == []


def test_smtp_plain_relay_without_auth(plain_server: Server) -> None:
    settings = smtp(
        plain_server.port, None, security=SmtpSecurity.NONE, username=None, password=None
    )
    SmtpSender(settings).send(outgoing())
    assert not plain_server.sink.received[0].tls
    with pytest.raises(ConfigError):
        SmtpSender(attrs.evolve(settings, username=USER, password=PASSWORD))


def test_smtp_wrong_password_error_without_credentials(
    starttls_server: Server, tls: Tls, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "Wr0ng-" + PASSWORD
    settings = smtp(starttls_server.port, tls, password=wrong)
    with pytest.raises(SendError) as caught:
        SmtpSender(settings).send(outgoing())
    text = str(caught.value)
    assert "authentication" in text
    assert "535" in text
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__
    for shown in (text, repr(settings), repr(SmtpSender(settings)), caplog.text):
        assert wrong not in shown
        assert PASSWORD not in shown


def test_smtp_refused_recipient_reported_per_recipient(starttls_server: Server, tls: Tls) -> None:
    sender = SmtpSender(smtp(starttls_server.port, tls))
    receipt = sender.send(outgoing("anna@example.com", "refuse-me@example.com"))
    assert receipt.accepted == ("anna@example.com",)
    assert receipt.refused == {"refuse-me@example.com": (550, "5.1.1 No such user here")}
    with pytest.raises(RecipientsRefused) as caught:
        sender.send(outgoing("refuse-a@example.com", "refuse-b@example.com"))
    assert set(caught.value.refused) == {"refuse-a@example.com", "refuse-b@example.com"}
    assert caught.value.refused["refuse-a@example.com"][0] == 550
    assert isinstance(caught.value, SendError)


def test_smtp_server_drops_the_connection(dropping_server: Server) -> None:
    settings = smtp(
        dropping_server.port, None, security=SmtpSecurity.NONE, username=None, password=None
    )
    with pytest.raises(SendError, match=r"closed the connection|sending failed"):
        SmtpSender(settings).send(outgoing())


def test_smtp_nothing_listening_is_a_send_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = smtp(port, None, security=SmtpSecurity.NONE, username=None, password=None, timeout=2)
    with pytest.raises(SendError, match="cannot connect"):
        SmtpSender(settings).send(outgoing())


def test_smtp_one_connection_for_many_mails(starttls_server: Server, tls: Tls) -> None:
    with SmtpSender(smtp(starttls_server.port, tls)) as sender:
        for _ in range(3):
            sender.send(outgoing())
    assert len(starttls_server.sink.received) == 3
    assert starttls_server.sink.sessions == 2  # EHLO before and after STARTTLS, once


def test_smtp_session_survives_a_refusal(starttls_server: Server, tls: Tls) -> None:
    with SmtpSender(smtp(starttls_server.port, tls)) as sender:
        with pytest.raises(RecipientsRefused):
            sender.send(outgoing("refuse@example.com"))
        sender.send(outgoing())
    assert len(starttls_server.sink.received) == 1


def test_smtp_many_threads_many_senders(starttls_server: Server, tls: Tls) -> None:
    errors: list[BaseException] = []

    def work() -> None:
        try:
            SmtpSender(smtp(starttls_server.port, tls)).send(outgoing())
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(starttls_server.sink.received) == 4


def test_parse_smtp_settings_secret_from_environment() -> None:
    from helpmail.config import _CONTEXT, LoadContext

    token = _CONTEXT.set(LoadContext(env={"SMTP_PASSWORD": PASSWORD}))
    try:
        parsed = parse_smtp_settings(
            {"host": "mail.example.com", "security": "tls", "username": USER,
             "password": {"env": "SMTP_PASSWORD"}},
            "smtp",
        )  # fmt: skip
        with pytest.raises(ConfigError, match="secrets are not written in the file"):
            parse_smtp_settings({"host": "x", "username": USER, "password": PASSWORD}, "smtp")
        with pytest.raises(ConfigError, match=r"smtp\.security"):
            parse_smtp_settings({"host": "x", "security": "ssl"}, "smtp")
    finally:
        _CONTEXT.reset(token)
    assert parsed.password == PASSWORD
    assert parsed.effective_port == 465
    assert PASSWORD not in repr(parsed)


# --- outbox -----------------------------------------------------------------------------------


def test_outbox_writes_a_maildir_a_user_can_open(tmp_path: Path) -> None:
    import mailbox

    outbox = MaildirOutbox(tmp_path / "outbox")
    mail = outgoing()
    assert outbox.send(mail).accepted == ("anna@example.com",)
    box = mailbox.Maildir(tmp_path / "outbox", create=False)
    [message] = list(box)
    assert message["Return-Path"] == f"<{mail.envelope_from}>"
    assert message["X-Envelope-To"] == "anna@example.com"
    assert message["Message-ID"] == mail.message_id
    [raw] = list(outbox.messages())
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert str(parsed["Subject"]).startswith("[Ticket#5] ")


def test_outbox_unwritable_is_a_send_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(SendError, match="cannot write to outbox"):
        MaildirOutbox(blocker / "outbox").send(outgoing())


def _utf8_mail() -> OutgoingMail:
    settings = NotifySettings(
        default_sender=Sender(address="desk@example.com"), signing_key=b"k", message_id_domain="d"
    )
    directory = StaticDirectory.of(
        [Person(id="j", name="Jürgen", address="jürgen@example.com")],
        [Queue(id="q", members=("j",))],
    )
    snapshot = ev.TicketSnapshot(id="T-6", number="6", title="Grüße", status="open", queue="q")
    plan = plan_notifications(
        ev.Escalated(ticket=snapshot, at=dt.datetime(2026, 11, 23, tzinfo=dt.UTC)),
        settings,
        directory,
        TemplateRenderer(),
    )
    mail = plan.notifications[0].mail
    assert mail is not None
    return mail


@pytest.fixture
def ascii_only_server() -> Iterator[Server]:
    yield from start_smtp(Sink(), enable_SMTPUTF8=False)


def test_smtp_utf8_address_sent_with_smtputf8(
    plain_server: Server, ascii_only_server: Server
) -> None:
    settings = smtp(
        plain_server.port, None, security=SmtpSecurity.NONE, username=None, password=None
    )
    SmtpSender(settings).send(_utf8_mail())
    [got] = plain_server.sink.received
    assert got.rcpt_tos == ["jürgen@example.com"]
    assert "jürgen@example.com".encode() in got.content
    _assert_crlf_only(got.content)
    without = attrs.evolve(settings, port=ascii_only_server.port)
    with pytest.raises(SendError, match="does not offer SMTPUTF8"):
        SmtpSender(without).send(_utf8_mail())
