"""Notification settings as data: which event notifies which role, senders, return path.

The table :data:`DEFAULT_EVENT_ROLES` says, for every kind of ticket event, which recipient roles
get a mail (the product specification's defaults: "request from a user" is the one dispatcher
event that is normally on; the customer who created a ticket by mail always gets the import's
confirmation). A desk changes it with the ``[notify.events]`` table of its config file
(:func:`parse_notify_config`), never with code.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import attrs

from helpmail.errors import ConfigError
from helpmail.notify.ports import Person, Queue, StaticDirectory
from helpmail.tickets import events as ev

if TYPE_CHECKING:
    from helpmail.config import Config


class Role(StrEnum):
    """Why someone receives a mail: the recipient role that selected them.

    The order of the members is the precedence: when one person holds several roles for one event,
    the first role picks the template (the import notice to the customer beats the user notice).
    """

    IMPORT_CUSTOMER = "import_customer"
    IMPORT_MANAGER = "import_manager"
    IMPORT_ASSIGNEE = "import_assignee"
    USERS = "users"
    DISPATCHERS = "dispatchers"
    RESOURCE = "resource"
    EXTERNAL = "external"


#: roles whose mail goes to a customer (senders: the support address the customer wrote to)
CUSTOMER_ROLES = frozenset({Role.IMPORT_CUSTOMER, Role.USERS, Role.EXTERNAL})

ROLE_ORDER: Mapping[Role, int] = MappingProxyType({role: i for i, role in enumerate(Role)})


class EventKind(StrEnum):
    """The kinds of ticket event, one per event class in :mod:`helpmail.tickets.events`."""

    TICKET_CREATED = "ticket_created"
    REQUEST_FROM_USER = "request_from_user"
    INQUIRY_AUTHORISED = "inquiry_authorised"
    FORWARDED_TO_QUEUE = "forwarded_to_queue"
    ESCALATION_WARNING = "escalation_warning"
    ESCALATED = "escalated"
    DEADLINE_PASSED = "deadline_passed"
    STATUS_CHANGED = "status_changed"
    TICKET_CLOSED = "ticket_closed"
    COMMENT_ADDED = "comment_added"
    FOLLOW_UP_ADDED = "follow_up_added"
    BOUNCE_ATTACHED = "bounce_attached"


EVENT_CLASSES: Mapping[EventKind, type[ev.TicketEvent]] = MappingProxyType(
    {
        EventKind.TICKET_CREATED: ev.TicketCreated,
        EventKind.REQUEST_FROM_USER: ev.RequestFromUser,
        EventKind.INQUIRY_AUTHORISED: ev.InquiryAuthorised,
        EventKind.FORWARDED_TO_QUEUE: ev.ForwardedToQueue,
        EventKind.ESCALATION_WARNING: ev.EscalationWarning,
        EventKind.ESCALATED: ev.Escalated,
        EventKind.DEADLINE_PASSED: ev.DeadlinePassed,
        EventKind.STATUS_CHANGED: ev.StatusChanged,
        EventKind.TICKET_CLOSED: ev.TicketClosed,
        EventKind.COMMENT_ADDED: ev.CommentAdded,
        EventKind.FOLLOW_UP_ADDED: ev.FollowUpAdded,
        EventKind.BOUNCE_ATTACHED: ev.BounceAttached,
    }
)
_KIND_OF: Mapping[type[ev.TicketEvent], EventKind] = {cls: k for k, cls in EVENT_CLASSES.items()}


def event_kind(event: ev.TicketEvent) -> EventKind:
    """The :class:`EventKind` of an event object."""
    try:
        return _KIND_OF[type(event)]
    except KeyError:
        for cls, kind in _KIND_OF.items():  # a host's subclass of a known event
            if isinstance(event, cls):
                return kind
        raise TypeError(f"not a ticket event: {type(event).__name__}") from None


_R = Role
#: Which roles each kind of event notifies by default (settings override it as data).
#: ``users`` on ``inquiry_authorised`` is the users' "checkbox 1", ``users`` on ``ticket_created``
#: (only for tickets created via mail) their "checkbox 3"; both on is redundant.
DEFAULT_EVENT_ROLES: Mapping[EventKind, frozenset[Role]] = MappingProxyType(
    {
        EventKind.TICKET_CREATED: frozenset(
            {_R.RESOURCE, _R.EXTERNAL, _R.IMPORT_MANAGER, _R.IMPORT_CUSTOMER}
        ),
        EventKind.REQUEST_FROM_USER: frozenset({_R.DISPATCHERS}),
        EventKind.INQUIRY_AUTHORISED: frozenset({_R.RESOURCE, _R.USERS}),
        EventKind.FORWARDED_TO_QUEUE: frozenset({_R.RESOURCE}),
        EventKind.ESCALATION_WARNING: frozenset({_R.RESOURCE}),
        EventKind.ESCALATED: frozenset({_R.RESOURCE}),
        EventKind.DEADLINE_PASSED: frozenset({_R.RESOURCE}),
        EventKind.STATUS_CHANGED: frozenset(),
        EventKind.TICKET_CLOSED: frozenset({_R.EXTERNAL}),
        EventKind.COMMENT_ADDED: frozenset({_R.USERS}),
        EventKind.FOLLOW_UP_ADDED: frozenset({_R.IMPORT_ASSIGNEE}),
        EventKind.BOUNCE_ATTACHED: frozenset(),
    }
)

_AGENTS = frozenset({_R.DISPATCHERS, _R.RESOURCE})
_EVERYDAY = _AGENTS | {_R.USERS}
#: Roles that make sense for each event at all: the import notices belong to one event each, the
#: external recipients' alerts are new-ticket and closed alerts, and a bounce is news for agents
#: only. ``[notify.events]`` rejects any other combination.
APPLICABLE_ROLES: Mapping[EventKind, frozenset[Role]] = MappingProxyType(
    {
        EventKind.TICKET_CREATED: _EVERYDAY | {_R.EXTERNAL, _R.IMPORT_MANAGER, _R.IMPORT_CUSTOMER},
        EventKind.REQUEST_FROM_USER: _EVERYDAY,
        EventKind.INQUIRY_AUTHORISED: _EVERYDAY,
        EventKind.FORWARDED_TO_QUEUE: _EVERYDAY,
        EventKind.ESCALATION_WARNING: _EVERYDAY,
        EventKind.ESCALATED: _EVERYDAY,
        EventKind.DEADLINE_PASSED: _EVERYDAY,
        EventKind.STATUS_CHANGED: _EVERYDAY,
        EventKind.TICKET_CLOSED: _EVERYDAY | {_R.EXTERNAL},
        EventKind.COMMENT_ADDED: _EVERYDAY,
        EventKind.FOLLOW_UP_ADDED: _EVERYDAY | {_R.IMPORT_ASSIGNEE},
        EventKind.BOUNCE_ATTACHED: _AGENTS,  # never mail a customer about a bounce
    }
)


class ReturnPathMode(StrEnum):
    """Which envelope sender (RFC 5321 MAIL FROM) outgoing mail uses; bounces go there.

    ``from``: the From address. ``dedicated``: one bounce address that helpmail never answers.
    ``verp``: the bounce address with the ticket and recipient in its local part
    (``bounces+T-17.alice=example.org@desk.example``), so a bounce names both without parsing.
    """

    FROM = "from"
    DEDICATED = "dedicated"
    VERP = "verp"


@attrs.frozen(kw_only=True)
class Sender:
    """A From address with its display name."""

    address: str
    name: str = ""


def _freeze_table(
    value: Mapping[EventKind, frozenset[Role]],
) -> Mapping[EventKind, frozenset[Role]]:
    return MappingProxyType({kind: frozenset(value.get(kind, frozenset())) for kind in EventKind})


@attrs.frozen(kw_only=True)
class NotifySettings:
    """Everything the notification policy and composition need besides the directory.

    ``events`` is the event -> roles table; ``dispatchers`` the configured list of people ids and
    plain addresses that replaces "all users with dispatcher rights" (empty: use the directory);
    ``notify_actor`` lets the person who caused an event receive its mail too;
    ``notify_agents_on_automated`` lets agent roles (not customers) hear of tickets created from
    automated mail. ``signing_key`` signs Message-IDs (never shown in reprs). ``reply_marker``
    replaces the wording of the reply-above marker line (``None``: the language's default).
    """

    events: Mapping[EventKind, frozenset[Role]] = attrs.field(
        default=DEFAULT_EVENT_ROLES, converter=_freeze_table
    )
    dispatchers: tuple[str, ...] = ()
    notify_actor: bool = False
    notify_agents_on_automated: bool = False
    default_sender: Sender | None = None
    default_language: str = "en"
    server_url: str = "http://localhost/"
    subject_tag: str = "[Ticket#{number}]"
    message_id_domain: str = "helpmail.invalid"
    signing_key: bytes = attrs.field(default=b"", repr=False)
    return_path: ReturnPathMode = ReturnPathMode.FROM
    bounce_address: str | None = None
    precedence_bulk: bool = False
    loop_token: str = "helpmail"
    reply_marker: str | None = None

    def roles_for(self, kind: EventKind) -> frozenset[Role]:
        """The roles configured for ``kind`` (only those in :data:`APPLICABLE_ROLES`)."""
        return self.events.get(kind, frozenset()) & APPLICABLE_ROLES[kind]


@attrs.frozen(kw_only=True)
class NotifyConfig:
    """The parsed ``[notify]`` section: settings, the static directory, a template folder."""

    settings: NotifySettings
    directory: StaticDirectory
    template_dir: str | None = None
    given: frozenset[str] = frozenset()
    """The keys the section set (the rest may come from ``[desk]`` and ``[import]``)."""

    def settings_with(self, config: Config) -> NotifySettings:
        """The settings completed from the whole configuration: Message-ID domain and signing key
        from ``[desk]`` (domain, first signing key), the language from ``[desk] language`` and the
        subject tag from ``[import] ticket_tag`` unless ``[notify]`` sets them."""
        changes: dict[str, Any] = {"message_id_domain": config.desk.domain}
        if config.desk.signing_keys:
            changes["signing_key"] = config.desk.signing_keys[0].reveal()
        if "default_language" not in self.given:
            changes["default_language"] = config.desk.language
        if "subject_tag" not in self.given:
            tag = config.import_.ticket_tag  # a TicketTagFormat (or its template string)
            changes["subject_tag"] = str(getattr(tag, "template", tag))
        return attrs.evolve(self.settings, **changes)


# --- config parsing ----------------------------------------------------------------------------

_LANG = re.compile(r"^[a-z]{2}(?:[-_][A-Za-z]{2})?$")


def _language(value: object, key: str) -> str:
    from helpmail import config as c

    text = c.string(value, key)
    if not _LANG.match(text):
        raise ConfigError(key, f'must be a language code such as "en" or "de-AT", got "{text}"')
    return text


def _subject_tag(value: object, key: str) -> str:
    from helpmail import config as c

    text = c.string(value, key)
    if text.count("{number}") != 1:
        raise ConfigError(key, "must contain {number} exactly once")
    return text


def _server_url(value: object, key: str) -> str:
    from helpmail import config as c

    text = c.string(value, key).strip()
    if not text.startswith(("http://", "https://")):
        raise ConfigError(key, f'must start with http:// or https://, got "{text}"')
    return text if text.endswith("/") else text + "/"


def _parse_events(
    value: object, key: str, errors: list[ConfigError]
) -> dict[EventKind, frozenset[Role]]:
    from helpmail import config as c

    table = dict(DEFAULT_EVENT_ROLES)
    events = c.Table(value, key, errors)
    role_convert = c.choice(Role)
    for name in list(events.data):
        events.has(name)
        if name not in set(EventKind):
            errors.append(
                ConfigError(events.path(name), "unknown event" + c.suggest(name, list(EventKind)))
            )
            continue
        kind = EventKind(name)
        roles = events.get(name, c.string_list, None)
        if roles is None:
            continue
        parsed: set[Role] = set()
        for index, role_name in enumerate(roles):
            try:
                parsed.add(role_convert(role_name, f"{events.path(name)}[{index}]"))
            except ConfigError as error:
                errors.append(error)
        wrong = parsed - APPLICABLE_ROLES[kind]
        if wrong:
            errors.append(
                ConfigError(
                    events.path(name),
                    f"role(s) {', '.join(sorted(wrong))} do not apply to this event",
                )
            )
        table[kind] = frozenset(parsed & APPLICABLE_ROLES[kind])
    events.finish(raise_errors=False)
    return table


def _parse_people(value: object, key: str, errors: list[ConfigError]) -> list[Person]:
    from helpmail import config as c

    people = []
    outer = c.Table(value, key, errors)
    for pid in list(outer.data):
        outer.has(pid)
        data = c.Table(outer.data[pid], outer.path(pid), errors)
        people.append(
            Person(
                id=pid,
                name=data.get("name", c.string, ""),
                address=data.get("address", c.optional_string, None),
                language=data.get("language", _language, None),
                dispatcher=data.get("dispatcher", c.boolean, False),
            )
        )
        data.finish(raise_errors=False)
    outer.finish(raise_errors=False)
    return people


def _parse_queues(value: object, key: str, errors: list[ConfigError]) -> list[Queue]:
    from helpmail import config as c

    queues = []
    outer = c.Table(value, key, errors)
    for qid in list(outer.data):
        outer.has(qid)
        data = c.Table(outer.data[qid], outer.path(qid), errors)
        no_members: tuple[str, ...] = ()
        queues.append(
            Queue(
                id=qid,
                name=data.get("name", c.string, ""),
                address=data.get("address", c.optional_string, None),
                members=data.get("members", _members, no_members),
            )
        )
        data.finish(raise_errors=False)
    outer.finish(raise_errors=False)
    return queues


def _members(value: object, key: str) -> tuple[str, ...]:
    from helpmail import config as c

    if not isinstance(value, list):
        raise ConfigError(key, "must be an array of person ids")
    return c.string_list(value, key) if value else ()


def parse_notify_config(value: object, key: str = "notify") -> NotifyConfig:
    """Parse the ``[notify]`` config section (a TOML table) into a :class:`NotifyConfig`.

    Every problem is reported (as :class:`~helpmail.config.ConfigErrors`), each naming its dotted
    key; unknown keys are errors with a did-you-mean (a typo must not silently switch a rule off).
    The format is documented in ``docs/notifications.md``. The Message-ID domain and signing key
    come from ``[desk]`` (``domain``, ``signing_keys``), the subject tag default from
    ``[import] ticket_tag`` (see :meth:`NotifyConfig.settings_with`).
    """
    from helpmail import config as c

    table = c.Table(value, key)
    base = NotifySettings()
    kw: dict[str, Any] = {}
    if table.has("events"):
        kw["events"] = _parse_events(table.raw("events"), table.path("events"), table.errors)
    no_dispatchers: tuple[str, ...] = ()
    kw["dispatchers"] = table.get("dispatchers", c.string_list, no_dispatchers)
    for name in ("notify_actor", "notify_agents_on_automated", "precedence_bulk"):
        kw[name] = table.get(name, c.boolean, getattr(base, name))
    kw["default_language"] = table.get("default_language", _language, base.default_language)
    kw["server_url"] = table.get("server_url", _server_url, base.server_url)
    kw["subject_tag"] = table.get("subject_tag", _subject_tag, base.subject_tag)
    kw["loop_token"] = table.get("loop_token", c.string, base.loop_token)
    kw["reply_marker"] = table.get("reply_marker", c.optional_string, None)
    sender = table.get("default_sender", c.optional_string, None)
    sender_name = table.get("default_sender_name", c.optional_string, None)
    if sender:
        kw["default_sender"] = Sender(address=sender, name=sender_name or "")
    elif sender_name:
        table.error("default_sender_name", "given without default_sender")
    kw["return_path"] = table.get("return_path", c.choice(ReturnPathMode), ReturnPathMode.FROM)
    kw["bounce_address"] = table.get("bounce_address", c.optional_string, None)
    if kw["return_path"] is not ReturnPathMode.FROM and not kw["bounce_address"]:
        table.error("bounce_address", f'is required when return_path is "{kw["return_path"]}"')
    template_dir = table.get("templates", c.path, None)
    people = (
        _parse_people(table.raw("people"), table.path("people"), table.errors)
        if table.has("people")
        else []
    )
    queues = (
        _parse_queues(table.raw("queues"), table.path("queues"), table.errors)
        if table.has("queues")
        else []
    )
    table.finish()
    return NotifyConfig(
        settings=NotifySettings(**kw),
        directory=StaticDirectory.of(people, queues),
        template_dir=str(template_dir) if template_dir is not None else None,
        given=frozenset(table.data),
    )
