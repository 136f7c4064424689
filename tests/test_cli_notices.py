"""The command line's view of automatic mails: the ticket language from ``Content-Language``."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpmail.cli._notices import content_language, with_language
from helpmail.tickets import events as ev


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"From: a@b.example\nContent-Language: de-DE\n\nHallo", "de-de"),
        (b"From: a@b.example\r\ncontent-language: NL, en\r\n\r\nHoi", "nl"),
        (b"Content-Language:\n de-AT (Austrian German)\n\nServus", "de-at"),
        (b"Content-Language: (a comment) fr\n\n", "fr"),
        (b"From: a@b.example\n\nContent-Language: de\n", None),  # in the body, not a header
        (b"Content-Language: not a tag!\n\n", None),
        (b"Content-Language: \n\n", None),
        (b"", None),
    ],
)
def test_content_language_reads_the_first_tag_of_the_header(
    raw: bytes, expected: str | None
) -> None:
    assert content_language(raw) == expected


@given(st.binary(max_size=2000))
def test_content_language_never_raises(raw: bytes) -> None:
    found = content_language(raw)
    assert found is None or found == found.lower()


def test_a_ticket_language_already_set_is_kept() -> None:
    ticket = ev.TicketSnapshot(id="T1", number="1", title="t", status="new")
    event = ev.TicketEvent(ticket=ticket, at=dt.datetime(2026, 3, 2, tzinfo=dt.UTC))
    assert with_language(event, "de").ticket.language == "de"
    assert with_language(event, None) is event
    german = with_language(event, "de")
    assert with_language(german, "nl").ticket.language == "de"
