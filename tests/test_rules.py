"""Scanner rules: conditions, operators, actions, plan + trace, loading from TOML and Python."""

from __future__ import annotations

import tomllib

import pytest

from helpmail import ConfigError, parse_mail
from helpmail.ports import MailboxAction, MailboxActionKind
from helpmail.rules import (
    AllOf,
    AnyOf,
    CreateContact,
    CreateOrUpdateTicket,
    Delete,
    Field,
    Leaf,
    MarkSeen,
    MoveToFolder,
    Not,
    Operator,
    Quarantine,
    Rule,
    RuleInput,
    RuleSet,
    SetField,
    Stop,
    TicketMatch,
    UnsafePattern,
    check_pattern,
    parse_rules,
    rules_to_list,
)

RAW = (
    b"From: Bob Example <Bob@VIP.example>\r\n"
    b"To: support@desk.example, other@desk.example\r\n"
    b"Cc: carol@cc.example\r\n"
    b"Reply-To: bob-replies@vip.example\r\n"
    b"Subject: URGENT: printer on fire [#1234]\r\n"
    b"X-Priority: 1\r\n"
    b"Message-ID: <m1@vip.example>\r\n"
    b"MIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="b"\r\n'
    b"\r\n"
    b"--b\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
    b"The printer in room 4 is on fire.\r\n"
    b"--b\r\n"
    b'Content-Type: application/octet-stream; name="photo.png"\r\n'
    b'Content-Disposition: attachment; filename="photo.png"\r\n'
    b"Content-Transfer-Encoding: base64\r\n\r\n"
    b"iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==\r\n"
    b"--b--\r\n"
)
MAIL = parse_mail(RAW)
FACTS = RuleInput(mail=MAIL, folder="INBOX", classification="human", ticket="1234")
PLAIN = parse_mail(b"From: a@b.example\r\nSubject: hello\r\n\r\nhi\r\n")


def leaf(field: str, op: str, value: object = None, **kw: object) -> Leaf:
    return Leaf(field=field, op=op, value=value, **kw)  # type: ignore[arg-type]


def matches(condition: Leaf | AllOf | AnyOf | Not, facts: RuleInput = FACTS) -> bool:
    return condition.evaluate(facts).matched


@pytest.mark.parametrize(
    ("field", "op", "value", "expected"),
    [
        ("from", "equals", "bob@vip.example", True),  # case-insensitive by default
        ("from", "ends_with", "@VIP.EXAMPLE", True),
        ("from", "starts_with", "alice", False),
        ("to", "equals", "other@desk.example", True),  # any of several values
        ("cc", "contains", "carol", True),
        ("reply-to", "starts_with", "bob-replies", True),
        ("sender_domain", "equals", "vip.example", True),
        ("sender domain", "in", ["x.example", "vip.example"], True),
        ("subject", "contains", "on fire", True),
        ("subject", "matches", r"\[#(\d+)\]", True),
        ("subject", "matches", r"^urgent", True),
        ("body", "contains", "room 4", True),
        ("has_attachment", "equals", True, True),
        ("attachment_name", "ends_with", ".png", True),
        ("attachment_type", "equals", "image/png", True),  # sniffed, not declared
        ("size", "greater_than", 100, True),
        ("size", "less_than", 100, False),
        ("classification", "in", ["bounce", "auto_reply"], False),
        ("classification", "equals", "human", True),
        ("ticket", "exists", True, True),
        ("folder", "equals", "inbox", True),
        ("cc", "exists", False, False),
    ],
)
def test_leaf_operators(field: str, op: str, value: object, expected: bool) -> None:
    assert matches(leaf(field, op, value)) is expected


def test_header_field_by_name_and_case_sensitivity() -> None:
    assert matches(leaf("header", "equals", "1", header="x-priority"))
    assert not matches(leaf("header", "exists", True, header="X-Spam-Flag"))
    assert matches(leaf("header", "exists", False, header="X-Spam-Flag"))
    assert not matches(leaf("subject", "contains", "urgent", case_sensitive=True))
    assert matches(leaf("subject", "contains", "URGENT", case_sensitive=True))
    assert not matches(leaf("subject", "matches", "^urgent", case_sensitive=True))


