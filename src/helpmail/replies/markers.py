"""helpmail's own "reply above this line" marker: the texts, the HTML element, and finding it again.

Every outgoing helpmail mail starts with a marker: a text line (:func:`marker_text`) in the text
part
and an HTML element (:func:`marker_html`) in the HTML part. When the customer answers, everything
from the marker down is the quoted helpmail mail, so the reply is what stands above it.

Clients damage the line on its way back: they wrap it ("===== reply above this" / "line ====="), put
it into a ``>`` quote, or leave quoted-printable undecoded (``=3D=3D=3D=3D=3D reply above th=``).
The marker is therefore compared by its *core*: its letters and digits, case-folded, with ``=XX``
escapes taken out, over up to :data:`MARKER_MAX_LINES` consecutive lines.
"""

from __future__ import annotations

import bisect
import html as _html
import itertools
import re
from collections.abc import Sequence
from typing import Final

import attrs

REPLY_MARKER_TEXT: Final = "===== reply above this line ====="
"""The default marker line (English)."""
REPLY_MARKER_TEXT_DE: Final = "===== Bitte oberhalb dieser Zeile antworten ====="
"""The German default marker line."""
REPLY_MARKER_TEXT_NL: Final = "===== Antwoord boven deze regel ====="
"""The Dutch default marker line."""

MARKER_TEXTS: Final[dict[str, str]] = {
    "en": REPLY_MARKER_TEXT,
    "de": REPLY_MARKER_TEXT_DE,
    "nl": REPLY_MARKER_TEXT_NL,
}
"""Marker line by language; :func:`marker_text` falls back to English for other languages."""

DEFAULT_MARKERS: Final[tuple[str, ...]] = tuple(MARKER_TEXTS.values())
"""The markers :func:`helpmail.extract_reply` looks for when no ``markers`` are given."""

REPLY_MARKER_HTML_ID: Final = "helpmail-reply-above"
"""``id`` and ``class`` of the marker element in HTML mail. Outlook on the web prefixes ids with
``x_``; any id or class that ends with this name counts."""

MARKER_MAX_LINES: Final = 3
MAX_CANDIDATES: Final = 5000
"""A wrapped marker is looked for over at most this many consecutive lines."""

_QP_ESCAPE = re.compile(r"=[0-9A-Fa-f]{2}")
_NOT_ALNUM = re.compile(r"[\W_]+")
_FIRST_WORD = re.compile(r"[^\W_]{2,}")
_QUOTE_PREFIX = re.compile(r"^[ \t]*(?:[>|][ \t]?)+")


def marker_text(lang: str = "en", *, text: str | None = None) -> str:
    """The marker line for outgoing text mail in language ``lang`` (``en``, ``de``, ``nl``).

    ``text`` replaces the default wording (a configured marker such as ``$helpdesk-replyabove$``).
    """
    if text is not None:
        return text
    return MARKER_TEXTS.get(lang.split("-", maxsplit=1)[0].lower(), REPLY_MARKER_TEXT)


def marker_html(lang: str = "en", *, text: str | None = None) -> str:
    """The marker element for outgoing HTML mail: a ``<div>`` with id and class
    :data:`REPLY_MARKER_HTML_ID` holding :func:`marker_text`, styled to be unobtrusive."""
    shown = _html.escape(marker_text(lang, text=text), quote=False)
    return (
        f'<div id="{REPLY_MARKER_HTML_ID}" class="{REPLY_MARKER_HTML_ID}" '
        f'style="color:#8a8a8a;font-size:12px;line-height:16px">{shown}</div>'
    )


def marker_core(text: str) -> str:
    """Letters and digits of ``text``, case-folded: what marker comparison looks at."""
    return _NOT_ALNUM.sub("", text.casefold())


def _line_cores(line: str) -> tuple[str, str | None]:
    """Core of a line with quote prefix removed, and the core with ``=XX`` escapes removed (or
    None)."""
    line = _QUOTE_PREFIX.sub("", line[:400])
    plain = marker_core(line)
    if "=" in line and _QP_ESCAPE.search(line):
        return plain, marker_core(_QP_ESCAPE.sub("", line))
    return plain, None


