"""``helpmail check`` runs the whole-configuration checks after parsing: every notification
misconfiguration is reported with the rule it breaks, and an error finding fails the check."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpmail.cli import main

GOOD = """
[notify]
default_sender = "support@acme.example"

[notify.people.dana]
name = "Dana"
address = "dana@acme.example"
dispatcher = true

[notify.queues.first-level]
address = "first-level@acme.example"
"""

#: (name, TOML, the rule found, its key, whether it is an error)
CASES = [
    (
        "recipient without an address",
        """
[notify]
default_sender = "support@acme.example"
[notify.people.dana]
name = "Dana"
dispatcher = true
""",
        "notify.recipient-without-address",
        "notify.people.dana",
        False,
    ),
    (
        "invalid address",
        """
[notify]
default_sender = "support@acme.example"
[notify.people.dana]
address = "dana at acme"
""",
        "notify.invalid-address",
        "notify.people.dana.address",
        True,
    ),
    (
        "unknown queue member",
        """
[notify]
default_sender = "support@acme.example"
[notify.queues.first-level]
members = ["nobody"]
""",
        "notify.unknown-person",
        "notify.queues.first-level.members",
        False,
    ),
    (
        "dispatcher and queue mails on the same event",
        GOOD
        + """
[notify.events]
request_from_user = ["dispatchers", "resource"]
""",
        "notify.duplicate-roles",
        "notify.events.request_from_user",
        False,
    ),
    (
        "users notified on authorisation and on creation",
        GOOD
        + """
[notify.events]
ticket_created = ["users", "resource"]
""",
        "notify.redundant-user-notices",
        "notify.events",
        False,
    ),
    (
        "queue without address and no default sender",
        """
[notify.queues.first-level]
name = "First level"
""",
        "notify.queue-without-sender",
        "notify.queues.first-level",
        True,
    ),
    (
        "plain-text IMAP without certificate checks",
        """
[[mailboxes]]
name = "support"
url = "imap://support@imap.acme.example/INBOX"
password = { env = "HELPMAIL_CHECK_TEST_PASSWORD" }
tls = "none"
allow_plaintext = true
verify_certificate = false
""",
        "mailboxes.plaintext",
        "mailboxes[0].tls",
        False,
    ),
]


def _check(tmp_path: Path, text: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    config = tmp_path / "helpmail.toml"
    config.write_text(text, encoding="utf-8")
    code = main(["check", str(config)])
    return code, capsys.readouterr().out


def test_a_clean_configuration_has_no_findings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = _check(tmp_path, GOOD, capsys)
    assert code == 0, out
    assert out.splitlines()[0].endswith(": OK")


@pytest.mark.parametrize("case", CASES, ids=[case[0] for case in CASES])
def test_each_misconfiguration_is_reported_with_its_rule(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    case: tuple[str, str, str, str, bool],
) -> None:
    _name, text, rule, key, error = case
    monkeypatch.setenv("HELPMAIL_CHECK_TEST_PASSWORD", "secret")
    code, out = _check(tmp_path, text, capsys)
    assert f"{'error' if error else 'warning'}: {rule} [{key}]: " in out, out
    assert code == (1 if error else 0), out
    assert "secret" not in out.replace("<secret from", "")
    # the JSON form carries the same findings
    assert main(["check", str(tmp_path / "helpmail.toml"), "--json"]) == code
    result = json.loads(capsys.readouterr().out)
    assert result["valid"] is not error
    assert {"severity": "error" if error else "warning", "rule": rule, "key": key} in [
        {k: f[k] for k in ("severity", "rule", "key")} for f in result["findings"]
    ]


def test_a_template_that_fails_to_render_fails_the_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    templates = tmp_path / "templates" / "en"
    templates.mkdir(parents=True)
    (templates / "default.subject").write_text("{{ ticket.nope }}", encoding="utf-8")
    code, out = _check(
        tmp_path, GOOD.replace("[notify]\n", '[notify]\ntemplates = "templates"\n'), capsys
    )
    assert code == 1, out
    assert "error: notify.template-fails" in out
    assert "en/default.subject, line 1" in out
