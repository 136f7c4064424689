"""Compiled patterns of reply extraction, built once from the tables in :mod:`.vocabulary`.

Rule kept here: no pattern has nested unbounded quantifiers, and every pattern is applied to a
bounded slice of a line (:data:`MAX_CLASSIFY_CHARS`), so matching is linear in the input.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final

from helpmail.replies import vocabulary as v

MAX_CLASSIFY_CHARS: Final = 400
"""Only this many characters of a line take part in classification (attribution, header,
divider)."""

_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af\u0590-\u06ff\u0e00-\u0e7f]")


def _alt(phrases: Iterable[str]) -> str:
    """Regex alternation of ``phrases`` (longest first); a space matches any run of white space."""
    unique = sorted(set(phrases), key=len, reverse=True)
    return "|".join(re.escape(p).replace(r"\ ", " ").replace(" ", r"\s+") for p in unique)


WS: Final = re.compile(r"[\s\u00a0\u202f\u2007\u200b\u200e\u200f\ufeff]+")
QUOTE_PREFIX: Final = re.compile(r"^[ \t]*((?:>[ \t]?)+)")
DECORATION: Final = "-_=*~—–• \t"

# -- attribution ---------------------------------------------------------------------------------
_VERBS_WORD = [verb for _, verb in v.ATTRIBUTION_VERBS if not _CJK.search(verb)]
_VERBS_CJK = [verb for _, verb in v.ATTRIBUTION_VERBS if _CJK.search(verb)]
_VERB = rf"(?:(?<!\w)(?:{_alt(_VERBS_WORD)})|(?:{_alt(_VERBS_CJK)}))"
_OPENERS = _alt(opener for _, opener in v.ATTRIBUTION_OPENERS)
_GLUE = _alt(glue for _, glue in v.ATTRIBUTION_GLUE)

VERB_COLON_END: Final = re.compile(rf"{_VERB}\s?(?:\(\w{{1,3}}\)\s?)?[:：]$", re.IGNORECASE)
"""``... wrote:`` at the end of the (joined) attribution."""
VERB_PAREN_END: Final = re.compile(rf"{_VERB}\s?\([^()]{{1,100}}\)\s?[:：]$", re.IGNORECASE)
"""``... ezt írta (időpont: 2026. nov. 23., H, 10:00):``: the date in parentheses after the verb."""
VERB_ANY: Final = re.compile(_VERB, re.IGNORECASE)
"""An attribution verb anywhere (``Foo <foo@bar.com> schrieb am Do., 3. März 2016 um 15:04:``)."""
VERB_BARE_END: Final = re.compile(rf"{_VERB}$", re.IGNORECASE)
"""``---- John Smith wrote ----`` (decoration stripped)."""
VERB_MIDDLE: Final = re.compile(rf"{_VERB}\s[^:：]{{1,160}}[:：]$", re.IGNORECASE)
"""``... skrev Name <addr>:`` / ``... schrieb Name:``: the verb before the name."""
OPENER_START: Final = re.compile(rf"^(?:{_OPENERS})[\s,]", re.IGNORECASE)
OPENER_INSIDE: Final = re.compile(rf"(?:^|[\s\-])(?:{_OPENERS})\s", re.IGNORECASE)
GLUE: Final = re.compile(rf"(?<!\w)(?:{_GLUE})(?!\w)", re.IGNORECASE)
DIGIT: Final = re.compile(r"\d")
EMAIL: Final = re.compile(r"[^\s<>()\[\]@]{1,64}@[^\s<>()\[\]@]{1,255}")
DATEISH: Final = re.compile(r"\d{1,4}\s?[./\-年]\s?\d{1,2}|\d{1,2}:\d{2}|\b\d{4}\b|\d{1,2}\s\w{3}")
PLAUSIBLE_START: Final = re.compile(
    rf"^(?:(?:{_OPENERS})[\s,]|\d|[^\W\d_]{{1,5}}\.?,?\s+\d|[\"']?[^\s<>\"']{{1,30}}(?:\s[^\s<>\"']{{1,30}}){{0,3}}[\"']?\s?<[^\s<>@]{{1,64}}@|<?[^\s<>@]{{1,64}}@)",
    re.IGNORECASE,
)
"""How the first line of an attribution wrapped over several lines may start."""

# -- header blocks ---------------------------------------------------------------------------------
HEADER_FIELDS: Final[dict[str, str]] = {key.casefold(): field for _, field, key in v.HEADER_KEYS}
_HEADER_KEY_CHARS: Final = 28


def header_field(line: str) -> tuple[str, int] | None:
    """``(field, value start)`` when ``line`` is ``Key: value`` with a known header key
    (``From:``, ``*Von:*``, ``De :``, ``件名：``), else ``None``. A dictionary lookup, not a regex:
    this runs on every line that has a colon near its start."""
    head = line[: _HEADER_KEY_CHARS + 8]
    colon = head.find(":")
    wide = head.find("：")
    if colon < 0 or (0 <= wide < colon):
        colon = wide
    if colon <= 0:
        return None
    key = WS.sub(" ", head[:colon]).strip(" *_").casefold()
    if len(head) - len(head.lstrip(" \t")) > 8:
        return None
    field = HEADER_FIELDS.get(key)
    if field is None:
        return None
    rest = line[colon + 1 :]
    stripped = rest.lstrip("*_")
    if stripped and stripped[0] not in " \t\u00a0":
        return None
    return field, len(line) - len(stripped)


GENERIC_KEY: Final = re.compile(
    r"^[ \t]{0,8}[*_]{0,2}[^\W\d_][\w.\-]{0,20}(?: [\w.\-]{1,20})?[*_]{0,2}[ \t]?[:：]"
)

# -- dividers -----------------------------------------------------------------------------------
_DIVIDER_FORWARD = _alt(p for _, kind, p in v.DIVIDER_PHRASES if kind == "forward")
_DIVIDER_REPLY = _alt(p for _, kind, p in v.DIVIDER_PHRASES if kind == "reply")
_DECO = r"[-_=*~—–•\s]{0,80}"
DIVIDER_FORWARD: Final = re.compile(
    rf"^{_DECO}(?:{_DIVIDER_FORWARD})\s?[:：]?{_DECO}$", re.IGNORECASE
)
DIVIDER_REPLY: Final = re.compile(rf"^{_DECO}(?:{_DIVIDER_REPLY})\s?[:：]?{_DECO}$", re.IGNORECASE)
GENERIC_DIVIDER: Final = re.compile(r"^[-_=]{3,80}\s?[^-_=:]{1,40}\s?[-_=]{3,80}$")
GROUPWISE: Final = re.compile(r"^>>> [^<>]{1,80}(?:<[^<>\s]{1,120}>)? ?\d[^<>]{1,40} >>>$")
"""Novell GroupWise's reply header: ``>>> Name <addr> 12.05.2024 10:00 >>>``."""
RULE_LINE: Final = re.compile(r"^[-_=*~—–]{5,200}$")
UNDERSCORE_RULE: Final = re.compile(r"^_{2,200}$")

