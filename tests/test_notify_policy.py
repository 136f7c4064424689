"""Recipient policy rules (issue 6): each test is named after the rule it proves."""

from __future__ import annotations

import datetime as dt
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpmail.notify import (
    DEFAULT_EVENT_ROLES,
    EventKind,
    NotifySettings,
    Person,
    Queue,
    Role,
    Sender,
    StaticDirectory,
    SuppressReason,
    resolve_recipients,
)
from helpmail.notify.settings import APPLICABLE_ROLES
from helpmail.tickets import events as ev

AT = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)

PEOPLE = [
    Person(id="anna", name="Anna Agent", address="anna@example.com", language="de"),
    Person(id="bob", name="Bob Agent", address="bob@example.com"),
    Person(id="dora", name="Dora Dispatcher", address="dora@example.com", dispatcher=True),
    Person(id="dirk", name="Dirk Dispatcher", address="dirk@example.com", dispatcher=True),
    Person(id="nomail", name="No Mail", address=None, dispatcher=False),
    Person(id="mgr", name="Mia Manager", address="mia@example.com"),
    Person(id="carla", name="Carla Customer", address="carla@example.org", language="nl"),
]
QUEUES = [
    Queue(id="support", name="Support", members=("anna", "bob")),
    Queue(id="second", name="Second Level", address="second@example.com"),
    Queue(id="empty", name="Empty"),
]
DIRECTORY = StaticDirectory.of(PEOPLE, QUEUES)
SETTINGS = NotifySettings(default_sender=Sender(address="desk@example.com", name="Desk"))


def ticket(**changes: Any) -> ev.TicketSnapshot:
    base = ev.TicketSnapshot(
        id="T-1",
        number="1001",
        title="Printer on fire",
        status="new",
        queue="support",
        reporter="carla",
        manager="mgr",
        assignee="bob",
    )
    return attrs.evolve(base, **changes)


def only(settings: NotifySettings, kind: EventKind, *roles: Role) -> NotifySettings:
    table: dict[EventKind, frozenset[Role]] = {k: frozenset() for k in EventKind}
    table[kind] = frozenset(roles)
    return attrs.evolve(settings, events=table)


def addresses(resolution: Any) -> list[str]:
    return [r.address for r in resolution.recipients]


def reasons(resolution: Any) -> dict[str, SuppressReason]:
    return {s.who: s.reason for s in resolution.suppressed}


# --- resource (queue) ------------------------------------------------------------------------


def test_resource_rule_members_when_queue_has_no_address() -> None:
    event = ev.ForwardedToQueue(ticket=ticket(), at=AT, from_queue="second")
    result = resolve_recipients(event, SETTINGS, DIRECTORY)
    assert addresses(result) == ["anna@example.com", "bob@example.com"]
    assert all(r.roles == (Role.RESOURCE,) for r in result.recipients)


def test_resource_rule_queue_address_replaces_members() -> None:
    event = ev.ForwardedToQueue(ticket=ticket(queue="second"), at=AT)
    result = resolve_recipients(event, SETTINGS, DIRECTORY)
    assert addresses(result) == ["second@example.com"]
    assert result.recipients[0].person is None


def test_resource_rule_escalation_warning_goes_to_queue_still_responsible() -> None:
    event = ev.EscalationWarning(ticket=ticket(queue="support"), at=AT)
    assert addresses(resolve_recipients(event, SETTINGS, DIRECTORY)) == [
        "anna@example.com",
        "bob@example.com",
    ]


def test_resource_rule_escalated_goes_to_escalation_queue() -> None:
    event = ev.Escalated(ticket=ticket(queue="second"), at=AT, from_queue="support")
    assert addresses(resolve_recipients(event, SETTINGS, DIRECTORY)) == ["second@example.com"]


def test_resource_rule_queue_without_address_or_members_is_reported() -> None:
    event = ev.DeadlinePassed(ticket=ticket(queue="empty"), at=AT)
    result = resolve_recipients(event, SETTINGS, DIRECTORY)
    assert result.recipients == ()
    assert reasons(result) == {"empty": SuppressReason.NO_ADDRESS}


# --- dispatchers ------------------------------------------------------------------------------


