"""The recipient policy: which people get a mail for one ticket event, and why the others do not.

:func:`resolve_recipients` is a pure function of the event (with its ticket snapshot), the settings
(the event -> roles table), the directory and, optionally, the delivery guard. It keeps these rules:

* every configured role selects candidates (queue members or the queue's own address, the acting
  dispatcher or all dispatchers, the customer, the external recipients, the import notices);
* one person gets one mail per event even with several roles: candidates are deduplicated by
  normalised address *and* by person id, and the roles that selected them are kept;
* the acting person gets none unless ``notify_actor``; a ticket created from automated mail
  alerts nobody (prior-art §4.2: never auto-mail an address that sent automated mail);
* addresses are validated (email-validator, syntax only), and addresses the delivery guard holds
  are suppressed with the guard's reason and end time.

Everyone left out is returned as a :class:`Suppressed` entry with its reason, so a host (and
``helpmail notify``) can say exactly why someone did not get a mail.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Iterator, Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import Any

import attrs
from email_validator import EmailNotValidError, validate_email

from helpmail.mail.model import address_key
from helpmail.notify.ports import DeliveryGuardLike, Directory, HeldLike, Person, Queue
from helpmail.notify.settings import (
    CUSTOMER_ROLES,
    EventKind,
    NotifySettings,
    Role,
    Sender,
    event_kind,
)
from helpmail.tickets import events as ev


class SuppressReason(StrEnum):
    """Why a candidate recipient gets no mail."""

    ACTOR = "actor"  #: caused the event themselves
    DUPLICATE = "duplicate"  #: already gets this event's mail through another role
    HELD = "held"  #: the delivery guard holds the address (bounce block, cap)
    INVALID_ADDRESS = "invalid_address"  #: not a valid addr-spec (email-validator, syntax only)
    NO_ADDRESS = "no_address"  #: the person or queue has no address
    AUTOMATED_ORIGIN = "automated_origin"  #: the ticket or message came from automated mail
    NOT_APPLICABLE = "not_applicable"  #: the role's rule excludes this event (with the rule)
    UNKNOWN = "unknown"  #: the id is not in the directory
    NO_SENDER = "no_sender"  #: no queue address, support address or default sender to send from


@attrs.frozen(kw_only=True)
class Recipient:
    """One person (or queue address) who gets one mail for the event.

    ``roles`` are all roles that selected them (in precedence order); ``template_role`` is the
    first of them and picks the template; ``sender`` is the From address of their mail.
    """

    address: str
    person: str | None
    name: str
    roles: tuple[Role, ...]
    language: str
    sender: Sender

    @property
    def template_role(self) -> Role:
        """The role whose template this recipient's mail uses."""
        return self.roles[0]


@attrs.frozen(kw_only=True)
class Suppressed:
    """A candidate left out: ``who`` is the address (or the person/queue id without one)."""

    who: str
    role: Role
    reason: SuppressReason
    detail: str = ""
    person: str | None = None
    until: dt.datetime | None = None
    guard_reason: str | None = None


@attrs.frozen(kw_only=True)
class Resolution:
    """Who gets a mail for one event, and who does not, with reasons."""

    kind: EventKind
    event: ev.TicketEvent
    recipients: tuple[Recipient, ...]
    suppressed: tuple[Suppressed, ...]

    def explain(self) -> list[str]:
        """One readable line per recipient and per suppressed candidate."""
        lines = [
            f"send to {r.address} ({r.name or r.person or 'address'}) as "
            f"{'+'.join(r.roles)} [{r.language}] from {r.sender.address}"
            for r in self.recipients
        ]
        for s in self.suppressed:
            until = f" until {s.until.isoformat()}" if s.until else ""
            detail = f": {s.detail}" if s.detail else ""
            lines.append(f"skip {s.who} ({s.role}) - {s.reason}{until}{detail}")
        return lines


@attrs.frozen(kw_only=True)
class _Candidate:
    role: Role
    address: str | None
    person: str | None
    name: str
    language: str | None


@attrs.define(kw_only=True)
class _Chosen:
    address: str
    person: str | None
    name: str
    roles: list[Role]
    language: str
    sender: Sender


@attrs.frozen(kw_only=True)
class _Context:
    event: ev.TicketEvent
    kind: EventKind
    settings: NotifySettings
    directory: Directory


_Found = Iterator[_Candidate | Suppressed]


