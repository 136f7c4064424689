"""``helpmail check`` findings for notifications, the ``[notify]`` section, and EVENT.json."""

from __future__ import annotations

import contextlib
import datetime as dt
from typing import Any

import attrs
import jinja2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpmail.errors import ConfigError
from helpmail.notify import (
    EventKind,
    NotifySettings,
    Person,
    Queue,
    Role,
    Sender,
    Severity,
    StaticDirectory,
    check_notify_settings,
    parse_notify_config,
)
from helpmail.notify.event_json import event_from_json, event_to_json
from helpmail.notify.settings import DEFAULT_EVENT_ROLES
from helpmail.templates import TemplateRenderer
from helpmail.tickets import events as ev

GOOD = NotifySettings(default_sender=Sender(address="desk@example.com"))
DIRECTORY = StaticDirectory.of(
    [
        Person(id="anna", address="anna@example.com"),
        Person(id="dora", address="dora@example.com", dispatcher=True),
    ],
    [Queue(id="support", members=("anna",)), Queue(id="second", address="second@example.com")],
)


def rules(findings: list[Any]) -> list[str]:
    return sorted(f.rule for f in findings)


def with_roles(kind: EventKind, *roles: Role) -> NotifySettings:
    table = dict(DEFAULT_EVENT_ROLES)
    table[kind] = frozenset(roles)
    return attrs.evolve(GOOD, events=table)


def test_check_clean_configuration_has_no_findings() -> None:
    assert check_notify_settings(GOOD, DIRECTORY, TemplateRenderer()) == []


def test_check_recipient_without_an_address() -> None:
    directory = StaticDirectory.of(
        [Person(id="anna", name="Anna")], [Queue(id="support", members=("anna", "ghost"))]
    )
    found = check_notify_settings(GOOD, directory, TemplateRenderer())
    assert rules(found) == ["notify.recipient-without-address", "notify.unknown-person"]
    assert found[0].key == "notify.queues.support.members"
    assert found[0].severity is Severity.WARNING


def test_check_invalid_address() -> None:
    directory = StaticDirectory.of(
        [Person(id="anna", address="anna@@example.com")],
        [Queue(id="support", address="support at example.com")],
    )
    bad = attrs.evolve(GOOD, dispatchers=("x@y",), bounce_address="bounces@example")
    found = check_notify_settings(bad, directory, TemplateRenderer())
    assert rules(found) == ["notify.invalid-address"] * 4
    assert {f.key for f in found} == {
        "notify.people.anna.address",
        "notify.queues.support.address",
        "notify.dispatchers[0]",
        "notify.bounce_address",
    }
    assert all(f.severity is Severity.ERROR for f in found)


def test_check_dispatcher_and_queue_mails_on_the_same_event() -> None:
    found = check_notify_settings(
        with_roles(EventKind.REQUEST_FROM_USER, Role.DISPATCHERS, Role.RESOURCE),
        DIRECTORY,
        TemplateRenderer(),
    )
    assert rules(found) == ["notify.duplicate-roles"]
    assert found[0].key == "notify.events.request_from_user"


def test_check_user_checkbox_1_and_3_both_on_is_redundant() -> None:
    both = with_roles(EventKind.TICKET_CREATED, Role.USERS, Role.RESOURCE)
    found = check_notify_settings(both, DIRECTORY, TemplateRenderer())
    assert rules(found) == ["notify.redundant-user-notices"]


def test_check_queue_without_address_and_no_default_sender() -> None:
    found = check_notify_settings(NotifySettings(), DIRECTORY, TemplateRenderer())
    assert rules(found) == ["notify.queue-without-sender"]
    assert found[0].key == "notify.queues.support"
    assert found[0].severity is Severity.ERROR


def test_check_template_that_fails_to_render() -> None:
    host = jinja2.DictLoader(
        {
            "en/escalated.resource.subject": "{{ ticket.nope }}",
            "de/default.txt": "{% if %}",
            "en/unused.txt": "{{ x.__class__ }}",  # compiles; never rendered
        }
    )
    found = check_notify_settings(GOOD, DIRECTORY, TemplateRenderer(host))
    messages = [f.message for f in found]
    assert set(rules(found)) == {"notify.template-fails"}
    assert any("en/escalated.resource.subject, line 1" in m and "nope" in m for m in messages)
    assert any("de/default.txt, line 1" in m for m in messages)
    assert len(messages) == len(set(messages))


# --- the [notify] section ---------------------------------------------------------------------

SECTION: dict[str, Any] = {
    "server_url": "https://desk.example.com",
    "default_sender": "desk@example.com",
    "default_sender_name": "Example Desk",
    "dispatchers": ["dora", "oncall@example.com"],
    "return_path": "verp",
    "bounce_address": "bounces@desk.example.com",
    "events": {"status_changed": ["resource"], "ticket_closed": []},
    "people": {
        "anna": {"name": "Anna", "address": "anna@example.com", "language": "de"},
        "dora": {"address": "dora@example.com", "dispatcher": True},
    },
    "queues": {"support": {"name": "Support", "members": ["anna"]}},
}