def test_request_from_user_notifies_dispatchers_by_default() -> None:
    assert DEFAULT_EVENT_ROLES[EventKind.REQUEST_FROM_USER] == {Role.DISPATCHERS}
    dispatcher_events = [k for k, roles in DEFAULT_EVENT_ROLES.items() if Role.DISPATCHERS in roles]
    assert dispatcher_events == [EventKind.REQUEST_FROM_USER]


def test_dispatcher_rule_acting_dispatcher_with_address_only() -> None:
    event = ev.RequestFromUser(ticket=ticket(dispatcher="dora"), at=AT)
    assert addresses(resolve_recipients(event, SETTINGS, DIRECTORY)) == ["dora@example.com"]


def test_dispatcher_rule_without_acting_dispatcher_all_dispatchers() -> None:
    event = ev.RequestFromUser(ticket=ticket(), at=AT)
    result = resolve_recipients(event, SETTINGS, DIRECTORY)
    assert addresses(result) == ["dora@example.com", "dirk@example.com"]


def test_dispatcher_rule_acting_dispatcher_without_address_falls_back_to_all() -> None:
    event = ev.RequestFromUser(ticket=ticket(dispatcher="nomail"), at=AT)
    result = resolve_recipients(event, SETTINGS, DIRECTORY)
    assert addresses(result) == ["dora@example.com", "dirk@example.com"]
    assert reasons(result)["nomail"] is SuppressReason.NO_ADDRESS


def test_dispatcher_rule_configured_list_of_people_and_plain_addresses() -> None:
    configured = attrs.evolve(SETTINGS, dispatchers=("anna", "oncall@example.net"))
    event = ev.RequestFromUser(ticket=ticket(), at=AT)
    result = resolve_recipients(event, configured, DIRECTORY)
    assert addresses(result) == ["anna@example.com", "oncall@example.net"]


# --- users (customers) ------------------------------------------------------------------------


@pytest.mark.parametrize("channel", list(ev.Channel))
def test_users_rule_on_authorisation_any_channel(channel: ev.Channel) -> None:
    event = ev.InquiryAuthorised(ticket=ticket(channel=channel), at=AT)
    result = resolve_recipients(
        event, only(SETTINGS, EventKind.INQUIRY_AUTHORISED, Role.USERS), DIRECTORY
    )
    assert addresses(result) == ["carla@example.org"]
    assert result.recipients[0].language == "nl"


def test_users_rule_on_creation_via_mail_only() -> None:
    table = only(SETTINGS, EventKind.TICKET_CREATED, Role.USERS)
    by_mail = ev.TicketCreated(ticket=ticket(), at=AT, channel=ev.Channel.MAIL)
    by_phone = ev.TicketCreated(ticket=ticket(), at=AT, channel=ev.Channel.PHONE)
    assert addresses(resolve_recipients(by_mail, table, DIRECTORY)) == ["carla@example.org"]
    phone = resolve_recipients(by_phone, table, DIRECTORY)
    assert phone.recipients == ()
    assert phone.suppressed[0].reason is SuppressReason.NOT_APPLICABLE


def test_users_rule_customer_without_directory_entry_uses_reporter_address() -> None:
    event = ev.InquiryAuthorised(
        ticket=ticket(reporter=None, reporter_address="walkin@example.org", language="de"), at=AT
    )
    result = resolve_recipients(
        event, only(SETTINGS, EventKind.INQUIRY_AUTHORISED, Role.USERS), DIRECTORY
    )
    assert addresses(result) == ["walkin@example.org"]
    assert result.recipients[0].language == "de"


def test_users_rule_comment_only_when_visible_to_customer() -> None:
    hidden = ev.CommentAdded(ticket=ticket(), at=AT, text="internal")
    shown = ev.CommentAdded(ticket=ticket(), at=AT, text="answer", visible_to_customer=True)
    assert resolve_recipients(hidden, SETTINGS, DIRECTORY).recipients == ()
    assert addresses(resolve_recipients(shown, SETTINGS, DIRECTORY)) == ["carla@example.org"]


# --- external recipients ----------------------------------------------------------------------