def _person_candidate(ctx: _Context, role: Role, person_id: str, what: str) -> _Found:
    person = ctx.directory.person(person_id)
    if person is None:
        yield Suppressed(
            who=person_id,
            role=role,
            reason=SuppressReason.UNKNOWN,
            detail=f"{what} not in the directory",
            person=person_id,
        )
        return
    yield _from_person(role, person)


def _from_person(role: Role, person: Person) -> _Candidate:
    return _Candidate(
        role=role,
        address=person.address,
        person=person.id,
        name=person.name,
        language=person.language,
    )


def _resource(ctx: _Context, role: Role) -> _Found:
    """The queue holding the ticket at the moment of the event: its address, else its members."""
    queue_id = ctx.event.ticket.queue
    if queue_id is None:
        yield Suppressed(
            who="(no queue)",
            role=role,
            reason=SuppressReason.NO_ADDRESS,
            detail="the ticket is in no queue",
        )
        return
    queue = ctx.directory.queue(queue_id)
    if queue is None:
        yield Suppressed(
            who=queue_id,
            role=role,
            reason=SuppressReason.UNKNOWN,
            detail="queue not in the directory",
        )
        return
    if queue.address:
        yield _Candidate(
            role=role,
            address=queue.address,
            person=None,
            name=queue.name or queue.id,
            language=None,
        )
        return
    if not queue.members:
        yield Suppressed(
            who=queue.id,
            role=role,
            reason=SuppressReason.NO_ADDRESS,
            detail="queue has neither an address nor members",
        )
    for member in queue.members:
        yield from _person_candidate(ctx, role, member, f"member of queue {queue.id}")


def _dispatchers(ctx: _Context, role: Role) -> _Found:
    """The acting dispatcher with an address; else the configured list or all dispatchers."""
    acting = ctx.event.ticket.dispatcher
    if acting is not None:
        person = ctx.directory.person(acting)
        if person is not None and person.address:
            yield _from_person(role, person)
            return
        yield Suppressed(
            who=acting,
            role=role,
            person=acting,
            reason=SuppressReason.UNKNOWN if person is None else SuppressReason.NO_ADDRESS,
            detail="acting dispatcher cannot be mailed; all dispatchers are notified instead",
        )
    if ctx.settings.dispatchers:
        for entry in ctx.settings.dispatchers:
            if "@" in entry:
                yield _Candidate(role=role, address=entry, person=None, name="", language=None)
            else:
                yield from _person_candidate(ctx, role, entry, "configured dispatcher")
        return
    found = False
    for person in ctx.directory.dispatchers():
        found = True
        yield _from_person(role, person)
    if not found:
        yield Suppressed(
            who="(dispatchers)",
            role=role,
            reason=SuppressReason.NO_ADDRESS,
            detail="no user has dispatcher rights and no dispatcher list is configured",
        )


def _customer(ctx: _Context, role: Role) -> _Found:
    ticket = ctx.event.ticket
    person = ctx.directory.person(ticket.reporter) if ticket.reporter else None
    address = (person.address if person else None) or ticket.reporter_address
    language = (person.language if person else None) or ticket.language
    if person is None and address is None:
        yield Suppressed(
            who=ticket.reporter or "(customer)",
            role=role,
            person=ticket.reporter,
            reason=SuppressReason.NO_ADDRESS,
            detail="the ticket's customer has no address",
        )
        return
    yield _Candidate(
        role=role,
        address=address,
        person=person.id if person else ticket.reporter,
        name=person.name if person else "",
        language=language,
    )


def _not_applicable(ctx: _Context, role: Role, who: str, rule: str) -> Suppressed:
    return Suppressed(who=who, role=role, reason=SuppressReason.NOT_APPLICABLE, detail=rule)


def _users(ctx: _Context, role: Role) -> _Found:
    """The customer: on authorisation (any channel), on creation via mail, on visible answers."""
    event = ctx.event
    who = event.ticket.reporter_address or event.ticket.reporter or "(customer)"
    if isinstance(event, ev.TicketCreated) and event.channel is not ev.Channel.MAIL:
        yield _not_applicable(
            ctx, role, who, "users hear of new tickets only when created via mail"
        )
        return
    if isinstance(event, ev.CommentAdded) and not event.visible_to_customer:
        yield _not_applicable(ctx, role, who, "the comment is not visible to the customer")
        return
    yield from _customer(ctx, role)


