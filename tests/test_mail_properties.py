"""Property tests for parse_mail: it never raises, and well-formed mails round-trip.

The strategies build mails byte by byte (not with the stdlib ``email`` package, so the generator
does not share the parser's assumptions): header values plain, RFC 2047 (B and Q, split over
several words), RFC 6532 raw UTF-8; display names as atoms, quoted strings or encoded words;
MIME trees of text, HTML and attachment leaves under mixed/alternative/related multiparts, in
several charsets and all transfer encodings; file names plain, quoted, RFC 2047 or RFC 2231 (with
continuations). Malformed mails come from mutating well-formed ones (truncation, deleted or
inserted bytes, changed line ends) and from arbitrary bytes.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import os
import urllib.parse
from collections.abc import Callable
from typing import Any

import attrs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpmail import InboundMail, parse_mail
from helpmail.mail.addresses import parse_address_list
from helpmail.mail.headers import decode_words, parse_date, parse_msgids, parse_parameters
from helpmail.mail.html import html_to_text
from helpmail.mail.model import DefectKind, MailDefect

# HELPMAIL_MAIL_EXAMPLES=5000 runs a long fuzzing session; the default keeps the suite fast.
EXAMPLES = int(os.environ.get("HELPMAIL_MAIL_EXAMPLES", "120"))
SETTINGS = settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
# generating whole mails costs more than parsing them: fewer examples keep the suite fast
SLOW_SETTINGS = settings(SETTINGS, max_examples=max(1, EXAMPLES // 2))
BOUNDARY = "=_hm_{}_="

# -- invariants -----------------------------------------------------------------------------


def check_invariants(mail: InboundMail, raw: bytes) -> None:
    assert mail.raw == raw
    assert isinstance(mail.subject, str)
    assert isinstance(mail.text, str)
    assert mail.html is None or isinstance(mail.html, str)
    assert "\x00" not in mail.text
    assert "\x00" not in mail.subject
    for address in (*mail.from_, *mail.to, *mail.cc, *mail.bcc, *mail.reply_to):
        assert isinstance(address.addr_spec, str)
        assert address.addr_spec
        assert isinstance(address.name, str)
        assert isinstance(address.key, str)
    if mail.sender is not None:
        assert mail.sender.addr_spec
    assert mail.message_id is None or mail.message_id != ""
    assert all(mid != "" for mid in (*mail.in_reply_to, *mail.references))
    assert mail.date is None or mail.date.tzinfo is not None
    for defect in mail.defects:
        assert isinstance(defect, MailDefect)
        assert isinstance(defect.kind, DefectKind)
        assert "internal parser error" not in defect.what
    for attachment in mail.attachments:
        assert attachment.size == len(attachment.payload) > 0
        assert attachment.filename is None or attachment.filename.strip()
    for name, value in mail.headers:
        assert isinstance(name, str)
        assert isinstance(value, str)
    assert len(mail.body_digest) == 64


@SETTINGS
@given(st.binary(max_size=3000))
def test_arbitrary_bytes_never_raise(raw: bytes) -> None:
    check_invariants(parse_mail(raw), raw)


@SETTINGS
@given(
    st.lists(
        st.sampled_from(
            [
                b"\r\n",
                b"\n",
                b"\r",
                b":",
                b"--",
                b"=?",
                b"?=",
                b"Content-Type: multipart/mixed; boundary=x",
                b"--x",
                b"--x--",
                b"Content-Transfer-Encoding: base64",
                b"<",
                b">",
                b"@",
                b'"',
                b"(",
                b"=",
                b"\x00",
                b"\xff",
                b"a",
                b" ",
                b"From: ",
                b"Date: ",
                b"Subject: ",
                b";",
                b"*0*=",
                b"'",
            ]
        ),
        max_size=80,
    )
)
def test_mail_shaped_tokens_never_raise(tokens: list[bytes]) -> None:
    raw = b"".join(tokens)
    check_invariants(parse_mail(raw), raw)


# -- generated well-formed mails ------------------------------------------------------------

TEXT_CHARS = st.characters(
    blacklist_categories=("Cc", "Cs", "Co", "Cn", "Zl", "Zp"),
    blacklist_characters="=\\/\"'\u2028\u2029\ufeff\u00ad\u200b",
)
LINE = st.text(TEXT_CHARS, max_size=40)
CHARSETS = ["utf-8", "iso-8859-1", "windows-1252", "koi8-r", "iso-8859-7", "shift_jis", "gb18030"]


def encodable(text: str, charset: str) -> bool:
    try:
        return text.encode(charset).decode(charset) == text
    except UnicodeError:
        return False


@st.composite
def header_text(draw: st.DrawFn, text: str) -> str:
    """``text`` as a header value: raw (ASCII or RFC 6532 UTF-8) or RFC 2047 words."""
    how = draw(st.sampled_from(["raw", "b", "q"]))
    if how == "raw" or not text:
        return text
    charset = draw(st.sampled_from([c for c in CHARSETS if encodable(text, c)] or ["utf-8"]))
    pieces: list[str] = []
    rest = text
    while rest:
        size = draw(st.integers(1, max(1, len(rest))))
        pieces.append(rest[:size])
        rest = rest[size:]
    words = []
    for piece in pieces:
        data = piece.encode(charset)
        if how == "b":
            words.append(f"=?{charset}?B?{base64.b64encode(data).decode()}?=")
        else:
            quoted = "".join(
                chr(b) if (chr(b).isalnum() and b < 128) else ("_" if b == 32 else f"={b:02X}")
                for b in data
            )
            words.append(f"=?{charset}?Q?{quoted}?=")
    separator = draw(st.sampled_from([" ", "\r\n "]))
    return separator.join(words)


LOCAL = st.from_regex(r"\A[a-z0-9][a-z0-9_+-]{0,10}(\.[a-z0-9_+-]{1,6}){0,2}\Z")
LABEL = st.from_regex(r"\A[a-z0-9]{1,10}\Z") | st.sampled_from(["bücher", "пример", "例え"])
DOMAIN = st.builds(
    lambda labels, tld: ".".join([*labels, tld]),
    st.lists(LABEL, min_size=1, max_size=3),
    st.sampled_from(["org", "com", "de", "рф"]),
)
NAME = st.text(
    st.characters(whitelist_categories=("L", "N"), whitelist_characters=" ,.-&!")
    | st.sampled_from(list("äöüßçéЖ日本")),
    max_size=20,
)


@attrs.frozen
class GenAddress:
    name: str
    addr_spec: str
    header: str


@st.composite
def addresses(draw: st.DrawFn) -> GenAddress:
    name = " ".join(draw(NAME).split())
    spec = f"{draw(LOCAL)}@{draw(DOMAIN)}"
    if not name:
        return GenAddress(name, spec, draw(st.sampled_from([spec, f"<{spec}>"])))
    how = draw(st.sampled_from(["quoted", "encoded", "atom"]))
    if how == "atom" and all(ch.isalnum() or ch == " " for ch in name):
        shown = name
    elif how == "encoded":
        shown = draw(header_text(name))
        if "=?" not in shown:
            shown = '"' + name + '"'
    else:
        shown = '"' + name + '"'
    return GenAddress(name, spec, f"{shown} <{spec}>")


@attrs.frozen
class Leaf:
    kind: str  # "plain", "html", "file"
    entity: bytes
    text: str = ""
    filename: str | None = None
    payload: bytes = b""


def body_bytes(data: bytes, cte: str) -> bytes:
    if cte == "base64":
        return base64.encodebytes(data).replace(b"\n", b"\r\n")
    if cte == "quoted-printable":
        return binascii.b2a_qp(data).replace(b"\n", b"\r\n")
    return data.replace(b"\n", b"\r\n")


@st.composite
def text_leaf(draw: st.DrawFn, subtype: str = "plain") -> Leaf:
    lines = draw(st.lists(LINE, min_size=1, max_size=6))
    text = "\n".join(line.rstrip() for line in lines)
    charset = draw(st.sampled_from([c for c in CHARSETS if encodable(text, c)] or ["utf-8"]))
    data = text.encode(charset)
    ctes = ["base64", "quoted-printable"] + (["7bit"] if data.isascii() else ["8bit"])
    cte = draw(st.sampled_from(ctes))
    if subtype == "html":
        html = (
            "<html><body>"
            + "".join(f"<p>{escape(line)}</p>" for line in lines if line.strip())
            + "</body></html>"
        )
        data = html.encode(charset)
        head = f"Content-Type: text/html; charset={charset}\r\nContent-Transfer-Encoding: {cte}\r\n"
        head += "\r\n"
        return Leaf(
            "html",
            head.encode() + body_bytes(data, cte),
            text="\n\n".join(" ".join(line.split()) for line in lines if line.strip()),
        )
    quoted_charset = draw(st.sampled_from([charset, f'"{charset}"', charset.upper()]))
    head = f"Content-Type: text/plain; charset={quoted_charset}\r\n"
    head += f"Content-Transfer-Encoding: {cte}\r\n\r\n"
    return Leaf("plain", head.encode() + body_bytes(data, cte), text=text)


def escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


FILE_NAME = (
    st.text(
        st.characters(whitelist_categories=("L", "N"), whitelist_characters=" ._-()")
        | st.sampled_from(list("äöüé€日")),
        min_size=1,
        max_size=30,
    )
    .map(str.strip)
    .filter(lambda n: n not in ("", ".", "..") and not n.startswith("."))
)


@st.composite
def file_leaf(draw: st.DrawFn) -> Leaf:
    payload = draw(st.binary(min_size=1, max_size=300))
    name = draw(FILE_NAME)
    how = draw(st.sampled_from(["plain", "2047", "2231", "2231-split", "none"]))
    if how == "plain" and name.isascii():
        disposition = f'attachment; filename="{name}"'
    elif how == "2047":
        disposition = (
            'attachment; filename="'
            + "=?utf-8?B?"
            + base64.b64encode(name.encode()).decode()
            + '?="'
        )
    elif how == "2231-split":
        encoded = urllib.parse.quote(name.encode(), safe="")
        cut = draw(st.integers(1, max(1, len(encoded) - 1)))
        while "%" in encoded[max(0, cut - 2) : cut]:
            cut += 1
        disposition = (
            f"attachment;\r\n filename*0*=utf-8''{encoded[:cut]};\r\n filename*1*={encoded[cut:]}"
            if encoded[cut:]
            else f"attachment; filename*=utf-8''{encoded}"
        )
    elif how == "2231" or not name.isascii():
        disposition = "attachment; filename*=utf-8''" + urllib.parse.quote(name.encode(), safe="")
    else:
        disposition, name = "attachment", ""
    kind = draw(st.sampled_from(["application/octet-stream", "image/png", "application/pdf"]))
    head = f"Content-Type: {kind}\r\nContent-Disposition: {disposition}\r\n"
    head += "Content-Transfer-Encoding: base64\r\n\r\n"
    return Leaf(
        "file",
        head.encode() + body_bytes(payload, "base64"),
        filename=name or None,
        payload=payload,
    )


def multipart(kind: str, children: list[bytes], number: int) -> bytes:
    boundary = BOUNDARY.format(number)
    out = [f'Content-Type: multipart/{kind}; boundary="{boundary}"\r\n\r\npreamble\r\n'.encode()]
    for child in children:
        out.append(f"--{boundary}\r\n".encode() + child + b"\r\n")
    out.append(f"--{boundary}--\r\nepilogue\r\n".encode())
    return b"".join(out)


@attrs.frozen
class GenMail:
    raw: bytes
    subject: str
    from_: GenAddress
    to: tuple[GenAddress, ...]
    message_id: str
    date: dt.datetime
    text: str
    html: bool
    files: tuple[Leaf, ...]


DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def format_date(when: dt.datetime) -> str:
    offset = int(when.utcoffset().total_seconds() // 60)  # type: ignore[union-attr]
    sign = "-" if offset < 0 else "+"
    zone = f"{sign}{abs(offset) // 60:02d}{abs(offset) % 60:02d}"
    return (
        f"{DAYS[when.weekday()]}, {when.day:02d} {MONTHS[when.month - 1]} {when.year} "
        f"{when.hour:02d}:{when.minute:02d}:{when.second:02d} {zone}"
    )


@st.composite
def mails(draw: st.DrawFn) -> GenMail:
    subject = " ".join(draw(st.text(TEXT_CHARS, max_size=60)).split())
    sender = draw(addresses())
    to = tuple(draw(st.lists(addresses(), min_size=1, max_size=4)))
    message_id = f"{draw(LOCAL)}.{draw(st.integers(0, 10**9))}@{draw(DOMAIN)}"
    offset = draw(st.integers(-14 * 60, 14 * 60))
    date = draw(
        st.datetimes(min_value=dt.datetime(1970, 1, 2), max_value=dt.datetime(2099, 12, 30))
    ).replace(microsecond=0, tzinfo=dt.timezone(dt.timedelta(minutes=offset)))
    shape = draw(
        st.sampled_from(["plain", "html", "alternative", "mixed", "mixed-alternative", "related"])
    )
    plain = draw(text_leaf())
    html = draw(text_leaf("html"))
    files = tuple(draw(st.lists(file_leaf(), max_size=3)))
    expected_text = plain.text.strip("\n")
    has_html = False
    if shape == "plain":
        body = plain.entity
    elif shape == "html":
        body, expected_text, has_html = html.entity, html.text, True
    elif shape == "alternative":
        body, has_html = multipart("alternative", [plain.entity, html.entity], 1), True
    elif shape == "mixed":
        body = multipart("mixed", [plain.entity, *(f.entity for f in files)], 1)
    elif shape == "related":
        body = multipart("related", [html.entity, *(f.entity for f in files)], 1)
        expected_text, has_html = html.text, True
    else:
        alternative = multipart("alternative", [plain.entity, html.entity], 2)
        body, has_html = multipart("mixed", [alternative, *(f.entity for f in files)], 1), True
    if shape not in ("mixed", "mixed-alternative", "related"):
        files = ()
    if not expected_text.strip():
        # an empty text/plain alternative: the HTML alternative is read instead
        expected_text = html.text if shape in ("alternative", "mixed-alternative") else ""
    headers = [
        f"Message-ID: <{message_id}>",
        f"Date: {format_date(date)}",
        f"From: {sender.header}",
        "To: " + ",\r\n ".join(a.header for a in to),
        f"Subject: {draw(header_text(subject))}",
        "MIME-Version: 1.0",
    ]
    order = draw(st.permutations(headers))
    raw = ("\r\n".join(order) + "\r\n").encode() + body
    if draw(st.booleans()):
        raw = raw.replace(b"\r\n", b"\n")
    return GenMail(raw, subject, sender, to, message_id, date, expected_text, has_html, files)


@SLOW_SETTINGS
@given(mails())
def test_well_formed_mails_round_trip(gen: GenMail) -> None:
    mail = parse_mail(gen.raw)
    check_invariants(mail, gen.raw)
    assert mail.subject == gen.subject
    assert [(a.name, a.addr_spec) for a in mail.from_] == [(gen.from_.name, gen.from_.addr_spec)]
    assert [(a.name, a.addr_spec) for a in mail.to] == [(a.name, a.addr_spec) for a in gen.to]
    assert mail.message_id == gen.message_id
    assert mail.date == gen.date
    assert mail.date is not None
    assert mail.date.utcoffset() == gen.date.utcoffset()
    assert mail.text == gen.text
    assert (mail.html is not None) == gen.html
    assert [(a.filename, a.payload) for a in mail.attachments] == [
        (f.filename, f.payload) for f in gen.files
    ]
    assert mail.defects == ()


# -- malformed mails: mutations of well-formed ones ---------------------------------------------

Mutation = Callable[[bytes, Any], bytes]


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    raw = draw(mails()).raw
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["truncate", "delete", "insert", "cr", "lf", "dup", "nul"]))
        at = draw(st.integers(0, len(raw)))
        if op == "truncate":
            raw = raw[:at]
        elif op == "delete":
            raw = raw[:at] + raw[at + draw(st.integers(1, 50)) :]
        elif op == "insert":
            raw = raw[:at] + draw(st.binary(min_size=1, max_size=20)) + raw[at:]
        elif op == "cr":
            raw = raw.replace(b"\r\n", b"\r").replace(b"\n", b"\r")
        elif op == "lf":
            raw = raw.replace(b"\r\n", b"\n")
        elif op == "dup":
            raw = raw[:at] + raw[at : at + 200] + raw[at:]
        else:
            raw = raw[:at] + b"\x00" + raw[at:]
    return raw


@SLOW_SETTINGS
@given(mutated())
def test_mutated_mails_never_raise(raw: bytes) -> None:
    check_invariants(parse_mail(raw), raw)


@st.composite
def trees(draw: st.DrawFn, depth: int = 0) -> bytes:
    """Arbitrary MIME trees with odd types, parameters and encodings."""
    if depth > 4 or draw(st.integers(0, 3)) == 0:
        kind = draw(
            st.sampled_from(
                [
                    "text/plain",
                    "text/html",
                    "image/png",
                    "message/rfc822",
                    "message/delivery-status",
                    "application/pkcs7-mime",
                    "text/x-unknown",
                    "garbage",
                    "text/",
                    "/",
                ]
            )
        )
        params = draw(
            st.sampled_from(
                [
                    "",
                    "; charset=utf-8",
                    "; charset=x-unknown",
                    "; charset=",
                    "; name*0*=bogus'%zz; name*3=x",
                    '; name="unterminated',
                    "; format=flowed; delsp=yes",
                ]
            )
        )
        cte = draw(
            st.sampled_from(["7bit", "base64", "quoted-printable", "x-uuencode", "bogus", ""])
        )
        body = draw(st.binary(max_size=200))
        return (
            f"Content-Type: {kind}{params}\r\nContent-Transfer-Encoding: {cte}\r\n\r\n".encode()
            + body
        )
    subtype = draw(
        st.sampled_from(
            ["mixed", "alternative", "related", "report", "signed", "encrypted", "digest", "x-odd"]
        )
    )
    children = draw(st.lists(trees(depth + 1), max_size=4))
    return multipart(subtype, children, depth)


@SETTINGS
@given(trees())
def test_random_mime_trees_never_raise(body: bytes) -> None:
    raw = b"From: a@example.org\r\nSubject: tree\r\n" + body
    mail = parse_mail(raw)
    check_invariants(mail, raw)
    paths = [part.path for part in mail.parts]
    assert len(paths) == len(set(paths))


# -- the readers on their own: arbitrary text never raises ------------------------------------

HEADERISH = st.text(
    st.sampled_from(list("<>@,;:\"()[]\\=?*'%. \t\n-_/abcXYZ019²äЖ日\x00\ufffd")) | st.characters(),
    max_size=120,
)


@SETTINGS
@given(HEADERISH)
def test_header_readers_never_raise(value: str) -> None:
    defects: list[MailDefect] = []
    for address in parse_address_list(value, defects, "header:To"):
        assert address.addr_spec
        assert isinstance(address.key, str)
        assert isinstance(address.domain, str)
    assert all(mid for mid in parse_msgids(value))
    parsed = parse_date(value, defects)
    assert parsed is None or parsed.tzinfo is not None
    first, params = parse_parameters(value, "part:1", defects)
    assert isinstance(first, str)
    assert all(k and isinstance(v, str) for k, v in params)
    assert isinstance(decode_words(value, "header:Subject", defects), str)
    assert all(isinstance(d, MailDefect) for d in defects)


@SETTINGS
@given(
    st.text(
        st.sampled_from(list("<>/!-=\"' abcpdivbrlitableoscriptyle&;#x0:")) | st.characters(),
        max_size=300,
    )
)
def test_html_to_text_never_raises(html: str) -> None:
    text = html_to_text(html)
    assert isinstance(text, str)
    assert "\x00" not in text or "\x00" in html