def test_missing_values() -> None:
    facts = RuleInput(mail=PLAIN)
    assert not matches(leaf("ticket", "exists", True), facts)
    assert not matches(leaf("cc", "equals", ""), facts)
    assert not matches(leaf("has_attachment", "equals", True), facts)
    assert matches(leaf("folder", "exists", False), facts)


def test_groups_nest_and_negate() -> None:
    tree = AllOf(
        conditions=[
            leaf("from", "ends_with", "vip.example"),
            AnyOf(
                conditions=[
                    leaf("subject", "contains", "nope"),
                    Not(condition=leaf("size", "lt", 10)),
                ]
            ),
        ]
    )
    assert matches(tree)
    assert matches(AllOf(conditions=[]))
    assert not matches(AnyOf(conditions=[]))
    assert not matches(Not(condition=tree))


@pytest.mark.parametrize(
    ("kwargs", "key", "problem"),
    [
        ({"field": "nope", "op": "equals", "value": "x"}, "field", "unknown field"),
        ({"field": "subject", "op": "is about", "value": "x"}, "op", "unknown operator"),
        ({"field": "subject", "op": "greater_than", "value": 3}, "op", "does not apply"),
        ({"field": "size", "op": "contains", "value": "3"}, "op", "does not apply"),
        ({"field": "size", "op": "gt", "value": "3"}, "value", "whole number"),
        ({"field": "subject", "op": "in", "value": "x"}, "value", "list"),
        ({"field": "subject", "op": "equals", "value": 3}, "value", "string"),
        ({"field": "header", "op": "exists", "value": True}, "header", "header name"),
        ({"field": "subject", "op": "exists", "value": True, "header": "X"}, "header", "only"),
        ({"field": "has_attachment", "op": "equals", "value": "yes"}, "value", "true or false"),
        ({"field": "subject", "op": "matches", "value": "(a+)+$"}, "value", "nested"),
        ({"field": "subject", "op": "matches", "value": r"(a)\1"}, "value", "backreference"),
        ({"field": "subject", "op": "matches", "value": "(unclosed"}, "value", "invalid"),
    ],
)
def test_invalid_leaves_name_the_key(kwargs: dict[str, object], key: str, problem: str) -> None:
    with pytest.raises(ConfigError) as info:
        Leaf(**kwargs)  # type: ignore[arg-type]
    assert info.value.key == key
    assert problem in info.value.problem


@pytest.mark.parametrize(
    "pattern",
    [
        r"(a+)+$",
        r"(?:\w*x)*",
        r"(a*)*",
        r"(.{1,1000})+",
        r"((ab)+c)*",
        r"(?P<x>a)(?P=x)",
        r"(a)?(?(1)b|c)",
        r"(?:ab|ac|a)+",  # alternatives starting alike inside a repeat
        r"(foo|f\w+)*",
        r"(?:cat|Cat)+",  # alike once case is ignored
    ],
)
def test_unsafe_patterns_rejected(pattern: str) -> None:
    with pytest.raises(UnsafePattern):
        check_pattern(pattern)


@pytest.mark.parametrize(
    "pattern",
    [
        r"\[#(\d+)\]",
        r"^(re|aw|fwd?):\s*",
        r"[a-z]+@[a-z]+\.example",
        r"(ab){2,5}c+",
        r"a*+b*",
        r"(?:foo|bar)+",
        r"(?:\s|,)+",
        r"(?:\d{3}-|x)+",
    ],
)
def test_safe_patterns_accepted(pattern: str) -> None:
    check_pattern(pattern)


def test_accepted_patterns_stay_fast_on_hostile_input() -> None:
    # Not a timing assertion: a catastrophic pattern would hang here, a linear one returns.
    hostile = "a" * 50_000 + "!"
    rule = leaf("body", "matches", r"^(a|b)+c")
    facts = RuleInput(mail=parse_mail(b"Subject: x\r\n\r\n" + hostile.encode()))
    assert not matches(rule, facts)


