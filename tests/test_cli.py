"""The ``helpmail`` command line: import, explain, check (through ``helpmail.cli.main``), plus one
run of the installed entry point in a subprocess."""

from __future__ import annotations

import io
import json
import mailbox
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpmail import demo
from helpmail.cli import main
from helpmail.cli._output import Progress, table, width

MAILS = dict(demo.mails())


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def make_maildir(folder: Path, names: list[str]) -> Path:
    box = mailbox.Maildir(folder, create=True)
    for name in names:
        box.add(MAILS[name])
    box.close()
    return folder


CONFIG = """
[desk]
name = "Test desk"
signing_key = { env = "HELPMAIL_TEST_KEY" }

[import]
status = "new from mail"
"""


# -- import ------------------------------------------------------------------------------------


def test_import_a_maildir_then_again_imports_nothing_new(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    maildir = make_maildir(
        tmp_path / "Maildir",
        ["01-en-new-login.eml", "02-de-new-printer.eml", "08-en-new-disguised-exe.eml"],
    )
    db = tmp_path / "desk.sqlite3"
    code, out, err = run(["import", str(maildir), "--db", str(db)], capsys)
    assert code == 0
    assert "3 messages: 3 created" in out
    # no progress bar (stderr is not a terminal), only the one notice that no mail is sent
    assert err == "automatic mails: off (no [smtp] section, no --outbox)\n"
    code, out, _err = run(["import", str(maildir), "--db", str(db)], capsys)
    assert code == 0
    assert "3 messages: 3 already imported" in out
    assert "everything was already imported: nothing new" in out


def test_import_verbose_lists_every_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    maildir = make_maildir(
        tmp_path / "M", ["04-en-new-screenshot.eml", "08-en-new-disguised-exe.eml"]
    )
    code, out, _ = run(["import", str(maildir), "--db", str(tmp_path / "d.db"), "-v"], capsys)
    assert code == 0
    assert "kept attachment screenshot.png (image/png)" in out
    assert "refused attachment invoice.png" in out


def test_import_an_mbox_file_with_settings_from_the_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    box = mailbox.mbox(tmp_path / "in.mbox")
    box.add(MAILS["01-en-new-login.eml"])
    box.add(MAILS["05-en-followup-login.eml"])
    box.close()
    config = tmp_path / "helpmail.toml"
    config.write_text(CONFIG + '\n[database]\npath = "tickets.sqlite3"\n', encoding="utf-8")
    monkeypatch.setenv("HELPMAIL_TEST_KEY", "test-key")
    code, out, _ = run(
        ["import", str(tmp_path / "in.mbox"), "--config", str(config), "--json"], capsys
    )
    assert code == 0
    result = json.loads(out)
    assert result["database"] == str(tmp_path / "tickets.sqlite3")
    assert [m["outcome"] for m in result["messages"]] == ["created", "follow_up"]
    from helpmail.adapters.sqlite import SqliteStore

    store = SqliteStore(tmp_path / "tickets.sqlite3", readonly=True)
    try:
        assert [t.status for t in store.tickets()] == ["new from mail"]
    finally:
        store.close()


def test_import_limit_leaves_the_rest_for_the_next_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    maildir = make_maildir(tmp_path / "M", ["01-en-new-login.eml", "02-de-new-printer.eml"])
    db = str(tmp_path / "d.db")
    assert (
        run(["import", str(maildir), "--db", db, "--limit", "1"], capsys)[1].count("created") == 2
    )
    out = run(["import", str(maildir), "--db", db], capsys)[1]
    assert "2 messages: 1 created, 1 already imported" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["import", "{tmp}/nothing-here", "--db", "{tmp}/d.db"], "no such Maildir, mbox file"),
        (["import", "{tmp}"], "--db: no database given"),
        (["import", "imaps://bob@127.0.0.1/INBOX", "--db", "{tmp}/d.db"], "HELPMAIL_IMAP_PASSWORD"),
        (["import", "imaps://bob:pw@127.0.0.1/INBOX", "--db", "{tmp}/d"], "must not contain"),
        (["import", "{tmp}", "--db", "{tmp}/d.db", "--config", "{tmp}/no.toml"], "no such file"),
        (["import", "{tmp}/M", "--db", "{tmp}/no/such/dir/d.db"], "cannot open ticket store"),
        (["explain", "{tmp}/mail.eml", "--db", "{tmp}/none.db"], "no database at"),
    ],
)
def test_import_errors_are_one_line_and_exit_2(
    argv: list[str],
    message: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("HELPMAIL_IMAP_PASSWORD", raising=False)
    make_maildir(tmp_path / "M", ["01-en-new-login.eml"])
    (tmp_path / "mail.eml").write_bytes(MAILS["01-en-new-login.eml"])
    code, out, err = run([a.replace("{tmp}", str(tmp_path)) for a in argv], capsys)
    assert code == 2
    assert out == ""
    assert err.startswith("helpmail: error: ")
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert "pw" not in err.replace("HELPMAIL_IMAP_PASSWORD", "")


# -- explain -----------------------------------------------------------------------------------


def test_explain_prints_the_trace_and_touches_no_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mail = tmp_path / "mail.eml"
    mail.write_bytes(MAILS["08-en-new-disguised-exe.eml"])
    before = set(tmp_path.iterdir())
    code, out, _ = run(["explain", str(mail)], capsys)
    assert code == 0
    assert out.startswith("outcome: created")
    assert "classify: human" in out
    assert "attachment: refused" in out
    assert set(tmp_path.iterdir()) == before


def test_explain_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    mail = tmp_path / "bounce.eml"
    mail.write_bytes(MAILS["11-bounce-notification.eml"])
    code, out, _ = run(["explain", str(mail), "--json"], capsys)
    assert code == 0
    result = json.loads(out)
    assert result["mail_kind"] == "bounce"
    steps = {step["step"] for step in result["trace"]}
    assert {"parse", "classify", "bounce"} <= steps


def test_explain_reads_facts_from_a_store_without_writing_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    maildir = make_maildir(tmp_path / "M", ["01-en-new-login.eml"])
    db = tmp_path / "d.db"
    assert run(["import", str(maildir), "--db", str(db)], capsys)[0] == 0
    (tmp_path / "reply.eml").write_bytes(MAILS["05-en-followup-login.eml"])
    before = db.read_bytes()
    code, out, _ = run(["explain", str(tmp_path / "reply.eml"), "--db", str(db)], capsys)
    assert code == 0
    assert out.startswith("outcome: follow_up")
    assert db.read_bytes() == before
    wal = tmp_path / "d.db-wal"
    assert not wal.exists() or wal.stat().st_size == 0  # a reader's empty WAL, nothing written
    # without the store, the same mail looks like a new request
    assert run(["explain", str(tmp_path / "reply.eml")], capsys)[1].startswith("outcome: created")


def test_explain_reads_standard_input(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    stdin = io.TextIOWrapper(io.BytesIO(MAILS["13-bulk-newsletter.eml"]))
    monkeypatch.setattr(sys, "stdin", stdin)
    code, out, _ = run(["explain", "-"], capsys)
    assert code == 0
    assert "classify: bulk" in out


def test_explain_a_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _out, err = run(["explain", str(tmp_path / "nope.eml")], capsys)
    assert code == 2
    assert "nope.eml: cannot read" in err


# -- check -------------------------------------------------------------------------------------


def test_check_a_valid_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "ok.toml"
    config.write_text(CONFIG, encoding="utf-8")
    monkeypatch.setenv("HELPMAIL_TEST_KEY", "super-secret-value")
    code, out, _ = run(["check", str(config)], capsys)
    assert code == 0
    assert out.startswith(f"{config}: OK")
    assert "Test desk" in out
    assert "env:HELPMAIL_TEST_KEY" in out
    assert "super-secret-value" not in out


def test_check_reports_every_problem_with_its_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HELPMAIL_TEST_KEY", raising=False)
    config = tmp_path / "bad.toml"
    config.write_text(
        CONFIG
        + '\n[[mailboxes]]\nhost = "imap.example.org"\nport = "abc"\nfodler = "x"\n'
        + 'username = "bob"\npassword = { env = "HELPMAIL_TEST_KEY" }\n',
        encoding="utf-8",
    )
    code, out, _ = run(["check", str(config)], capsys)
    assert code == 1
    lines = out.splitlines()
    assert lines[0].startswith(f"{config}: ")
    assert lines[0].endswith(" problems")
    assert "  desk.signing_key: environment variable HELPMAIL_TEST_KEY is not set" in lines
    assert '  mailboxes[0].port: must be an integer between 1 and 65535, got "abc"' in lines
    assert '  mailboxes[0].fodler: unknown key (did you mean "folder"?)' in lines
    code, out, _ = run(["check", str(config), "--json"], capsys)
    assert code == 1
    result = json.loads(out)
    assert result["valid"] is False
    assert {p["key"] for p in result["problems"]} >= {
        "desk.signing_key",
        "mailboxes[0].port",
        "mailboxes[0].fodler",
    }


def test_check_a_toml_syntax_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "broken.toml"
    config.write_text("[desk\n", encoding="utf-8")
    code, out, _ = run(["check", str(config)], capsys)
    assert code == 1
    assert "not valid TOML" in out


def test_check_a_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _out, err = run(["check", str(tmp_path / "none.toml")], capsys)
    assert code == 2
    assert "no such file" in err


def test_the_demo_configuration_is_valid(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(demo.DEMO_KEY_VARIABLE, demo.DEMO_SIGNING_KEY)
    config = tmp_path / "demo.toml"
    config.write_text(demo.config_text(), encoding="utf-8")
    assert run(["check", str(config)], capsys)[0] == 0


# -- output helpers ----------------------------------------------------------------------------


def test_progress_is_drawn_only_on_a_terminal() -> None:
    quiet = io.StringIO()
    progress = Progress("importing", stream=quiet)
    progress.update(5)
    progress.close()
    assert quiet.getvalue() == ""
    drawn = io.StringIO()
    progress = Progress("importing", stream=drawn, force=True)
    progress.update(10, 10)
    progress.close()
    assert "importing" in drawn.getvalue()
    assert "10/10" in drawn.getvalue()
    assert drawn.getvalue().endswith("\r\x1b[K")


def test_table_aligns_wide_characters() -> None:
    text = table([("日本", "x"), ("ab", "y")], headers=("k", "v"))
    lines = [line for line in text.splitlines() if not line.startswith("-")]
    prefixes = [width(line[: line.rindex(last)]) for line, last in zip(lines, "vxy", strict=True)]
    assert prefixes == [6, 6, 6]


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    for command in ("demo", "import", "explain", "check"):
        assert command in out


# -- the installed entry point -----------------------------------------------------------------


def test_the_installed_helpmail_command_runs_the_demo(tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("helpmail")
    command = str(script) if script.exists() else shutil.which("helpmail")
    assert command is not None, "the helpmail entry point is not installed"
    env = {k: v for k, v in os.environ.items() if not k.startswith("HELPMAIL_")}
    completed = subprocess.run(
        [command, "demo", "--dir", str(tmp_path / "demo")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )
    assert completed.returncode == 0, completed.stderr
    assert "32 messages: 17 created" in completed.stdout
    assert (tmp_path / "demo" / "helpmail-demo.sqlite3").is_file()
    assert completed.stderr == ""


def test_rules_from_the_configuration_take_part_in_explain_and_import(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "rules.toml"
    config.write_text(
        """
[[rules]]
name = "invoices to accounting"
when = { field = "subject", op = "contains", value = "invoice" }
actions = [{ type = "set_field", name = "team", value = "accounting" }]

[[rules]]
name = "newsletters away"
when = { field = "classification", op = "equals", value = "bulk" }
actions = [{ type = "quarantine", reason = "no newsletters here" }]
""",
        encoding="utf-8",
    )
    mail = tmp_path / "invoice.eml"
    mail.write_bytes(MAILS["08-en-new-disguised-exe.eml"])
    code, out, _ = run(["explain", str(mail), "--config", str(config)], capsys)
    assert code == 0
    assert "rules: invoices to accounting" in out
    maildir = make_maildir(
        tmp_path / "M", ["08-en-new-disguised-exe.eml", "13-bulk-newsletter.eml"]
    )
    code, out, _ = run(
        ["import", str(maildir), "--db", str(tmp_path / "d.db"), "--config", str(config)], capsys
    )
    assert code == 1  # the newsletter went to the quarantine
    assert "quarantined: rules: " in out
    assert "1 created, 1 quarantined" in out