@attrs.frozen(kw_only=True)
class MarkerHit:
    """Where a marker was found: lines ``start`` to ``end`` (inclusive)."""

    start: int
    end: int
    wrapped: bool = False
    quoted: bool = False
    garbled: bool = False


def find_marker(lines: Sequence[str], markers: Sequence[str]) -> MarkerHit | None:
    """The first place in ``lines`` where one of ``markers`` stands, or ``None`` (linear time)."""
    cores = [c for c in dict.fromkeys(marker_core(m) for m in markers) if len(c) >= 4]
    if not cores:
        return None
    heads = tuple(dict.fromkeys(w for m in markers for w in _FIRST_WORD.findall(m.lower())[:1]))
    longest = max(len(c) for c in cores)
    cache: dict[int, tuple[str, str | None]] = {}

    def cores_of(index: int) -> tuple[str, str | None]:
        found = cache.get(index)
        if found is None:
            found = cache[index] = _line_cores(lines[index])
        return found

    for index in _candidate_lines(lines, heads):
        line = lines[index]
        if len(line) > 400 + longest * 4:
            continue
        plain, unescaped = cores_of(index)
        for variant, garbled in ((plain, False), (unescaped, True)):
            if not variant:
                continue
            for core in cores:
                if variant == core:
                    start, end = _widen(lines, index, index)
                    return MarkerHit(start=start, end=end, quoted=_is_quoted(line), garbled=garbled)
                if not core.startswith(variant) or len(variant) < 2:
                    # also accept the marker's tail sitting on this line after a wrap of decoration
                    continue
                joined = variant
                for extra in range(1, MARKER_MAX_LINES):
                    if index + extra >= len(lines):
                        break
                    nxt_plain, nxt_unescaped = cores_of(index + extra)
                    nxt = nxt_unescaped if garbled and nxt_unescaped is not None else nxt_plain
                    if not nxt and garbled is False and nxt_unescaped:
                        nxt = nxt_unescaped
                    joined += nxt
                    if joined == core:
                        start, end = _widen(lines, index, index + extra)
                        return MarkerHit(
                            start=start,
                            end=end,
                            wrapped=True,
                            quoted=_is_quoted(line),
                            garbled=garbled or (nxt_unescaped is not None and nxt == nxt_unescaped),
                        )
                    if not core.startswith(joined):
                        break
    return None


def _is_decoration(line: str) -> bool:
    """A line of only marker decoration (``=====``, ``> -----``): a wrapped-off part of a marker."""
    body = _QUOTE_PREFIX.sub("", line[:400]).strip()
    if "=" in body:
        body = _QP_ESCAPE.sub("=", body)
    return bool(body) and len(body) <= 40 and all(c in "=-_*~#$+. \t" for c in body)


def _widen(lines: Sequence[str], start: int, end: int) -> tuple[int, int]:
    """Take in decoration lines directly above and below a found marker."""
    if start > 0 and _is_decoration(lines[start - 1]):
        start -= 1
    if end + 1 < len(lines) and _is_decoration(lines[end + 1]):
        end += 1
    return start, end


def _candidate_lines(lines: Sequence[str], heads: Sequence[str]) -> list[int]:
    """Indexes of lines holding a marker's first word or a quoted-printable escape (one regex pass
    over the whole text, then a binary search per hit: fast on long mails)."""
    text = "\n".join(lines).lower()
    found: list[int] = []
    for head in heads:
        position = text.find(head)
        while position >= 0 and len(found) < MAX_CANDIDATES:
            found.append(position)
            position = text.find(head, position + 1)
    if "=" in text:
        found.extend(m.start() for m in itertools.islice(_QP_ESCAPE.finditer(text), MAX_CANDIDATES))
    if not found:
        return []
    starts = list(itertools.accumulate((len(line) + 1 for line in text.split("\n")), initial=0))
    return sorted({bisect.bisect_right(starts, pos) - 1 for pos in found})


def _is_quoted(line: str) -> bool:
    return line.lstrip()[:1] in (">", "|")
