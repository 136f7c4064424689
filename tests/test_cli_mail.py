"""``helpmail import`` and ``helpmail poll`` send the automatic mails of ticket events: through
``[smtp]`` (a real aiosmtpd server), into ``--outbox DIR``, or not at all (``--no-mail``, or
neither configured: said once on stderr). The delivery guard that the import uses admits every
mail (its ``guard_mail`` table counts them)."""

from __future__ import annotations

import contextlib
import email
import email.policy
import logging
import mailbox
import os
import sqlite3
import subprocess
import sys
import threading
from email.message import EmailMessage
from pathlib import Path

import pytest

from dovecot import PASSWORD as IMAP_PASSWORD
from dovecot import Dovecot, dovecot
from helpmail import demo
from helpmail.adapters.outbox import MaildirOutbox
from helpmail.cli import main
from smtp_server import (  # the fixtures tls, starttls_server, plain_server too
    PASSWORD,
    USER,
    Server,
    Tls,
    plain_server,
    starttls_server,
    tls,
)

__all__ = ["dovecot", "plain_server", "starttls_server", "tls"]  # fixtures from the helpers

MAILS = dict(demo.mails())
KEY = "HELPMAIL_TEST_MAIL_KEY"
OFF_NOTICE = "automatic mails: off (no [smtp] section, no --outbox)\n"

#: a desk whose new tickets land in a queue with an address: every new ticket mails the queue
#: (``resource``) and confirms to the customer (``import_customer``)
CONFIG = f"""
[desk]
name = "Acme Support"
domain = "acme.example"
addresses = ["support@acme.example"]
signing_key = {{ env = "{KEY}" }}

[import]
queue = "first-level"
ticket_tag = "[Ticket#{{number}}]"

[notify]
server_url = "https://helpdesk.acme.example/"

[notify.queues.first-level]
name = "First level"
address = "first-level@acme.example"
"""


@pytest.fixture(autouse=True)
def signing_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY, "a-test-key-that-signs-nothing-real")


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def make_maildir(folder: Path, mails: list[bytes]) -> Path:
    box = mailbox.Maildir(folder, create=True)
    for raw in mails:
        box.add(raw)
    box.close()
    return folder


def write_config(tmp_path: Path, extra: str = "") -> Path:
    config = tmp_path / "helpmail.toml"
    config.write_text(CONFIG + extra, encoding="utf-8")
    return config


