"""Mail scanner rules: conditions over a mail, ordered actions, a plan plus a trace.

The rule this package keeps: rules are pure. :meth:`RuleSet.evaluate` takes a :class:`RuleInput`
(the parsed mail, its folder, its classification and matched ticket) and returns an
:class:`Evaluation` holding the :class:`Plan` (what to do, in order) and the :class:`Trace` (which
rule and which leaf matched or did not, with the values compared). The service carries the plan
out; ``helpmail explain`` prints the trace.

Rules come from TOML (:func:`parse_rules`, the ``rules`` configuration section) or from Python::

    from helpmail.rules import AllOf, Leaf, MoveToFolder, Rule, RuleSet, Stop

    rules = RuleSet(rules=[
        Rule(name="newsletters",
             when=AllOf(conditions=[Leaf(field="classification", op="equals", value="bulk")]),
             actions=[MoveToFolder(folder="Newsletters"), Stop()]),
    ])
"""

from __future__ import annotations

from helpmail.rules.actions import (
    Action,
    ActionKind,
    CreateContact,
    CreateOrUpdateTicket,
    Delete,
    MarkSeen,
    MoveToFolder,
    Quarantine,
    SetField,
    Stop,
    TicketMatch,
    mailbox_actions,
)
from helpmail.rules.codec import (
    action_from_dict,
    action_to_dict,
    condition_from_dict,
    condition_to_dict,
    parse_rules,
    rule_from_dict,
    rule_to_dict,
    rules_to_list,
)
from helpmail.rules.conditions import (
    AllOf,
    AnyOf,
    Condition,
    ConditionTrace,
    Field,
    GroupTrace,
    Leaf,
    LeafTrace,
    Not,
    Operator,
    RuleInput,
    read_field,
)
from helpmail.rules.engine import Evaluation, Plan, Rule, RuleSet, RuleTrace, Trace, evaluate
from helpmail.rules.regex_safety import UnsafePattern, check_pattern

__all__ = [
    "Action",
    "ActionKind",
    "AllOf",
    "AnyOf",
    "Condition",
    "ConditionTrace",
    "CreateContact",
    "CreateOrUpdateTicket",
    "Delete",
    "Evaluation",
    "Field",
    "GroupTrace",
    "Leaf",
    "LeafTrace",
    "MarkSeen",
    "MoveToFolder",
    "Not",
    "Operator",
    "Plan",
    "Quarantine",
    "Rule",
    "RuleInput",
    "RuleSet",
    "RuleTrace",
    "SetField",
    "Stop",
    "TicketMatch",
    "Trace",
    "UnsafePattern",
    "action_from_dict",
    "action_to_dict",
    "check_pattern",
    "condition_from_dict",
    "condition_to_dict",
    "evaluate",
    "mailbox_actions",
    "parse_rules",
    "read_field",
    "rule_from_dict",
    "rule_to_dict",
    "rules_to_list",
]
