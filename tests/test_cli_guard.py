"""``helpmail import`` keeps the delivery guard's state and the desk steps in the desk's SQLite
file: a bounce imported in one run still blocks its address in the next, and the desk sections
of the configuration (admission, spam) decide who may open tickets."""

from __future__ import annotations

import datetime as dt
import json
import mailbox
from pathlib import Path

import pytest

from helpmail import demo
from helpmail.adapters.sqlite_guard import SqliteGuardState
from helpmail.cli import main
from helpmail.guard import DeliveryGuard, Held, HoldReason

MAILS = dict(demo.mails())


def _maildir(folder: Path, names: list[str]) -> Path:
    box = mailbox.Maildir(folder, create=True)
    for name in names:
        box.add(MAILS[name])
    box.close()
    return folder


def _import(argv: list[str], capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    code = main(["import", *argv, "--json"])
    out = capsys.readouterr().out
    assert code == 0, out
    result: dict[str, object] = json.loads(out)
    return result


def test_a_bounce_blocks_its_address_across_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "desk.sqlite3"
    first = _maildir(tmp_path / "first", ["04-en-new-screenshot.eml", "11-bounce-notification.eml"])
    _import([str(first), "--db", str(db)], capsys)
    # a later run (a new process: only the file is shared) sees the block
    state = SqliteGuardState(db)
    try:
        guard = DeliveryGuard(state)
        now = dt.datetime.now(dt.UTC)
        held = guard.check("bob.chen@custmer.example", None, now)
        assert isinstance(held, Held)
        assert held.reason is HoldReason.ADDRESS_BLOCKED
        assert "user_unknown" in held.detail
        assert not guard.check("bob.chen@customer.example", None, now).held
    finally:
        state.close()
    second = _maildir(tmp_path / "second", ["05-en-followup-login.eml"])
    _import([str(second), "--db", str(db)], capsys)
    state = SqliteGuardState(db)
    try:
        assert [b.address for b in state.blocks()] == ["bob.chen@custmer.example"]
    finally:
        state.close()


def test_the_desk_sections_of_the_configuration_take_part_in_the_import(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "desk.toml"
    config.write_text(
        """
[database]
path = "desk.sqlite3"

[admission]
blocklist = [{ sender = "leadgen-blast.example", strength = "reject" }]

[spam]
trusted_hosts = ["mx.acme.example", "store.acme.example"]
""",
        encoding="utf-8",
    )
    names = [
        "01-en-new-login.eml",
        "29-spam-prize-trusted-spamassassin.eml",
        "30-blocked-sender-leadgen.eml",
    ]
    folder = _maildir(tmp_path / "box", names)
    result = _import([str(folder), "--config", str(config)], capsys)
    assert result["counts"] == {"created": 1, "suspended": 1, "dropped": 1}
    code = main(["suspended", "list", "--db", str(tmp_path / "desk.sqlite3")])
    out = capsys.readouterr().out
    assert code == 0
    assert "winner@promo-blast.example" in out


def test_explain_runs_the_desk_steps_of_the_configuration(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "desk.toml"
    config.write_text(
        '[admission]\nblocklist = [{ sender = "leadgen-blast.example", strength = "reject" }]\n',
        encoding="utf-8",
    )
    mail = tmp_path / "blocked.eml"
    mail.write_bytes(MAILS["30-blocked-sender-leadgen.eml"])
    assert main(["explain", str(mail), "--config", str(config), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["outcome"] == "dropped"
    assert "admission" in {step["step"] for step in result["trace"]}
    # without the section the same mail is imported (as bulk mail: it has List-Unsubscribe)
    assert main(["explain", str(mail), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["outcome"] == "created"


def test_poll_workers_share_the_guard_and_the_desk_steps(tmp_path: Path) -> None:
    import contextlib
    import threading

    from helpmail.adapters.sqlite_suspended import SqliteSuspendedQueue
    from helpmail.cli.poll import build_workers
    from helpmail.config import parse_toml
    from helpmail.desk.steps import DeskSettings

    config = parse_toml(
        """
[database]
path = "desk.sqlite3"

[admission]
blocklist = ["leadgen-blast.example"]

[[mailboxes]]
name = "support"
url = "imaps://support@imap.example.org/INBOX"
password = { env = "PW" }

[[mailboxes]]
name = "sales"
url = "imaps://sales@imap.example.org/INBOX"
password = { env = "PW" }
""",
        env={"PW": "x"},
        base_dir=tmp_path,
    )
    with contextlib.ExitStack() as resources:
        workers = build_workers(
            config, db=None, only=None, stop=threading.Event(), once=True, resources=resources
        )
        desks = [worker.desk for worker in workers]
        assert len(desks) == 2
        assert desks[0].guard is desks[1].guard
        assert isinstance(desks[0].guard, DeliveryGuard)
        assert isinstance(desks[0].guard.state, SqliteGuardState)
        assert desks[0].guard.state.path == str(tmp_path / "desk.sqlite3")
        assert isinstance(desks[0].desk, DeskSettings)
        assert isinstance(desks[0].suspended, SqliteSuspendedQueue)
        desks[0].store.close()