def _external(ctx: _Context, role: Role) -> _Found:
    """Every external address on the ticket, for new-ticket and closed alerts."""
    event = ctx.event
    addresses = event.ticket.external_recipients
    if isinstance(event, ev.TicketCreated):
        rule = None
        if event.previous_status is not None:
            rule = "the status was merely set back to new"
        elif event.via_mail_import or event.ticket.created_by_mail_import:
            rule = "the ticket came from mail-to-ticket (the import's confirmation goes instead)"
        elif event.channel is ev.Channel.WEB_PORTAL:
            rule = "the ticket came from the web portal"
        if rule is not None:
            for address in addresses:
                yield _not_applicable(ctx, role, address, rule)
            return
    for address in addresses:
        yield _Candidate(role=role, address=address, person=None, name="", language=None)


def _import_manager(ctx: _Context, role: Role) -> _Found:
    """The ticket manager, when a ticket was created from mail."""
    event = ctx.event
    if not (isinstance(event, ev.TicketCreated) and event.via_mail_import):
        return
    if event.ticket.manager is None:
        yield Suppressed(
            who="(manager)",
            role=role,
            reason=SuppressReason.NO_ADDRESS,
            detail="the ticket has no manager",
        )
        return
    yield from _person_candidate(ctx, role, event.ticket.manager, "ticket manager")


def _import_assignee(ctx: _Context, role: Role) -> _Found:
    """The assignee, when a follow-up or attachment arrived by mail."""
    event = ctx.event
    if not (isinstance(event, ev.FollowUpAdded) and event.via_mail_import):
        return
    if event.ticket.assignee is None:
        yield Suppressed(
            who="(assignee)",
            role=role,
            reason=SuppressReason.NO_ADDRESS,
            detail="the ticket has no assignee",
        )
        return
    yield from _person_candidate(ctx, role, event.ticket.assignee, "ticket assignee")


def _import_customer(ctx: _Context, role: Role) -> _Found:
    """Always the customer who created a ticket by mail ("... is registered")."""
    event = ctx.event
    if not (isinstance(event, ev.TicketCreated) and event.via_mail_import):
        return
    yield from _customer(ctx, role)


#: role -> function that lists its candidates (the role rules as a table)
ROLE_RULES: Mapping[Role, Callable[[_Context, Role], _Found]] = MappingProxyType(
    {
        Role.IMPORT_CUSTOMER: _import_customer,
        Role.IMPORT_MANAGER: _import_manager,
        Role.IMPORT_ASSIGNEE: _import_assignee,
        Role.USERS: _users,
        Role.DISPATCHERS: _dispatchers,
        Role.RESOURCE: _resource,
        Role.EXTERNAL: _external,
    }
)


@functools.lru_cache(maxsize=8192)
def check_address(address: str) -> tuple[str | None, str]:
    """Validate an addr-spec (syntax only): ``(normalised, "")`` or ``(None, problem)``."""
    try:
        valid = validate_email(address, check_deliverability=False)
    except EmailNotValidError as error:
        return None, str(error)
    return valid.normalized, ""


def choose_sender(
    role: Role, ticket: ev.TicketSnapshot, directory: Directory, settings: NotifySettings
) -> Sender | None:
    """The From address: the support address the customer wrote to (customer roles), else the
    queue's address, else the configured default sender; ``None`` when there is none."""
    queue: Queue | None = directory.queue(ticket.queue) if ticket.queue else None
    default_name = settings.default_sender.name if settings.default_sender else ""
    if role in CUSTOMER_ROLES and ticket.support_address:
        return Sender(address=ticket.support_address, name=(queue.name if queue else default_name))
    if queue is not None and queue.address:
        return Sender(address=queue.address, name=queue.name or default_name)
    return settings.default_sender


DUPLICATE = SuppressReason.DUPLICATE


def _origin(event: ev.TicketEvent) -> ev.Origin | None:
    origin = getattr(event, "origin", None)
    return origin if isinstance(origin, ev.Origin) else event.ticket.origin


