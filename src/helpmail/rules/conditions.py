"""Rule conditions: a tree of ``all`` / ``any`` / ``not`` groups over ``(field, op, value)`` leaves.

The rule this module keeps: evaluation is pure and linear. A condition is checked once when it is
built (the operator fits the field, the value fits the operator, a regular expression is safe and
compiled once, see :mod:`helpmail.rules.regex_safety`), so evaluating it on a mail cannot fail and
never backtracks exponentially. Every evaluation returns a :class:`ConditionTrace` tree that says
which leaf matched or did not, with the values that were compared.

Which fields and operators exist, and which operator fits which kind of field, are tables
(:data:`FIELD_KINDS`, :data:`OPERATORS_FOR_KIND`), not chains of ``if``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from enum import StrEnum
from typing import TYPE_CHECKING, TypeAlias

import attrs

from helpmail.errors import ConfigError
from helpmail.rules.regex_safety import UnsafePattern, compile_safe

if TYPE_CHECKING:
    from helpmail.mail.model import Address, InboundMail


class Field(StrEnum):
    """What part of the mail a leaf looks at."""

    FROM = "from"
    TO = "to"
    CC = "cc"
    REPLY_TO = "reply_to"
    SENDER_DOMAIN = "sender_domain"
    SUBJECT = "subject"
    BODY = "body"
    HEADER = "header"
    HAS_ATTACHMENT = "has_attachment"
    ATTACHMENT_NAME = "attachment_name"
    ATTACHMENT_TYPE = "attachment_type"
    SIZE = "size"
    CLASSIFICATION = "classification"
    TICKET = "ticket"
    FOLDER = "folder"


class Operator(StrEnum):
    """How a leaf compares the field's values with its own value."""

    EQUALS = "equals"
    CONTAINS = "contains"
    STARTS_WITH = "starts_with"
    ENDS_WITH = "ends_with"
    MATCHES = "matches"
    IN = "in"
    EXISTS = "exists"
    GREATER_THAN = "greater_than"
    LESS_THAN = "less_than"


class FieldKind(StrEnum):
    """The type of a field's values."""

    TEXT = "text"
    NUMBER = "number"
    FLAG = "flag"


#: the type of each field's values
FIELD_KINDS: Mapping[Field, FieldKind] = {
    Field.FROM: FieldKind.TEXT,
    Field.TO: FieldKind.TEXT,
    Field.CC: FieldKind.TEXT,
    Field.REPLY_TO: FieldKind.TEXT,
    Field.SENDER_DOMAIN: FieldKind.TEXT,
    Field.SUBJECT: FieldKind.TEXT,
    Field.BODY: FieldKind.TEXT,
    Field.HEADER: FieldKind.TEXT,
    Field.HAS_ATTACHMENT: FieldKind.FLAG,
    Field.ATTACHMENT_NAME: FieldKind.TEXT,
    Field.ATTACHMENT_TYPE: FieldKind.TEXT,
    Field.SIZE: FieldKind.NUMBER,
    Field.CLASSIFICATION: FieldKind.TEXT,
    Field.TICKET: FieldKind.TEXT,
    Field.FOLDER: FieldKind.TEXT,
}

_TEXT_OPS = frozenset(
    {
        Operator.EQUALS,
        Operator.CONTAINS,
        Operator.STARTS_WITH,
        Operator.ENDS_WITH,
        Operator.MATCHES,
        Operator.IN,
        Operator.EXISTS,
    }
)

#: which operators fit which kind of field
OPERATORS_FOR_KIND: Mapping[FieldKind, frozenset[Operator]] = {
    FieldKind.TEXT: _TEXT_OPS,
    FieldKind.NUMBER: frozenset(
        {Operator.EQUALS, Operator.IN, Operator.EXISTS, Operator.GREATER_THAN, Operator.LESS_THAN}
    ),
    FieldKind.FLAG: frozenset({Operator.EQUALS, Operator.EXISTS}),
}

#: spellings accepted for fields and operators besides their canonical names
FIELD_ALIASES: Mapping[str, Field] = {
    "reply-to": Field.REPLY_TO,
    "replyto": Field.REPLY_TO,
    "sender-domain": Field.SENDER_DOMAIN,
    "domain": Field.SENDER_DOMAIN,
    "text": Field.BODY,
    "body_text": Field.BODY,
    "attachment": Field.HAS_ATTACHMENT,
    "matched_ticket": Field.TICKET,
}
OPERATOR_ALIASES: Mapping[str, Operator] = {
    "is": Operator.EQUALS,
    "eq": Operator.EQUALS,
    "==": Operator.EQUALS,
    "startswith": Operator.STARTS_WITH,
    "endswith": Operator.ENDS_WITH,
    "regex": Operator.MATCHES,
    "in_list": Operator.IN,
    "one_of": Operator.IN,
    "gt": Operator.GREATER_THAN,
    ">": Operator.GREATER_THAN,
    "lt": Operator.LESS_THAN,
    "<": Operator.LESS_THAN,
}


