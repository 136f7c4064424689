"""helpmail's own reader of ``UID FETCH`` answers, on scripted server bytes.

The reader (``read_fetch`` + ``FetchParser``) replaces imaplib's response loop for the batched
body fetch; the real-server behaviour is covered in ``test_imap.py``. Here: the protocol cases a
server may send (literals, continuation lines, unsolicited responses, refusals, a dropped
connection) and, with hypothesis, any message bytes (including text that looks like protocol).
"""

from __future__ import annotations

import datetime as dt
import imaplib
import io
import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpmail.adapters.imap import FetchParser, fetch, internal_date, parse_fetch, read_fetch


class ScriptedImap:
    """The part of an imaplib connection the reader uses, answering from fixed bytes."""

    def __init__(self, answer: bytes | None = None) -> None:
        self.sent: list[bytes] = []
        self.answer = answer
        self.stream = io.BytesIO()

    def send(self, data: bytes) -> None:
        self.sent.append(data)
        tag = data.split(b" ", 1)[0]
        if self.answer is not None:
            self.stream = io.BytesIO(self.answer.replace(b"TAG", tag))

    def readline(self) -> bytes:
        return self.stream.readline()

    def read(self, size: int) -> bytes:
        return self.stream.read(size)


def message_response(seq: int, uid: int, body: bytes, *, flags: bytes = b"") -> bytes:
    return (
        b'* %d FETCH (UID %d FLAGS (%s) INTERNALDATE "23-Nov-2026 09:01:50 +0100" '
        b"BODY[] {%d}\r\n%s)\r\n" % (seq, uid, flags, len(body), body)
    )


def read(answer: bytes, uids: list[int] | None = None) -> dict[int, dict[bytes, Any]]:
    imap = ScriptedImap(answer)
    parser = FetchParser()
    read_fetch(imap, uids or [1], "UID FLAGS INTERNALDATE BODY.PEEK[]", parser)
    assert not parser.unknown
    return parser.result


def test_the_command_names_uids_as_a_set_and_asks_for_the_items() -> None:
    imap = ScriptedImap(b"TAG OK done\r\n")
    read_fetch(imap, [3, 1, 2, 9], "UID BODY.PEEK[]", FetchParser())
    assert re.fullmatch(rb"HM\d+ UID FETCH 1:3,9 \(UID BODY.PEEK\[\]\)\r\n", imap.sent[0])


def test_literals_flags_dates_and_continuations_are_read() -> None:
    answer = (
        message_response(1, 7, b"hello\r\n", flags=b"\\Seen $Label")
        + b"* 2 FETCH (UID 8 BODY[] {3}\r\nabc FLAGS ())\r\n"
        + b"TAG OK UID FETCH completed\r\n"
    )
    got = read(answer, [7, 8])
    assert got[7][b"BODY[]"] == b"hello\r\n"
    assert got[7][b"FLAGS"] == (b"\\Seen", b"$Label")
    assert got[7][b"INTERNALDATE"] == dt.datetime(
        2026, 11, 23, 9, 1, 50, tzinfo=dt.timezone(dt.timedelta(hours=1))
    )
    assert got[8] == {b"BODY[]": b"abc", b"FLAGS": ()}


def test_unsolicited_responses_are_dropped_or_merged_never_clobber_a_body() -> None:
    answer = (
        b"* 3 EXISTS\r\n"
        + message_response(1, 7, b"body")
        + b"* 1 FETCH (FLAGS (\\Seen))\r\n"  # another client's change, without UID
        + b"* 1 FETCH (UID 7 FLAGS (\\Seen \\Flagged))\r\n"  # with UID: merged
        + b"* 2 EXPUNGE\r\n"
        + b"* OK [UIDNEXT 9] predicted\r\n"
        + b"TAG OK done\r\n"
    )
    got = read(answer, [7])
    assert got == {
        7: {
            b"BODY[]": b"body",
            b"FLAGS": (b"\\Seen", b"\\Flagged"),
            b"INTERNALDATE": got[7][b"INTERNALDATE"],
        }
    }


def test_an_empty_message_is_an_empty_body() -> None:
    got = read(b'* 1 FETCH (UID 4 BODY[] "")\r\n* 2 FETCH (UID 5 BODY[] {0}\r\n)\r\nTAG OK\r\n')
    assert got[4][b"BODY[]"] == b""
    assert got[5][b"BODY[]"] == b""