def resolve_recipients(
    event: ev.TicketEvent,
    settings: NotifySettings,
    directory: Directory,
    guard: DeliveryGuardLike | None = None,
    *,
    now: dt.datetime | None = None,
) -> Resolution:
    """Who gets a mail for ``event``, with the roles that selected them; who not, and why.

    ``now`` is passed to the guard (default: the event's time). Pure apart from the directory and
    guard look-ups; the order of recipients follows role precedence, then directory order.
    """
    kind = event_kind(event)
    ctx = _Context(event=event, kind=kind, settings=settings, directory=directory)
    now = now or event.at
    roles = sorted(settings.roles_for(kind), key=list(Role).index)
    automated = _origin(event) is ev.Origin.AUTOMATED_MAIL

    actor_keys: set[str] = set()
    if event.actor is not None and not settings.notify_actor:
        actor_person = directory.person(event.actor)
        if actor_person is not None and actor_person.address:
            actor_keys.add(address_key(actor_person.address))

    chosen: dict[str, _Chosen] = {}  # address key -> recipient being built
    by_person: dict[str, str] = {}  # person id -> address key of their recipient
    seen_addresses: dict[str, Role] = {}  # address key -> the role that first reached it
    seen_people: dict[str, Role] = {}  # person id -> the role that first reached them
    suppressed: list[Suppressed] = []
    senders: dict[Role, Sender | None] = {}

    def skip(c: _Candidate, who: str, reason: SuppressReason, detail: str, **more: Any) -> None:
        suppressed.append(
            Suppressed(who=who, role=c.role, person=c.person, reason=reason, detail=detail, **more)
        )

    for role in roles:
        if automated and (role in CUSTOMER_ROLES or not settings.notify_agents_on_automated):
            suppressed.append(
                Suppressed(
                    who=f"({role})",
                    role=role,
                    reason=SuppressReason.AUTOMATED_ORIGIN,
                    detail="automated mail never triggers an automatic mail",
                )
            )
            continue
        for c in ROLE_RULES[role](ctx, role):
            if isinstance(c, Suppressed):
                suppressed.append(c)
                continue
            # One mail per person: the same person id again ...
            if c.person is not None and c.person in seen_people:
                first = seen_people[c.person]
                skip(c, c.address or c.person, DUPLICATE, f"already considered as {first}")
                _merge(chosen, by_person.get(c.person), role)
                continue
            if not c.address:
                skip(c, c.person or "(unknown)", SuppressReason.NO_ADDRESS, "no mail address")
                continue
            normalised, problem = check_address(c.address)
            if normalised is None:
                skip(c, c.address, SuppressReason.INVALID_ADDRESS, problem)
                continue
            # ... or the same address (case-folded local part, IDNA domain) under another name.
            key = address_key(normalised)
            if key in seen_addresses:
                skip(c, normalised, DUPLICATE, f"already considered as {seen_addresses[key]}")
                _merge(chosen, key, role)
                continue
            seen_addresses[key] = role
            if c.person is not None:
                seen_people[c.person] = role
            is_actor = c.person is not None and c.person == event.actor
            if (is_actor or key in actor_keys) and not settings.notify_actor:
                skip(c, normalised, SuppressReason.ACTOR, "caused the event")
                continue
            if role not in senders:
                senders[role] = choose_sender(role, event.ticket, directory, settings)
            sender = senders[role]
            if sender is None:
                skip(c, normalised, SuppressReason.NO_SENDER, "no queue, support or default sender")
                continue
            if guard is not None:
                staff = role not in CUSTOMER_ROLES
                decision = guard.check(normalised, event.ticket.id, now, staff=staff)
                if isinstance(decision, HeldLike) and decision.reason is not None:
                    extra = getattr(decision, "detail", "")
                    detail = f"held by the delivery guard: {decision.reason}"
                    skip(
                        c,
                        normalised,
                        SuppressReason.HELD,
                        detail + (f" ({extra})" if extra else ""),
                        until=decision.until,
                        guard_reason=str(decision.reason),
                    )
                    continue
            customer_language = event.ticket.language if role in CUSTOMER_ROLES else None
            language = c.language or customer_language or settings.default_language
            chosen[key] = _Chosen(
                address=normalised,
                person=c.person,
                name=c.name,
                roles=[role],
                language=language,
                sender=sender,
            )
            if c.person is not None:
                by_person[c.person] = key

    recipients = tuple(
        Recipient(
            address=f.address,
            person=f.person,
            name=f.name,
            roles=tuple(f.roles),
            language=f.language,
            sender=f.sender,
        )
        for f in chosen.values()
    )
    return Resolution(kind=kind, event=event, recipients=recipients, suppressed=tuple(suppressed))


def _merge(chosen: dict[str, _Chosen], key: str | None, role: Role) -> None:
    if key is not None and key in chosen and role not in chosen[key].roles:
        chosen[key].roles.append(role)
