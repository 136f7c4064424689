"""Property tests for extract_reply: never raises, never empty, removes rather than invents."""

from __future__ import annotations

import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpmail.replies import Method, ReplyFlag, extract_reply, marker_text

WORDS = st.sampled_from(
    [
        "the",
        "printer",
        "works",
        "again",
        "thank",
        "you",
        "invoice",
        "please",
        "check",
        "order",
        "delivery",
        "broken",
        "screen",
        "we",
        "need",
        "a",
        "new",
        "cable",
        "tomorrow",
        "morning",
        "kitchen",
        "office",
        "laptop",
    ]
)
SENTENCE = st.lists(WORDS, min_size=2, max_size=10).map(lambda ws: " ".join(ws).capitalize() + ".")
PARAGRAPH = st.lists(SENTENCE, min_size=1, max_size=3).map(" ".join)
REPLY = st.lists(PARAGRAPH, min_size=1, max_size=3).map("\n\n".join)

INTROS = st.sampled_from(
    [
        "On Mon, Nov 23, 2026 at 10:00 AM Anna <anna@example.com> wrote:",
        "On Mon, Nov 23, 2026 at 10:00 AM Anna <\nanna@example.com> wrote:",
        "Am 23.11.2026 um 10:00 schrieb Anna <anna@example.com>:",
        "Op 23 nov. 2026 om 10:00 heeft Anna <anna@example.com> het volgende geschreven:",
        "Le 23 nov. 2026 à 10:00, Anna <anna@example.com> a écrit :",
        "-----Original Message-----\nFrom: Anna <anna@example.com>\nSent: Monday\nTo: "
        "Bob\nSubject: Printer",
        "________________________________\nVan: Anna\nVerzonden: maandag\nAan: Bob\nOnderwerp: "
        "Printer",
        "",
    ]
)

TEXTISH = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters="\x00"),
    max_size=400,
) | st.lists(
    st.sampled_from(
        [
            "> ",
            ">",
            "-- ",
            "On Mon wrote:",
            "From: a",
            "Sent: b",
            "To: c",
            "Subject: d",
            "\n",
            "\n\n",
            "x@y.z",
            "-----Original Message-----",
            "Sent from my iPhone",
            "word",
            " ",
            "<",
            ":",
            "=3D",
            "=\n",
            "\ue000",
            "—",
        ]
    ),
    max_size=40,
).map("".join)

HTMLISH = st.lists(
    st.sampled_from(
        [
            "<div>",
            "</div>",
            "<p>",
            "</p>",
            "<br>",
            "<blockquote type='cite'>",
            "</blockquote>",
            "text ",
            "more words ",
            "<div class='gmail_quote'>",
            "<div id='divRplyFwdMsg'>",
            "<hr id='stopSpelling'>",
            "&nbsp;",
            "<b>From:</b> a",
            "<div class='helpmail-reply-above'>",
            "<script>",
            "</script>",
            "<",
            ">",
            "&amp;",
            "<pre>",
            "</pre>",
        ]
    ),
    max_size=40,
).map("".join)

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _words(text: str) -> set[str]:
    return set(re.findall(r"\w+", text.casefold()))


@FAST
@given(TEXTISH)
def test_never_raises_and_never_empty(text: str) -> None:
    reply = extract_reply(text)
    if text.strip() and text.replace("\ue000", "").replace("\ue001", "").strip():
        assert reply.text.strip(), "never empty when the mail has text"
    assert ReplyFlag.INTERNAL_ERROR not in reply.flags


@FAST
@given(HTMLISH, TEXTISH)
def test_html_never_raises(html: str, text: str) -> None:
    reply = extract_reply(text, html=html)
    assert ReplyFlag.INTERNAL_ERROR not in reply.flags


@FAST
@given(TEXTISH)
def test_extraction_removes_rather_than_invents(text: str) -> None:
    """The reply's words come from the mail; extracting again never adds words."""
    reply = extract_reply(text)
    if ReplyFlag.UNDECODED_QP in reply.flags:
        return
    assert _words(reply.text) <= _words(text)
    again = extract_reply(reply.text)
    assert _words(again.text) <= _words(reply.text)


@FAST
@given(REPLY, INTROS, st.lists(SENTENCE, min_size=1, max_size=6))
def test_reply_above_a_quote_is_found(reply_text: str, intro: str, quoted: list[str]) -> None:
    quote = (
        "\n".join(f"> {line}" for line in quoted)
        if intro == "" or "wrote" in intro
        else "\n".join(quoted)
    )
    mail = f"{reply_text}\n\n{intro}\n\n{quote}\n" if intro else f"{reply_text}\n\n{quote}\n"
    reply = extract_reply(mail)
    if intro == "" and len(quoted) == 1:
        return  # one lone '>' line is not taken for a quote
    assert reply.text == reply_text
    assert reply.method is not Method.NONE