@pytest.mark.parametrize(
    ("line", "changes"),
    [
        (b"* 301 EXISTS\r\n", True),
        (b"* 4 RECENT\r\n", True),
        (b"* 2 EXPUNGE\r\n", True),
        (b"* 1 FETCH (FLAGS (\\Seen))\r\n", False),  # another client's flag: no new mail
        (b"* OK [UIDNEXT 9] predicted\r\n", False),
    ],
)
def test_news_of_the_mailbox_during_the_answer_is_kept(line: bytes, changes: bool) -> None:
    imap = ScriptedImap(message_response(1, 7, b"body") + line + b"TAG OK done\r\n")
    parser = FetchParser()
    read_fetch(imap, [7], "UID BODY.PEEK[]", parser)
    assert parser.changes is changes
    assert parser.result[7][b"BODY[]"] == b"body"


def test_a_refusal_raises_imaplibs_error() -> None:
    with pytest.raises(imaplib.IMAP4.error, match="UID FETCH NO: \\[SERVERBUG\\] oops"):
        read(b"TAG NO [SERVERBUG] oops\r\n")


@pytest.mark.parametrize(
    "answer",
    [
        b"",  # closed before answering
        message_response(1, 7, b"0123456789")[:-20],  # closed inside a literal
        b"* 1 FETCH (UID 7 BODY[] {4}\r\nbody",  # closed after the literal
        b"* BYE server shutting down\r\n",
    ],
)
def test_a_lost_connection_raises_imaplibs_abort(answer: bytes) -> None:
    with pytest.raises(imaplib.IMAP4.abort):
        read(answer)


def test_a_continuation_request_is_an_error_not_a_hang() -> None:
    with pytest.raises(imaplib.IMAP4.error, match="continuation"):
        read(b"+ go ahead\r\n")


def test_parse_fetch_reports_a_shape_it_does_not_know() -> None:
    assert parse_fetch([(b"1 (UID 1 BODY[] {9}", b"short")]) is None
    assert parse_fetch([object()]) is None


class FallbackClient:
    """A client whose lean read leaves one body unread; the full parser must fetch it."""

    def __init__(self, answer: bytes) -> None:
        self._imap = ScriptedImap(answer)
        self.full: list[list[int]] = []

    def fetch(self, uids: list[int], items: list[bytes]) -> dict[int, dict[bytes, Any]]:
        self.full.append(uids)
        return {uid: {b"BODY[]": b"from the full parser"} for uid in uids}


def test_a_message_without_a_readable_body_is_fetched_again_not_dropped() -> None:
    answer = (
        message_response(1, 7, b"fine")
        + b"* 2 FETCH (UID 8 BODY[] NIL FLAGS ())\r\n"  # NIL is read as empty
        + b"* 3 FETCH (UID 9 FLAGS () BODY[]<0> {2}\r\nhi)\r\n"  # an origin octet: unknown item
        + b"TAG OK\r\n"
    )
    client = FallbackClient(answer)
    got = fetch(client, [7, 8, 9, 10], "FLAGS BODY.PEEK[]")
    assert got[7][b"BODY[]"] == b"fine"
    assert got[8][b"BODY[]"] == b""
    assert got[9][b"BODY[]"] == b"from the full parser"
    assert 10 not in got  # not answered at all: expunged meanwhile
    assert client.full == [[9]]


@pytest.mark.parametrize(
    ("text", "expected", "minutes"),
    [
        (b"23-Nov-2026 09:01:50 +0100", dt.datetime(2026, 11, 23, 9, 1, 50), 60),
        (b" 3-Nov-2026 23:59:59 -0530", dt.datetime(2026, 11, 3, 23, 59, 59), -330),
        (b"03-nov-2026 00:00:00 +0000", dt.datetime(2026, 11, 3, 0, 0, 0), 0),
    ],
)
def test_internal_dates_keep_the_servers_offset(
    text: bytes, expected: dt.datetime, minutes: int
) -> None:
    offset = dt.timedelta(minutes=minutes)
    parsed = internal_date(text)
    assert parsed == expected.replace(tzinfo=dt.timezone(offset))
    assert parsed is not None
    assert parsed.utcoffset() == offset


@given(st.binary(max_size=40))
def test_internal_date_never_raises(text: bytes) -> None:
    parsed = internal_date(text)
    assert parsed is None or parsed.utcoffset() is not None


@pytest.mark.parametrize(
    "text",
    [
        b"31-Feb-2026 09:01:50 +0100",
        b"yesterday",
        b"99-Xyz-0 1:2",
        b"03-Nov-2026 25:01:50 +0100",
        b"03-Nov-2026 09:01:50 +01x0",
    ],
)
def test_an_unreadable_internal_date_is_none_and_the_scan_goes_on(text: bytes) -> None:
    assert internal_date(text) is None
    got = read(b'* 1 FETCH (UID 7 INTERNALDATE "%s" BODY[] {2}\r\nhi)\r\nTAG OK\r\n' % text, [7])
    assert got[7][b"BODY[]"] == b"hi"
    assert got[7][b"INTERNALDATE"] is None