def _canon(text: str) -> str:
    return text.strip().lower().replace("-", "_").replace(" ", "_")


def parse_field(text: str) -> Field:
    """The :class:`Field` named ``text`` (``"reply-to"``, ``"Reply To"``, ``"reply_to"`` alike)."""
    canon = _canon(text)
    if canon in FIELD_ALIASES:
        return FIELD_ALIASES[canon]
    if text.strip().lower() in FIELD_ALIASES:
        return FIELD_ALIASES[text.strip().lower()]
    try:
        return Field(canon)
    except ValueError:
        known = ", ".join(f.value for f in Field)
        raise ConfigError("field", f"unknown field {text!r} (known: {known})") from None


def parse_operator(text: str) -> Operator:
    """The :class:`Operator` named ``text`` (``"starts with"``, ``"starts_with"``, ``"gt"``...)."""
    stripped = text.strip().lower()
    if stripped in OPERATOR_ALIASES:
        return OPERATOR_ALIASES[stripped]
    canon = _canon(text)
    if canon in OPERATOR_ALIASES:
        return OPERATOR_ALIASES[canon]
    try:
        return Operator(canon)
    except ValueError:
        known = ", ".join(o.value for o in Operator)
        raise ConfigError("op", f"unknown operator {text!r} (known: {known})") from None


@attrs.frozen(kw_only=True)
class RuleInput:
    """Everything a rule can look at: the parsed mail plus facts found before the rules run.

    ``classification`` is the value of :func:`helpmail.classify` (``"human"``, ``"bounce"``...),
    passed in rather than computed here; ``ticket`` the number or id of the ticket the mail was
    matched to (``None`` for a new conversation); ``folder`` the folder it was read from.
    """

    mail: InboundMail
    folder: str | None = None
    classification: str | None = None
    ticket: str | None = None


Value: TypeAlias = str | int | bool
Values: TypeAlias = tuple[Value, ...]


def _addresses(addresses: tuple[Address, ...]) -> Values:
    return tuple(a.addr_spec for a in addresses if a.addr_spec)


def _sender_domain(facts: RuleInput) -> Values:
    author = facts.mail.from_address
    return (author.domain,) if author is not None and author.domain else ()


def _opt(value: str | None) -> Values:
    return (value,) if value else ()


#: how each field reads its values from a :class:`RuleInput` (HEADER is handled by name)
FIELD_READERS: Mapping[Field, Callable[[RuleInput], Values]] = {
    Field.FROM: lambda f: _addresses(f.mail.from_),
    Field.TO: lambda f: _addresses(f.mail.to),
    Field.CC: lambda f: _addresses(f.mail.cc),
    Field.REPLY_TO: lambda f: _addresses(f.mail.reply_to),
    Field.SENDER_DOMAIN: _sender_domain,
    Field.SUBJECT: lambda f: (f.mail.subject,),
    Field.BODY: lambda f: (f.mail.text,),
    Field.HAS_ATTACHMENT: lambda f: (bool(f.mail.attachments),),
    Field.ATTACHMENT_NAME: lambda f: tuple(a.filename for a in f.mail.attachments if a.filename),
    Field.ATTACHMENT_TYPE: lambda f: tuple(
        a.sniffed_type or a.declared_type for a in f.mail.attachments
    ),
    Field.SIZE: lambda f: (f.mail.size,),
    Field.CLASSIFICATION: lambda f: _opt(f.classification),
    Field.TICKET: lambda f: _opt(f.ticket),
    Field.FOLDER: lambda f: _opt(f.folder),
}


def read_field(field: Field, facts: RuleInput, header: str | None = None) -> Values:
    """The values of ``field`` in ``facts`` (several for address lists and attachments)."""
    if field is Field.HEADER:
        return tuple(facts.mail.header_all(header or ""))
    return FIELD_READERS[field](facts)


LeafValue: TypeAlias = str | int | bool | tuple[str, ...] | tuple[int, ...] | None


