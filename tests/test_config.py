"""The TOML configuration: every problem is reported, each naming its key; secrets never show."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpmail.config import (
    SECTIONS,
    AfterImport,
    Config,
    ConfigErrors,
    MailboxConfig,
    MailboxKind,
    Secret,
    Table,
    TlsMode,
    integer,
    load_config,
    mailbox_from_url,
    parse_config,
    parse_toml,
    size,
)
from helpmail.errors import ConfigError, HelpmailError
from helpmail.ports import MailboxActionKind
from helpmail.tickets.settings import SubjectMatchPolicy, UnknownSenderPolicy

ENV = {"KEY": "k3y-value", "OLD_KEY": "old-k3y", "IMAP_PW": "pa55"}


@pytest.fixture(autouse=True)
def shared_mailbox_parser(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests are about :func:`helpmail.config.parse_mailboxes` (the shared fields); the
    registered ``mailboxes`` parser (the IMAP scanner's) refines IMAP entries and has its tests."""
    monkeypatch.setitem(SECTIONS, "mailboxes", "helpmail.config:parse_mailboxes")


def problems(text: str, env: dict[str, str] | None = None) -> dict[str, str]:
    """key -> problem of every error in ``text`` (fails if the text is valid)."""
    with pytest.raises(ConfigErrors) as caught:
        parse_toml(text, env=ENV if env is None else env, base_dir=Path("/cfg"))
    found = {error.key: error.problem for error in caught.value.errors}
    assert len(found) == len(caught.value.errors), "two problems with the same key"
    return found


def parse(text: str) -> Config:
    return parse_toml(text, env=ENV, base_dir=Path("/cfg"))


def shared(config: Config) -> tuple[MailboxConfig, ...]:
    """The mailboxes as the shared parser returns them (every one a MailboxConfig)."""
    found = tuple(m for m in config.mailboxes if isinstance(m, MailboxConfig))
    assert len(found) == len(config.mailboxes)
    return found


FULL = """
[desk]
name = "Acme Support"
domain = "Acme.Example"
addresses = ["support@acme.example"]
signing_keys = [{ env = "KEY" }, { env = "OLD_KEY" }]

[import]
default_contact = "nobody"
default_employee = "robot"
status = "new from mail"
follow_up_status = "customer replied"
queue = "first-level"
manager = "dispatch"
assignee = ""
unknown_sender = "default_contact"
attachments = ["image/png", "application/pdf"]
max_attachment_size = "5 MB"
ticket_tag = "[Case {number}]"
subject_match = "accept"
ticket_number_format = "{year}-{n:05d}"
ticket_for_unmatched = []

[database]
path = "desk.sqlite3"

[[mailboxes]]
name = "support"
url = "imaps://support%40acme.example@imap.acme.example/Support"
password = { env = "IMAP_PW" }
after_import = "move"
move_to = "Imported"

[[mailboxes]]
name = "archive"
path = "/srv/archive.mbox"
kind = "mbox"
"""


def test_a_full_configuration_maps_to_typed_values() -> None:
    config = parse(FULL)
    assert config.desk.name == "Acme Support"
    assert config.desk.domain == "acme.example"
    assert [key.reveal() for key in config.desk.signing_keys] == [b"k3y-value", b"old-k3y"]
    settings = config.import_settings(config.mailbox("support"))
    assert settings.status == "new from mail"
    assert settings.follow_up_status == "customer replied"
    assert settings.assignee is None  # "" means not set
    assert settings.unknown_sender is UnknownSenderPolicy.DEFAULT_CONTACT
    assert settings.subject_match is SubjectMatchPolicy.ACCEPT
    assert settings.attachments.allowed_types == frozenset({"image/png", "application/pdf"})
    assert settings.attachments.max_size == 5 * 1024 * 1024
    assert settings.ticket_tag.render("7") == "[Case 7]"
    assert settings.ticket_tag.regex().search("Re: [case 42] x") is not None
    assert settings.number_format == "{year}-{n:05d}"
    assert settings.ticket_for_unmatched == frozenset()
    assert settings.signing_keys == (b"k3y-value", b"old-k3y")
    assert settings.own_addresses == ("support@acme.example",)
    assert [a.kind for a in settings.after_import] == [MailboxActionKind.MOVE]
    assert settings.after_import[0].folder == "Imported"
    assert config.database.path == Path("/cfg/desk.sqlite3")
    imap, archive = shared(config)
    assert imap.kind is MailboxKind.IMAP
    assert (imap.host, imap.port, imap.tls, imap.folder) == (
        "imap.acme.example",
        993,
        TlsMode.SSL,
        "Support",
    )
    assert imap.username == "support@acme.example"
    assert imap.url == "imaps://support@acme.example@imap.acme.example:993/Support"
    assert archive.kind is MailboxKind.MBOX
    assert archive.path == Path("/srv/archive.mbox")
    assert archive.after_import is AfterImport.LEAVE
    assert archive.actions() == ()


