"""Rules and rule sets: evaluate them on a mail and get a :class:`Plan` plus a :class:`Trace`.

The rule this module keeps: evaluation is a pure function of (rules, mail facts). Rules run in
order; an inactive rule or one scoped to other folders is skipped (and the trace says so); the
actions of every matching rule are appended to the plan in order until a rule with ``stop`` matches.
Nothing is done here: the plan says what the service should do, and the trace says why.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import attrs

from helpmail.errors import ConfigError
from helpmail.ports import MailboxAction
from helpmail.rules.actions import (
    Action,
    CreateContact,
    CreateOrUpdateTicket,
    Quarantine,
    SetField,
    Stop,
    mailbox_actions,
)
from helpmail.rules.conditions import AllOf, Condition, ConditionTrace, RuleInput


def _folder_key(folder: str) -> str:
    # RFC 3501 §5.1: "INBOX" is case-insensitive; every other mailbox name is case-sensitive.
    return "INBOX" if folder.upper() == "INBOX" else folder


def _actions(items: Iterable[Action]) -> tuple[Action, ...]:
    return tuple(items)


def _strings(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(items)


@attrs.frozen(kw_only=True)
class Rule:
    """A named rule: when ``when`` matches a mail read from one of ``folders``, run ``actions``.

    An empty ``folders`` means every folder; the default condition (an empty ``all``) matches every
    mail.
    """

    name: str = attrs.field()
    actions: tuple[Action, ...] = attrs.field(converter=_actions)
    when: Condition = attrs.field(factory=lambda: AllOf(conditions=()))
    active: bool = True
    folders: tuple[str, ...] = attrs.field(default=(), converter=_strings)

    @name.validator
    def _check_name(self, _attr: object, value: str) -> None:
        if not value.strip():
            raise ConfigError("name", "a rule needs a non-empty name")

    def to_dict(self) -> dict[str, object]:
        """Plain data (TOML/JSON) for this rule; :meth:`from_dict` reads it back."""
        from helpmail.rules.codec import rule_to_dict

        return rule_to_dict(self)

    @classmethod
    def from_dict(cls, data: object, key: str = "rule") -> Rule:
        """A rule from plain data; :class:`helpmail.ConfigError` names the key on problems."""
        from helpmail.rules.codec import rule_from_dict

        return rule_from_dict(data, key)

    def applies_to_folder(self, folder: str | None) -> bool:
        """Whether the rule is scoped to ``folder`` (``None``: the folder is unknown -> yes)."""
        if not self.folders or folder is None:
            return True
        return _folder_key(folder) in {_folder_key(f) for f in self.folders}


@attrs.frozen(kw_only=True)
class RuleTrace:
    """What happened to one rule: skipped (inactive / other folder), matched or not, and why."""

    rule: str
    active: bool
    in_scope: bool
    matched: bool
    condition: ConditionTrace | None = None
    actions: tuple[str, ...] = ()

    def lines(self) -> list[str]:
        if not self.active:
            return [f"rule {self.rule!r}: skipped (inactive)"]
        if not self.in_scope:
            return [f"rule {self.rule!r}: skipped (not scoped to this folder)"]
        head = f"rule {self.rule!r}: {'MATCHED' if self.matched else 'no match'}"
        out = [head]
        if self.condition is not None:
            out.extend(self.condition.lines(1))
        out.extend(f"  -> {a}" for a in self.actions)
        return out

    def to_dict(self) -> dict[str, object]:
        return {
            "rule": self.rule,
            "active": self.active,
            "in_scope": self.in_scope,
            "matched": self.matched,
            "condition": None if self.condition is None else self.condition.to_dict(),
            "actions": list(self.actions),
        }


@attrs.frozen(kw_only=True)
class Trace:
    """The trace of one evaluation: one :class:`RuleTrace` per rule looked at, in order.

    ``stopped_by`` names the rule whose ``stop`` ended evaluation; rules after it are not listed.
    """

    rules: tuple[RuleTrace, ...]
    stopped_by: str | None = None

    def render(self) -> str:
        """The trace as readable text (what ``helpmail explain`` prints)."""
        out: list[str] = []
        for rule in self.rules:
            out.extend(rule.lines())
        if self.stopped_by is not None:
            out.append(f"stopped by rule {self.stopped_by!r}")
        if not self.rules:
            out.append("no rules")
        return "\n".join(out)

    def to_dict(self) -> dict[str, object]:
        return {"rules": [r.to_dict() for r in self.rules], "stopped_by": self.stopped_by}


@attrs.frozen(kw_only=True)
class Plan:
    """What the matching rules ask for, in order. Empty when no rule matched.

    Helpers sort the actions by who carries them out: :meth:`mailbox_actions` for the mail source
    (after commit), :attr:`quarantine` / :attr:`ticket` / :attr:`contact` / :meth:`fields` for the
    service and the store.
    """

    actions: tuple[Action, ...] = ()
    matched_rules: tuple[str, ...] = ()

    @property
    def quarantine(self) -> Quarantine | None:
        """The first quarantine action, if any (the mail is then not imported)."""
        return next((a for a in self.actions if isinstance(a, Quarantine)), None)

    @property
    def ticket(self) -> CreateOrUpdateTicket | None:
        """The last create-or-update-ticket action, if any."""
        found = [a for a in self.actions if isinstance(a, CreateOrUpdateTicket)]
        return found[-1] if found else None

    @property
    def contact(self) -> CreateContact | None:
        return next((a for a in self.actions if isinstance(a, CreateContact)), None)

    def fields(self) -> dict[str, str]:
        """Ticket fields to set: the ticket action's ``fields``, then ``set_field`` in order."""
        out: dict[str, str] = {}
        for action in self.actions:
            if isinstance(action, CreateOrUpdateTicket):
                out.update(action.fields)
            elif isinstance(action, SetField):
                out[action.name] = action.value
        return out

    def mailbox_actions(self) -> tuple[MailboxAction, ...]:
        """Server-side actions (mark seen / move / delete), see :func:`.actions.mailbox_actions`."""
        return mailbox_actions(self.actions)


