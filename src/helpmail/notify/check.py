"""``helpmail check`` findings for the notification settings, as a pure function.

:func:`check_notify_settings` reads the settings, the directory and the templates and reports,
each with the rule it breaks:

==================================  =======  ====================================================
rule                                severity  what
==================================  =======  ====================================================
``notify.recipient-without-address`` warning  a person who would be notified has no address
``notify.invalid-address``           error    an address fails email-validator's syntax check
``notify.unknown-person``            warning  a queue member or configured dispatcher is unknown
``notify.duplicate-roles``           warning  dispatcher and queue mails on the same event
``notify.redundant-user-notices``    warning  users notified on authorisation *and* on creation
``notify.queue-without-sender``      error    a queue without address and no default sender
``notify.template-fails``            error    a template does not compile or render
==================================  =======  ====================================================
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import attrs

from helpmail.errors import TemplateError
from helpmail.notify.plan import template_variables
from helpmail.notify.policy import Recipient, check_address
from helpmail.notify.ports import StaticDirectory
from helpmail.notify.settings import (
    APPLICABLE_ROLES,
    EVENT_CLASSES,
    EventKind,
    NotifySettings,
    Role,
    Sender,
)
from helpmail.templates import PARTS, SHIPPED_LANGUAGES, TemplateRenderer
from helpmail.tickets import events as ev

if TYPE_CHECKING:
    from helpmail.config import Config


class Severity(StrEnum):
    """How bad a finding is: errors make ``helpmail check`` fail."""

    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


@attrs.frozen(kw_only=True)
class Finding:
    """One problem found in the configuration: its severity, the rule it breaks, a message."""

    severity: Severity
    rule: str
    message: str
    key: str | None = None


_RULE = "notify."

_SAMPLE_EXTRA: dict[EventKind, dict[str, Any]] = {
    EventKind.TICKET_CREATED: {"channel": ev.Channel.MAIL, "via_mail_import": True, "text": "Hi"},
    EventKind.STATUS_CHANGED: {"old_status": "new"},
    EventKind.COMMENT_ADDED: {"text": "A comment", "visible_to_customer": True},
    EventKind.FOLLOW_UP_ADDED: {"via_mail_import": True, "text": "More details"},
    EventKind.TICKET_CLOSED: {"old_status": "open"},
}


def sample_event(kind: EventKind) -> ev.TicketEvent:
    """A plausible event of ``kind`` on a sample ticket (used to test-render templates)."""
    ticket = ev.TicketSnapshot(
        id="T-1",
        number="1",
        title="Sample ticket",
        status="new",
        queue="sample",
        reporter="sample-customer",
        reporter_address="customer@example.com",
        language="en",
    )
    at = dt.datetime(2026, 1, 1, 9, 0, tzinfo=dt.UTC)
    cls = EVENT_CLASSES[kind]
    return cls(ticket=ticket, at=at, **_SAMPLE_EXTRA.get(kind, {}))


def _languages(settings: NotifySettings, directory: StaticDirectory) -> list[str]:
    found = [*SHIPPED_LANGUAGES, settings.default_language]
    found += [p.language for p in directory.people.values() if p.language]
    return list(dict.fromkeys(found))


def _address_findings(settings: NotifySettings, directory: StaticDirectory) -> Iterator[Finding]:
    def bad(address: str, key: str) -> Iterator[Finding]:
        _, problem = check_address(address)
        if problem:
            yield Finding(
                severity=Severity.ERROR,
                rule=_RULE + "invalid-address",
                key=key,
                message=f"{address!r} is not a valid address: {problem}",
            )

    for person in directory.people.values():
        if person.address:
            yield from bad(person.address, f"notify.people.{person.id}.address")
    for queue in directory.queues.values():
        if queue.address:
            yield from bad(queue.address, f"notify.queues.{queue.id}.address")
    for index, entry in enumerate(settings.dispatchers):
        if "@" in entry:
            yield from bad(entry, f"notify.dispatchers[{index}]")
    if settings.default_sender is not None:
        yield from bad(settings.default_sender.address, "notify.default_sender")
    if settings.bounce_address:
        yield from bad(settings.bounce_address, "notify.bounce_address")


def _people_findings(settings: NotifySettings, directory: StaticDirectory) -> Iterator[Finding]:
    """People who would be notified but cannot be: unknown ids, no address."""
    wanted: list[tuple[str, str]] = []  # (person id, where)
    uses_queues = any(Role.RESOURCE in r for r in settings.events.values())
    uses_dispatchers = any(Role.DISPATCHERS in r for r in settings.events.values())
    if uses_queues:
        for queue in directory.queues.values():
            if not queue.address:
                wanted += [(m, f"notify.queues.{queue.id}.members") for m in queue.members]
    if uses_dispatchers:
        if settings.dispatchers:
            wanted += [(d, "notify.dispatchers") for d in settings.dispatchers if "@" not in d]
        else:
            wanted += [(p.id, f"notify.people.{p.id}") for p in directory.dispatchers()]
    seen: set[str] = set()
    for person_id, key in wanted:
        if person_id in seen:
            continue
        seen.add(person_id)
        person = directory.person(person_id)
        if person is None:
            yield Finding(
                severity=Severity.WARNING,
                rule=_RULE + "unknown-person",
                key=key,
                message=f"{person_id!r} is not a known person",
            )
        elif not person.address:
            yield Finding(
                severity=Severity.WARNING,
                rule=_RULE + "recipient-without-address",
                key=key,
                message=f"{person_id!r} ({person.name or 'no name'}) would be notified but has no "
                "address",
            )


def _table_findings(settings: NotifySettings, directory: StaticDirectory) -> Iterator[Finding]:
    for kind, roles in settings.events.items():
        if Role.DISPATCHERS in roles and Role.RESOURCE in roles:
            yield Finding(
                severity=Severity.WARNING,
                rule=_RULE + "duplicate-roles",
                key=f"notify.events.{kind}",
                message=f"{kind}: dispatcher and queue mails on the same event; a person in both "
                "gets one mail, but the two roles usually mean the same people",
            )
    if Role.USERS in settings.roles_for(EventKind.INQUIRY_AUTHORISED) and Role.USERS in (
        settings.roles_for(EventKind.TICKET_CREATED)
    ):
        yield Finding(
            severity=Severity.WARNING,
            rule=_RULE + "redundant-user-notices",
            key="notify.events",
            message="users are notified on authorisation (checkbox 1) and on creation via mail "
            "(checkbox 3): a mail-created ticket mails its customer twice; keep one",
        )
    if settings.default_sender is None and any(
        Role.RESOURCE in r or Role.DISPATCHERS in r for r in settings.events.values()
    ):
        for queue in directory.queues.values():
            if not queue.address:
                yield Finding(
                    severity=Severity.ERROR,
                    rule=_RULE + "queue-without-sender",
                    key=f"notify.queues.{queue.id}",
                    message=f"queue {queue.id!r} has no address and no default sender is "
                    "configured: its mails have no From address",
                )


def _template_findings(
    settings: NotifySettings, directory: StaticDirectory, templates: TemplateRenderer
) -> Iterator[Finding]:
    reported: set[str] = set()

    def finding(error: TemplateError) -> Iterator[Finding]:
        text = str(error)
        if text not in reported:
            reported.add(text)
            yield Finding(
                severity=Severity.ERROR,
                rule=_RULE + "template-fails",
                message=text,
                key=getattr(error, "template", None),
            )

    for name in templates.list_names():
        try:
            templates.env.get_template(name)
        except Exception as error:  # syntax errors in any template the loaders know
            from helpmail.templates import TemplateRenderError

            line = getattr(error, "lineno", None)
            yield from finding(TemplateRenderError(name, line, f"{type(error).__name__}: {error}"))
    sender = settings.default_sender or Sender(address="desk@example.com", name="Desk")
    for kind, roles in settings.events.items():
        event = sample_event(kind)
        for role in sorted(roles & APPLICABLE_ROLES[kind], key=list(Role).index):
            for language in _languages(settings, directory):
                recipient = Recipient(
                    address="someone@example.com",
                    person="sample",
                    name="Sam Sample",
                    roles=(role,),
                    language=language,
                    sender=sender,
                )
                variables = template_variables(event, recipient, settings, str(kind))
                for part in PARTS:
                    try:
                        templates.render_part(str(kind), str(role), part, language, variables)
                    except TemplateError as error:
                        yield from finding(error)


def check_notify_settings(
    settings: NotifySettings, directory: StaticDirectory, templates: TemplateRenderer
) -> list[Finding]:
    """Every problem in the notification settings, directory and templates (see module doc)."""
    return [
        *_address_findings(settings, directory),
        *_people_findings(settings, directory),
        *_table_findings(settings, directory),
        *_template_findings(settings, directory, templates),
    ]


def check_config(config: Config) -> list[Finding]:
    """The notification findings for a whole parsed configuration (``helpmail check``).

    Uses the ``notify`` section when it is registered in :data:`helpmail.config.SECTIONS`; a
    configuration without one gets the defaults checked against an empty directory.
    """
    from helpmail.notify.settings import NotifyConfig

    section = config.section("notify")
    if not isinstance(section, NotifyConfig):
        section = NotifyConfig(settings=NotifySettings(), directory=StaticDirectory())
    settings = section.settings_with(config)
    renderer = TemplateRenderer(
        template_dir=section.template_dir, default_language=settings.default_language
    )
    return check_notify_settings(settings, section.directory, renderer)
