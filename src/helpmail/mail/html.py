"""HTML to readable plain text, for mails that have no ``text/plain`` body.

A small linear scanner (every step moves forward with ``str.find``; the only regular expressions
are bounded to one tag), tolerant of the HTML real mailers write. What it keeps, so that people
and the reply extractor can read the result:

- paragraphs, headings, tables and lists are separated by a blank line; ``<div>`` and ``<br>``
  end a line, so Gmail's ``<div>line</div><div><br></div>`` and Outlook's
  ``<p class=MsoNormal>line</p>`` / ``<p class=MsoNormal>&nbsp;</p>`` keep their line structure;
- ``<blockquote>`` lines get a ``> `` prefix per level (quotes stay visible as quotes);
- list items become ``- item`` or ``1. item``, indented per nesting level;
- table cells on one row are joined with `` | ``, rows become lines;
- links keep their target (`` <https://...>``) when the link text does not already show it;
  images show their ``alt`` text in brackets;
- ``<script>``, ``<style>``, ``<head>``, ``<title>``, Outlook's ``<xml>`` blocks, comments (and so
  ``<!--[if mso]>`` sections) and elements hidden with ``display:none`` (pre-headers) are dropped;
- entities are decoded; non-breaking spaces become spaces, zero-width characters are removed;
  ``<pre>`` keeps its white space.

It never raises.
"""

from __future__ import annotations

import html as _html
import re

_BLOCK = frozenset(
    {
        "div",
        "section",
        "article",
        "header",
        "footer",
        "tr",
        "dt",
        "dd",
        "address",
        "center",
        "form",
        "body",
        "li",
        "fieldset",
        "figure",
        "figcaption",
        "main",
        "nav",
        "aside",
        "caption",
        "tbody",
        "thead",
        "tfoot",
        "html",
        "details",
        "summary",
        "legend",
        "option",
    }
)
_PARAGRAPH = frozenset(
    {"p", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol", "dl", "blockquote", "pre", "hr"}
)
_RAW_TEXT = {
    name: re.compile(rf"</{name}\s*>", re.I)
    for name in ("script", "style", "title", "template", "noscript", "xml", "head", "textarea")
}
_VOID = frozenset(
    {"br", "img", "hr", "meta", "link", "input", "col", "area", "base", "wbr", "source"}
)
_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9:_.-]*)")
_ATTR = re.compile(r"""([^\s=/>"']+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+)))?""")
_SPACES = re.compile(r"[ \t\r\n\f\v\u00a0\u2002\u2003\u2009]+")
_DISPLAY_NONE = re.compile(r"display\s*:\s*none", re.I)
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad\u034f"), None)


