"""Value types of reply extraction: :class:`Reply`, :class:`Forwarded`, :class:`Method`,
:class:`ReplyFlag`."""

from __future__ import annotations

import enum

import attrs


class Method(enum.StrEnum):
    """Which rule decided where the reply ends (stable values, for matching in code)."""

    OWN_MARKER = "own_marker"
    """helpmail's own "reply above this line" marker (text line or HTML element) was found."""
    PARENT_MATCH = "parent_match"
    """Text repeating the parent message (which helpmail sent) was removed."""
    HTML_CONTAINER = "html_container"
    """A known HTML quote container (``gmail_quote``, ``divRplyFwdMsg``, ``blockquote type=cite``
    ...)."""
    ATTRIBUTION = "attribution"
    """An attribution line ("On ... wrote:", "Am ... schrieb ...:", "... 写道：")."""
    HEADER_BLOCK = "header_block"
    """A quoted header block ("From: / Sent: / To: / Subject:" in any of the known languages)."""
    DIVIDER = "divider"
    """A divider line ("-----Original Message-----", "-------- Oprindelig besked --------")."""
    FORWARD = "forward"
    """A forwarded message ("---------- Forwarded message ----------", "Begin forwarded
    message:")."""
    QUOTE_MARKER = "quote_marker"
    """``>``-quoted lines without an attribution line."""
    INTERLEAVED = "interleaved"
    """Inline answers between quoted lines: the quoted lines they answer are kept."""
    SIGNATURE = "signature"
    """No quote; only a signature (after a ``"-- "`` line) or a mobile tagline was removed."""
    NONE = "none"
    """Nothing was removed: the whole text is the reply."""


class ReplyFlag(enum.StrEnum):
    """Extra facts about an extraction (a set of them is in :attr:`Reply.flags`)."""

    REPLY_BELOW_QUOTE = "reply_below_quote"
    """The new text was written below the quote (bottom posting)."""
    QUOTE_ONLY = "quote_only"
    """The mail holds nothing but a quote; :attr:`Reply.text` is that quote (never empty)."""
    FORWARD_ONLY = "forward_only"
    """The mail is a forward without a note; :attr:`Reply.text` is the forwarded text."""
    SIGNATURE_ONLY = "signature_only"
    """The mail holds only a signature or tagline; it was kept as the text (never empty)."""
    FROM_HTML = "from_html"
    """The text was rendered from the HTML body."""
    MARKER_WRAPPED = "marker_wrapped"
    """The own marker line was wrapped over several lines by the client."""
    MARKER_QUOTED = "marker_quoted"
    """The own marker line was inside a ``>`` quote."""
    MARKER_GARBLED = "marker_garbled"
    """The own marker line carried undecoded quoted-printable (``=3D``, soft breaks)."""
    UNDECODED_QP = "undecoded_qp"
    """The text still carried quoted-printable encoding (``=3D``, soft line breaks); it was
    decoded."""
    TRUNCATED = "truncated"
    """The input was longer than :data:`helpmail.replies.MAX_INPUT_CHARS` characters or
    :data:`helpmail.replies.MAX_LINES` lines; only its start was read."""
    INTERNAL_ERROR = "internal_error"
    """The extractor failed on this input; :attr:`Reply.text` is the whole text."""


@attrs.frozen(kw_only=True)
class Forwarded:
    """A forwarded message found in the mail, returned apart from the reply.

    ``headers`` maps canonical field names (``from``, ``to``, ``cc``, ``date``, ``subject``,
    ``reply-to``; ``sent`` is reported as ``date``) to the values in the forwarded header block,
    whatever language the block was written in. ``intro`` is the divider line ("Begin forwarded
    message:"), or ``""``.
    """

    text: str
    headers: dict[str, str] = attrs.field(factory=dict, hash=False)
    intro: str = ""


@attrs.frozen(kw_only=True)
class Reply:
    """What the writer of a mail added: the reply text and the parts that were taken away.

    ``text`` keeps the sign-off ("Thanks,\\nBob") but not a signature after ``-- `` (that is in
    ``signature``) nor a mobile tagline (``tagline``). ``quoted`` is the quoted history that was
    removed, ``forwarded`` a forwarded message. ``text`` is never empty when the mail has text.
    ``method`` names the rule that decided, ``flags`` add facts (see :class:`ReplyFlag`).
    """

    text: str
    quoted: str = ""
    signature: str = ""
    tagline: str = ""
    forwarded: Forwarded | None = None
    method: Method = Method.NONE
    flags: frozenset[ReplyFlag] = frozenset()

    @property
    def confidence(self) -> float:
        """A rough confidence in ``text`` (1.0 for the own marker, lower for guesses)."""
        return _CONFIDENCE.get(self.method, 0.5) * (
            0.6 if ReplyFlag.INTERNAL_ERROR in self.flags else 1.0
        )


_CONFIDENCE: dict[Method, float] = {
    Method.OWN_MARKER: 1.0,
    Method.PARENT_MATCH: 0.95,
    Method.HTML_CONTAINER: 0.9,
    Method.HEADER_BLOCK: 0.85,
    Method.ATTRIBUTION: 0.85,
    Method.DIVIDER: 0.85,
    Method.FORWARD: 0.85,
    Method.QUOTE_MARKER: 0.8,
    Method.INTERLEAVED: 0.6,
    Method.SIGNATURE: 0.8,
    Method.NONE: 0.7,
}
