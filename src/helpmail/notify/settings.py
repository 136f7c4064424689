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
from typing import TYPE_CHECKING, Any, TypeVar

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

#: Roles that make sense for each event at all: the import notices belong to one event each, the
#: external recipients' alerts are new-ticket and closed alerts.
APPLICABLE_ROLES: Mapping[EventKind, frozenset[Role]] = MappingProxyType(
    {
        kind: (
            frozenset(Role)
            - {_R.IMPORT_CUSTOMER, _R.IMPORT_MANAGER, _R.IMPORT_ASSIGNEE, _R.EXTERNAL}
            | (
                {_R.EXTERNAL}
                if kind in (EventKind.TICKET_CREATED, EventKind.TICKET_CLOSED)
                else set()
            )
            | (
                {_R.IMPORT_CUSTOMER, _R.IMPORT_MANAGER}
                if kind is EventKind.TICKET_CREATED
                else {_R.IMPORT_ASSIGNEE}
                if kind is EventKind.FOLLOW_UP_ADDED
                else set()
            )
        )
        for kind in EventKind
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
        """The roles configured for ``kind``."""
        return self.events.get(kind, frozenset())


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

_E = TypeVar("_E", bound=StrEnum)
_LANG = re.compile(r"^[a-z]{2}(?:[-_][A-Za-z]{2})?$")


def _table(value: object, key: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(key, f"expected a table, got {type(value).__name__}")
    return value


def _str(value: object, key: str) -> str:
    if not isinstance(value, str):
        raise ConfigError(key, f"expected a string, got {type(value).__name__}")
    return value


def _opt_str(value: object, key: str) -> str | None:
    return None if value is None else _str(value, key)


def _bool(value: object, key: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(key, f"expected true or false, got {value!r}")
    return value


def _str_list(value: object, key: str) -> tuple[str, ...]:
    if not isinstance(value, list | tuple):
        raise ConfigError(key, f"expected a list of strings, got {type(value).__name__}")
    return tuple(_str(item, f"{key}[{i}]") for i, item in enumerate(value))


def _enum(cls: type[_E], value: object, key: str) -> _E:
    text = _str(value, key)
    try:
        return cls(text)
    except ValueError:
        allowed = ", ".join(m.value for m in cls)
        raise ConfigError(key, f"unknown value {text!r}; one of: {allowed}") from None


_SETTINGS_KEYS = frozenset(
    {
        "events",
        "dispatchers",
        "notify_actor",
        "notify_agents_on_automated",
        "default_sender",
        "default_sender_name",
        "default_language",
        "server_url",
        "subject_tag",
        "return_path",
        "bounce_address",
        "precedence_bulk",
        "loop_token",
        "reply_marker",
        "people",
        "queues",
        "templates",
    }
)


def _parse_events(value: object, key: str) -> dict[EventKind, frozenset[Role]]:
    table = dict(DEFAULT_EVENT_ROLES)
    for name, roles in _table(value, key).items():
        kind = _enum(EventKind, name, f"{key}.{name}")
        parsed = frozenset(
            _enum(Role, r, f"{key}.{name}[{i}]")
            for i, r in enumerate(_str_list(roles, f"{key}.{name}"))
        )
        wrong = parsed - APPLICABLE_ROLES[kind]
        if wrong:
            raise ConfigError(
                f"{key}.{name}", f"role(s) {', '.join(sorted(wrong))} do not apply to this event"
            )
        table[kind] = parsed
    return table


def _parse_people(value: object, key: str) -> list[Person]:
    people = []
    for pid, raw in _table(value, key).items():
        k = f"{key}.{pid}"
        data = _table(raw, k)
        unknown = set(data) - {"name", "address", "language", "dispatcher"}
        if unknown:
            raise ConfigError(f"{k}.{sorted(unknown)[0]}", "unknown key")
        language = _opt_str(data.get("language"), f"{k}.language")
        if language is not None and not _LANG.match(language):
            raise ConfigError(f"{k}.language", f"not a language code: {language!r}")
        people.append(
            Person(
                id=pid,
                name=_str(data.get("name", ""), f"{k}.name"),
                address=_opt_str(data.get("address"), f"{k}.address"),
                language=language,
                dispatcher=_bool(data.get("dispatcher", False), f"{k}.dispatcher"),
            )
        )
    return people


def _parse_queues(value: object, key: str) -> list[Queue]:
    queues = []
    for qid, raw in _table(value, key).items():
        k = f"{key}.{qid}"
        data = _table(raw, k)
        unknown = set(data) - {"name", "address", "members"}
        if unknown:
            raise ConfigError(f"{k}.{sorted(unknown)[0]}", "unknown key")
        queues.append(
            Queue(
                id=qid,
                name=_str(data.get("name", ""), f"{k}.name"),
                address=_opt_str(data.get("address"), f"{k}.address"),
                members=_str_list(data.get("members", []), f"{k}.members"),
            )
        )
    return queues


def parse_notify_config(value: object, key: str = "notify") -> NotifyConfig:
    """Parse the ``[notify]`` config section (a TOML table) into a :class:`NotifyConfig`.

    Raises :class:`~helpmail.errors.ConfigError` naming the dotted key of the first problem. The
    format is documented in ``docs/notifications.md``; unknown keys are errors (a typo must not
    silently switch a rule off). The Message-ID domain and signing key come from ``[desk]``
    (``domain``, ``signing_keys``), the subject tag default from ``[import] ticket_tag``.
    """
    data = _table(value, key)
    unknown = set(data) - _SETTINGS_KEYS
    if unknown:
        raise ConfigError(f"{key}.{sorted(unknown)[0]}", "unknown key")
    kw: dict[str, Any] = {}
    if "events" in data:
        kw["events"] = _parse_events(data["events"], f"{key}.events")
    if "dispatchers" in data:
        kw["dispatchers"] = _str_list(data["dispatchers"], f"{key}.dispatchers")
    for name in ("notify_actor", "notify_agents_on_automated", "precedence_bulk"):
        if name in data:
            kw[name] = _bool(data[name], f"{key}.{name}")
    for name in ("default_language", "server_url", "subject_tag", "loop_token", "reply_marker"):
        if name in data:
            kw[name] = _str(data[name], f"{key}.{name}")
    if "default_language" in kw and not _LANG.match(kw["default_language"]):
        raise ConfigError(f"{key}.default_language", "not a language code")
    if "server_url" in kw and not kw["server_url"].endswith("/"):
        kw["server_url"] += "/"
    if "subject_tag" in kw and "{number}" not in kw["subject_tag"]:
        raise ConfigError(f"{key}.subject_tag", "must contain {number}")
    if "default_sender" in data:
        kw["default_sender"] = Sender(
            address=_str(data["default_sender"], f"{key}.default_sender"),
            name=_str(data.get("default_sender_name", ""), f"{key}.default_sender_name"),
        )
    if "return_path" in data:
        kw["return_path"] = _enum(ReturnPathMode, data["return_path"], f"{key}.return_path")
    if "bounce_address" in data:
        kw["bounce_address"] = _str(data["bounce_address"], f"{key}.bounce_address")
    if kw.get("return_path", ReturnPathMode.FROM) is not ReturnPathMode.FROM and not kw.get(
        "bounce_address"
    ):
        raise ConfigError(f"{key}.bounce_address", "required when return_path is not 'from'")
    directory = StaticDirectory.of(
        _parse_people(data.get("people", {}), f"{key}.people"),
        _parse_queues(data.get("queues", {}), f"{key}.queues"),
    )
    template_dir = _opt_str(data.get("templates"), f"{key}.templates")
    if template_dir is not None:
        from pathlib import Path

        from helpmail.config import current_context

        template_dir = str(current_context().base_dir / Path(template_dir))
    return NotifyConfig(
        settings=NotifySettings(**kw),
        directory=directory,
        template_dir=template_dir,
        given=frozenset(data),
    )
