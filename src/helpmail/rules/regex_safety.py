"""Checks that a rule's regular expression runs in linear time before it is accepted.

Python's ``re`` is a backtracking engine: a pattern such as ``(a+)+$`` or ``(\\w*)*x`` takes
exponential time on a short hostile subject line, and a backreference (``(a)\\1``) cannot be matched
by any linear algorithm at all. Rules come from configuration written by admins and are run on mail
written by strangers, so patterns are parsed once when the rule is loaded and rejected if they
contain

* a backreference (``\\1``, ``(?P=name)``) or a conditional group (``(?(1)a|b)``),
* an unbounded (or very large) repeat nested inside another such repeat (``(a+)+``, ``(?:x*y)*``),
* an alternation inside an unbounded repeat whose alternatives can start with the same character
  (``(?:ab|ac|a)+``, ``(foo|f\\w+)*``): the engine may then try every way to split the input.

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
            if inside_unbounded and _overlapping(arg[1]):
                raise UnsafePattern(
                    "alternatives that can start alike inside a repeat (like (ab|a)+) can take "
                    "exponential time; make them start differently or use a character class"
                )
            for branch in arg[1]:
                _walk(branch, inside_unbounded)
        elif op in (_constants.ASSERT, _constants.ASSERT_NOT):
            _walk(arg[1], inside_unbounded)
        elif op == getattr(_constants, "ATOMIC_GROUP", object()):
            _walk(arg, inside_unbounded)


_ALL = None  # "any character": overlaps everything
_SPACE = frozenset(map(ord, " \t\n\r\f\v"))
_DIGIT = frozenset(range(ord("0"), ord("9") + 1))
_WIDE = 2000  # a range wider than this counts as "any character"


def _fold(codes: set[int]) -> set[int]:
    """Add the other case of every character (rules match case-insensitively by default)."""
    out = set(codes)
    for code in codes:
        char = chr(code)
        out.update(ord(c) for c in (char.lower(), char.upper()) if len(c) == 1)
    return out


def _class_first(members: Any) -> set[int] | None:
    codes: set[int] = set()
    for op, arg in members:
        if op == _constants.LITERAL:
            codes.add(arg)
        elif op == _constants.RANGE and arg[1] - arg[0] <= _WIDE:
            codes.update(range(arg[0], arg[1] + 1))
        elif op == _constants.CATEGORY and arg == _constants.CATEGORY_DIGIT:
            codes.update(_DIGIT)
        elif op == _constants.CATEGORY and arg == _constants.CATEGORY_SPACE:
            codes.update(_SPACE)
        else:  # negation, wide range, word class...
            return _ALL
    return codes


def _first(items: Any) -> set[int] | None:
    """The characters a match of ``items`` can start with (``None``: any, or it can be empty)."""
    if not items:
        return _ALL
    op, arg = items[0]
    if op == _constants.LITERAL:
        return _fold({arg})
    if op == _constants.IN:
        found = _class_first(arg)
        return None if found is None else _fold(found)
    if op == _constants.SUBPATTERN:
        return _first(arg[-1])
    if op in _REPEATS or (_POSSESSIVE is not None and op == _POSSESSIVE):
        return _first(arg[2]) if arg[0] >= 1 else _ALL
    if op == _constants.BRANCH:
        union: set[int] = set()
        for branch in arg[1]:
            found = _first(branch)
            if found is None:
                return _ALL
            union |= found
        return union
    return _ALL  # anchors, lookarounds, any character...


def _overlapping(branches: Any) -> bool:
    seen: set[int] = set()
    for branch in branches:
        first = _first(branch)
        if first is None or seen & first:
            return True
        seen |= first
    return False


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