def _attrs(text: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for match in _ATTR.finditer(text):
        name = match.group(1).lower()
        value = match.group(2)
        if value is None:
            value = match.group(3)
        if value is None:
            value = match.group(4) or ""
        found.setdefault(name, _html.unescape(value) if "&" in value else value)
    return found


class _Writer:
    def __init__(self) -> None:
        self.lines: list[tuple[int, str]] = []  # (quote depth, text)
        self.current: list[str] = []
        self.quote = 0
        self.pre = 0
        self.lists: list[list[int]] = []  # [ordered, counter]
        self.cells: list[int] = []
        self.links: list[tuple[str | None, int]] = []
        self.nbsp_line = False
        self.p_mso = False
        self.bullet = ""

    def _has_text(self) -> bool:
        return any(chunk.strip() for chunk in self.current)

    def flush(self) -> None:
        """End the current line if it holds text."""
        text = "".join(self.current)
        if self.pre:
            text = text.rstrip() if text.strip() else ""
        else:
            text = text.strip()
            if "  " in text:
                text = _SPACES.sub(" ", text)
        self.current = []
        if text:
            self.lines.append((self.quote, self.bullet + text))
            self.bullet = ""
        elif self.nbsp_line:
            self.lines.append((self.quote, ""))
        self.nbsp_line = False

    def line_break(self) -> None:
        """``<br>``: end the current line, even an empty one."""
        text = "".join(self.current)
        if self.pre:
            text = text.rstrip()
        else:
            text = text.strip()
            if "  " in text:
                text = _SPACES.sub(" ", text)
        self.current = []
        self.lines.append((self.quote, self.bullet + text if text else text))
        if text:
            self.bullet = ""
        self.nbsp_line = False

    def blank(self) -> None:
        self.flush()
        if self.lines and self.lines[-1][1] != "":
            self.lines.append((self.quote, ""))

    def data(self, text: str) -> None:
        if "&" in text:
            text = _html.unescape(text)
        text = text.translate(_INVISIBLE)
        if not text:
            return
        if self.pre:
            text = text.replace("\r\n", "\n").replace("\xa0", " ")
            first = True
            for piece in text.split("\n"):
                if not first:
                    self.line_break()
                first = False
                self.current.append(piece)
            return
        collapsed = _SPACES.sub(" ", text)
        if collapsed == " " and "\xa0" in text:
            self.nbsp_line = True
        self.current.append(collapsed)

    def text(self) -> str:
        self.flush()
        out: list[str] = []
        previous_blank = True  # no blank lines at the start
        for depth, line in self.lines:
            blank = line == ""
            if blank and previous_blank:
                continue
            previous_blank = blank
            out.append(("> " * depth + line).rstrip())
        while out and out[-1].strip(" >") == "":
            out.pop()
        return "\n".join(out)


def html_to_text(html: str) -> str:
    """Readable plain text of an HTML document or fragment (see the module docstring)."""
    try:
        text, hid = _convert(html, hide=True)
        if not text and hid:
            # Never let hiding remove the only readable text (content shown by media queries).
            text = _convert(html, hide=False)[0]
        return text
    except Exception:  # pragma: no cover - defensive: never raise on mail content
        return _SPACES.sub(" ", re.sub(r"<[^<>]*>", " ", html)).strip()


def _convert(html: str, *, hide: bool) -> tuple[str, bool]:
    out = _Writer()
    n = len(html)
    pos = 0
    hidden_tag: str | None = None
    hidden_depth = 0
    hid = False
    unclosed: set[str] = set()  # raw-text tags whose end tag is not in the rest of the document
    while pos < n:
        lt = html.find("<", pos)
        if lt < 0:
            if hidden_tag is None:
                out.data(html[pos:])
            break
        if lt > pos and hidden_tag is None:
            out.data(html[pos:lt])
        if html.startswith("<!--", lt):
            end = html.find("-->", lt + 4)
            pos = n if end < 0 else end + 3
            continue
        if html.startswith("<![CDATA[", lt):
            end = html.find("]]>", lt)
            if hidden_tag is None:
                out.data(html[lt + 9 : n if end < 0 else end])
            pos = n if end < 0 else end + 3
            continue
        match = _TAG.match(html, lt)
        if match is None:
            if lt + 1 < n and html[lt + 1] in "!?":
                end = html.find(">", lt)
                pos = n if end < 0 else end + 1
                continue
            if hidden_tag is None:
                out.data("<")
            pos = lt + 1
            continue
        gt = html.find(">", match.end())
        if gt < 0:  # an unclosed tag at the end: drop it
            break
        closing = match.group(1) == "/"
        tag = match.group(2).lower()
        attr_text = html[match.end() : gt]
        if not closing and attr_text.startswith("@") and " " not in attr_text:
            # "<jane@example.com>" written into HTML unescaped: an address, not a tag
            if hidden_tag is None:
                out.data(html[lt : gt + 1])
            pos = gt + 1
            continue
        pos = gt + 1
        if hidden_tag is not None:
            if tag == hidden_tag and tag not in _VOID:
                hidden_depth += -1 if closing else 1
                if hidden_depth == 0:
                    hidden_tag = None
            continue
        if closing:
            _end(out, tag)
            continue
        raw_text = _RAW_TEXT.get(tag)
        if raw_text is not None and not attr_text.rstrip().endswith("/"):
            # (a search that failed once fails again later: remember it, or many unclosed
            # "<title>" tags would make this quadratic)
            found = None if tag in unclosed else raw_text.search(html, pos)
            if found is not None:
                pos = found.end()
            elif tag in ("script", "style", "xml"):
                pos = n
            else:
                unclosed.add(tag)
            continue
        attrs = _attrs(attr_text) if attr_text.strip() else {}
        style = attrs.get("style")
        if hide and style and tag not in _VOID and _DISPLAY_NONE.search(style):
            hidden_tag, hidden_depth, hid = tag, 1, True
            continue
        _start(out, tag, attrs)
    return out.text(), hid


def _start(out: _Writer, tag: str, attrs: dict[str, str]) -> None:
    if tag == "br":
        out.line_break()
    elif tag == "p":
        out.p_mso = attrs.get("class", "").lower().startswith("mso")
        if out.p_mso:
            out.flush()  # Outlook: one <p class=MsoNormal> a line, blank lines are &nbsp; <p>s
        else:
            out.blank()
    elif tag in ("ul", "ol") and out.lists:
        out.flush()  # a nested list continues its parent list without a blank line
        start = attrs.get("start", "1")
        out.lists.append([tag == "ol", _list_start(start)])
    elif tag in _PARAGRAPH:
        out.blank()
        if tag == "blockquote":
            out.quote += 1
        elif tag in ("ul", "ol"):
            start = attrs.get("start", "1")
            out.lists.append([tag == "ol", _list_start(start)])
        elif tag == "table":
            out.cells.append(0)
        elif tag == "pre":
            out.pre += 1
        elif tag == "hr":
            out.lines.append((out.quote, "-" * 20))
            out.blank()
    elif tag == "li":
        out.flush()
        indent = "  " * max(0, len(out.lists) - 1)
        if out.lists and out.lists[-1][0]:
            out.lists[-1][1] += 1
            out.bullet = f"{indent}{out.lists[-1][1]}. "
        else:
            out.bullet = f"{indent}- "
    elif tag == "tr":
        out.flush()
        if out.cells:
            out.cells[-1] = 0
    elif tag in ("td", "th"):
        if out.cells:
            if out.cells[-1] > 0 and out._has_text():
                so_far = "".join(out.current).rstrip()
                # "Subject: | Re: ..." reads better as "Subject: Re: ..." (header tables)
                out.current = [so_far, " " if so_far.endswith(":") else " | "]
            out.cells[-1] += 1
        else:
            out.current.append(" ")
    elif tag in _BLOCK:
        out.flush()
    elif tag == "a":
        out.links.append((attrs.get("href"), len(out.current)))
    elif tag == "img":
        alt = (attrs.get("alt") or "").strip()
        if alt:
            out.current.append(f"[{_SPACES.sub(' ', alt)}]")


def _list_start(start: str) -> int:
    start = start.strip()
    return int(start) - 1 if start.isascii() and start.isdigit() and len(start) < 7 else 0


def _end(out: _Writer, tag: str) -> None:
    if tag == "p":
        if out.p_mso:
            out.flush()
        else:
            out.blank()
    elif tag in ("ul", "ol") and len(out.lists) > 1:
        out.flush()
        out.lists.pop()
    elif tag in _PARAGRAPH:
        if tag == "blockquote":
            out.flush()
            while out.lines and out.lines[-1] == (out.quote, ""):
                out.lines.pop()
            out.quote = max(0, out.quote - 1)
        elif tag in ("ul", "ol"):
            if out.lists:
                out.lists.pop()
        elif tag == "table":
            if out.cells:
                out.cells.pop()
        elif tag == "pre":
            out.flush()
            out.pre = max(0, out.pre - 1)
        out.blank()
    elif tag in _BLOCK:
        out.flush()
    elif tag == "a" and out.links:
        href, start = out.links.pop()
        if href and href.startswith(("http://", "https://")):
            shown = "".join(out.current[start:]).strip()
            bare = href.split("://", 1)[1].rstrip("/")
            if shown and href not in shown and bare not in shown:
                out.current.append(f" <{href}>")