@given(
    bodies=st.lists(st.binary(max_size=300), min_size=1, max_size=8),
    noise=st.sampled_from([b"", b"* 5 EXISTS\r\n", b"* 2 FETCH (FLAGS (\\Deleted))\r\n"]),
)
def test_any_message_bytes_come_back_exactly(bodies: list[bytes], noise: bytes) -> None:
    # bodies may contain CRLF, ")", "{12}\r\n", "* 1 FETCH", "TAG OK": a literal is opaque
    answer = b"".join(
        noise + message_response(n + 1, 100 + n, body) for n, body in enumerate(bodies)
    )
    got = read(answer + b"TAG OK done\r\n", [100 + n for n in range(len(bodies))])
    assert {uid: item[b"BODY[]"] for uid, item in got.items()} == {
        100 + n: body for n, body in enumerate(bodies)
    }


# --- differential: helpmail's reader against imapclient's general parser ----------------------

FLAG_POOL = [
    b"\\Seen",
    b"\\Answered",
    b"\\Flagged",
    b"\\Draft",
    b"$Label1",
    b"NonJunk",
    b"$Forwarded",
]
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


@st.composite
def fetch_answers(draw: st.DrawFn) -> tuple[bytes, list[int]]:
    """The wire bytes of a UID FETCH answer: items in any order, any flags, dates and bodies."""
    count = draw(st.integers(min_value=1, max_value=5))
    uids = sorted(
        draw(st.sets(st.integers(min_value=1, max_value=10**9), min_size=count, max_size=count))
    )
    wire = b""
    for seq, uid in enumerate(uids, start=1):
        flags = draw(st.lists(st.sampled_from(FLAG_POOL), unique=True, max_size=4))
        when = draw(
            st.datetimes(min_value=dt.datetime(1990, 1, 1), max_value=dt.datetime(2090, 1, 1))
        )
        minutes = draw(st.integers(min_value=-12 * 60, max_value=14 * 60))
        sign = "-" if minutes < 0 else "+"
        date = (
            f"{when.day:2d}-{MONTHS[when.month - 1]}-{when.year:04d} "
            f"{when:%H:%M:%S} {sign}{abs(minutes) // 60:02d}{abs(minutes) % 60:02d}"
        ).encode()
        body = draw(st.binary(max_size=200))
        items = [
            b"UID %d" % uid,
            b"FLAGS (%s)" % b" ".join(flags),
            b'INTERNALDATE "%s"' % date,
            b"BODY[] {%d}\r\n%s" % (len(body), body),
        ]
        order = draw(st.permutations(items))
        wire += b"* %d FETCH (%s)\r\n" % (seq, b" ".join(order))
    return wire, uids


def imaplib_shape(wire: bytes) -> list[bytes | tuple[bytes, bytes]]:
    """What imaplib hands imapclient for these responses (literal split out, CRLF gone)."""
    out: list[bytes | tuple[bytes, bytes]] = []
    stream = io.BytesIO(wire)
    while line := stream.readline():
        match = re.search(rb"\{(\d+)\}\r\n$", line)
        if match:
            out.append((_untagged(line[:-2]), stream.read(int(match.group(1)))))
        else:
            out.append(_untagged(line[:-2]))
    return out


def _untagged(line: bytes) -> bytes:
    """imaplib's data for ``* 3 FETCH (...)`` is ``3 (...)``; continuation lines stay."""
    return re.sub(rb"^\* (\d+) FETCH ", rb"\1 ", line)


@given(fetch_answers())
def test_the_reader_agrees_with_imapclients_parser(answer: tuple[bytes, list[int]]) -> None:
    from imapclient.response_parser import parse_fetch_response

    wire, uids = answer
    ours = read(wire + b"TAG OK done\r\n", uids)
    theirs = parse_fetch_response(imaplib_shape(wire), normalise_times=False, uid_is_key=True)
    assert set(ours) == set(theirs) == set(uids)
    for uid in uids:
        assert ours[uid][b"BODY[]"] == theirs[uid][b"BODY[]"]
        assert ours[uid][b"FLAGS"] == theirs[uid][b"FLAGS"]
        mine, other = ours[uid][b"INTERNALDATE"], theirs[uid][b"INTERNALDATE"]
        assert mine == other
        assert mine.utcoffset() == other.utcoffset()