EXT = ("ext1@example.net", "Ext2@Example.NET")


def created(**kwargs: Any) -> ev.TicketCreated:
    snapshot = kwargs.pop("snapshot", ticket(external_recipients=EXT))
    kwargs.setdefault("channel", ev.Channel.PHONE)
    return ev.TicketCreated(ticket=snapshot, at=AT, **kwargs)


EXTERNAL_ONLY = only(SETTINGS, EventKind.TICKET_CREATED, Role.EXTERNAL)


def test_external_rule_new_ticket_alert_to_every_external_address() -> None:
    result = resolve_recipients(created(), EXTERNAL_ONLY, DIRECTORY)
    assert addresses(result) == ["ext1@example.net", "Ext2@example.net"]
    assert {r.roles for r in result.recipients} == {(Role.EXTERNAL,)}


def test_external_rule_no_alert_when_status_merely_set_back_to_new() -> None:
    result = resolve_recipients(created(previous_status="open"), EXTERNAL_ONLY, DIRECTORY)
    assert result.recipients == ()
    assert {s.reason for s in result.suppressed} == {SuppressReason.NOT_APPLICABLE}
    assert "set back" in result.suppressed[0].detail


def test_external_rule_no_alert_from_mail_to_ticket() -> None:
    event = created(channel=ev.Channel.MAIL, via_mail_import=True)
    result = resolve_recipients(event, EXTERNAL_ONLY, DIRECTORY)
    assert result.recipients == ()
    assert "mail-to-ticket" in result.suppressed[0].detail


def test_external_rule_no_alert_from_automated_mail() -> None:
    event = created(channel=ev.Channel.MAIL, origin=ev.Origin.AUTOMATED_MAIL)
    result = resolve_recipients(event, EXTERNAL_ONLY, DIRECTORY)
    assert result.recipients == ()
    assert result.suppressed[0].reason is SuppressReason.AUTOMATED_ORIGIN


def test_external_rule_no_alert_from_web_portal() -> None:
    result = resolve_recipients(created(channel=ev.Channel.WEB_PORTAL), EXTERNAL_ONLY, DIRECTORY)
    assert result.recipients == ()
    assert "web portal" in result.suppressed[0].detail


def test_external_rule_closed_alert_when_status_becomes_completed() -> None:
    event = ev.TicketClosed(ticket=ticket(status="completed", external_recipients=EXT), at=AT)
    result = resolve_recipients(event, SETTINGS, DIRECTORY)
    assert addresses(result) == ["ext1@example.net", "Ext2@example.net"]


def test_external_rule_only_on_new_and_closed_alerts() -> None:
    assert {k for k, roles in APPLICABLE_ROLES.items() if Role.EXTERNAL in roles} == {
        EventKind.TICKET_CREATED,
        EventKind.TICKET_CLOSED,
    }


# --- mail import notices ----------------------------------------------------------------------


def test_import_notice_manager_on_ticket_created_from_mail() -> None:
    event = ev.TicketCreated(ticket=ticket(), at=AT, channel=ev.Channel.MAIL, via_mail_import=True)
    result = resolve_recipients(
        event, only(SETTINGS, EventKind.TICKET_CREATED, Role.IMPORT_MANAGER), DIRECTORY
    )
    assert addresses(result) == ["mia@example.com"]
    assert result.recipients[0].template_role is Role.IMPORT_MANAGER


def test_import_notice_manager_not_for_tickets_created_otherwise() -> None:
    event = ev.TicketCreated(ticket=ticket(), at=AT, channel=ev.Channel.PHONE)
    result = resolve_recipients(
        event, only(SETTINGS, EventKind.TICKET_CREATED, Role.IMPORT_MANAGER), DIRECTORY
    )
    assert result.recipients == ()