def rules_for_plan() -> RuleSet:
    return RuleSet(
        rules=[
            Rule(name="off", active=False, actions=[Delete()]),
            Rule(name="archive only", folders=["Archive"], actions=[Delete()]),
            Rule(
                name="vip",
                folders=["inbox"],
                when=AllOf(
                    conditions=[
                        leaf("sender_domain", "equals", "vip.example"),
                        Not(condition=leaf("classification", "in", ["bounce", "auto_reply"])),
                    ]
                ),
                actions=[
                    CreateContact(),
                    CreateOrUpdateTicket(
                        match_by=[TicketMatch.REFERENCE, TicketMatch.SUBJECT],
                        fields={"priority": "high"},
                        number_pattern=r"\[#(\d+)\]",
                    ),
                    SetField(name="queue", value="vip"),
                    MarkSeen(),
                    MoveToFolder(folder="Done"),
                ],
            ),
            Rule(
                name="no match", when=leaf("subject", "contains", "invoice"), actions=[Quarantine()]
            ),
            Rule(
                name="stopper",
                when=leaf("size", "gt", 0),
                actions=[SetField(name="priority", value="low"), Stop()],
            ),
            Rule(name="never reached", actions=[Delete()]),
        ]
    )


def test_plan_collects_actions_in_order_until_stop() -> None:
    result = rules_for_plan().evaluate(FACTS)
    plan = result.plan
    assert plan.matched_rules == ("vip", "stopper")
    assert [type(a) for a in plan.actions] == [
        CreateContact,
        CreateOrUpdateTicket,
        SetField,
        MarkSeen,
        MoveToFolder,
        SetField,
    ]
    assert plan.fields() == {"priority": "low", "queue": "vip"}
    assert plan.mailbox_actions() == (
        MailboxAction(kind=MailboxActionKind.MARK_SEEN),
        MailboxAction(kind=MailboxActionKind.MOVE, folder="Done"),
    )
    assert plan.ticket is not None
    assert plan.ticket.find_number(MAIL.subject) == "1234"
    assert plan.contact == CreateContact(link_to_ticket=True)
    assert plan.quarantine is None
    assert result.trace.stopped_by == "stopper"
    assert [r.rule for r in result.trace.rules] == [
        "off",
        "archive only",
        "vip",
        "no match",
        "stopper",
    ]


def test_trace_shows_leaves_and_values() -> None:
    trace = rules_for_plan().evaluate(FACTS).trace
    text = trace.render()
    assert "rule 'off': skipped (inactive)" in text
    assert "rule 'archive only': skipped (not scoped to this folder)" in text
    assert "rule 'vip': MATCHED" in text
    assert "✓ sender_domain equals 'vip.example'  — mail has: 'vip.example'" in text
    assert "✗ subject contains 'invoice'" in text
    assert "-> move to 'Done'" in text
    assert "stopped by rule 'stopper'" in text
    data = trace.to_dict()
    vip = data["rules"][2]  # type: ignore[index]
    leaf_trace = vip["condition"]["children"][0]
    assert leaf_trace["actual"] == ["vip.example"]
    assert leaf_trace["matched_value"] == "vip.example"


def test_delete_wins_over_earlier_move_and_quarantine_is_reported() -> None:
    rules = RuleSet(
        rules=[
            Rule(name="a", actions=[MoveToFolder(folder="X"), Quarantine(reason="spam")]),
            Rule(name="b", actions=[Delete()]),
        ]
    )
    plan = rules.evaluate(FACTS).plan
    assert plan.mailbox_actions() == (MailboxAction(kind=MailboxActionKind.DELETE),)
    assert plan.quarantine == Quarantine(reason="spam")


def test_duplicate_rule_names_rejected() -> None:
    with pytest.raises(ConfigError, match="duplicate rule name 'a'"):
        RuleSet(rules=[Rule(name="a", actions=[]), Rule(name="a", actions=[])])