def _check_leaf_value(field: Field, op: Operator, value: LeafValue) -> LeafValue:
    """Validate and normalise a leaf's value for its operator; raise ConfigError('value', ...)."""
    kind = FIELD_KINDS[field]
    if op is Operator.EXISTS:
        if value is None:
            return True
        if not isinstance(value, bool):
            raise ConfigError("value", "exists takes true or false")
        return value
    if op is Operator.IN:
        if isinstance(value, str | int | bool) or value is None:
            raise ConfigError("value", "in takes a list of values")
        items = tuple(value)
        if kind is FieldKind.NUMBER:
            if not all(isinstance(i, int) and not isinstance(i, bool) for i in items):
                raise ConfigError("value", f"{field} takes a list of whole numbers")
            return tuple(i for i in items if isinstance(i, int))
        if not all(isinstance(i, str) for i in items):
            raise ConfigError("value", "in takes a list of strings")
        return tuple(str(i) for i in items)
    if kind is FieldKind.FLAG:
        if not isinstance(value, bool):
            raise ConfigError("value", f"{field} takes true or false")
        return value
    if kind is FieldKind.NUMBER:
        if not isinstance(value, int) or isinstance(value, bool):
            raise ConfigError("value", f"{field} takes a whole number")
        return value
    if not isinstance(value, str):
        raise ConfigError("value", f"{op} takes a string")
    return value


def _to_field(value: Field | str) -> Field:
    return value if isinstance(value, Field) else parse_field(value)


def _to_operator(value: Operator | str) -> Operator:
    return value if isinstance(value, Operator) else parse_operator(value)


def _conditions(items: Iterable[Condition]) -> tuple[Condition, ...]:
    return tuple(items)


@attrs.frozen(kw_only=True)
class Leaf:
    """One comparison: ``field`` ``op`` ``value`` (``header`` names the header of ``field=header``).

    Text comparisons are case-insensitive unless ``case_sensitive``. A field with several values
    (the To addresses, the attachment names) matches when any of them does. ``exists`` takes
    ``true`` (the field has a non-empty value) or ``false``.
    """

    field: Field = attrs.field(converter=_to_field)
    op: Operator = attrs.field(converter=_to_operator)
    value: LeafValue = None
    header: str | None = None
    case_sensitive: bool = False
    _pattern: re.Pattern[str] | None = attrs.field(
        init=False, default=None, eq=False, repr=False, hash=False
    )

    def __attrs_post_init__(self) -> None:
        if self.op not in OPERATORS_FOR_KIND[FIELD_KINDS[self.field]]:
            raise ConfigError("op", f"{self.op} does not apply to {self.field}")
        if self.field is Field.HEADER and not (self.header and self.header.strip()):
            raise ConfigError("header", "field 'header' needs the header name in 'header'")
        if self.field is not Field.HEADER and self.header is not None:
            raise ConfigError("header", "'header' is only used with field 'header'")
        value = _check_leaf_value(self.field, self.op, self.value)
        object.__setattr__(self, "value", value)
        if self.op is Operator.MATCHES:
            assert isinstance(value, str)
            try:
                pattern = compile_safe(value, case_sensitive=self.case_sensitive)
            except UnsafePattern as error:
                raise ConfigError("value", str(error)) from None
            object.__setattr__(self, "_pattern", pattern)

    def describe(self) -> str:
        """``subject contains 'urgent'`` (for traces)."""
        name = f"header {self.header!r}" if self.field is Field.HEADER else str(self.field)
        return f"{name} {self.op} {self.value!r}"

    def evaluate(self, facts: RuleInput) -> LeafTrace:
        """Compare and return the trace of this leaf."""
        actual = read_field(self.field, facts, self.header)
        matched_value = _compare(self, actual)
        return LeafTrace(
            leaf=self,
            actual=tuple(_shorten(v) for v in actual),
            matched=matched_value is not _NO_MATCH,
            matched_value=None if matched_value is _NO_MATCH else _shorten(matched_value),
        )


class _NoMatch:
    def __repr__(self) -> str:
        return "<no match>"


_NO_MATCH = _NoMatch()
_SHOW = 200


def _shorten(value: Value | _NoMatch) -> Value:
    assert not isinstance(value, _NoMatch)
    if isinstance(value, str) and len(value) > _SHOW:
        return value[:_SHOW] + f"… ({len(value)} characters)"
    return value


def _fold(text: str, case_sensitive: bool) -> str:
    return text if case_sensitive else text.casefold()


def _text_test(leaf: Leaf) -> Callable[[Value], bool]:
    cs = leaf.case_sensitive
    op = leaf.op
    if op is Operator.MATCHES:
        pattern = leaf._pattern
        assert pattern is not None
        return lambda v: isinstance(v, str) and pattern.search(v) is not None
    if op is Operator.IN:
        assert isinstance(leaf.value, tuple)
        wanted = {_fold(str(w), cs) for w in leaf.value}
        return lambda v: _fold(str(v), cs) in wanted
    expected = _fold(str(leaf.value), cs)
    tests: Mapping[Operator, Callable[[str], bool]] = {
        Operator.EQUALS: lambda s: s == expected,
        Operator.CONTAINS: lambda s: expected in s,
        Operator.STARTS_WITH: lambda s: s.startswith(expected),
        Operator.ENDS_WITH: lambda s: s.endswith(expected),
    }
    test = tests[op]
    return lambda v: test(_fold(str(v), cs))