@pytest.mark.parametrize("what", ["follow-up", "attachment"])
def test_import_notice_assignee_on_follow_up_or_attachment_by_mail(what: str) -> None:
    extra: dict[str, Any] = (
        {"text": "more"}
        if what == "follow-up"
        else {
            "attachments": (
                ev.AttachmentRef(filename="a.png", media_type="image/png", size=3, sha256="0"),
            )
        }
    )
    event = ev.FollowUpAdded(ticket=ticket(), at=AT, via_mail_import=True, **extra)
    result = resolve_recipients(event, SETTINGS, DIRECTORY)
    assert addresses(result) == ["bob@example.com"]
    assert result.recipients[0].template_role is Role.IMPORT_ASSIGNEE
    portal = attrs.evolve(event, via_mail_import=False, channel=ev.Channel.WEB_PORTAL)
    assert resolve_recipients(portal, SETTINGS, DIRECTORY).recipients == ()


def test_import_notice_always_to_customer_who_created_ticket_by_mail() -> None:
    event = ev.TicketCreated(ticket=ticket(), at=AT, channel=ev.Channel.MAIL, via_mail_import=True)
    result = resolve_recipients(event, SETTINGS, DIRECTORY)
    customer = [r for r in result.recipients if r.address == "carla@example.org"]
    assert customer
    assert customer[0].template_role is Role.IMPORT_CUSTOMER
    assert Role.IMPORT_CUSTOMER in DEFAULT_EVENT_ROLES[EventKind.TICKET_CREATED]


# --- one mail per person, actor, guard, validation --------------------------------------------


def test_one_mail_per_person_across_roles() -> None:
    # Dora dispatches and is a member of the queue: one mail, both roles recorded.
    directory = StaticDirectory.of(PEOPLE, [Queue(id="support", members=("dora", "bob"))])
    table = only(SETTINGS, EventKind.REQUEST_FROM_USER, Role.DISPATCHERS, Role.RESOURCE)
    result = resolve_recipients(ev.RequestFromUser(ticket=ticket(), at=AT), table, directory)
    assert addresses(result) == ["dora@example.com", "dirk@example.com", "bob@example.com"]
    dora = result.recipients[0]
    assert dora.roles == (Role.DISPATCHERS, Role.RESOURCE)
    assert dora.template_role is Role.DISPATCHERS
    assert [(s.who, s.reason) for s in result.suppressed] == [
        ("dora@example.com", SuppressReason.DUPLICATE)
    ]


def test_one_mail_per_person_dedupe_by_normalised_address() -> None:
    directory = StaticDirectory.of(
        [*PEOPLE, Person(id="anna2", address="ANNA@EXAMPLE.COM")],
        [Queue(id="support", members=("anna", "anna2"))],
    )
    result = resolve_recipients(ev.Escalated(ticket=ticket(), at=AT), SETTINGS, directory)
    assert addresses(result) == ["anna@example.com"]
    assert reasons(result) == {"ANNA@example.com": SuppressReason.DUPLICATE}


def test_one_mail_per_person_dedupe_by_person_id() -> None:
    # The same person reached twice through different roles is one person, one mail.
    table = only(SETTINGS, EventKind.TICKET_CREATED, Role.IMPORT_MANAGER, Role.RESOURCE)
    directory = StaticDirectory.of(PEOPLE, [Queue(id="support", members=("mgr",))])
    event = ev.TicketCreated(ticket=ticket(), at=AT, channel=ev.Channel.MAIL, via_mail_import=True)
    result = resolve_recipients(event, table, directory)
    assert addresses(result) == ["mia@example.com"]
    assert result.recipients[0].roles == (Role.IMPORT_MANAGER, Role.RESOURCE)


def test_actor_gets_no_mail_unless_configured() -> None:
    event = ev.ForwardedToQueue(ticket=ticket(), at=AT, actor="anna")
    result = resolve_recipients(event, SETTINGS, DIRECTORY)
    assert addresses(result) == ["bob@example.com"]
    assert reasons(result) == {"anna@example.com": SuppressReason.ACTOR}
    with_actor = attrs.evolve(SETTINGS, notify_actor=True)
    assert addresses(resolve_recipients(event, with_actor, DIRECTORY)) == [
        "anna@example.com",
        "bob@example.com",
    ]


def test_actor_recognised_by_address_through_a_queue_address() -> None:
    directory = StaticDirectory.of(
        [*PEOPLE, Person(id="sec", address="second@example.com")], QUEUES
    )
    event = ev.Escalated(ticket=ticket(queue="second"), at=AT, actor="sec")
    assert resolve_recipients(event, SETTINGS, directory).recipients == ()


