"""``helpmail import imaps://...`` against a real Dovecot: the URL form and a configured mailbox,
idempotent, with the password only from the environment or a secret reference."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from dovecot import PASSWORD, Dovecot, dovecot
from helpmail import demo
from helpmail.cli import main

__all__ = ["dovecot"]  # the fixture, imported from tests/dovecot.py

pytestmark = pytest.mark.dovecot

MAILS = dict(demo.mails())
SOME = ["01-en-new-login.eml", "05-en-followup-login.eml", "08-en-new-disguised-exe.eml"]


def _json(argv: list[str], capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    code = main(argv)
    out = capsys.readouterr().out
    assert code == 0, out
    result: dict[str, object] = json.loads(out)
    return result


def test_import_an_imap_url_twice(
    dovecot: Dovecot,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    user = dovecot.new_user("cli")
    dovecot.inject(user, [MAILS[name] for name in SOME])
    monkeypatch.setenv("HELPMAIL_IMAP_PASSWORD", PASSWORD)
    url = (
        f"imaps://{user}@{dovecot.host}:{dovecot.imaps_port}/INBOX"
        f"?ca_file={dovecot.ca_file}&after_import=leave"
    )
    db = str(tmp_path / "d.sqlite3")
    first = _json(["import", url, "--db", db, "--json"], capsys)
    assert first["counts"] == {"created": 2, "follow_up": 1}
    # the scan state (folder watermark) is in the desk's SQLite file: a rerun reads no old mail
    again = _json(["import", url, "--db", db, "--json"], capsys)
    assert again["counts"] == {}
    with closing(sqlite3.connect(db)) as connection:
        rows = connection.execute("SELECT folder, last_uid FROM scanner_folders").fetchall()
    assert rows == [("INBOX", 3)]
    # only the new mail is read next time
    dovecot.inject(user, [MAILS["07-de-followup-printer.eml"]])
    third = _json(["import", url, "--db", db, "--json"], capsys)
    assert third["counts"] == {"created": 1}


def test_import_a_configured_imap_mailbox(
    dovecot: Dovecot,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    user = dovecot.new_user("cfg")
    dovecot.inject(user, [MAILS["02-de-new-printer.eml"]])
    monkeypatch.setenv("SUPPORT_IMAP_PASSWORD", PASSWORD)
    # The test server's CA, through OpenSSL's standard variable (the default verify paths).
    monkeypatch.setenv("SSL_CERT_FILE", str(dovecot.ca_file))
    config = tmp_path / "helpmail.toml"
    config.write_text(
        f"""
[database]
path = "desk.sqlite3"

[[mailboxes]]
name = "support"
url = "imaps://{user}@{dovecot.host}:{dovecot.imaps_port}/INBOX"
password = {{ env = "SUPPORT_IMAP_PASSWORD" }}
after_import = "mark_seen"
""",
        encoding="utf-8",
    )
    assert main(["check", str(config)]) == 0, capsys.readouterr().out
    capsys.readouterr()
    result = _json(["import", "support", "--config", str(config), "--json"], capsys)
    assert result["counts"] == {"created": 1}
    assert result["database"] == str(tmp_path / "desk.sqlite3")


def test_mail_too_big_to_download_is_reported_not_imported(
    dovecot: Dovecot,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    user = dovecot.new_user("big")
    dovecot.inject(user, [MAILS["01-en-new-login.eml"], MAILS["04-en-new-screenshot.eml"]])
    monkeypatch.setenv("HELPMAIL_IMAP_PASSWORD", PASSWORD)
    limit = len(MAILS["01-en-new-login.eml"]) + 100
    url = (
        f"imaps://{user}@{dovecot.host}:{dovecot.imaps_port}/INBOX"
        f"?ca_file={dovecot.ca_file}&after_import=leave&max_message_size={limit}"
    )
    code = main(["import", url, "--db", str(tmp_path / "d.sqlite3")])
    out = capsys.readouterr().out
    assert code == 0
    assert "1 messages: 1 created" in out
    assert "not downloaded: " in out
