"""Output helpers shared by the sub-commands: aligned tables, a progress bar, JSON.

Rule kept here: results go to stdout, progress and diagnostics to stderr, and the progress bar is
drawn only when stderr is a terminal (a pipe or a log file never gets carriage returns).
"""

from __future__ import annotations

import json
import shutil
import sys
import time
import unicodedata
from collections.abc import Sequence
from typing import IO, Any


def width(text: str) -> int:
    """Display width of ``text`` in a terminal (East Asian wide characters count twice)."""
    return sum(
        0
        if unicodedata.combining(char)
        else 2
        if unicodedata.east_asian_width(char) in ("W", "F")
        else 1
        for char in text
    )


def shorten(text: str, limit: int) -> str:
    """``text`` on one line, cut to ``limit`` display columns with an ellipsis."""
    text = " ".join(text.split())
    if width(text) <= limit:
        return text
    out = ""
    for char in text:
        if width(out + char) > limit - 1:
            break
        out += char
    return out + "…"


def table(rows: Sequence[Sequence[str]], headers: Sequence[str] | None = None) -> str:
    """Rows as left-aligned columns separated by two spaces (the last column is not padded)."""
    all_rows = [list(headers)] if headers else []
    all_rows.extend(list(row) for row in rows)
    if not all_rows:
        return ""
    columns = max(len(row) for row in all_rows)
    widths = [0] * columns
    for row in all_rows:
        for index, cell in enumerate(row):
            widths[index] = max(widths[index], width(cell))
    lines = []
    for row in all_rows:
        cells = [
            cell + " " * (widths[index] - width(cell)) if index < len(row) - 1 else cell
            for index, cell in enumerate(row)
        ]
        lines.append("  ".join(cells).rstrip())
    if headers:
        lines.insert(1, "  ".join("-" * w for w in widths[: len(headers)]))
    return "\n".join(lines)


def dump_json(value: Any, stream: IO[str] | None = None) -> None:
    """Write ``value`` as indented JSON (non-ASCII kept) and a newline."""
    out = stream if stream is not None else sys.stdout
    json.dump(value, out, indent=2, ensure_ascii=False, default=str)
    out.write("\n")


class Progress:
    """A one-line progress bar on stderr, drawn only when stderr is a terminal.

    ``update(done)`` is cheap to call for every message: the line is redrawn at most ten times a
    second. ``close()`` clears it. Use as a callable: ``progress(done, total)``.
    """

    def __init__(self, label: str, *, stream: IO[str] | None = None, force: bool | None = None):
        self.stream = stream if stream is not None else sys.stderr
        isatty = getattr(self.stream, "isatty", None)
        self.enabled = force if force is not None else bool(isatty and isatty())
        self.label = label
        self.started = time.monotonic()
        self._last_draw = 0.0
        self._drawn = False

    def __call__(self, done: int, total: int | None = None) -> None:
        self.update(done, total)

    def update(self, done: int, total: int | None = None) -> None:
        """Report that ``done`` of ``total`` (``None``: unknown) items are finished."""
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._last_draw < 0.1 and not (total and done >= total):
            return
        self._last_draw = now
        elapsed = max(now - self.started, 1e-9)
        rate = done / elapsed
        columns = shutil.get_terminal_size((80, 24)).columns
        if total:
            fraction = min(done / total, 1.0)
            bar_width = max(10, min(30, columns - 50))
            filled = int(bar_width * fraction)
            bar = "█" * filled + "·" * (bar_width - filled)
            percent = int(fraction * 100)
            text = f"{self.label} {bar} {done}/{total} {percent:3d}% {rate:,.0f}/s"
        else:
            text = f"{self.label} {done} {rate:,.0f}/s"
        self.stream.write("\r" + shorten(text, columns - 1) + "\x1b[K")
        self.stream.flush()
        self._drawn = True

    def close(self) -> None:
        """Clear the progress line."""
        if self.enabled and self._drawn:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._drawn = False
