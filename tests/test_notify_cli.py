"""``helpmail notify --config FILE --event EVENT.json [--json]``: who would get what, and why."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from helpmail.cli import notify as notify_cli
from helpmail.errors import ConfigError
from helpmail.message_ids import read_message_id

CONFIG = """
[desk]
name = "Example Desk"
domain = "desk.example.com"
signing_key = { env = "HELPMAIL_TEST_KEY" }

[notify]
server_url = "https://desk.example.com/"
default_sender = "desk@example.com"
default_sender_name = "Example Desk"
templates = "templates"

[notify.people.anna]
name = "Anna Agent"
address = "anna@example.com"
language = "de"

[notify.people.mia]
name = "Mia Manager"
address = "mia@example.com"

[notify.people.nomail]
name = "No Mail"

[notify.queues.support]
name = "Support"
members = ["anna", "nomail"]
"""

EVENT = {
    "type": "ticket_created",
    "at": "2026-11-23T09:00:00+00:00",
    "channel": "mail",
    "via_mail_import": True,
    "actor": None,
    "ticket": {
        "id": "T-17",
        "number": "1017",
        "title": "Printer on fire",
        "status": "new",
        "queue": "support",
        "manager": "mia",
        "reporter_address": "carla@example.org",
        "support_address": "help@example.com",
        "external_recipients": ["boss@example.net"],
    },
}


def run(tmp_path: Path, *extra: str) -> int:
    parser = argparse.ArgumentParser()
    notify_cli.add_arguments(parser)
    args = parser.parse_args(
        ["--config", str(tmp_path / "desk.toml"), "--event", str(tmp_path / "event.json"), *extra]
    )
    return notify_cli.run(args)


@pytest.fixture
def desk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HELPMAIL_TEST_KEY", "cli-test-key")
    (tmp_path / "desk.toml").write_text(CONFIG, encoding="utf-8")
    (tmp_path / "event.json").write_text(json.dumps(EVENT), encoding="utf-8")
    (tmp_path / "templates" / "en").mkdir(parents=True)
    (tmp_path / "templates" / "en" / "import_customer.subject").write_text(
        "We got it: {{ ticket.title }}", encoding="utf-8"
    )
    return tmp_path


def test_notify_cli_json_shows_who_gets_what_and_why(
    desk: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(desk, "--json") == 0
    out = json.loads(capsys.readouterr().out)
    assert out["event"] == "ticket_created"
    got = {r["address"]: r for r in out["recipients"]}
    assert list(got) == ["carla@example.org", "mia@example.com", "anna@example.com"]
    carla = got["carla@example.org"]
    assert carla["roles"] == ["import_customer"]
    assert carla["from"]["address"] == "help@example.com"
    assert carla["subject"] == "[Ticket#1017] We got it: Printer on fire"  # host template
    assert carla["templates"][0] == "en/import_customer.subject"
    assert got["anna@example.com"]["language"] == "de"
    signed = read_message_id(carla["message_id"], [b"cli-test-key"])
    assert signed is not None
    assert signed.recipient == "carla@example.org"
    assert carla["message_id"].endswith("@desk.example.com>")
    skipped = {(s["who"], s["reason"]) for s in out["suppressed"]}
    assert ("nomail", "no_address") in skipped
    assert ("boss@example.net", "not_applicable") in skipped


def test_notify_cli_text_output(desk: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(desk, "--body") == 0
    out = capsys.readouterr().out
    assert "would send 3 mail(s):" in out
    assert "to carla@example.org as import_customer [en]" in out
    assert (
        "boss@example.net (external) - not_applicable: the ticket came from mail-to-ticket" in out
    )
    assert "nothing was sent" in out
    assert "| Hallo Anna Agent," in out


def test_notify_cli_bad_event_names_the_key(desk: Path) -> None:
    (desk / "event.json").write_text(json.dumps({**EVENT, "type": "boom"}), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        run(desk)
    assert caught.value.key == "type"
    (desk / "event.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid JSON"):
        run(desk)


def test_notify_cli_bad_config_names_the_key(desk: Path) -> None:
    (desk / "desk.toml").write_text(CONFIG + "\n[notify.queues.x]\nmembrs = []\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        run(desk)
    assert "notify.queues.x.membrs" in str(caught.value)


def test_notify_cli_without_signing_key_uses_a_throwaway_key(
    desk: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = CONFIG.replace('signing_key = { env = "HELPMAIL_TEST_KEY" }\n', "")
    (desk / "desk.toml").write_text(config, encoding="utf-8")
    assert run(desk, "--json") == 0
    out = json.loads(capsys.readouterr().out)
    assert out["notes"] == ["no [desk] signing_key: Message-IDs signed with a throwaway key"]
    assert len(out["recipients"]) == 3


def test_notify_cli_with_notify_registered_as_a_config_section(
    desk: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from helpmail import config

    monkeypatch.setitem(config.SECTIONS, "notify", "helpmail.notify.settings:parse_notify_config")
    assert run(desk, "--json") == 0
    out = json.loads(capsys.readouterr().out)
    assert [r["address"] for r in out["recipients"]] == [
        "carla@example.org",
        "mia@example.com",
        "anna@example.com",
    ]
    assert out["recipients"][0]["subject"] == "[Ticket#1017] We got it: Printer on fire"


def test_check_config_on_a_parsed_configuration(
    desk: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from helpmail import config
    from helpmail.notify.check import check_config

    monkeypatch.setitem(config.SECTIONS, "notify", "helpmail.notify.settings:parse_notify_config")
    parsed = config.load_config(desk / "desk.toml", env={"HELPMAIL_TEST_KEY": "k"})
    findings = check_config(parsed)
    assert [(f.rule, f.key) for f in findings] == [
        ("notify.recipient-without-address", "notify.queues.support.members")
    ]
