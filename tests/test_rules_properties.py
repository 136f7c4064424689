"""Property tests for the rule condition evaluator and the rule loader (hypothesis)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from helpmail import ConfigError, parse_mail
from helpmail.rules import (
    AllOf,
    AnyOf,
    Condition,
    Leaf,
    Not,
    RuleInput,
    condition_from_dict,
    condition_to_dict,
    parse_rules,
    read_field,
    rules_to_list,
)

WORDS = st.sampled_from(["", "a", "Bob", "vip.example", "urgent", "ÄÖ", "x@y.example", "re: hi"])

text_leaf = st.builds(
    lambda field, op, value, cs: Leaf(field=field, op=op, value=value, case_sensitive=cs),
    st.sampled_from(["from", "to", "subject", "body", "sender_domain", "classification", "folder"]),
    st.sampled_from(["equals", "contains", "starts_with", "ends_with"]),
    WORDS,
    st.booleans(),
)
list_leaf = st.builds(
    lambda field, value: Leaf(field=field, op="in", value=tuple(value)),
    st.sampled_from(["to", "subject", "classification"]),
    st.lists(WORDS, max_size=3),
)
exists_leaf = st.builds(
    lambda field, value: Leaf(field=field, op="exists", value=value),
    st.sampled_from(["cc", "ticket", "attachment_name", "subject"]),
    st.booleans(),
)
size_leaf = st.builds(
    lambda op, value: Leaf(field="size", op=op, value=value),
    st.sampled_from(["greater_than", "less_than", "equals"]),
    st.integers(min_value=0, max_value=400),
)
regex_leaf = st.builds(
    lambda value: Leaf(field="subject", op="matches", value=value),
    st.sampled_from([r"^re:", r"\bhi\b", r"[a-z]+@[a-z]+", r"urg(ent)?", "."]),
)
leaves = st.one_of(text_leaf, list_leaf, exists_leaf, size_leaf, regex_leaf)

conditions: st.SearchStrategy[Condition] = st.recursive(
    leaves,
    lambda inner: st.one_of(
        st.builds(lambda cs: AllOf(conditions=cs), st.lists(inner, max_size=4)),
        st.builds(lambda cs: AnyOf(conditions=cs), st.lists(inner, max_size=4)),
        st.builds(lambda c: Not(condition=c), inner),
    ),
    max_leaves=25,
)


def _mail(subject: str, sender: str, cc: bool) -> RuleInput:
    raw = f"From: {sender}\r\nTo: x@y.example\r\nSubject: {subject}\r\n"
    if cc:
        raw += "Cc: a@vip.example\r\n"
    mail = parse_mail((raw + "\r\nbody urgent\r\n").encode())
    return RuleInput(mail=mail, folder="INBOX", classification="human")


facts = st.builds(
    _mail,
    st.sampled_from(["re: hi", "URGENT", "", "hello Bob", "x@y.example"]),
    st.sampled_from(["bob@vip.example", "Bob <bob@x.example>", "nobody"]),
    st.booleans(),
)


def reference(condition: Condition, f: RuleInput) -> bool:
    """A deliberately naive second implementation of the semantics."""
    if isinstance(condition, AllOf):
        return all(reference(c, f) for c in condition.conditions)
    if isinstance(condition, AnyOf):
        return any(reference(c, f) for c in condition.conditions)
    if isinstance(condition, Not):
        return not reference(condition.condition, f)
    values = read_field(condition.field, f, condition.header)
    op, want = str(condition.op), condition.value
    if op == "exists":
        return any(v != "" for v in values) == want
    if condition.field == "size":
        assert isinstance(want, int)
        return any(
            (op == "greater_than" and v > want)
            or (op == "less_than" and v < want)
            or (op == "equals" and v == want)
            for v in values
            if isinstance(v, int)
        )
    import re

    def fold(s: object) -> str:
        return str(s) if condition.case_sensitive else str(s).casefold()

    for v in values:
        if op == "matches" and re.search(str(want), str(v), re.IGNORECASE):
            return True
        if op == "in" and isinstance(want, tuple) and fold(v) in {fold(w) for w in want}:
            return True
        if op == "equals" and fold(v) == fold(want):
            return True
        if op == "contains" and fold(want) in fold(v):
            return True
        if op == "starts_with" and fold(v).startswith(fold(want)):
            return True
        if op == "ends_with" and fold(v).endswith(fold(want)):
            return True
    return False


@settings(max_examples=150, deadline=None)
@given(conditions, facts)
def test_evaluator_agrees_with_reference(condition: Condition, f: RuleInput) -> None:
    assert condition.evaluate(f).matched is reference(condition, f)


@settings(max_examples=100, deadline=None)
@given(st.lists(conditions, max_size=4), facts)
def test_de_morgan(items: list[Condition], f: RuleInput) -> None:
    left = Not(condition=AllOf(conditions=items)).evaluate(f).matched
    right = AnyOf(conditions=[Not(condition=c) for c in items]).evaluate(f).matched
    assert left is right


@settings(max_examples=150, deadline=None)
@given(conditions)
def test_condition_round_trip(condition: Condition) -> None:
    data = condition_to_dict(condition)
    assert condition_from_dict(data) == condition
    assert condition_to_dict(condition_from_dict(data)) == data


@settings(max_examples=100, deadline=None)
@given(st.lists(conditions, max_size=3, unique_by=repr))
def test_rule_set_round_trip(whens: list[Condition]) -> None:
    document = [
        {"name": f"r{i}", "when": condition_to_dict(c), "actions": [{"type": "mark_seen"}]}
        for i, c in enumerate(whens)
    ]
    rules = parse_rules(document)
    assert parse_rules(rules_to_list(rules)) == rules


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(["all", "any", "not", "field", "op", "value", "header", "x"]),
            inner,
            max_size=3,
        )
    ),
    max_leaves=10,
)


@settings(max_examples=400, deadline=None)
@given(json_values)
def test_loader_fails_only_with_config_error(data: Any) -> None:
    problem = ""
    try:
        condition_from_dict(data)
    except ConfigError as error:
        problem = f"{error.key}|{error.problem}"
    assert not problem or (problem.startswith("when") and not problem.endswith("|"))
