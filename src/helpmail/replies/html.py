"""HTML mail to text for reply extraction: known quote containers become quotes.

Clients mark the quoted part of an HTML reply with elements the text part does not show: Gmail's
``div.gmail_quote`` (in 2026 wrapped in ``div.gmail_quote_container``, which is *not* a quote: it
may
hold the reply itself), Outlook's ``#divRplyFwdMsg`` / ``#appendonsend``, Yahoo's ``yahoo_quoted``,
Thunderbird's ``moz-cite-prefix`` + ``blockquote[type=cite]``, Apple Mail's ``blockquote``,
``#OLK_SRC_BODY_SECTION``, Hotmail's ``hr#stopSpelling``, Zimbra's ``hr#zwchr``.

This module renders HTML to plain text (stdlib :mod:`html.parser` only, linear, never raises) and
writes what it knows into the text, so one text algorithm decides for both kinds of mail:

* a line holding only :data:`BOUNDARY` where a quote container starts; the container's lines get a
  ``> `` prefix like any ``<blockquote>``;
* after a "from here on" element (``#divRplyFwdMsg``, ``#appendonsend``, ``hr#stopSpelling``) every
  following line is quoted;
* a line holding only :data:`MARKER` where helpmail's own marker element stands (its text dropped).
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Final

from helpmail.replies.markers import REPLY_MARKER_HTML_ID

BOUNDARY: Final = "\ue000"
"""Text line standing for the start of an HTML quote container."""
MARKER: Final = "\ue001"
"""Text line standing for helpmail's marker element."""
MAX_QUOTE_DEPTH: Final = 20
"""Deeper nesting is rendered with this many ``> `` (keeps output linear in the input)."""

_BLOCK = frozenset(
    {
        "p",
        "div",
        "section",
        "article",
        "header",
        "footer",
        "table",
        "tr",
        "ul",
        "ol",
        "dl",
        "dt",
        "dd",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "pre",
        "address",
        "center",
        "form",
        "hr",
        "body",
        "blockquote",
        "li",
        "fieldset",
        "figure",
        "main",
        "nav",
        "aside",
        "span-block",
    }
)
_PARAGRAPH = frozenset({"p", "blockquote", "table", "h1", "h2", "h3"})
_SKIP = frozenset({"script", "style", "head", "title", "template", "noscript", "xml"})
_VOID = frozenset(
    {
        "br",
        "hr",
        "img",
        "meta",
        "link",
        "input",
        "col",
        "area",
        "base",
        "wbr",
        "source",
        "embed",
        "param",
        "track",
    }
)
_SPACES_NO_NBSP = re.compile(r"[ \t\r\n\f\v\u200b\u200e\u200f\ufeff]+")
_SPACES = re.compile(r"[ \t\r\n\f\v\u00a0\u200b\u200e\u200f\ufeff]+")

# class names (tokens, compared after an Outlook "x_" prefix is removed) and ids of quote containers
_QUOTE_CLASSES = frozenset(
    {
        "gmail_quote",
        "gmail_attr",
        "yahoo_quoted",
        "moz-cite-prefix",
        "protonmail_quote",
        "zmail_extra",
        "ms-outlook-mobile-reference-message",
        "reply-quote",
        "quote",
    }
)
_QUOTE_IDS = frozenset(
    {
        "olk_src_body_section",
        "yahoo_quoted",
        "isforwardcontent",
        "ms-outlook-mobile-reference-message",
    }
)
_FROM_HERE_IDS = frozenset(
    {
        "divrplyfwdmsg",
        "appendonsend",
        "stopspelling",
        "zwchr",
        "mail-editor-reference-message-container",
    }
)
_TRANSPARENT_CLASSES = frozenset({"gmail_quote_container", "gmail_extra"})


def _tokens(value: str | None) -> list[str]:
    if not value:
        return []
    out = []
    for raw in value.lower().split():
        token = raw
        while token.startswith("x_"):
            token = token[2:]
        out.append(token)
    return out


