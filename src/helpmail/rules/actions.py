"""Rule actions: what a matching rule asks for, in order, as values.

The rule this module keeps: an action is a description, never a deed. The rule engine only collects
actions into a :class:`helpmail.rules.engine.Plan`; the service performs them (the ticket actions
in the store's transaction, the mailbox actions only after the store committed).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import ClassVar, TypeAlias

import attrs

from helpmail.errors import ConfigError
from helpmail.ports import MailboxAction, MailboxActionKind
from helpmail.rules.regex_safety import UnsafePattern, compile_safe


class ActionKind(StrEnum):
    """The kinds of rule actions (the ``type`` key in configuration)."""

    CREATE_CONTACT = "create_contact"
    CREATE_OR_UPDATE_TICKET = "create_or_update_ticket"
    MOVE = "move"
    DELETE = "delete"
    MARK_SEEN = "mark_seen"
    QUARANTINE = "quarantine"
    SET_FIELD = "set_field"
    STOP = "stop"


class TicketMatch(StrEnum):
    """How ``create_or_update_ticket`` finds the ticket to update."""

    REFERENCE = "reference"  # the ticket reference found in the mail (subject tag, Message-ID...)
    SUBJECT = "subject"  # an open ticket with the same subject (prefixes like Re:/AW: ignored)


@attrs.frozen(kw_only=True)
class CreateContact:
    """Create a contact for the sender if none exists; ``link_to_ticket`` adds it to the ticket."""

    kind: ClassVar[ActionKind] = ActionKind.CREATE_CONTACT
    link_to_ticket: bool = True

    def describe(self) -> str:
        return "create contact if missing" + (" and link it to the ticket" * self.link_to_ticket)


def _fields(value: Mapping[str, str] | tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    items = value.items() if isinstance(value, Mapping) else value
    return tuple((str(k), str(v)) for k, v in items)


def _match_by(items: Iterable[TicketMatch | str]) -> tuple[TicketMatch, ...]:
    return tuple(TicketMatch(i) for i in items)


@attrs.frozen(kw_only=True)
class CreateOrUpdateTicket:
    """Create a ticket, or add the mail to an existing one.

    ``match_by`` lists how to find the existing ticket, tried in order (by default only the ticket
    reference); ``fields`` are set on the created or updated ticket; ``number_pattern`` is an
    optional regular expression whose first group (or whole match) is the ticket number, searched in
    the subject (for tickets numbered by another system).
    """

    kind: ClassVar[ActionKind] = ActionKind.CREATE_OR_UPDATE_TICKET
    match_by: tuple[TicketMatch, ...] = attrs.field(
        default=(TicketMatch.REFERENCE,), converter=_match_by
    )
    fields: tuple[tuple[str, str], ...] = attrs.field(default=(), converter=_fields)
    number_pattern: str | None = None
    _compiled: re.Pattern[str] | None = attrs.field(
        init=False, default=None, eq=False, repr=False, hash=False
    )

    def __attrs_post_init__(self) -> None:
        if self.number_pattern is not None:
            try:
                compiled = compile_safe(self.number_pattern)
            except UnsafePattern as error:
                raise ConfigError("number_pattern", str(error)) from None
            object.__setattr__(self, "_compiled", compiled)

    def find_number(self, text: str) -> str | None:
        """The ticket number ``number_pattern`` finds in ``text`` (first group, else the match)."""
        if self._compiled is None:
            return None
        found = self._compiled.search(text)
        if found is None:
            return None
        return found.group(1) if found.re.groups else found.group(0)

    def describe(self) -> str:
        text = "create or update ticket (match by " + ", ".join(self.match_by) + ")"
        if self.fields:
            text += " set " + ", ".join(f"{k}={v!r}" for k, v in self.fields)
        if self.number_pattern:
            text += f" number pattern {self.number_pattern!r}"
        return text


@attrs.frozen(kw_only=True)
class MoveToFolder:
    """Move the message to ``folder`` on its server (after the store committed)."""

    kind: ClassVar[ActionKind] = ActionKind.MOVE
    folder: str = attrs.field()

    @folder.validator
    def _check(self, _attr: object, value: str) -> None:
        if not value.strip():
            raise ConfigError("folder", "move needs a folder name")

    def describe(self) -> str:
        return f"move to {self.folder!r}"


@attrs.frozen(kw_only=True)
class Delete:
    """Delete the message on its server (after the store committed)."""

    kind: ClassVar[ActionKind] = ActionKind.DELETE

    def describe(self) -> str:
        return "delete from server"


@attrs.frozen(kw_only=True)
class MarkSeen:
    """Set ``\\Seen`` on the message (after the store committed)."""

    kind: ClassVar[ActionKind] = ActionKind.MARK_SEEN

    def describe(self) -> str:
        return "mark seen"


@attrs.frozen(kw_only=True)
class Quarantine:
    """Do not import: keep the mail in the quarantine with ``reason``."""

    kind: ClassVar[ActionKind] = ActionKind.QUARANTINE
    reason: str = "quarantined by rule"

    def describe(self) -> str:
        return f"quarantine ({self.reason})"


@attrs.frozen(kw_only=True)
class SetField:
    """Set a ticket field (``priority``, ``queue``, a host-defined field) to ``value``."""

    kind: ClassVar[ActionKind] = ActionKind.SET_FIELD
    name: str = attrs.field()
    value: str = attrs.field(converter=str)

    @name.validator
    def _check(self, _attr: object, value: str) -> None:
        if not value.strip():
            raise ConfigError("name", "set_field needs a field name")

    def describe(self) -> str:
        return f"set {self.name} = {self.value!r}"


@attrs.frozen(kw_only=True)
class Stop:
    """Stop: no later rule is evaluated."""

    kind: ClassVar[ActionKind] = ActionKind.STOP

    def describe(self) -> str:
        return "stop processing"


Action: TypeAlias = (
    CreateContact
    | CreateOrUpdateTicket
    | MoveToFolder
    | Delete
    | MarkSeen
    | Quarantine
    | SetField
    | Stop
)

#: action kind -> class (used by the loader)
ACTION_TYPES: Mapping[ActionKind, type[Action]] = {
    ActionKind.CREATE_CONTACT: CreateContact,
    ActionKind.CREATE_OR_UPDATE_TICKET: CreateOrUpdateTicket,
    ActionKind.MOVE: MoveToFolder,
    ActionKind.DELETE: Delete,
    ActionKind.MARK_SEEN: MarkSeen,
    ActionKind.QUARANTINE: Quarantine,
    ActionKind.SET_FIELD: SetField,
    ActionKind.STOP: Stop,
}


def mailbox_actions(actions: tuple[Action, ...]) -> tuple[MailboxAction, ...]:
    """The server-side actions a list of rule actions asks for, in the order to apply them.

    ``mark_seen`` comes first; of ``move`` and ``delete`` the last one wins (a message can only
    end up in one place). Nothing server-side gives ``()``: the mailbox's after-import action
    applies.
    """
    seen = any(isinstance(a, MarkSeen) for a in actions)
    final: MailboxAction | None = None
    for action in actions:
        if isinstance(action, MoveToFolder):
            final = MailboxAction(kind=MailboxActionKind.MOVE, folder=action.folder)
        elif isinstance(action, Delete):
            final = MailboxAction(kind=MailboxActionKind.DELETE)
    out: list[MailboxAction] = []
    if seen:
        out.append(MailboxAction(kind=MailboxActionKind.MARK_SEEN))
    if final is not None:
        out.append(final)
    return tuple(out)
