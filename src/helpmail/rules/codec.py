"""Rules to and from plain data (TOML tables, JSON, Python dicts), with errors that name the key.

The rule this module keeps: whatever loads also dumps, and ``from_dict(to_dict(x)) == x``. An
invalid rule fails with a :class:`helpmail.ConfigError` whose ``key`` names the rule and the path to
the bad key (``rules['vip'].when.all[1].op``) and whose ``problem`` says what is wrong.

TOML shape (``[[rules]]`` keeps the order)::

    [[rules]]
    name = "vip customers"
    folders = ["INBOX"]
    when = { all = [
        { field = "sender_domain", op = "in", value = ["vip.example", "big.example"] },
        { not = { field = "classification", op = "in", value = ["bounce", "auto_reply"] } },
    ] }
    actions = [
        { type = "create_or_update_ticket", fields = { priority = "high" } },
        { type = "stop" },
    ]

:func:`parse_rules` is the configuration section parser for ``rules``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

from helpmail.errors import ConfigError
from helpmail.rules.actions import (
    ACTION_TYPES,
    Action,
    ActionKind,
    CreateContact,
    CreateOrUpdateTicket,
    MoveToFolder,
    Quarantine,
    SetField,
)
from helpmail.rules.conditions import AllOf, AnyOf, Condition, Leaf, Not
from helpmail.rules.engine import Rule, RuleSet

_LEAF_KEYS = frozenset({"field", "op", "value", "header", "case_sensitive"})
_RULE_KEYS = frozenset({"name", "active", "folders", "when", "actions"})
#: action type -> the keys it takes besides ``type``
_ACTION_KEYS: Mapping[ActionKind, frozenset[str]] = {
    ActionKind.CREATE_CONTACT: frozenset({"link_to_ticket"}),
    ActionKind.CREATE_OR_UPDATE_TICKET: frozenset({"match_by", "fields", "number_pattern"}),
    ActionKind.MOVE: frozenset({"folder"}),
    ActionKind.DELETE: frozenset(),
    ActionKind.MARK_SEEN: frozenset(),
    ActionKind.QUARANTINE: frozenset({"reason"}),
    ActionKind.SET_FIELD: frozenset({"name", "value"}),
    ActionKind.STOP: frozenset(),
}


def _join(prefix: str, key: str) -> str:
    if not key:
        return prefix
    if not prefix:
        return key
    return f"{prefix}{key}" if key.startswith("[") else f"{prefix}.{key}"


@contextmanager
def _at(prefix: str) -> Iterator[None]:
    """Re-raise ConfigErrors (and the TypeErrors/ValueErrors of constructors) under ``prefix``."""
    try:
        yield
    except ConfigError as error:
        raise ConfigError(_join(prefix, error.key), error.problem) from None
    except (TypeError, ValueError) as error:
        raise ConfigError(prefix, str(error)) from None


def _table(value: object, key: str) -> Mapping[str, object]:
    if not isinstance(value, Mapping):
        raise ConfigError(key, f"expected a table, got {type(value).__name__}")
    return value


def _list(value: object, key: str) -> Sequence[object]:
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        raise ConfigError(key, f"expected a list, got {type(value).__name__}")
    return value


def _unknown(table: Mapping[str, object], allowed: frozenset[str], key: str) -> None:
    extra = sorted(set(table) - allowed)
    if extra:
        raise ConfigError(
            _join(key, extra[0]), f"unknown key (allowed: {', '.join(sorted(allowed))})"
        )


def _bool(value: object, key: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(key, "expected true or false")
    return value


def _str(value: object, key: str) -> str:
    if not isinstance(value, str):
        raise ConfigError(key, f"expected a string, got {type(value).__name__}")
    return value


# --- conditions -------------------------------------------------------------------------------


def condition_from_dict(value: object, key: str = "when") -> Condition:
    """Build a condition tree from ``{"all": [...]}``, ``{"any": [...]}``, ``{"not": {...}}`` or a
    leaf ``{"field": ..., "op": ..., "value": ...}``."""
    table = _table(value, key)
    groups = [g for g in ("all", "any", "not") if g in table]
    if groups:
        if len(table) != 1:
            raise ConfigError(key, "a group table has exactly one key: all, any or not")
        group = groups[0]
        inner_key = _join(key, group)
        if group == "not":
            return Not(condition=condition_from_dict(table["not"], inner_key))
        items = _list(table[group], inner_key)
        children = tuple(
            condition_from_dict(item, f"{inner_key}[{i}]") for i, item in enumerate(items)
        )
        return AllOf(conditions=children) if group == "all" else AnyOf(conditions=children)
    if "field" not in table or "op" not in table:
        raise ConfigError(key, "expected a leaf (field, op, value) or a group (all, any, not)")
    _unknown(table, _LEAF_KEYS, key)
    value_ = table.get("value")
    if isinstance(value_, list):
        value_ = tuple(value_)
    header = table.get("header")
    with _at(key):
        return Leaf(
            field=_str(table["field"], "field"),
            op=_str(table["op"], "op"),
            value=value_,  # type: ignore[arg-type]  # checked by Leaf
            header=None if header is None else _str(header, "header"),
            case_sensitive=_bool(table.get("case_sensitive", False), "case_sensitive"),
        )


def condition_to_dict(condition: Condition) -> dict[str, object]:
    """The plain-data form of a condition tree (inverse of :func:`condition_from_dict`)."""
    if isinstance(condition, AllOf):
        return {"all": [condition_to_dict(c) for c in condition.conditions]}
    if isinstance(condition, AnyOf):
        return {"any": [condition_to_dict(c) for c in condition.conditions]}
    if isinstance(condition, Not):
        return {"not": condition_to_dict(condition.condition)}
    out: dict[str, object] = {"field": str(condition.field), "op": str(condition.op)}
    value = condition.value
    out["value"] = list(value) if isinstance(value, tuple) else value
    if condition.header is not None:
        out["header"] = condition.header
    if condition.case_sensitive:
        out["case_sensitive"] = True
    return out


# --- actions ----------------------------------------------------------------------------------


def action_from_dict(value: object, key: str = "action") -> Action:
    """Build an action from ``{"type": "move", "folder": "Done"}`` (or just ``"stop"``)."""
    if isinstance(value, str):
        value = {"type": value}
    table = _table(value, key)
    if "type" not in table:
        raise ConfigError(key, "an action needs a 'type'")
    type_text = _str(table["type"], _join(key, "type"))
    try:
        kind = ActionKind(type_text.strip().lower().replace("-", "_").replace(" ", "_"))
    except ValueError:
        known = ", ".join(k.value for k in ActionKind)
        raise ConfigError(
            _join(key, "type"), f"unknown action {type_text!r} (known: {known})"
        ) from None
    params = {k: v for k, v in table.items() if k != "type"}
    _unknown(params, _ACTION_KEYS[kind], key)
    with _at(key):
        if kind is ActionKind.CREATE_OR_UPDATE_TICKET:
            match_by = _list(params.get("match_by", ["reference"]), "match_by")
            fields = _table(params.get("fields", {}), "fields")
            for name, field_value in fields.items():
                _str(field_value, f"fields.{name}")
            pattern = params.get("number_pattern")
            return CreateOrUpdateTicket(
                match_by=tuple(_str(m, "match_by") for m in match_by),
                fields=dict(fields),  # type: ignore[arg-type]
                number_pattern=None if pattern is None else _str(pattern, "number_pattern"),
            )
        if kind is ActionKind.CREATE_CONTACT:
            return CreateContact(
                link_to_ticket=_bool(params.get("link_to_ticket", True), "link_to_ticket")
            )
        if kind is ActionKind.MOVE:
            return MoveToFolder(folder=_str(params.get("folder"), "folder"))
        if kind is ActionKind.QUARANTINE:
            return Quarantine(reason=_str(params.get("reason", "quarantined by rule"), "reason"))
        if kind is ActionKind.SET_FIELD:
            raw_value = params.get("value")
            if not isinstance(raw_value, str | int | float | bool):
                raise ConfigError("value", "set_field needs a value")
            return SetField(name=_str(params.get("name"), "name"), value=str(raw_value))
        return ACTION_TYPES[kind]()  # type: ignore[call-arg]


def action_to_dict(action: Action) -> dict[str, object]:
    """The plain-data form of an action (inverse of :func:`action_from_dict`)."""
    out: dict[str, object] = {"type": str(action.kind)}
    if isinstance(action, CreateOrUpdateTicket):
        out["match_by"] = [str(m) for m in action.match_by]
        out["fields"] = dict(action.fields)
        if action.number_pattern is not None:
            out["number_pattern"] = action.number_pattern
    elif isinstance(action, CreateContact):
        out["link_to_ticket"] = action.link_to_ticket
    elif isinstance(action, MoveToFolder):
        out["folder"] = action.folder
    elif isinstance(action, Quarantine):
        out["reason"] = action.reason
    elif isinstance(action, SetField):
        out["name"] = action.name
        out["value"] = action.value
    return out


# --- rules ------------------------------------------------------------------------------------


def rule_from_dict(value: object, key: str = "rule") -> Rule:
    """Build a :class:`Rule` from its table. Errors are reported under ``key``."""
    table = _table(value, key)
    name = table.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(_join(key, "name"), "a rule needs a non-empty name")
    base = key.rpartition("[")[0] if key.endswith("]") else key
    key = f"{base}[{name!r}]"
    _unknown(table, _RULE_KEYS, key)
    when = (
        condition_from_dict(table["when"], _join(key, "when"))
        if "when" in table
        else AllOf(conditions=())
    )
    if "actions" not in table:
        raise ConfigError(_join(key, "actions"), "a rule needs a list of actions")
    actions_key = _join(key, "actions")
    actions = tuple(
        action_from_dict(item, f"{actions_key}[{i}]")
        for i, item in enumerate(_list(table["actions"], actions_key))
    )
    folders_key = _join(key, "folders")
    folders = tuple(
        _str(f, f"{folders_key}[{i}]")
        for i, f in enumerate(_list(table.get("folders", []), folders_key))
    )
    with _at(key):
        return Rule(
            name=name,
            active=_bool(table.get("active", True), "active"),
            folders=folders,
            when=when,
            actions=actions,
        )


def rule_to_dict(rule: Rule) -> dict[str, object]:
    """The plain-data form of a rule (inverse of :func:`rule_from_dict`)."""
    return {
        "name": rule.name,
        "active": rule.active,
        "folders": list(rule.folders),
        "when": condition_to_dict(rule.when),
        "actions": [action_to_dict(a) for a in rule.actions],
    }


def parse_rules(value: object, key: str = "rules") -> RuleSet:
    """Configuration section parser for ``rules``: a list of rule tables (``[[rules]]``).

    Raises :class:`helpmail.ConfigError` naming the rule, the key and the problem.
    """
    items = _list(value, key)
    rules = tuple(rule_from_dict(item, f"{key}[{i}]") for i, item in enumerate(items))
    seen: set[str] = set()
    for rule in rules:
        if rule.name in seen:
            raise ConfigError(f"{key}[{rule.name!r}].name", f"duplicate rule name {rule.name!r}")
        seen.add(rule.name)
    return RuleSet(rules=rules)


def rules_to_list(rules: RuleSet) -> list[dict[str, object]]:
    """The plain-data form of a rule set (inverse of :func:`parse_rules`)."""
    return [rule_to_dict(r) for r in rules]