class _Renderer(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self.current: list[str] = []
        self.stack: list[tuple[str, int, bool]] = []  # (tag, quote depth added, skip)
        self.depth = 0
        self.skip = 0
        self.pre = 0
        self.quote_all = False
        self.containers = 0
        self.marker_depth = 0
        self.marker_stack_len = 0
        self.href_stack: list[str | None] = []

    # -- lines ---------------------------------------------------------------------------------
    def _prefix(self) -> str:
        depth = min(self.depth + (1 if self.quote_all else 0), MAX_QUOTE_DEPTH)
        return "> " * depth

    def _break(self, *, blank: bool = False) -> None:
        lines = self.lines
        if self.current:
            joined = "".join(self.current)
            text = joined.replace("\u00a0", " ").strip()
            self.current = []
            if text:
                lines.append((self._prefix() + text).rstrip())
            elif "\u00a0" in joined and lines and lines[-1].strip("> ") != "":
                lines.append(self._prefix().rstrip())  # a block of only &nbsp; is a blank line
        if blank and lines and lines[-1].strip("> ") != "":
            lines.append(self._prefix().rstrip())

    def _sentinel(self, value: str) -> None:
        self._break()
        self.lines.append(value)

    # -- parser callbacks ----------------------------------------------------------------------
    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            if tag not in _VOID:
                self.stack.append((tag, 0, True))
            self.skip += 1
            return
        if self.skip or self.marker_depth:
            if tag not in _VOID:
                self.stack.append((tag, 0, False))
            return
        attr = dict(attrs) if attrs else {}
        classes = _tokens(attr.get("class")) if attr else []
        ident = (_tokens(attr.get("id")) or [""])[0] if attr else ""
        if (classes or ident) and (
            any(c.endswith(REPLY_MARKER_HTML_ID) for c in classes)
            or ident.endswith(REPLY_MARKER_HTML_ID)
        ):
            self._sentinel(MARKER)
            if tag not in _VOID:
                self.marker_depth = 1
                self.marker_stack_len = len(self.stack)
                self.stack.append((tag, 0, False))
            return
        if ident in _FROM_HERE_IDS:
            self._sentinel(BOUNDARY)
            self.quote_all = True
        added = 0
        transparent = any(c in _TRANSPARENT_CLASSES for c in classes)
        is_container = not transparent and (
            any(c in _QUOTE_CLASSES or c.startswith("yahoo_quoted") for c in classes)
            or ident in _QUOTE_IDS
            or ident.startswith("yahoo_quoted")
            or (tag == "blockquote" and (attr.get("type") or "").lower() == "cite")
        )
        if tag == "br":
            if "".join(self.current).strip():
                self._break()
            else:
                self.current = []
                self.lines.append(self._prefix().rstrip())  # <div><br></div>: a blank line
            return
        paragraph = tag in _PARAGRAPH and "msonormal" not in classes
        if tag in _BLOCK or is_container:
            self._break(blank=paragraph)
        if is_container and not self._inside_container():
            self._sentinel(BOUNDARY)
            self.containers += 1
        if tag == "blockquote" or is_container:
            added = 1
        if tag == "hr":
            if not self.quote_all:
                self.lines.append(self._prefix() + "-" * 20)
            return
        if tag == "li":
            self.current.append("- ")
        elif tag == "pre":
            self.pre += 1
        elif tag in {"td", "th"}:
            self.current.append(" ")
        elif tag == "a":
            self.href_stack.append(attr.get("href"))
        elif tag == "img":
            alt = attr.get("alt")
            if alt:
                self.current.append(f"[{alt}]")
        if tag not in _VOID:
            self.stack.append((tag if tag != "p" or paragraph else "p-plain", added, False))
            self.depth += added

    def _inside_container(self) -> bool:
        return self.depth > 0

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        stack = self.stack
        if not stack:
            return
        if stack[-1][0] != tag:  # the common case (a well-nested end tag) skips these scans
            if tag == "p" and any(entry[0] == "p-plain" for entry in stack[-64:]):
                tag = "p-plain"
            if not any(entry[0] == tag for entry in stack[-64:]):
                return  # stray end tag: ignore (html.parser keeps going, so do we)
        while self.stack:
            name, added, skip = self.stack.pop()
            if skip:
                self.skip = max(0, self.skip - 1)
            if name in _BLOCK or added or name == "p-plain":
                self._break()
            self.depth -= added
            if name in _PARAGRAPH:
                self._break(blank=True)
            if name == "pre":
                self.pre = max(0, self.pre - 1)
            if name == "a" and self.href_stack:
                href = self.href_stack.pop()
                if href and href.startswith(("http://", "https://")) and not self.marker_depth:
                    shown = "".join(self.current)
                    if href not in shown and shown.strip():
                        self.current.append(f" <{href}>")
            if name == tag:
                break
        if self.marker_depth and len(self.stack) <= self.marker_stack_len:
            self.marker_depth = 0
            self.current = []

    def handle_data(self, data: str) -> None:
        if self.skip or self.marker_depth:
            return
        if self.pre:
            parts = data.split("\n")
            for index, part in enumerate(parts):
                if index:
                    self._break()
                self.current.append(part)
            return
        self.current.append(_SPACES_NO_NBSP.sub(" ", data))

    def text(self) -> str:
        self._break()
        out: list[str] = []
        for line in self.lines:
            if line.strip("> ") == "" and line != "" and (not out or out[-1].strip("> ") == ""):
                continue
            if line == "" and (not out or out[-1] == ""):
                continue
            out.append(line)
        while out and out[-1].strip("> ") == "":
            out.pop()
        return "\n".join(out)


def render(html: str) -> tuple[str, int]:
    """Text of ``html`` with quote containers marked (see module docstring), and how many
    containers were found. Never raises."""
    parser = _Renderer()
    try:
        parser.feed(html)
        parser.close()
    except Exception:  # html.parser is tolerant; never fail on mail content
        return _SPACES.sub(" ", re.sub(r"<[^<>]*>", " ", html)).strip(), 0
    return parser.text(), parser.containers