@FAST
@given(REPLY, st.sampled_from(["en", "de", "nl"]), st.booleans())
def test_own_marker_always_wins(reply_text: str, lang: str, quoted: bool) -> None:
    prefix = "> " if quoted else ""
    mail = (
        f"{reply_text}\n\n{prefix}{marker_text(lang)}\n{prefix}Hello Bob, this is the quoted "
        f"ticket mail.\n"
    )
    reply = extract_reply(mail)
    assert reply.method is Method.OWN_MARKER
    assert reply.text == reply_text


PARENT_WORDS = st.sampled_from(
    [
        "hello",
        "bob",
        "ticket",
        "support",
        "answer",
        "technician",
        "floor",
        "noon",
        "kind",
        "regards",
        "request",
        "status",
    ]
)
PARENT_SENTENCE = st.lists(PARENT_WORDS, min_size=3, max_size=10).map(
    lambda ws: " ".join(ws).capitalize() + "."
)


@FAST
@given(REPLY, st.lists(PARENT_SENTENCE, min_size=3, max_size=8))
def test_parent_text_is_removed(reply_text: str, parent_sentences: list[str]) -> None:
    parent = "\n".join(parent_sentences)
    mail = f"{reply_text}\n\n{parent}\n"
    reply = extract_reply(mail, parent=parent)
    assert reply.text == reply_text


@FAST
@given(
    REPLY,
    st.sampled_from(["en", "de", "nl"]),
    st.integers(min_value=0, max_value=3),
    st.sampled_from(["> ", "", ">> "]),
    st.booleans(),
)
def test_damaged_marker_is_still_found(
    reply_text: str, lang: str, wraps: int, prefix: str, garble: bool
) -> None:
    """Wrapped at word boundaries, quoted, or left quoted-printable encoded: still the marker."""
    words = marker_text(lang).split(" ")
    cuts = sorted({max(1, min(len(words) - 1, 1 + k * 2)) for k in range(wraps)})
    pieces = [" ".join(words[a:b]) for a, b in zip([0, *cuts], [*cuts, len(words)], strict=True)]
    if garble:
        pieces = [piece.replace("=", "=3D").replace(" ", "=20", 1) for piece in pieces]
    marker = "\n".join(prefix + piece for piece in pieces)
    mail = f"{reply_text}\n\n{marker}\n{prefix}Hello Bob, this is the quoted ticket mail.\n"
    reply = extract_reply(mail)
    assert reply.method is Method.OWN_MARKER
    assert reply.text == reply_text


@FAST
@given(
    REPLY,
    st.lists(PARENT_SENTENCE, min_size=4, max_size=10),
    st.integers(min_value=30, max_value=90),
    st.sampled_from(["", "> "]),
)
def test_parent_found_after_rewrapping(
    reply_text: str, parent_sentences: list[str], width: int, prefix: str
) -> None:
    """A client re-wraps the quoted parent at its own width, with or without '>': still found."""
    import textwrap

    parent = "\n".join(parent_sentences)
    rewrapped = textwrap.fill(" ".join(parent_sentences), width=width)
    quoted = "\n".join(prefix + line for line in rewrapped.split("\n"))
    reply = extract_reply(f"{reply_text}\n\n{quoted}\n", parent=parent)
    assert reply.text == reply_text


PROSE_WORD = st.sampled_from(
    [
        "on",
        "am",
        "le",
        "el",
        "the",
        "printer",
        "at",
        "10:30",
        "2026",
        "12.05.",
        "monday",
        "bob",
        "anna",
        "invoice",
        "order",
        "is",
        "was",
        "and",
        "from",
        "to",
        "subject",
        "date",
        "please",
        "(see)",
        "3",
        "floor",
        "<x@y.org>",
        "-",
        "it",
        "broke",
        "again",
        "yesterday",
    ]
)
PROSE_LINE = st.lists(PROSE_WORD, min_size=1, max_size=12).map(" ".join) | st.lists(
    PROSE_WORD, min_size=2, max_size=8
).map(lambda ws: " ".join(ws) + ":")


@FAST
@given(st.lists(PROSE_LINE | st.just(""), min_size=1, max_size=12))
def test_prose_without_quotes_is_kept_whole(lines: list[str]) -> None:
    """Ordinary text (dates, times, addresses, lines ending in ':') is never cut."""
    text = "\n".join(lines)
    if not text.strip():
        return
    reply = extract_reply(text)
    assert reply.text == text.strip("\n")