def _compare(leaf: Leaf, actual: Values) -> Value | _NoMatch:
    """The first value of ``actual`` that satisfies the leaf, or ``_NO_MATCH``.

    For ``exists`` the "matched value" is the boolean outcome.
    """
    op = leaf.op
    if op is Operator.EXISTS:
        present = any(v != "" for v in actual)
        return present if present == leaf.value else _NO_MATCH
    kind = FIELD_KINDS[leaf.field]
    if kind is FieldKind.NUMBER and op in (
        Operator.GREATER_THAN,
        Operator.LESS_THAN,
        Operator.EQUALS,
        Operator.IN,
    ):
        for v in actual:
            if not isinstance(v, int):
                continue
            if op is Operator.GREATER_THAN and isinstance(leaf.value, int) and v > leaf.value:
                return v
            if op is Operator.LESS_THAN and isinstance(leaf.value, int) and v < leaf.value:
                return v
            if op is Operator.EQUALS and v == leaf.value:
                return v
            if op is Operator.IN and isinstance(leaf.value, tuple) and v in leaf.value:
                return v
        return _NO_MATCH
    if kind is FieldKind.FLAG:
        for v in actual:
            if v is leaf.value:
                return v
        return _NO_MATCH
    test = _text_test(leaf)
    for v in actual:
        if test(v):
            return v
    return _NO_MATCH


@attrs.frozen(kw_only=True)
class AllOf:
    """Matches when every condition matches (an empty ``all`` matches every mail)."""

    conditions: tuple[Condition, ...] = attrs.field(converter=_conditions)

    def evaluate(self, facts: RuleInput) -> GroupTrace:
        children = tuple(c.evaluate(facts) for c in self.conditions)
        return GroupTrace(kind="all", matched=all(c.matched for c in children), children=children)


@attrs.frozen(kw_only=True)
class AnyOf:
    """Matches when at least one condition matches (an empty ``any`` matches nothing)."""

    conditions: tuple[Condition, ...] = attrs.field(converter=_conditions)

    def evaluate(self, facts: RuleInput) -> GroupTrace:
        children = tuple(c.evaluate(facts) for c in self.conditions)
        return GroupTrace(kind="any", matched=any(c.matched for c in children), children=children)


@attrs.frozen(kw_only=True)
class Not:
    """Matches when its condition does not."""

    condition: Condition

    def evaluate(self, facts: RuleInput) -> GroupTrace:
        child = self.condition.evaluate(facts)
        return GroupTrace(kind="not", matched=not child.matched, children=(child,))


Condition: TypeAlias = Leaf | AllOf | AnyOf | Not


@attrs.frozen(kw_only=True)
class LeafTrace:
    """How one leaf went: the values read from the mail, and the one that matched (if any)."""

    leaf: Leaf
    actual: Values
    matched: bool
    matched_value: Value | None = None

    def lines(self, indent: int = 0) -> list[str]:
        mark = "✓" if self.matched else "✗"
        seen = ", ".join(repr(v) for v in self.actual) if self.actual else "(no value)"
        return [f"{'  ' * indent}{mark} {self.leaf.describe()}  — mail has: {seen}"]

    def to_dict(self) -> dict[str, object]:
        return {
            "leaf": self.leaf.describe(),
            "field": str(self.leaf.field),
            "header": self.leaf.header,
            "op": str(self.leaf.op),
            "value": list(self.leaf.value)
            if isinstance(self.leaf.value, tuple)
            else self.leaf.value,
            "actual": list(self.actual),
            "matched": self.matched,
            "matched_value": self.matched_value,
        }


@attrs.frozen(kw_only=True)
class GroupTrace:
    """How an ``all`` / ``any`` / ``not`` group went, with its children's traces."""

    kind: str
    matched: bool
    children: tuple[ConditionTrace, ...]

    def lines(self, indent: int = 0) -> list[str]:
        mark = "✓" if self.matched else "✗"
        out = [f"{'  ' * indent}{mark} {self.kind}:"]
        for child in self.children:
            out.extend(child.lines(indent + 1))
        return out

    def to_dict(self) -> dict[str, object]:
        return {
            "group": self.kind,
            "matched": self.matched,
            "children": [c.to_dict() for c in self.children],
        }


ConditionTrace: TypeAlias = LeafTrace | GroupTrace


def condition_depth(condition: Condition) -> int:
    """Nesting depth of a condition tree (a leaf is 1)."""
    if isinstance(condition, Leaf):
        return 1
    if isinstance(condition, Not):
        return 1 + condition_depth(condition.condition)
    return 1 + max((condition_depth(c) for c in condition.conditions), default=0)