def test_parse_notify_section() -> None:
    parsed = parse_notify_config(SECTION, "notify")
    s = parsed.settings
    assert s.server_url == "https://desk.example.com/"
    assert s.default_sender == Sender(address="desk@example.com", name="Example Desk")
    assert s.events[EventKind.STATUS_CHANGED] == {Role.RESOURCE}
    assert s.events[EventKind.TICKET_CLOSED] == frozenset()
    assert s.events[EventKind.REQUEST_FROM_USER] == {Role.DISPATCHERS}  # default kept
    assert parsed.directory.person("anna") == Person(
        id="anna", name="Anna", address="anna@example.com", language="de"
    )
    assert [p.id for p in parsed.directory.dispatchers()] == ["dora"]
    assert "server_url" in parsed.given


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"evnts": {}}, "notify.evnts"),
        ({"events": {"closed": []}}, "notify.events.closed"),
        ({"events": {"escalated": ["boss"]}}, "notify.events.escalated[0]"),
        ({"events": {"escalated": ["external"]}}, "notify.events.escalated"),
        ({"notify_actor": "yes"}, "notify.notify_actor"),
        ({"return_path": "dedicated", "bounce_address": None}, "notify.bounce_address"),
        ({"people": {"x": {"adress": "x@example.com"}}}, "notify.people.x.adress"),
        ({"people": {"x": {"language": "english"}}}, "notify.people.x.language"),
        ({"queues": {"q": {"members": "anna"}}}, "notify.queues.q.members"),
        ({"subject_tag": "[Ticket]"}, "notify.subject_tag"),
    ],
)
def test_parse_notify_section_errors_name_the_key(change: dict[str, Any], key: str) -> None:
    section = {**SECTION, **change}
    section = {k: v for k, v in section.items() if v is not None}
    with pytest.raises(ConfigError) as caught:
        parse_notify_config(section, "notify")
    assert caught.value.key == key


def test_parse_notify_section_reports_every_problem() -> None:
    from helpmail.config import ConfigErrors

    section = {
        **SECTION,
        "notify_actr": True,
        "events": {"escalated": ["boss"]},
        "people": {"x": {"language": "english"}},
    }
    with pytest.raises(ConfigErrors) as caught:
        parse_notify_config(section, "notify")
    keys = {error.key for error in caught.value.errors}
    assert keys == {"notify.notify_actr", "notify.events.escalated[0]", "notify.people.x.language"}
    assert 'did you mean "notify_actor"' in str(caught.value)


# --- EVENT.json -------------------------------------------------------------------------------


def test_event_json_round_trip_for_every_kind() -> None:
    from helpmail.notify.check import sample_event

    for kind in EventKind:
        event = sample_event(kind)
        assert event_from_json(event_to_json(event)) == event


def test_event_json_example() -> None:
    event = event_from_json(
        {
            "type": "ticket_created",
            "at": "2026-11-23T09:00:00+01:00",
            "channel": "mail",
            "via_mail_import": True,
            "ticket": {
                "id": "T-17",
                "number": "1017",
                "title": "Printer",
                "status": "new",
                "external_recipients": ["a@example.com"],
            },
        }
    )
    assert isinstance(event, ev.TicketCreated)
    assert event.channel is ev.Channel.MAIL
    assert event.at == dt.datetime(2026, 11, 23, 8, 0, tzinfo=dt.UTC)
    assert event.ticket.external_recipients == ("a@example.com",)


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({}, "type"),
        ({"type": "exploded"}, "type"),
        ({"type": "escalated", "at": "2026-01-01T00:00:00Z"}, "ticket"),
        ({"type": "escalated", "at": "yesterday", "ticket": {}}, "at"),
        (
            {"type": "escalated", "at": "2026-01-01T00:00:00Z", "ticket": {"id": "T"}},
            "ticket.number",
        ),
        ({"type": "escalated", "at": "2026-01-01T00:00:00Z", "colour": "red"}, "colour"),
        ({"type": "ticket_created", "at": "2026-01-01T00:00:00Z", "channel": "fax"}, "channel"),
    ],
)
def test_event_json_errors_name_the_key(data: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        event_from_json(data)
    assert caught.value.key == key


@settings(max_examples=100, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=5),
        lambda c: (
            st.lists(c, max_size=3)
            | st.dictionaries(
                st.sampled_from(
                    ["type", "at", "ticket", "id", "number", "title", "status", "channel", "text"]
                ),
                c,
                max_size=5,
            )
        ),
        max_leaves=12,
    )
)
def test_event_json_never_crashes_on_junk(data: object) -> None:
    with contextlib.suppress(ConfigError):
        event_from_json(data)