@attrs.frozen
class Held:
    reason: str
    until: dt.datetime | None


@attrs.frozen
class Allowed:
    pass


@attrs.frozen
class FakeGuard:
    blocked: dict[str, Held]
    calls: list[tuple[str, str, dt.datetime]] = attrs.field(factory=list)
    staff_calls: list[str] = attrs.field(factory=list)

    def check(
        self, recipient: str, ticket: str, now: dt.datetime, *, staff: bool = False
    ) -> object:
        self.calls.append((recipient, ticket, now))
        if staff:
            self.staff_calls.append(recipient)
        return self.blocked.get(recipient, Allowed())


def test_guard_held_address_suppressed_with_guards_reason_and_until() -> None:
    until = AT + dt.timedelta(hours=3)
    guard = FakeGuard({"bob@example.com": Held(reason="mailbox_full", until=until)})
    event = ev.Escalated(ticket=ticket(), at=AT)
    result = resolve_recipients(event, SETTINGS, DIRECTORY, guard, now=AT)
    assert addresses(result) == ["anna@example.com"]
    held = result.suppressed[0]
    assert (held.who, held.reason, held.guard_reason, held.until) == (
        "bob@example.com",
        SuppressReason.HELD,
        "mailbox_full",
        until,
    )
    assert ("anna@example.com", "T-1", AT) in guard.calls


def test_guard_is_told_which_recipients_are_staff() -> None:
    # queue members are the desk's own people (their own address caps); the customer is not
    guard = FakeGuard({})
    resolve_recipients(ev.Escalated(ticket=ticket(), at=AT), SETTINGS, DIRECTORY, guard, now=AT)
    assert sorted(guard.staff_calls) == ["anna@example.com", "bob@example.com"]
    customer_guard = FakeGuard({})
    event = ev.InquiryAuthorised(ticket=ticket(channel=ev.Channel.MAIL), at=AT)
    users_only = only(SETTINGS, EventKind.INQUIRY_AUTHORISED, Role.USERS)
    result = resolve_recipients(event, users_only, DIRECTORY, customer_guard, now=AT)
    assert addresses(result) == ["carla@example.org"]
    assert customer_guard.calls
    assert customer_guard.staff_calls == []


def test_invalid_address_reported_not_sent() -> None:
    directory = StaticDirectory.of(
        [*PEOPLE, Person(id="typo", address="typo@@example.com")],
        [Queue(id="support", members=("typo", "bob"))],
    )
    result = resolve_recipients(ev.Escalated(ticket=ticket(), at=AT), SETTINGS, directory)
    assert addresses(result) == ["bob@example.com"]
    bad = result.suppressed[0]
    assert bad.reason is SuppressReason.INVALID_ADDRESS
    assert "@" in bad.detail


def test_person_without_address_reported() -> None:
    directory = StaticDirectory.of(PEOPLE, [Queue(id="support", members=("nomail", "ghost"))])
    result = resolve_recipients(ev.Escalated(ticket=ticket(), at=AT), SETTINGS, directory)
    assert result.recipients == ()
    assert reasons(result) == {"nomail": SuppressReason.NO_ADDRESS, "ghost": SuppressReason.UNKNOWN}


def test_automated_origin_alerts_nobody() -> None:
    event = ev.TicketCreated(
        ticket=ticket(external_recipients=EXT),
        at=AT,
        channel=ev.Channel.MAIL,
        via_mail_import=True,
        origin=ev.Origin.AUTOMATED_MAIL,
    )
    result = resolve_recipients(event, SETTINGS, DIRECTORY)
    assert result.recipients == ()
    assert {s.reason for s in result.suppressed} == {SuppressReason.AUTOMATED_ORIGIN}
    agents = attrs.evolve(SETTINGS, notify_agents_on_automated=True)
    roles = {r.template_role for r in resolve_recipients(event, agents, DIRECTORY).recipients}
    assert roles == {Role.IMPORT_MANAGER, Role.RESOURCE}
    follow_up = ev.FollowUpAdded(
        ticket=ticket(), at=AT, via_mail_import=True, origin=ev.Origin.AUTOMATED_MAIL
    )
    assert resolve_recipients(follow_up, SETTINGS, DIRECTORY).recipients == ()