def test_an_empty_file_means_every_default() -> None:
    config = parse("")
    assert config.mailboxes == ()
    assert config.database.path is None
    assert config.import_settings().status == "email imported"


def test_every_problem_is_reported_each_naming_its_key() -> None:
    found = problems(
        """
        [desk]
        domian = "acme.example"
        signing_key = { env = "MISSING" }
        [import]
        atachments = "images"
        unknown_sender = "new contact"
        ticket_tag = "[Ticket#]"
        [database]
        path = 42
        [[mailboxes]]
        url = "imaps://bob@mail.example.org/INBOX"
        [[mailboxes]]
        host = "imap.example.org"
        port = "abc"
        [notfy]
        x = 1
        """
    )
    assert found == {
        "desk.domian": 'unknown key (did you mean "domain"?)',
        "desk.signing_key": "environment variable MISSING is not set",
        "import.atachments": 'unknown key (did you mean "attachments"?)',
        "import.unknown_sender": (
            'must be one of "create_contact", "default_contact", got "new contact"'
            ' (did you mean "create_contact"?)'
        ),
        "import.ticket_tag": 'must contain {number} exactly once, got "[Ticket#]"',
        "database.path": "must be a string, got an integer 42",
        "mailboxes[1].port": 'must be an integer between 1 and 65535, got "abc"',
        "notfy": "unknown section"
        + ("" if "notify" not in SECTIONS else ' (did you mean "notify"?)'),
    }


def test_the_message_of_all_errors_lists_one_problem_a_line() -> None:
    with pytest.raises(ConfigErrors) as caught:
        parse_toml('[desk]\nname = 1\n[import]\nstatus = ""\n', env={})
    assert str(caught.value).splitlines() == [
        "desk.name: must be a string, got an integer 1",
        "import.status: must not be empty",
    ]
    assert isinstance(caught.value, ConfigError)
    assert isinstance(caught.value, HelpmailError)


@pytest.mark.parametrize(
    ("text", "key", "expected"),
    [
        ("desk = 3", "desk", "must be a table, got an integer"),
        ('[desk]\ndomain = "not a domain!"', "desk.domain", "must be a domain name"),
        ('[desk]\nsigning_key = "plain-text"', "desk.signing_key", "secrets are not written"),
        ('[desk]\nsigning_key = { env = "KEY", file = "x" }', "desk.signing_key", "exactly one"),
        ('[desk]\nsigning_key = { envv = "KEY" }', "desk.signing_key.envv", "did you mean"),
        ("[desk]\nsigning_keys = []", "desk.signing_keys", "non-empty array"),
        ('[desk]\naddresses = ["not-an-address"]', "desk.addresses[0]", "must be an email"),
        ('[import]\nattachments = "imagez"', "import.attachments", 'did you mean "images"'),
        ('[import]\nattachments = ["image/png", "png"]', "import.attachments[1]", "media type"),
        ('[import]\nmax_attachment_size = "lots"', "import.max_attachment_size", "a size like"),
        ('[import]\nsubject_match = "acept"', "import.subject_match", 'did you mean "accept"'),
        ('[import]\nticket_number_pattern = "(a+)+"', "import.ticket_number_pattern", "pattern"),
        ('[import]\nticket_number_format = "{x}"', "import.ticket_number_format", "may use only"),
        (
            '[import]\nticket_for_unmatched = ["bulk", "bounce"]',
            "import.ticket_for_unmatched[1]",
            "must be one of",
        ),
        ("mailboxes = 1", "mailboxes", "must be an array of tables"),
        ("[[mailboxes]]\nname = 'x'", "mailboxes[0]", "needs url"),
        ("[[mailboxes]]\nurl = 'pop3://host'", "mailboxes[0].url", "must start with imaps://"),
        ("[[mailboxes]]\nurl = 'imaps://u:secret@host/INBOX'", "mailboxes[0].url", "password"),
        ("[[mailboxes]]\nurl = 'imaps://host:99999/INBOX'", "mailboxes[0].url", "invalid port"),
        ("[[mailboxes]]\npath = 'M'\nport = 1", "mailboxes[0].port", "only applies to IMAP"),
        ("[[mailboxes]]\nhost = 'h'\ntls = 'tls'", "mailboxes[0].tls", 'must be one of "ssl"'),
        ("[[mailboxes]]\nhost = 'h'\npath = 'x'", "mailboxes[0].host", "only applies to"),
        (
            "[[mailboxes]]\nkind = 'imap'\nhost = 'h'\npath = 'x'",
            "mailboxes[0].path",
            "only applies to",
        ),
        ("[[mailboxes]]\nhost = 'h'\nafter_import = 'move'", "mailboxes[0].move_to", "required"),
        ("[[mailboxes]]\nkind = 'mbox'", "mailboxes[0].path", "is required"),
        ("[[mailboxes]]\nkind = 'imap'", "mailboxes[0].host", "is required"),
        ("[[mailboxes]]\nhost = 'h'\npassword = { env = 'NOPE' }", "mailboxes[0].password", "NOPE"),
    ],
)
def test_each_invalid_value_names_its_key(text: str, key: str, expected: str) -> None:
    found = problems(text)
    assert key in found, found
    assert expected in found[key]


