"""Scanner values and pure logic: settings, watermarks, UIDVALIDITY, batches, backoff, config."""

from __future__ import annotations

import datetime as dt
import tomllib
from itertools import islice
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpmail.adapters.sqlite_scanner import SQLiteScanState
from helpmail.config import (
    AfterImport,
    ConfigErrors,
    MailboxConfig,
    MailboxKind,
    Secret,
    TlsMode,
    parse_toml,
)
from helpmail.errors import ConfigError
from helpmail.ports import MailboxAction, MailboxActionKind
from helpmail.scanner import (
    CheckRecord,
    FolderState,
    InMemoryScanState,
    MailboxSettings,
    OAuth2Auth,
    PasswordAuth,
    ScanMode,
    ScanState,
    Security,
    advance,
    backoff_delays,
    plan_folder_scan,
)
from helpmail.scanner.config import (
    parse_imap_mailbox,
    parse_imap_url,
    parse_mailboxes,
    settings_from_config,
)
from helpmail.scanner.state import batches

PASSWORD = "s3cr3t-Pa55word"


def secret(value: str = PASSWORD) -> Secret:
    return Secret(origin="env:IMAP_PW", value=value.encode())


def settings(**kw: object) -> MailboxSettings:
    base: dict[str, object] = {
        "name": "support",
        "host": "imap.example.org",
        "auth": PasswordAuth(user="support@example.org", password=secret()),
    }
    base.update(kw)
    return MailboxSettings(**base)  # type: ignore[arg-type]


# --- settings -------------------------------------------------------------------------------------


def test_defaults_are_safe() -> None:
    s = settings()
    assert s.security is Security.TLS
    assert s.port == 993
    assert s.verify_certificate
    assert s.scan_mode is ScanMode.ALL
    assert s.after_import == MailboxAction(kind=MailboxActionKind.MARK_SEEN)
    assert settings(security=Security.STARTTLS).port == 143
    assert s.source_name == "imap://support@example.org@imap.example.org:993"


def test_plaintext_needs_explicit_permission() -> None:
    with pytest.raises(ConfigError) as info:
        settings(security=Security.PLAIN)
    assert info.value.key == "security"
    assert settings(security=Security.PLAIN, allow_plaintext=True).port == 143


@pytest.mark.parametrize(
    ("kw", "key"),
    [
        ({"port": 0}, "port"),
        ({"folders": ()}, "folders"),
        ({"batch_size": 0}, "batch_size"),
        ({"after_import": MailboxAction(kind=MailboxActionKind.MOVE)}, "after_import"),
    ],
)
def test_invalid_settings_name_the_key(kw: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError) as info:
        settings(**kw)
    assert info.value.key == key


def test_credentials_never_in_repr_str_or_describe() -> None:
    calls: list[int] = []

    def token() -> str:
        calls.append(1)
        return "tok-" + PASSWORD

    for s in (settings(), settings(auth=OAuth2Auth(user="u@example.org", token_provider=token))):
        for text in (repr(s), str(s), s.describe(), repr(s.auth), s.auth.describe()):
            assert PASSWORD not in text
    assert not calls  # describing never asks for a token


# --- scan state -----------------------------------------------------------------------------------


def test_first_scan_starts_at_one() -> None:
    scan = plan_folder_scan(None, 7, ScanMode.ALL)
    assert (scan.first_uid, scan.resync, scan.unseen_only) == (1, False, False)
    assert scan.search_criteria() == ["UID", "1:*"]
    assert plan_folder_scan(None, 7, ScanMode.UNSEEN).search_criteria() == ["UNSEEN", "UID", "1:*"]


def test_watermark_continues_after_last_uid() -> None:
    scan = plan_folder_scan(FolderState(uidvalidity=7, last_uid=41), 7, ScanMode.ALL)
    assert scan.first_uid == 42
    # "n:*" always contains the highest UID, even below n (RFC 3501 §6.4.8)
    assert scan.wanted([40, 44, 42, 42]) == [42, 44]
    assert scan.wanted([41]) == []


def test_uidvalidity_change_resyncs_from_start() -> None:
    scan = plan_folder_scan(FolderState(uidvalidity=7, last_uid=41), 9, ScanMode.ALL)
    assert scan.resync
    assert scan.first_uid == 1
    assert scan.uidvalidity == 9
    assert "UIDVALIDITY changed from 7 to 9" in scan.reason


@given(st.lists(st.integers(min_value=1, max_value=10_000), max_size=50), st.integers(1, 3))
def test_advance_never_moves_backwards(uids: list[int], validity: int) -> None:
    state: FolderState | None = None
    for uid in uids:
        state = advance(state, validity, uid)
    if uids:
        assert state == FolderState(uidvalidity=validity, last_uid=max(uids))
    assert advance(FolderState(uidvalidity=1, last_uid=50), 2, 3) == FolderState(
        uidvalidity=2, last_uid=3
    )


