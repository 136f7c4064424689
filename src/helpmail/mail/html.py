"""HTML to readable plain text, with the standard library's tolerant ``html.parser``.

Used when a mail has no ``text/plain`` body. Block elements become line breaks, ``<br>`` a newline,
list items a ``- `` bullet, ``<blockquote>`` lines a ``> `` prefix (so the reply extractor can still
see quotes), links keep their target when it differs from the text, and ``<script>``/``<style>``/
``<head>`` content is dropped. Linear in the input size; never raises.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

_BLOCK = frozenset(
    {"p", "div", "section", "article", "header", "footer", "table", "tr", "ul", "ol", "dl", "dt",
     "dd", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "address", "center", "form", "hr", "body",
     "blockquote", "li", "fieldset", "figure", "main", "nav", "aside"}
)
_SKIP = frozenset({"script", "style", "head", "title", "template", "noscript", "xml"})
_SPACES = re.compile(r"[ \t\r\n\f\v\u00a0]+")


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self.current: list[str] = []
        self.skip_depth = 0
        self.quote_depth = 0
        self.pre_depth = 0
        self.href_stack: list[str | None] = []

    # -- line handling -------------------------------------------------------------------------
    def _break(self, *, blank: bool = False) -> None:
        text = "".join(self.current).strip()
        self.current = []
        if text or self.quote_depth:
            prefix = "> " * self.quote_depth
            self.lines.append((prefix + text).rstrip())
        if blank and self.lines and self.lines[-1] != "":
            self.lines.append("")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self.skip_depth += 1
            return
        if tag == "br":
            self._break()
        elif tag in _BLOCK:
            self._break(blank=tag in {"p", "blockquote", "table", "h1", "h2", "h3"})
            if tag == "blockquote":
                self.quote_depth += 1
            elif tag == "li":
                self.current.append("- ")
            elif tag == "hr":
                self.lines.append("-" * 20)
            elif tag == "pre":
                self.pre_depth += 1
        elif tag in {"td", "th"}:
            self.current.append(" ")
        elif tag == "a":
            self.href_stack.append(dict(attrs).get("href"))
        elif tag == "img":
            alt = dict(attrs).get("alt")
            if alt:
                self.current.append(f"[{alt}]")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self.skip_depth = max(0, self.skip_depth - 1)
            return
        if tag in _BLOCK:
            self._break(blank=tag in {"p", "blockquote", "table", "h1", "h2", "h3"})
            if tag == "blockquote":
                self.quote_depth = max(0, self.quote_depth - 1)
            elif tag == "pre":
                self.pre_depth = max(0, self.pre_depth - 1)
        elif tag == "a" and self.href_stack:
            href = self.href_stack.pop()
            if href and href.startswith(("http://", "https://")):
                shown = "".join(self.current)
                if href not in shown:
                    self.current.append(f" <{href}>")

    def handle_data(self, data: str) -> None:
        if self.skip_depth:
            return
        if self.pre_depth:
            parts = data.split("\n")
            for index, part in enumerate(parts):
                if index:
                    self._break()
                self.current.append(part)
            return
        self.current.append(_SPACES.sub(" ", data))

    def text(self) -> str:
        self._break()
        out: list[str] = []
        for line in self.lines:
            if line == "" and (not out or out[-1] == ""):
                continue
            out.append(line)
        while out and out[-1] == "":
            out.pop()
        return "\n".join(out)


def html_to_text(html: str) -> str:
    """Readable plain text of an HTML document or fragment (see module docstring)."""
    parser = _TextExtractor()
    try:
        parser.feed(html)
        parser.close()
    except Exception:  # html.parser is tolerant, but be safe: never raise on mail content
        return _SPACES.sub(" ", re.sub(r"<[^>]*>", " ", html)).strip()
    return parser.text()
