"""``helpmail suspended list|accept|reject``: the suspended queue from the command line."""

from __future__ import annotations

import argparse
import datetime as dt
import json
from pathlib import Path

import pytest

from helpmail import parse_mail
from helpmail.adapters.sqlite import SqliteStore
from helpmail.adapters.sqlite_suspended import SqliteSuspendedQueue
from helpmail.admission import Admission, AdmissionAction
from helpmail.cli import suspended as command
from helpmail.errors import ConfigError
from helpmail.suspended import suspension_for

NOW = dt.datetime(2026, 11, 23, 9, 30, tzinfo=dt.UTC)
DATA = Path(__file__).parent / "data" / "desk"


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="helpmail suspended")
    command.add_arguments(parser)
    return command.run(parser.parse_args(argv))


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "desk.sqlite3"
    SqliteStore(path).close()
    queue = SqliteSuspendedQueue(path)
    for name, reason in (
        ("spam-trusted-spamassassin.eml", "spam"),
        ("blocked-sender.eml", "blocklist"),
    ):
        mail = parse_mail((DATA / name).read_bytes())
        admission = Admission(action=AdmissionAction.SUSPEND, reason=reason, checks=())
        queue.suspend(suspension_for(mail, admission, at=NOW))
    queue.close()
    return path


def test_list_shows_pending_mail_with_reason(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("list", "--db", str(db)) == 0
    out = capsys.readouterr().out
    assert "s1" in out
    assert "spam" in out
    assert "winner@promo-blast.example" in out
    assert "offers@leadgen-blast.example" in out


def test_accept_and_reject(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("accept", "s2", "--db", str(db), "--by", "ann") == 0
    assert "s2 accepted by ann: created ticket" in capsys.readouterr().out
    assert run("accept", "s2", "--db", str(db)) == 0
    assert "already accepted" in capsys.readouterr().out
    assert run("reject", "s1", "--db", str(db), "--note", "prize scam") == 0
    assert "never replied" in capsys.readouterr().out
    assert run("list", "--db", str(db)) == 0
    assert "no pending suspended mail" in capsys.readouterr().out
    assert run("list", "--db", str(db), "--all", "--json") == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(e["id"], e["state"]) for e in listed] == [("s1", "rejected"), ("s2", "accepted")]
    assert listed[0]["note"] == "prize scam"
    store = SqliteStore(db)
    assert [t.title for t in store.tickets()] == ["10,000 verified B2B leads for your support team"]
    store.close()


def test_refused_decision_fails_with_status_1(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("reject", "s1", "--db", str(db)) == 0
    assert run("accept", "s1", "s99", "--db", str(db)) == 1
    err = capsys.readouterr().err
    assert "s1: suspended mail s1 is already rejected" in err
    assert "s99: no suspended mail" in err


def test_database_from_config_and_missing_database(tmp_path: Path, db: Path) -> None:
    config = tmp_path / "helpmail.toml"
    config.write_text(f'[database]\npath = "{db.name}"\n', encoding="utf-8")
    assert run("list", "--config", str(config)) == 0
    with pytest.raises(ConfigError, match="no database"):
        run("list", "--db", str(tmp_path / "missing.sqlite3"))
    with pytest.raises(ConfigError, match="give the database"):
        run("list")