def test_duplicate_mailbox_names_are_reported() -> None:
    found = problems("[[mailboxes]]\nname='a'\npath='x'\n[[mailboxes]]\nname='a'\npath='y'\n")
    assert found == {"mailboxes[1].name": "'a' is already the name of mailboxes[0]"}


def test_toml_syntax_errors_name_the_file_and_line(tmp_path: Path) -> None:
    file = tmp_path / "bad.toml"
    file.write_text("[desk]\nname = \n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(file)
    assert caught.value.key == str(file)
    assert "line 2" in caught.value.problem


def test_a_missing_file_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "nope.toml")


def test_relative_paths_start_at_the_configuration_files_directory(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "key").write_text("  from-a-file \n", encoding="utf-8")
    file = tmp_path / "conf" / "helpmail.toml"
    file.write_text(
        '[desk]\nsigning_key = { file = "key" }\n[database]\npath = "db/desk.sqlite3"\n'
        '[[mailboxes]]\nurl = "maildir:Maildir"\n',
        encoding="utf-8",
    )
    config = load_config(file, env={})
    assert config.desk.signing_keys[0].reveal() == b"from-a-file"
    assert config.database.path == tmp_path / "conf" / "db" / "desk.sqlite3"
    assert shared(config)[0].path == tmp_path / "conf" / "Maildir"
    assert config.mailboxes[0].name == "mailbox1"
    assert config.path == file


def test_an_unreadable_secret_file_is_reported(tmp_path: Path) -> None:
    found = problems(f'[desk]\nsigning_key = {{ file = "{tmp_path}/missing" }}')
    assert found["desk.signing_key"].startswith(f"cannot read {tmp_path}/missing")


def test_secrets_never_show_in_repr_or_str() -> None:
    config = parse(FULL)
    shown = repr(config) + str(config) + repr(config.mailboxes) + str(config.desk.signing_keys[0])
    for value in ENV.values():
        assert value not in shown
    assert "env:KEY" in shown
    assert Secret(origin="env:X", value=b"v").reveal() == b"v"


def test_errors_never_show_secret_values() -> None:
    found = problems('[desk]\nsigning_key = "hunter2-plain"\n')
    assert "hunter2" not in "".join(found.values())


def test_url_forms() -> None:
    assert mailbox_from_url("imap://h/Box", "k") == {
        "kind": "imap",
        "host": "h",
        "tls": "starttls",
        "folder": "Box",
    }
    assert mailbox_from_url("maildir:/var/mail/x", "k") == {
        "kind": "maildir",
        "path": "/var/mail/x",
    }
    assert mailbox_from_url("mbox:///x.mbox", "k") == {"kind": "mbox", "path": "/x.mbox"}
    starttls = shared(parse("[[mailboxes]]\nurl = 'imap://h'\n"))[0]
    assert (starttls.port, starttls.tls, starttls.folder) == (143, TlsMode.STARTTLS, "INBOX")


