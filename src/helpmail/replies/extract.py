"""``extract_reply``: what the writer of a mail added, in the order DESIGN.md fixes.

1. helpmail's own marker (text line or HTML element): the reply is what stands above it;
2. the parent message (which helpmail sent): lines repeating it are quoted lines;
3. heuristics (:mod:`.text`): ``>`` quotes, attribution lines, header blocks, dividers, HTML quote
   containers (:mod:`.html`), signatures and mobile taglines, forwards.

Input is capped (:data:`MAX_INPUT_CHARS`); the function never raises: on an internal failure it
returns the whole text with :attr:`ReplyFlag.INTERNAL_ERROR`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Final

import attrs

from helpmail.replies import html as html_render
from helpmail.replies import text as text_algo
from helpmail.replies.markers import DEFAULT_MARKERS, find_marker
from helpmail.replies.model import Method, Reply, ReplyFlag

if TYPE_CHECKING:
    from helpmail.mail.model import InboundMail

MAX_INPUT_CHARS: Final = 4_000_000
"""Characters of text (and of HTML) read; the rest is ignored and :attr:`ReplyFlag.TRUNCATED`
set."""
MAX_HTML_CHARS: Final = 1_000_000
"""Characters of HTML read (the standard library's parser is slow on tag-dense input); the reply
stands at the top, so only quoted history is lost. :attr:`ReplyFlag.TRUNCATED` is set."""
MAX_LINES: Final = 50_000
"""Lines of text read; the rest is ignored and :attr:`ReplyFlag.TRUNCATED` set."""
MAX_PARENT_WORDS: Final = 200_000
"""Words of the parent message used for matching."""

_SENTINELS = re.compile("[\ue000\ue001]")
_WORDS = re.compile(r"[^\W_]+")


def extract_reply(
    source: InboundMail | str,
    *,
    html: str | None = None,
    parent: str | InboundMail | None = None,
    markers: Sequence[str] | None = None,
) -> Reply:
    """The reply the writer of ``source`` added (see :class:`Reply`); never raises.

    ``source`` is an :class:`~helpmail.InboundMail` (its text part, else its HTML part is read) or a
    plain-text body; ``html`` is an HTML body to use along with (or instead of) a plain-text
    ``source``. ``parent`` is the message being answered (helpmail's own outgoing mail), as text or
    as a parsed mail. ``markers`` are the marker lines to look for (default:
    :data:`~helpmail.replies.DEFAULT_MARKERS`).
    """
    text = ""
    try:
        text, html_body, subject = _read_source(source, html)
        return _extract(text, html_body, subject=subject, parent=parent, markers=markers)
    except Exception:  # never raise on mail content: return the whole text, flagged
        try:
            fallback = text
            if not fallback.strip() and isinstance(source, str):
                fallback = source
            whole = _SENTINELS.sub("", fallback or "").strip()
        except Exception:
            whole = ""
        return Reply(text=whole, method=Method.NONE, flags=frozenset({ReplyFlag.INTERNAL_ERROR}))


def _read_source(source: InboundMail | str, html: str | None) -> tuple[str, str | None, str]:
    if isinstance(source, str):
        return source, html, ""
    body_html = html if html is not None else source.html
    text = "" if source.text_from_html else (source.text or "")
    return text, body_html, source.subject or ""


def _extract(
    text: str,
    html: str | None,
    *,
    subject: str,
    parent: str | InboundMail | None,
    markers: Sequence[str] | None,
) -> Reply:
    flags: set[ReplyFlag] = set()
    marker_texts = tuple(markers) if markers is not None else DEFAULT_MARKERS
    if "\ue000" in text or "\ue001" in text:
        text = _SENTINELS.sub(" ", text)  # private-use characters helpmail uses for HTML boundaries
    if len(text) > MAX_INPUT_CHARS:
        text = text[:MAX_INPUT_CHARS]
        flags.add(ReplyFlag.TRUNCATED)
    parent_text = _parent_text(parent)

    text_reply: Reply | None = None
    if text.strip():
        text_reply = _extract_text(
            text, subject=subject, parent=parent_text, markers=marker_texts, flags=flags
        )
        if text_reply.method in (Method.OWN_MARKER, Method.PARENT_MATCH) or not html:
            return text_reply
    if html:
        if len(html) > MAX_HTML_CHARS:
            html = html[:MAX_HTML_CHARS]
            flags.add(ReplyFlag.TRUNCATED)
        rendered, _containers = html_render.render(html)
        if rendered.strip():
            html_reply = _extract_text(
                rendered,
                subject=subject,
                parent=parent_text,
                markers=marker_texts,
                flags=flags | {ReplyFlag.FROM_HTML},
            )
            if text_reply is None:
                return html_reply
            if html_reply.method is Method.OWN_MARKER or (
                text_reply.method in (Method.NONE, Method.SIGNATURE)
                and html_reply.method not in (Method.NONE, Method.SIGNATURE)
            ):
                return html_reply
    if text_reply is not None:
        return text_reply
    return Reply(text="", flags=frozenset(flags))


def _parent_text(parent: str | InboundMail | None) -> str:
    if parent is None:
        return ""
    if isinstance(parent, str):
        return parent
    if parent.text and not parent.text_from_html:
        return parent.text
    if parent.html:
        rendered, _ = html_render.render(parent.html)
        return _SENTINELS.sub("", rendered)
    return parent.text or ""


def _extract_text(
    text: str, *, subject: str, parent: str, markers: Sequence[str], flags: set[ReplyFlag]
) -> Reply:
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if _looks_like_quoted_printable(text):
        text = _decode_quoted_printable(text)
        flags = flags | {ReplyFlag.UNDECODED_QP}
    lines = text.split("\n")
    flags = set(flags)
    if len(lines) > MAX_LINES:
        lines = lines[:MAX_LINES]
        flags.add(ReplyFlag.TRUNCATED)

    # 1. own marker
    hit = find_marker(lines, markers) if markers else None
    marker_line = (
        next((k for k, line in enumerate(lines) if line.startswith(html_render.MARKER)), None)
        if html_render.MARKER in text
        else None
    )
    cut: int | None = None
    if hit is not None and (marker_line is None or hit.start <= marker_line):
        cut = hit.start
        if hit.wrapped:
            flags.add(ReplyFlag.MARKER_WRAPPED)
        if hit.quoted:
            flags.add(ReplyFlag.MARKER_QUOTED)
        if hit.garbled:
            flags.add(ReplyFlag.MARKER_GARBLED)
    elif marker_line is not None:
        cut = marker_line
    if cut is not None:
        above = lines[:cut]
        while above and (not above[-1].strip() or above[-1].lstrip()[:1] == ">"):
            # the quote's own lines above the marker (Apple Mail quotes its attribution)
            above.pop()
        part = text_algo.extract_lines(above, subject=subject)
        if (
            part.text.strip()
            and ReplyFlag.QUOTE_ONLY not in part.flags
            and ReplyFlag.FORWARD_ONLY not in part.flags
        ):
            quoted = "\n".join(x for x in (part.quoted, "\n".join(lines[cut:]).strip()) if x)
            if lines[cut].lstrip()[:1] == ">":
                # a quoted marker: the writer may also have answered below the quote, or
                # inline between its lines ("see my answers below")
                after = hit.end + 1 if hit is not None and hit.start == cut else cut + 1
                below = text_algo.extract_lines(
                    lines[after:], subject=subject, lone_quote_is_text=False
                )
                answered = ReplyFlag.REPLY_BELOW_QUOTE in below.flags
                if (answered or below.method is Method.INTERLEAVED) and below.text.strip():
                    part = attrs.evolve(part, text=f"{part.text}\n\n{below.text}")
                    quoted = below.quoted
            return _reply(part, method=Method.OWN_MARKER, quoted=quoted, flags=flags)
        # nothing above the marker: the answer is below it (or the mail is only the quote)
        if lines[cut].lstrip()[:1] != ">":
            # an unquoted marker: everything below it is helpmail's own mail
            lines = [*lines[:cut], *("> " + line for line in lines[cut:])]

    # 2. parent match: lines that repeat the parent become quoted lines
    # (the rule that then cuts is reported; a bare quote found this way is PARENT_MATCH)
    if parent.strip():
        lines, matched = _mark_parent(lines, parent)
        if matched:
            part = text_algo.extract_lines(lines, subject=subject)
            if part.method is not Method.NONE and part.quoted:
                method = part.method
                if method in (Method.QUOTE_MARKER, Method.SIGNATURE):
                    method = Method.PARENT_MATCH
                return _reply(part, method=method, flags=flags)

    # 3. heuristics
    part = text_algo.extract_lines(lines, subject=subject)
    return _reply(part, flags=flags)


def _reply(
    part: Reply,
    *,
    method: Method | None = None,
    quoted: str | None = None,
    flags: set[ReplyFlag],
) -> Reply:
    chosen = method or part.method
    if (
        ReplyFlag.FROM_HTML in flags
        and chosen in (Method.QUOTE_MARKER,)
        and part.quoted.startswith("\ue000")
    ):
        chosen = Method.HTML_CONTAINER
    return attrs.evolve(
        part,
        text=_clean(part.text),
        quoted=_clean(quoted if quoted is not None else part.quoted),
        method=chosen,
        flags=frozenset(flags | part.flags),
    )


_QP_SOFT_BREAK = re.compile(r"=\n")
_QP_ESCAPES = re.compile(r"=(?:[0-9A-F]{2})")


def _looks_like_quoted_printable(text: str) -> bool:
    """A body whose quoted-printable encoding was not undone (RFC 2045 §6.7): soft line breaks
    (``=`` at line end) and ``=XX`` escapes such as ``=3D``, ``=20`` or UTF-8 lead bytes."""
    if "=\n" not in text:
        return False
    soft = len(_QP_SOFT_BREAK.findall(text, 0, 200_000))
    escapes = len(_QP_ESCAPES.findall(text, 0, 200_000))
    return (
        soft >= 2
        and escapes >= 2
        and ("=3D" in text or "=20" in text or "=C3" in text or "=E2" in text)
    )


def _decode_quoted_printable(text: str) -> str:
    import quopri

    raw = text.encode("utf-8", "surrogateescape")
    return quopri.decodestring(raw).decode("utf-8", "replace")


def _clean(text: str) -> str:
    if "\ue000" in text or "\ue001" in text:
        text = _SENTINELS.sub("", text)
    return text.strip("\n")


def _words(text: str) -> list[str]:
    return _WORDS.findall(text.casefold())


def _mark_parent(lines: list[str], parent: str) -> tuple[list[str], bool]:
    """Prefix with ``>`` the lines that repeat the parent message; report whether any did."""
    words = _words(parent[:MAX_INPUT_CHARS])[:MAX_PARENT_WORDS]
    if len(words) < 3:
        return lines, False
    trigrams = {(words[k], words[k + 1], words[k + 2]) for k in range(len(words) - 2)}
    vocabulary = set(words)
    parent_lines = {
        " ".join(_words(line)) for line in parent[:MAX_INPUT_CHARS].splitlines()[:50_000]
    }
    labels: list[str] = []
    for line in lines:
        line_words = _words(line[:2000].lstrip("> \t"))
        if line_words and len(line_words) < 3 and " ".join(line_words) in parent_lines:
            labels.append("M")
            continue
        if not line_words:
            labels.append("B")
        elif len(line_words) >= 3:
            grams = [
                (line_words[k], line_words[k + 1], line_words[k + 2])
                for k in range(len(line_words) - 2)
            ]
            hits = sum(1 for gram in grams if gram in trigrams)
            labels.append("M" if hits * 10 >= len(grams) * 7 else "X")
        else:
            labels.append("m" if all(w in vocabulary for w in line_words) else "X")
    # a run counts when it holds at least two matching lines (or the whole short parent)
    matched_rows: set[int] = set()
    n = len(lines)
    k = 0
    while k < n:
        if labels[k] != "M":
            k += 1
            continue
        start = k
        end = k
        strong = 0
        while end < n and labels[end] in ("M", "m", "B"):
            if labels[end] == "M":
                strong += 1
            end += 1
        if strong >= 2 or len(words) <= 12:
            # take in weak lines and blanks around the strong ones
            for row in range(start, end):
                matched_rows.add(row)
        k = end
    if not matched_rows:
        return lines, False
    out = [
        (
            "> " + line
            if row in matched_rows and line.strip() and not line.lstrip().startswith(">")
            else line
        )
        for row, line in enumerate(lines)
    ]
    return out, True