@attrs.frozen(kw_only=True)
class Evaluation:
    """The result of :func:`evaluate`: the plan and the trace that explains it."""

    plan: Plan
    trace: Trace


def _rules(items: Iterable[Rule]) -> tuple[Rule, ...]:
    return tuple(items)


@attrs.frozen(kw_only=True)
class RuleSet:
    """An ordered list of rules with unique names."""

    rules: tuple[Rule, ...] = attrs.field(default=(), converter=_rules)

    def __attrs_post_init__(self) -> None:
        seen: set[str] = set()
        for index, rule in enumerate(self.rules):
            if rule.name in seen:
                raise ConfigError(f"rules[{index}].name", f"duplicate rule name {rule.name!r}")
            seen.add(rule.name)

    def __iter__(self) -> Iterator[Rule]:
        return iter(self.rules)

    def __len__(self) -> int:
        return len(self.rules)

    def to_list(self) -> list[dict[str, object]]:
        """Plain data for the ``[[rules]]`` section; :meth:`from_list` reads it back."""
        return [rule.to_dict() for rule in self.rules]

    @classmethod
    def from_list(cls, data: object, key: str = "rules") -> RuleSet:
        """A rule set from plain data (what ``[[rules]]`` decodes to)."""
        from helpmail.rules.codec import parse_rules

        return parse_rules(data, key)

    def evaluate(self, facts: RuleInput) -> Evaluation:
        """Evaluate the rules on ``facts`` (see :func:`evaluate`)."""
        return evaluate(self.rules, facts)


def evaluate(rules: Iterable[Rule], facts: RuleInput) -> Evaluation:
    """Run ``rules`` in order on ``facts`` and return the :class:`Plan` and its :class:`Trace`."""
    traces: list[RuleTrace] = []
    actions: list[Action] = []
    matched: list[str] = []
    stopped_by: str | None = None
    for rule in rules:
        if not rule.active:
            traces.append(RuleTrace(rule=rule.name, active=False, in_scope=True, matched=False))
            continue
        if not rule.applies_to_folder(facts.folder):
            traces.append(RuleTrace(rule=rule.name, active=True, in_scope=False, matched=False))
            continue
        condition = rule.when.evaluate(facts)
        described: tuple[str, ...] = ()
        if condition.matched:
            matched.append(rule.name)
            actions.extend(rule.actions)
            described = tuple(a.describe() for a in rule.actions)
        traces.append(
            RuleTrace(
                rule=rule.name,
                active=True,
                in_scope=True,
                matched=condition.matched,
                condition=condition,
                actions=described,
            )
        )
        if condition.matched and any(isinstance(a, Stop) for a in rule.actions):
            stopped_by = rule.name
            break
    plan = Plan(
        actions=tuple(a for a in actions if not isinstance(a, Stop)), matched_rules=tuple(matched)
    )
    return Evaluation(plan=plan, trace=Trace(rules=tuple(traces), stopped_by=stopped_by))