# -- signatures and taglines ---------------------------------------------------------------------
PHONE: Final = re.compile(r"\+?\d[\d ()./-]{6,24}\d")
SIG_DELIMITER: Final = re.compile(r"^(?:-- ?|--|—|__)$")
TAGLINE_PREFIX: Final = re.compile(
    rf"^(?:{_alt(p for _, p in v.TAGLINE_PREFIXES)})(?:\s|$|\S)", re.IGNORECASE
)
TAGLINE_SUFFIX: Final = re.compile(
    rf"(?:{_alt(s for _, s in v.TAGLINE_SUFFIXES)})[.!]?$", re.IGNORECASE
)
TAGLINE_DEVICE: Final = re.compile(
    rf"(?<!\w)(?:{_alt(d for _, d in v.TAGLINE_DEVICES)})(?!\w)", re.IGNORECASE
)
VALEDICTION: Final = re.compile(
    rf"^(?:{_alt(p for _, p in v.VALEDICTIONS)})(?:[\s,.!:;-]|$)", re.IGNORECASE
)
FORWARD_SUBJECT: Final = re.compile(
    rf"^\s*(?:\[[^\]]{{0,40}}\]\s*)?(?:{_alt(p for _, p in v.FORWARD_SUBJECT_PREFIXES)})\s?[:：]",
    re.IGNORECASE,
)
