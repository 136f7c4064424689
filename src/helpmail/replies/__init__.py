"""Reply extraction: the new text a customer wrote above (or below, or between) the quoted history.

:func:`extract_reply` follows the policy in DESIGN.md ("Reply extraction"): helpmail's own marker
first, then the parent message helpmail sent, then heuristics in many languages. Vocabularies are
data (:mod:`helpmail.replies.vocabulary`); the marker texts and the HTML marker element for outgoing
mail come from :func:`marker_text` and :func:`marker_html`.

The rule this package keeps: it never raises on mail content, never returns empty text for a mail
that has text, and runs in linear time (no regex with nested unbounded quantifiers; input capped).
"""

from __future__ import annotations

from helpmail.replies.extract import MAX_HTML_CHARS, MAX_INPUT_CHARS, MAX_LINES, extract_reply
from helpmail.replies.markers import (
    DEFAULT_MARKERS,
    MARKER_TEXTS,
    REPLY_MARKER_HTML_ID,
    REPLY_MARKER_TEXT,
    REPLY_MARKER_TEXT_DE,
    REPLY_MARKER_TEXT_NL,
    marker_html,
    marker_text,
)
from helpmail.replies.model import Forwarded, Method, Reply, ReplyFlag

__all__ = [
    "DEFAULT_MARKERS",
    "MARKER_TEXTS",
    "MAX_HTML_CHARS",
    "MAX_INPUT_CHARS",
    "MAX_LINES",
    "REPLY_MARKER_HTML_ID",
    "REPLY_MARKER_TEXT",
    "REPLY_MARKER_TEXT_DE",
    "REPLY_MARKER_TEXT_NL",
    "Forwarded",
    "Method",
    "Reply",
    "ReplyFlag",
    "extract_reply",
    "marker_html",
    "marker_text",
]
