"""Automated mail: classification, bounce parsing and the bounce-reason tables.

* :func:`classify` -- human, bounce, auto_reply, bulk, own_loop, complaint or delivery_report,
  with the evidence that decided (:mod:`helpmail.bounces.classify`, rules as a table);
* :func:`parse_bounce` -- every bounced recipient with reason, hard/soft, status, reply code and
  diagnostic, and the original Message-ID (:mod:`helpmail.bounces.parse`);
* :data:`REASONS` -- per reason: hard or soft, default block, why (:mod:`helpmail.bounces.reasons`).

The rule this package keeps: never raise on malformed mail, and every verdict names its evidence.
"""

from __future__ import annotations

from helpmail.bounces.classify import RULES, ClassifySettings, Rule, classify
from helpmail.bounces.model import (
    Bounce,
    BouncedRecipient,
    BounceKind,
    BounceReason,
    Classification,
    Evidence,
    MailKind,
    SmtpCommand,
    Strength,
)
from helpmail.bounces.parse import parse_bounce, valid_addr_spec
from helpmail.bounces.reasons import REASONS, SISIMAI_REASONS, ReasonPolicy, decide_reason

__all__ = [
    "REASONS",
    "RULES",
    "SISIMAI_REASONS",
    "Bounce",
    "BounceKind",
    "BounceReason",
    "BouncedRecipient",
    "Classification",
    "ClassifySettings",
    "Evidence",
    "MailKind",
    "ReasonPolicy",
    "Rule",
    "SmtpCommand",
    "Strength",
    "classify",
    "decide_reason",
    "parse_bounce",
    "valid_addr_spec",
]