def test_settings_table_decides_which_events_notify_which_role() -> None:
    event = ev.StatusChanged(ticket=ticket(), at=AT, old_status="new")
    assert resolve_recipients(event, SETTINGS, DIRECTORY).recipients == ()
    on = only(SETTINGS, EventKind.STATUS_CHANGED, Role.RESOURCE)
    assert addresses(resolve_recipients(event, on, DIRECTORY)) == [
        "anna@example.com",
        "bob@example.com",
    ]


# --- senders ----------------------------------------------------------------------------------


def test_sender_is_queue_address_else_default_sender() -> None:
    to_second = resolve_recipients(
        ev.Escalated(ticket=ticket(queue="second"), at=AT), SETTINGS, DIRECTORY
    )
    assert to_second.recipients[0].sender == Sender(
        address="second@example.com", name="Second Level"
    )
    to_support = resolve_recipients(ev.Escalated(ticket=ticket(), at=AT), SETTINGS, DIRECTORY)
    assert to_support.recipients[0].sender == Sender(address="desk@example.com", name="Desk")


def test_sender_for_customer_is_the_support_address_they_wrote_to() -> None:
    event = ev.TicketCreated(
        ticket=ticket(support_address="hilfe@example.de", queue="second"),
        at=AT,
        channel=ev.Channel.MAIL,
        via_mail_import=True,
    )
    result = resolve_recipients(event, SETTINGS, DIRECTORY)
    senders = {r.address: r.sender.address for r in result.recipients}
    assert senders["carla@example.org"] == "hilfe@example.de"
    assert senders["second@example.com"] == "second@example.com"


def test_no_sender_suppresses_with_reason() -> None:
    bare = attrs.evolve(SETTINGS, default_sender=None)
    result = resolve_recipients(ev.Escalated(ticket=ticket(), at=AT), bare, DIRECTORY)
    assert result.recipients == ()
    assert {s.reason for s in result.suppressed} == {SuppressReason.NO_SENDER}


def test_explain_lists_every_decision() -> None:
    event = ev.ForwardedToQueue(ticket=ticket(), at=AT, actor="anna")
    lines = resolve_recipients(event, SETTINGS, DIRECTORY).explain()
    assert lines[0].startswith("send to bob@example.com")
    assert lines[1].startswith("skip anna@example.com (resource) - actor")


# --- property: one mail per person, nobody lost -----------------------------------------------

_ids = st.sampled_from(["p1", "p2", "p3", "p4", "p5"])
_addr = st.sampled_from(["a@example.com", "A@example.com", "b@example.com", "bad@@x", None])


@settings(max_examples=150, deadline=None)
@given(
    people=st.dictionaries(_ids, _addr, min_size=1),
    members=st.lists(_ids, max_size=6),
    dispatcher=st.one_of(st.none(), _ids),
    actor=st.one_of(st.none(), _ids),
    configured=st.lists(st.one_of(_ids, st.sampled_from(["b@example.com", "c@example.com"]))),
)
def test_one_mail_per_person_property(
    people: dict[str, str | None],
    members: list[str],
    dispatcher: str | None,
    actor: str | None,
    configured: list[str],
) -> None:
    directory = StaticDirectory.of(
        [Person(id=i, address=a, dispatcher=True) for i, a in people.items()],
        [Queue(id="q", members=tuple(members))],
    )
    table = attrs.evolve(
        only(SETTINGS, EventKind.REQUEST_FROM_USER, Role.DISPATCHERS, Role.RESOURCE),
        dispatchers=tuple(configured),
    )
    event = ev.RequestFromUser(ticket=ticket(queue="q", dispatcher=dispatcher), at=AT, actor=actor)
    result = resolve_recipients(event, table, directory)
    keys = [r.address.lower() for r in result.recipients]
    assert len(keys) == len(set(keys))
    persons = [r.person for r in result.recipients if r.person]
    assert len(persons) == len(set(persons))
    assert actor is None or actor not in persons
    for r in result.recipients:
        assert "@@" not in r.address