@given(
    st.lists(st.integers(1, 500), unique=True, max_size=60),
    st.integers(1, 10),
    st.integers(1, 5000),
)
def test_batches_keep_order_and_bounds(uids: list[int], count: int, max_bytes: int) -> None:
    sizes = {uid: uid * 7 for uid in uids}
    cut = list(batches(uids, sizes, count, max_bytes))
    assert [u for batch in cut for u in batch] == uids
    for batch in cut:
        assert 1 <= len(batch) <= count
        assert len(batch) == 1 or sum(sizes[u] for u in batch) <= max_bytes


def test_backoff_grows_and_caps() -> None:
    assert list(islice(backoff_delays(0.5, 2, 3), 5)) == [0.5, 1.0, 2.0, 3, 3]


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_scan_state_port(kind: str, tmp_path: Path) -> None:
    state: ScanState = (
        InMemoryScanState() if kind == "memory" else SQLiteScanState(tmp_path / "s.db")
    )
    assert state.folder_state("m", "INBOX") is None
    state.save_folder_state("m", "INBOX", FolderState(uidvalidity=3, last_uid=10))
    state.save_folder_state("m", "INBOX", FolderState(uidvalidity=3, last_uid=12))
    state.save_folder_state("m", "Other", FolderState(uidvalidity=4, last_uid=1))
    assert state.folder_state("m", "INBOX") == FolderState(uidvalidity=3, last_uid=12)
    at = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)
    state.record_check("m", CheckRecord(at=at, messages=5, skipped=1))
    state.record_check("m", CheckRecord(at=at + dt.timedelta(minutes=1), ok=False, error="down"))
    assert state.last_check("m") == CheckRecord(
        at=at + dt.timedelta(minutes=1), ok=False, error="down"
    )
    assert state.last_successful_check("m") == CheckRecord(at=at, messages=5, skipped=1)
    assert state.last_check("other") is None
    if isinstance(state, SQLiteScanState):
        state.close()
        again = SQLiteScanState(tmp_path / "s.db")
        assert again.folder_state("m", "Other") == FolderState(uidvalidity=4, last_uid=1)
        again.close()


# --- configuration --------------------------------------------------------------------------------

ENV = {"SUPPORT_PW": PASSWORD}


def test_imap_mailbox_from_toml() -> None:
    doc = tomllib.loads(
        """
        [[mailboxes]]
        name = "support"
        url = "imaps://support@imap.example.org/INBOX"
        password = { env = "SUPPORT_PW" }
        folders = ["INBOX", "Urgent"]
        scan_mode = "unseen"
        after_import = "move"
        move_to = "Imported"
        ca_file = "/etc/ssl/company-ca.pem"
        max_message_size = 1000000

        [[mailboxes]]
        name = "starttls"
        host = "mail.example.org"
        tls = "starttls"
        username = "desk"
        password = { env = "SUPPORT_PW" }

        [[mailboxes]]
        name = "files"
        path = "/var/mail/desk"
        """
    )
    from helpmail.config import _CONTEXT, LoadContext

    token = _CONTEXT.set(LoadContext(env=ENV))
    try:
        boxes = parse_mailboxes(doc["mailboxes"], "mailboxes")
    finally:
        _CONTEXT.reset(token)
    first, second, third = boxes
    assert isinstance(first, MailboxSettings)
    assert first.host == "imap.example.org"
    assert first.port == 993
    assert first.folders == ("INBOX", "Urgent")
    assert first.scan_mode is ScanMode.UNSEEN
    assert first.after_import == MailboxAction(kind=MailboxActionKind.MOVE, folder="Imported")
    assert first.ca_file == Path("/etc/ssl/company-ca.pem")
    assert first.max_message_size == 1_000_000
    assert isinstance(first.auth, PasswordAuth)
    assert first.auth.password.reveal() == PASSWORD.encode()
    assert PASSWORD not in repr(boxes)
    assert isinstance(second, MailboxSettings)
    assert (second.security, second.port, second.user) == (Security.STARTTLS, 143, "desk")
    assert isinstance(third, MailboxConfig)


def test_imap_mailbox_errors_name_every_key() -> None:
    doc = {
        "name": "x",
        "host": "imap.example.org",
        "tls": "none",
        "password": PASSWORD,  # plain text password: refused, and never echoed
        "scan_mode": "sometimes",
        "after_import": "move",
        "colour": "blue",
    }
    with pytest.raises(ConfigErrors) as info:
        parse_imap_mailbox(doc, "mailboxes[0]")
    keys = {error.key for error in info.value.errors}
    assert {
        "mailboxes[0].username",
        "mailboxes[0].password",
        "mailboxes[0].scan_mode",
        "mailboxes[0].move_to",
        "mailboxes[0].colour",
    } <= keys
    assert PASSWORD not in str(info.value)


