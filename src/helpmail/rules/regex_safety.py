"""Checks that a rule's regular expression runs in linear time before it is accepted.

Python's ``re`` is a backtracking engine: a pattern such as ``(a+)+$`` or ``(\\w*)*x`` takes
exponential time on a short hostile subject line, and a backreference (``(a)\\1``) cannot be matched
by any linear algorithm at all. Rules come from configuration written by admins and are run on mail
written by strangers, so patterns are parsed once when the rule is loaded and rejected if they
contain

* a backreference (``\\1``, ``(?P=name)``) or a conditional group (``(?(1)a|b)``),
* an unbounded (or very large) repeat nested inside another such repeat (``(a+)+``, ``(?:x*y)*``).

What is left is compiled once and kept with the rule.
"""

from __future__ import annotations

import importlib
import re
from typing import Any

# ``re._parser`` is the parser ``re.compile`` itself uses (``sre_parse`` before 3.11, which now
# warns on import). It is private, so it is reached through importlib and typed as ``Any``.
_parser: Any = importlib.import_module("re._parser")
_constants: Any = importlib.import_module("re._constants")

#: a repeat whose upper bound is above this counts as unbounded (``{1,100000}`` is as bad as ``+``)
LARGE_REPEAT = 100

_REPEATS = {_constants.MAX_REPEAT, _constants.MIN_REPEAT}
_POSSESSIVE = getattr(_constants, "POSSESSIVE_REPEAT", None)  # 3.11+: a*+ never backtracks
_FORBIDDEN = {_constants.GROUPREF, _constants.GROUPREF_EXISTS}


class UnsafePattern(ValueError):
    """A pattern was rejected; the message says why."""


def _walk(items: Any, inside_unbounded: bool) -> None:
    for op, arg in items:
        if op in _FORBIDDEN:
            raise UnsafePattern("backreferences and conditional groups are not allowed")
        if op in _REPEATS or (_POSSESSIVE is not None and op == _POSSESSIVE):
            low, high, body = arg
            del low
            unbounded = high == _constants.MAXREPEAT or high > LARGE_REPEAT
            if unbounded and inside_unbounded and op in _REPEATS:
                raise UnsafePattern(
                    "nested unbounded quantifiers (like (a+)+) can take exponential time"
                )
            _walk(body, inside_unbounded or (unbounded and op in _REPEATS))
        elif op == _constants.SUBPATTERN:
            _walk(arg[-1], inside_unbounded)
        elif op == _constants.BRANCH:
            for branch in arg[1]:
                _walk(branch, inside_unbounded)
        elif op in (_constants.ASSERT, _constants.ASSERT_NOT):
            _walk(arg[1], inside_unbounded)
        elif op == getattr(_constants, "ATOMIC_GROUP", object()):
            _walk(arg, inside_unbounded)


def check_pattern(pattern: str) -> None:
    """Raise :class:`UnsafePattern` if ``pattern`` is invalid or not linear-time safe."""
    try:
        parsed = _parser.parse(pattern, 0)
    except re.error as error:
        raise UnsafePattern(f"invalid regular expression: {error}") from None
    _walk(parsed, False)


def compile_safe(pattern: str, *, case_sensitive: bool = False) -> re.Pattern[str]:
    """Check ``pattern`` with :func:`check_pattern` and compile it (case-insensitive by default)."""
    check_pattern(pattern)
    flags = 0 if case_sensitive else re.IGNORECASE
    return re.compile(pattern, flags)
