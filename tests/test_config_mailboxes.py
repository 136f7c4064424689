"""``[[mailboxes]]`` through the registered parser (the IMAP scanner's for IMAP entries, the shared
one for Maildir/mbox): a malformed URL or an unset password is one problem naming its key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpmail.config import ConfigErrors, MailboxConfig, mailbox_from_url, parse_toml
from helpmail.errors import ConfigError
from helpmail.ports import MailboxActionKind
from helpmail.scanner.settings import MailboxSettings


def problems(text: str, env: dict[str, str] | None = None) -> list[tuple[str, str]]:
    with pytest.raises(ConfigErrors) as caught:
        parse_toml(text, env=env or {}, base_dir=Path("/cfg"))
    return [(error.key, error.problem) for error in caught.value.errors]


@pytest.mark.parametrize(
    "url", ["imaps://[", "imap://[::1", "mbox://[x", "imaps://u@[v6/INBOX", "maildir://[/x"]
)
def test_a_malformed_url_is_one_problem_naming_the_key(url: str) -> None:
    with pytest.raises(ConfigError) as caught:
        mailbox_from_url(url, "mailboxes[0].url")
    assert caught.value.key == "mailboxes[0].url"
    password = '\npassword = { env = "PW" }' if url.startswith("imap") else ""
    found = problems(f'[[mailboxes]]\nurl = "{url}"{password}\n', {"PW": "x"})
    assert [key for key, _ in found] == ["mailboxes[0].url"]
    assert "is not a valid URL" in found[0][1]


@pytest.mark.parametrize("port", ["abc", "99999", "-1", "0x10"])
def test_a_bad_port_in_the_url_is_one_problem_naming_the_key(port: str) -> None:
    url = f"imaps://support@imap.example.org:{port}/INBOX"
    with pytest.raises(ConfigError, match="invalid port"):
        mailbox_from_url(url, "mailboxes[0].url")
    found = problems(f'[[mailboxes]]\nurl = "{url}"\npassword = {{ env = "PW" }}\n', {"PW": "x"})
    assert found == [("mailboxes[0].url", f'has an invalid port, got "{url}"')]


@given(st.text(max_size=60))
def test_any_url_is_parsed_or_a_config_error(tail: str) -> None:
    for scheme in ("imaps://", "imap://", "mbox://", "maildir:"):
        keys: list[str] = []
        try:
            mailbox_from_url(scheme + tail, "k")
        except ConfigError as error:
            keys = [error.key]
        assert keys in ([], ["k"])
        text = json.dumps(scheme + tail, ensure_ascii=False).replace("\x7f", "\\u007f")
        try:
            parse_toml(f"[[mailboxes]]\nurl = {text}\n", env={}, base_dir=Path("/cfg"))
        except ConfigError as error:
            keys = [e.key for e in getattr(error, "errors", (error,))]
            assert all(key.startswith("mailboxes[0]") for key in keys), keys


def test_an_unset_password_variable_is_reported_once() -> None:
    found = problems(
        '[[mailboxes]]\nurl = "imaps://support@imap.example.org/INBOX"\n'
        'password = { env = "SUPPORT_IMAP_PASSWORD" }\n'
    )
    assert found == [
        ("mailboxes[0].password", "environment variable SUPPORT_IMAP_PASSWORD is not set")
    ]


def test_a_missing_password_is_required() -> None:
    found = problems('[[mailboxes]]\nurl = "imaps://support@imap.example.org/INBOX"\n')
    assert [key for key, _ in found] == ["mailboxes[0].password"]
    assert found[0][1].startswith("is required")


def test_mailboxes_hold_both_kinds_and_give_their_import_settings() -> None:
    config = parse_toml(
        """
[[mailboxes]]
name = "support"
url = "imaps://support@imap.example.org/INBOX"
password = { env = "PW" }
after_import = "move"
move_to = "Imported"

[[mailboxes]]
name = "archive"
path = "archive.mbox"
kind = "mbox"
""",
        env={"PW": "x"},
        base_dir=Path("/cfg"),
    )
    imap, archive = config.mailboxes
    assert isinstance(imap, MailboxSettings)
    assert isinstance(archive, MailboxConfig)
    assert config.mailbox("archive") is archive
    moved = config.import_settings(imap).after_import
    assert [(a.kind, a.folder) for a in moved] == [(MailboxActionKind.MOVE, "Imported")]
    assert config.import_settings(archive).after_import == ()
    with pytest.raises(ConfigError, match="no mailbox named 'support'"):
        config.mailbox("support")  # an IMAP mailbox has no path: not a file mailbox


def test_the_desk_sections_are_registered() -> None:
    config = parse_toml(
        """
[support_addresses]
addresses = [{ address = "support@acme.example", name = "Acme Support" }]

[contacts]
organisations_by_domain = true

[admission]
blocklist = [{ sender = "leadgen-blast.example", strength = "reject" }]

[spam]
trusted_hosts = ["mx.acme.example"]
""",
        env={},
    )
    for name in ("support_addresses", "contacts", "admission", "spam"):
        assert config.section(name) is not None, name