def test_plaintext_mailbox_needs_allow_plaintext() -> None:
    doc = {"host": "h", "username": "u", "tls": "none", "password": {"env": "SUPPORT_PW"}}
    from helpmail.config import _CONTEXT, LoadContext

    token = _CONTEXT.set(LoadContext(env=ENV))
    try:
        with pytest.raises(ConfigErrors) as info:
            parse_imap_mailbox(doc, "m")
        assert info.value.errors[0].key == "m.security"
        ok = parse_imap_mailbox({**doc, "allow_plaintext": True}, "m")
    finally:
        _CONTEXT.reset(token)
    assert ok.security is Security.PLAIN


def test_imap_mailboxes_in_a_whole_config_file() -> None:
    config = parse_toml(
        '[[mailboxes]]\nname = "s"\nurl = "imap://desk@mail.example.org/Support"\n'
        'password = { env = "SUPPORT_PW" }\nafter_import = "delete"\nscan_mode = "unseen"\n',
        env=ENV,
    )
    # Config.mailboxes is typed for MailboxConfig only; the section holds the scanner's values
    section = config.section("mailboxes")
    assert isinstance(section, tuple)
    (mailbox,) = section
    assert isinstance(mailbox, MailboxSettings)
    assert (mailbox.host, mailbox.port, mailbox.security, mailbox.folders) == (
        "mail.example.org",
        143,
        Security.STARTTLS,
        ("Support",),
    )
    assert mailbox.actions() == (MailboxAction(kind=MailboxActionKind.DELETE),)
    assert mailbox.scan_mode is ScanMode.UNSEEN
    assert mailbox.url == "imap://desk@mail.example.org:143/Support"


def test_settings_from_shared_mailbox_config() -> None:
    mailbox = MailboxConfig(
        name="s",
        kind=MailboxKind.IMAP,
        host="mail.example.org",
        port=None,
        username="desk",
        password=secret(),
        tls=TlsMode.STARTTLS,
        folder="Support",
        after_import=AfterImport.MOVE,
        move_to="Done",
    )
    s = settings_from_config(mailbox, scan_mode=ScanMode.UNSEEN)
    assert (s.host, s.port, s.security, s.folders) == (
        "mail.example.org",
        143,
        Security.STARTTLS,
        ("Support",),
    )
    assert s.after_import == MailboxAction(kind=MailboxActionKind.MOVE, folder="Done")
    assert s.scan_mode is ScanMode.UNSEEN


def test_imap_url_for_import() -> None:
    s = parse_imap_url(
        "imaps://desk%40example.org@imap.example.org:10993/Support?scan_mode=unseen",
        env={"HELPMAIL_IMAP_PASSWORD": PASSWORD},
    )
    assert (s.host, s.port, s.user, s.folders) == (
        "imap.example.org",
        10993,
        "desk@example.org",
        ("Support",),
    )
    assert s.scan_mode is ScanMode.UNSEEN
    assert s.security is Security.TLS
    assert parse_imap_url("imap://u@h", env={"HELPMAIL_IMAP_PASSWORD": "x"}).port == 143


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        (f"imaps://u:{PASSWORD}@h/INBOX", "must not contain a password"),
        ("imaps://h/INBOX", "needs a user name"),
        ("pop3://u@h/INBOX", "must start with"),
        ("imaps://u@h/INBOX?colour=red", "unknown option"),
        ("imaps://u@[::1/INBOX", "not a valid URL"),
        ("imaps://u@h:99999/INBOX", "invalid port"),
    ],
)
def test_imap_url_errors_never_echo_the_password(url: str, problem: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_imap_url(url, env={"HELPMAIL_IMAP_PASSWORD": "x"})
    assert problem in str(info.value)
    assert PASSWORD not in str(info.value)


def test_imap_url_needs_password_from_environment() -> None:
    with pytest.raises(ConfigError, match="HELPMAIL_IMAP_PASSWORD"):
        parse_imap_url("imaps://u@h/INBOX", env={})


@given(st.text(max_size=40))
def test_imap_urls_are_valid_or_a_config_error(text: str) -> None:
    for url in (text, "imaps://" + text, "imap://u@" + text):
        key = host = ""
        try:
            host = parse_imap_url(url, env={"HELPMAIL_IMAP_PASSWORD": "x"}).host
        except ConfigError as error:
            key = error.key
        assert key or host


@pytest.mark.parametrize("url", ["imaps://u@[::1/INBOX", "mbox://[x", "maildir://[x"])
def test_malformed_mailbox_urls_are_config_errors(url: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_mailboxes([{"name": "m", "url": url, "password": {"env": "SUPPORT_PW"}}], "mailboxes")
    assert "mailboxes[0]" in str(info.value)