def test_config_mailbox_lookup_names_the_known_ones() -> None:
    config = parse(FULL)
    with pytest.raises(ConfigError, match="'support', 'archive'"):
        config.mailbox("nope")


def test_sections_registered_elsewhere_are_parsed_and_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(SECTIONS, "extra", f"{__name__}:parse_extra")
    config = parse("[extra]\nlimit = 5\n")
    assert config.section("extra") == 5
    found = problems("[extra]\nlimit = 0\nlimti = 1\n")
    assert found == {
        "extra.limit": "must be an integer between 1 and 10, got 0",
        "extra.limti": 'unknown key (did you mean "limit"?)',
    }


def parse_extra(value: object, key: str) -> int:
    """A section parser as another part of helpmail would write it."""
    table = Table(value, key)
    limit = table.get("limit", integer(1, 10), 1)
    table.finish()
    return limit


def test_every_registered_section_parser_imports_and_reports_with_keys() -> None:
    from helpmail.config import _section_parser

    for name in SECTIONS:
        parser = _section_parser(name)
        assert callable(parser), name
        with pytest.raises(ConfigError) as caught:
            parser(42, name)  # no section is a bare integer
        keys = [e.key for e in getattr(caught.value, "errors", (caught.value,))]
        assert all(key.startswith(name) for key in keys), (name, keys)


def test_parse_config_takes_decoded_data() -> None:
    config = parse_config({"desk": {"name": "X"}}, env={})
    assert config.desk.name == "X"


@pytest.mark.parametrize(
    ("text", "expected"),
    [(1, 1), ("20 MB", 20 * 1024**2), ("512KiB", 512 * 1024), ("1.5 g", int(1.5 * 1024**3))],
)
def test_sizes(text: object, expected: int) -> None:
    assert size(text, "k") == expected


@given(st.text(max_size=40))
def test_any_port_text_is_an_error_naming_the_key(port: str) -> None:
    toml_string = json.dumps(port, ensure_ascii=False).replace("\x7f", "\\u007f")
    found = problems(f"[[mailboxes]]\nhost = 'h'\nport = {toml_string}\n")
    assert found["mailboxes[0].port"].startswith("must be an integer between 1 and 65535, got ")


@given(st.integers())
def test_ports_are_checked_by_range(port: int) -> None:
    text = f"[[mailboxes]]\nhost = 'h'\nport = {port}\n"
    if 1 <= port <= 65535:
        assert parse(text).mailboxes[0].port == port
    elif -(2**63) <= port < 2**63:
        assert "mailboxes[0].port" in problems(text)


_KEYS = st.sampled_from(
    [
        "name",
        "url",
        "path",
        "host",
        "port",
        "env",
        "file",
        "when",
        "actions",
        "field",
        "op",
        "value",
        "type",
        "addresses",
        "address",
        "domain",
        "status",
        "attachments",
        "folder",
        "kind",
        "username",
        "password",
        "signing_key",
        "ticket_tag",
        "subject_match",
        "after_import",
        "move_to",
        "tls",
        "folders",
        "events",
        "policy",
        "action",
        "default",
    ]
)
_SCALARS = st.one_of(
    st.booleans(),
    st.integers(-5, 70_000),
    st.floats(allow_nan=False),
    st.text(max_size=12),
    st.sampled_from(["imaps://u@h/INBOX", "images", "ssl", "maildir:/x", "[T#{number}]", "move"]),
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(_KEYS, inner, max_size=4)),
    max_leaves=10,
)
_TABLES = st.dictionaries(_KEYS, _VALUES, max_size=6)


@given(
    st.dictionaries(
        st.sampled_from(sorted(SECTIONS)),
        st.one_of(_TABLES, st.lists(_TABLES, max_size=3), _SCALARS),
        max_size=3,
    )
)
def test_any_document_is_valid_or_a_config_error_never_a_crash(
    document: dict[str, object],
) -> None:
    """Every registered section parser turns nonsense into ConfigError, never another exception."""
    try:
        parse_config(document, env={}, base_dir=Path("/nonexistent"))
    except ConfigError as error:
        for problem in getattr(error, "errors", (error,)):
            assert problem.key, problem