def parse(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def subject(message: EmailMessage) -> str:
    """The Subject, unfolded (a long one is folded right after ``Subject:``)."""
    return " ".join(str(message["Subject"]).split())


def outbox(folder: Path) -> dict[str, EmailMessage]:
    """The mails of an outbox by envelope recipient."""
    mails = [parse(raw) for raw in MaildirOutbox(folder).messages()]
    return {str(m["X-Envelope-To"]): m for m in mails}


def mails_admitted(db: Path) -> int:
    """How many automatic mails the delivery guard admitted (counted in the desk's file)."""
    with contextlib.closing(sqlite3.connect(db)) as connection:
        tables = {r[0] for r in connection.execute("SELECT name FROM sqlite_master")}
        if "guard_mail" not in tables:
            return 0
        row = connection.execute(
            "SELECT count(*) FROM guard_mail WHERE direction = 'out'"
        ).fetchone()
    return int(row[0])


def a_mail(sender: str, subject: str) -> bytes:
    return (
        f"From: {sender}\nTo: support@acme.example\nSubject: {subject}\n"
        f"Message-ID: <{subject.replace(' ', '-')}@customer.example>\n"
        "Date: Mon, 23 Nov 2026 08:00:00 +0000\nMIME-Version: 1.0\n"
        "Content-Type: text/plain; charset=utf-8\n\nPlease help.\n"
    ).encode()


# -- --outbox ------------------------------------------------------------------------------------


def test_import_writes_the_automatic_mails_into_the_outbox(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    maildir = make_maildir(
        tmp_path / "M", [MAILS["01-en-new-login.eml"], MAILS["02-de-new-printer.eml"]]
    )
    db = tmp_path / "desk.sqlite3"
    out_dir = tmp_path / "outbox"
    argv = ["import", str(maildir), "--db", str(db), "--config", str(write_config(tmp_path))]
    code, out, err = run([*argv, "--outbox", str(out_dir)], capsys)
    assert code == 0, out + err
    assert err == ""  # mails go somewhere: no notice
    assert "2 messages: 2 created" in out
    assert "4 automatic mails sent (0 held/failed)" in out
    mails = outbox(out_dir)
    assert sorted(mails) == [
        "alice.miller@customer.example",
        "first-level@acme.example",
        "j.mueller@kunde.example",
    ]
    confirmation = mails["alice.miller@customer.example"]
    assert subject(confirmation).startswith("[Ticket#1] ")
    assert subject(confirmation).endswith(" is registered")
    assert confirmation["From"].addresses[0].addr_spec == "support@acme.example"
    assert confirmation["Auto-Submitted"] == "auto-generated"
    # the German customer (Content-Language: de) gets the German confirmation
    assert subject(mails["j.mueller@kunde.example"]).endswith(" ist registriert")
    # the queue is told of both tickets; the envelope recipients are one each
    queue = [parse(r) for r in MaildirOutbox(out_dir).messages()]
    assert sum(str(m["X-Envelope-To"]) == "first-level@acme.example" for m in queue) == 2
    assert mails_admitted(db) == 4  # the Desk's own guard admitted (and counted) every mail
    # a second run imports nothing new and sends nothing again
    code, out, _ = run([*argv, "--outbox", str(out_dir)], capsys)
    assert code == 0
    assert "0 automatic mails sent (0 held/failed)" in out
    assert len(list(MaildirOutbox(out_dir).messages())) == 4


def test_import_verbose_lists_each_mail_sent_on_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    maildir = make_maildir(tmp_path / "M", [MAILS["01-en-new-login.eml"]])
    argv = ["import", str(maildir), "--db", str(tmp_path / "d.sqlite3")]
    argv += ["--config", str(write_config(tmp_path)), "--outbox", str(tmp_path / "out"), "-v"]
    code, out, err = run(argv, capsys)
    assert code == 0
    assert "ticket #1 created" in out
    lines = sorted(err.splitlines())
    assert len(lines) == 2
    assert lines[0].startswith("automatic mail sent to alice.miller@customer.example: [Ticket#1] ")
    assert lines[1].startswith("automatic mail sent to first-level@acme.example: [Ticket#1] ")


def test_import_json_counts_the_mails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    maildir = make_maildir(tmp_path / "M", [MAILS["01-en-new-login.eml"]])
    code, out, _ = run(
        [
            "import",
            str(maildir),
            "--db",
            str(tmp_path / "d.sqlite3"),
            "--config",
            str(write_config(tmp_path)),
            "--outbox",
            str(tmp_path / "out"),
            "--json",
        ],
        capsys,
    )
    assert code == 0
    assert json.loads(out)["mails"] == {"route": "outbox", "sent": 2, "held_or_failed": 0}


def test_the_delivery_guard_holds_mail_to_a_blocked_address(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A hard bounce blocked Alice's address (stored in the desk's file, as an import of the
    # bounce would): her new request is imported, but she gets no confirmation; the queue does.
    import datetime as dt

    from helpmail.adapters.sqlite_guard import SqliteGuardState
    from helpmail.bounces.model import BounceReason
    from helpmail.guard import AddressBlock

    db = tmp_path / "desk.sqlite3"
    state = SqliteGuardState(db)
    try:
        state.put_block(
            AddressBlock(
                address="alice.miller@customer.example",
                reason=BounceReason.USER_UNKNOWN,
                hard=True,
                blocked_at=dt.datetime.now(dt.UTC),
                blocked_until=None,
            )
        )
    finally:
        state.close()
    maildir = make_maildir(tmp_path / "M", [MAILS["01-en-new-login.eml"]])
    code, out, _ = run(
        [
            "import",
            str(maildir),
            "--db",
            str(db),
            "--config",
            str(write_config(tmp_path)),
            "--outbox",
            str(tmp_path / "out"),
        ],
        capsys,
    )
    assert code == 0
    assert "1 automatic mails sent (1 held/failed)" in out
    assert sorted(outbox(tmp_path / "out")) == ["first-level@acme.example"]


# -- [smtp] --------------------------------------------------------------------------------------


@pytest.fixture
def starttls_config(
    tmp_path: Path, starttls_server: Server, tls: Tls, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """The desk's configuration with an ``[smtp]`` section for ``starttls_server`` (STARTTLS,
    AUTH with the password from the environment, the test CA)."""
    monkeypatch.setenv("HELPMAIL_TEST_SMTP_PASSWORD", PASSWORD)
    return write_config(
        tmp_path,
        f"""
[smtp]
host = "127.0.0.1"
port = {starttls_server.port}
security = "starttls"
username = "{USER}"
password = {{ env = "HELPMAIL_TEST_SMTP_PASSWORD" }}
ca_file = "{tls.ca}"
timeout = 10
""",
    )


@pytest.mark.smtp
def test_import_sends_the_automatic_mails_through_smtp(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    starttls_server: Server,
    starttls_config: Path,
) -> None:
    config = starttls_config
    maildir = make_maildir(tmp_path / "M", [MAILS["01-en-new-login.eml"]])
    db = tmp_path / "desk.sqlite3"
    with caplog.at_level(logging.INFO, logger="helpmail.mail"):
        code, out, err = run(
            ["import", str(maildir), "--db", str(db), "--config", str(config)], capsys
        )
    assert code == 0, out + err
    assert err == ""
    assert "2 automatic mails sent (0 held/failed)" in out
    received = starttls_server.sink.received
    assert sorted(r.rcpt_tos[0] for r in received) == [
        "alice.miller@customer.example",
        "first-level@acme.example",
    ]
    assert all(len(r.rcpt_tos) == 1 and r.tls and r.login == USER.encode() for r in received)
    by_rcpt = {r.rcpt_tos[0]: parse(r.content) for r in received}
    confirmation = by_rcpt["alice.miller@customer.example"]
    assert subject(confirmation).endswith(" is registered")
    assert confirmation["Auto-Submitted"] == "auto-generated"
    assert mails_admitted(db) == 2
    sent_lines = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert any(
        line.startswith("automatic mail sent to alice.miller@customer.example: [Ticket#1] ")
        for line in sent_lines
    )
    assert PASSWORD not in out + err + caplog.text


@pytest.mark.smtp
def test_a_refused_recipient_is_a_warning_and_counted(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    plain_server: Server,
) -> None:
    # The sink refuses recipients whose local part starts with "refuse" (550 5.1.1).
    config = write_config(
        tmp_path, f'\n[smtp]\nhost = "127.0.0.1"\nport = {plain_server.port}\nsecurity = "none"\n'
    )
    maildir = make_maildir(tmp_path / "M", [a_mail("refuse-me@customer.example", "no ink")])
    db = tmp_path / "desk.sqlite3"
    with caplog.at_level(logging.INFO, logger="helpmail.mail"):
        code, out, err = run(
            ["import", str(maildir), "--db", str(db), "--config", str(config)], capsys
        )
    assert code == 0  # a mail that failed never undoes the import
    assert "1 messages: 1 created" in out
    assert "1 automatic mails sent (1 held/failed)" in out
    assert [r.rcpt_tos for r in plain_server.sink.received] == [["first-level@acme.example"]]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert warnings[0].startswith("automatic mail to refuse-me@customer.example not sent: ")
    assert "550" in warnings[0]
    assert err == warnings[0] + "\n"  # the failure is also said on stderr (not the mail sent)
    assert mails_admitted(db) == 1  # the refused mail gave its slot back


@pytest.mark.smtp
def test_no_mail_sends_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], plain_server: Server
) -> None:
    config = write_config(
        tmp_path, f'\n[smtp]\nhost = "127.0.0.1"\nport = {plain_server.port}\nsecurity = "none"\n'
    )
    maildir = make_maildir(tmp_path / "M", [MAILS["01-en-new-login.eml"]])
    db = tmp_path / "desk.sqlite3"
    code, out, err = run(
        ["import", str(maildir), "--db", str(db), "--config", str(config), "--no-mail"], capsys
    )
    assert code == 0
    assert "1 messages: 1 created" in out
    assert "automatic mails" not in out + err
    assert plain_server.sink.received == []
    assert plain_server.sink.sessions == 0  # not even connected
    assert mails_admitted(db) == 0


def test_without_smtp_or_outbox_nothing_is_sent_and_stderr_says_so_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    maildir = make_maildir(
        tmp_path / "M", [MAILS["01-en-new-login.eml"], MAILS["02-de-new-printer.eml"]]
    )
    db = tmp_path / "desk.sqlite3"
    code, out, err = run(
        ["import", str(maildir), "--db", str(db), "--config", str(write_config(tmp_path))],
        capsys,
    )
    assert code == 0
    assert "2 messages: 2 created" in out
    assert err == OFF_NOTICE  # once, for the whole run
    assert "automatic mails sent" not in out
    assert mails_admitted(db) == 0  # the guard admitted nothing: nothing was sent
    assert sorted(p.name for p in tmp_path.iterdir()) == ["M", "desk.sqlite3", "helpmail.toml"]


def test_outbox_and_no_mail_exclude_each_other(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["import", str(tmp_path), "--outbox", str(tmp_path / "o"), "--no-mail"])
    assert stopped.value.code == 2
    assert "not allowed with" in capsys.readouterr().err


# -- poll ----------------------------------------------------------------------------------------


def test_each_poll_worker_has_its_own_notifier_and_sender(tmp_path: Path) -> None:
    from helpmail.adapters.smtp import SmtpSender
    from helpmail.cli.poll import build_workers
    from helpmail.config import parse_toml

    config = parse_toml(
        CONFIG
        + """
[smtp]
host = "mail.example.org"

[[mailboxes]]
name = "support"
url = "imaps://support@imap.example.org/INBOX"
password = { env = "PW" }

[[mailboxes]]
name = "sales"
url = "imaps://sales@imap.example.org/INBOX"
password = { env = "PW" }
""",
        env={"PW": "x", KEY: "k"},
        base_dir=tmp_path,
    )
    with contextlib.ExitStack() as resources:
        workers = build_workers(
            config,
            db=tmp_path / "d.sqlite3",
            only=None,
            stop=threading.Event(),
            once=True,
            resources=resources,
        )
        notices = [w.notices for w in workers]
        assert notices[0] is not None
        assert notices[1] is not None
        assert notices[0] is not notices[1]
        assert [w.desk.on_events for w in workers] == notices
        senders = [n.notifier.sender for n in notices if n is not None]
        assert all(isinstance(s, SmtpSender) for s in senders)
        assert senders[0] is not senders[1]
        # one guard for all: the Desk's, which admits every mail of every worker
        guards = {id(w.desk.guard) for w in workers} | {
            id(n.notifier.guard) for n in notices if n is not None
        }
        assert len(guards) == 1
        workers[0].desk.store.close()


@pytest.mark.dovecot
def test_poll_once_writes_the_automatic_mails_into_the_outbox(
    dovecot: Dovecot, tmp_path: Path
) -> None:
    user = dovecot.new_user("mail")
    dovecot.inject(user, [MAILS["01-en-new-login.eml"]])
    config = write_config(
        tmp_path,
        "\n[[mailboxes]]\n"
        'name = "support"\n'
        f'url = "imaps://{user}@127.0.0.1:{dovecot.imaps_port}/INBOX"\n'
        'password = { env = "SUPPORT_PW" }\n'
        'after_import = "mark_seen"\n'
        f'ca_file = "{dovecot.ca_file}"\n',
    )
    out_dir = tmp_path / "outbox"
    argv = ["--config", str(config), "--db", str(tmp_path / "d.sqlite3"), "--once", "-v"]
    done = subprocess.run(
        [sys.executable, "-m", "helpmail.cli", "poll", *argv, "--outbox", str(out_dir)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "SUPPORT_PW": IMAP_PASSWORD, KEY: "k"},
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "support: 1 messages: 1 created" in done.stdout
    assert "support: 2 automatic mails sent (0 held/failed)" in done.stdout
    assert sorted(outbox(out_dir)) == ["alice.miller@customer.example", "first-level@acme.example"]
    assert "automatic mail sent to alice.miller@customer.example: [Ticket#1] " in done.stderr
    assert "automatic mails: off" not in done.stderr
    assert IMAP_PASSWORD not in done.stdout + done.stderr


@pytest.mark.dovecot
def test_poll_without_smtp_or_outbox_says_so_once(dovecot: Dovecot, tmp_path: Path) -> None:
    user = dovecot.new_user("nomail")
    dovecot.inject(user, [MAILS["01-en-new-login.eml"]])
    config = write_config(
        tmp_path,
        "\n[[mailboxes]]\n"
        'name = "support"\n'
        f'url = "imaps://{user}@127.0.0.1:{dovecot.imaps_port}/INBOX"\n'
        'password = { env = "SUPPORT_PW" }\n'
        f'ca_file = "{dovecot.ca_file}"\n',
    )
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "helpmail.cli",
            "poll",
            "--config",
            str(config),
            "--db",
            str(tmp_path / "d.sqlite3"),
            "--once",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "SUPPORT_PW": IMAP_PASSWORD, KEY: "k"},
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "support: 1 messages: 1 created" in done.stdout
    assert "automatic mails sent" not in done.stdout
    assert done.stderr.count(OFF_NOTICE) == 1
    assert mails_admitted(tmp_path / "d.sqlite3") == 0