R0 = '[[rules]]\nname = "r"\nactions = []\n'
R = '[[rules]]\nname = "r"\nactions = ['
TOML = """
[[rules]]
name = "vip customers"
folders = ["INBOX"]
when = { all = [
    { field = "sender_domain", op = "in", value = ["vip.example", "big.example"] },
    { not = { field = "classification", op = "in", value = ["bounce", "auto_reply"] } },
    { any = [ { field = "header", header = "X-Priority", op = "equals", value = "1" },
              { field = "subject", op = "matches", value = "urgent", case_sensitive = true } ] },
] }
actions = [
    { type = "create_contact" },
    { type = "create_or_update_ticket", match_by = ["reference", "subject"],\
fields = { priority = "high" }, number_pattern = '\\[#(\\d+)\\]' },
    { type = "set_field", name = "queue", value = "vip" },
    { type = "move", folder = "Done" },
    "stop",
]

[[rules]]
name = "big mail"
active = false
when = { field = "size", op = "gt", value = 10_000_000 }
actions = [{ type = "quarantine", reason = "too big" }, { type = "delete" }, { type = "mark_seen" }]
"""


def test_toml_loads_evaluates_and_round_trips() -> None:
    rules = parse_rules(tomllib.loads(TOML)["rules"])
    assert [r.name for r in rules] == ["vip customers", "big mail"]
    result = rules.evaluate(FACTS)
    assert result.plan.matched_rules == ("vip customers",)
    assert result.trace.stopped_by == "vip customers"
    dumped = rules_to_list(rules)
    assert parse_rules(dumped) == rules
    assert RuleSet.from_list(rules.to_list()) == rules
    assert Rule.from_dict(rules.rules[0].to_dict()) == rules.rules[0]
    assert rules_to_list(parse_rules(dumped)) == dumped


@pytest.mark.parametrize(
    ("document", "key", "problem"),
    [
        (
            R0 + 'when = { field = "subjekt", op = "equals", value = "x" }\n',
            "rules['r'].when.field",
            "unknown field",
        ),
        (
            R0 + 'when = { all = [{ field = "size", op = "gt", value = "big" }] }\n',
            "rules['r'].when.all[0].value",
            "whole number",
        ),
        (
            R0
            + 'when = { any = [{ not = { field = "subject", op = "matches", value = "(x+)+"}}] }\n',
            "rules['r'].when.any[0].not.value",
            "nested",
        ),
        (
            R + '{ type = "move" }]\n',
            "rules['r'].actions[0].folder",
            "expected a string",
        ),
        (
            R + '{ type = "explode" }]\n',
            "rules['r'].actions[0].type",
            "unknown action",
        ),
        (
            R + '{ type = "stop", folder = "x" }]\n',
            "rules['r'].actions[0].folder",
            "unknown key",
        ),
        (
            R0 + 'colour = "red"\n',
            "rules['r'].colour",
            "unknown key",
        ),
        ('[[rules]]\nname = "r"\n', "rules['r'].actions", "needs a list of actions"),
        ("[[rules]]\nactions = []\n", "rules[0].name", "non-empty name"),
        (
            R0 + 'active = "yes"\n',
            "rules['r'].active",
            "true or false",
        ),
        (
            R0 + "when = { all = [], any = [] }\n",
            "rules['r'].when",
            "exactly one key",
        ),
        (
            R + '{ type = "create_or_update_ticket", match_by = ["colour"] }]\n',
            "rules['r'].actions[0]",
            "colour",
        ),
        (
            R + '{ type = "create_or_update_ticket", number_pattern = "(a*)*" }]\n',
            "rules['r'].actions[0].number_pattern",
            "nested",
        ),
        (
            '[[rules]]\nname = "a"\nactions = []\n[[rules]]\nname = "a"\nactions = []\n',
            "rules['a'].name",
            "duplicate",
        ),
    ],
)
def test_invalid_toml_names_rule_key_and_problem(document: str, key: str, problem: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_rules(tomllib.loads(document)["rules"])
    assert info.value.key == key
    assert problem in info.value.problem
    assert str(info.value).startswith(key + ": ")


def test_rules_section_must_be_a_list() -> None:
    with pytest.raises(ConfigError, match=r"^rules: expected a list"):
        parse_rules({"name": "x"})


def test_field_and_operator_spellings() -> None:
    assert Leaf(field="Reply To", op="starts with", value="x").field is Field.REPLY_TO
    assert Leaf(field="size", op=">", value=3).op is Operator.GREATER_THAN
    assert Leaf(field="subject", op="regex", value="x").op is Operator.MATCHES
