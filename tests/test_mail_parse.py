"""parse_mail and its readers: headers, addresses, message ids, dates, parameters, bodies."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib

import pytest

from helpmail import Address, parse_mail
from helpmail.mail.addresses import parse_address_list
from helpmail.mail.charsets import codec_for, decode_bytes
from helpmail.mail.headers import decode_words, parse_date, parse_msgids, parse_parameters
from helpmail.mail.model import DefectKind, MailDefect, address_key
from helpmail.mail.sniff import SAFE_IMAGE_TYPES, sniff

UTC = dt.UTC


def mail(headers: str, body: str = "body\n") -> bytes:
    return (headers.strip("\n") + "\n\n" + body).replace("\n", "\r\n").encode("utf-8")


# -- addresses ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("a@example.org", [("", "a@example.org")]),
        ("Alice <a@example.org>", [("Alice", "a@example.org")]),
        ('"Doe, John" <j@x.org>, b@y.org', [("Doe, John", "j@x.org"), ("", "b@y.org")]),
        ("=?utf-8?Q?Doe,_John?= <j@x.org>", [("Doe, John", "j@x.org")]),
        ("=?utf-8?B?RG9lLCBKb2hu?= <j@x.org>", [("Doe, John", "j@x.org")]),
        ('"=?utf-8?Q?M=C3=BCller?=" <m@x.org>', [("Müller", "m@x.org")]),
        ("=?utf-8?Q?J=C3=B6rg?= =?utf-8?Q?_M=C3=BCller?= <j@x.org>", [("Jörg Müller", "j@x.org")]),
        ("Doe, John <j@x.org>", [("Doe, John", "j@x.org")]),
        ("j@x.org (John Doe)", [("John Doe", "j@x.org")]),
        ("John Q. Public <jqp@x.org>", [("John Q. Public", "jqp@x.org")]),
        ("'Ann' <ann@x.org>", [("Ann", "ann@x.org")]),
        ("Team: a@x.org, B <b@x.org>;", [("", "a@x.org"), ("B", "b@x.org")]),
        ("undisclosed-recipients:;", []),
        ("<@relay.x.org,@r2.x.org:u@x.org>", [("", "u@x.org")]),
        ("john . doe @ example . org", [("", "john.doe@example.org")]),
        ('"john doe"@x.org', [("", '"john doe"@x.org')]),
        ("a@x.org,, ,b@x.org", [("", "a@x.org"), ("", "b@x.org")]),
        ("Zoë <zoë@exämple.de>", [("Zoë", "zoë@exämple.de")]),
        ("user@[192.0.2.1]", [("", "user@[192.0.2.1]")]),
        ("<a@x.org", [("", "a@x.org")]),
    ],
)
def test_address_lists(value: str, expected: list[tuple[str, str]]) -> None:
    defects: list[MailDefect] = []
    found = parse_address_list(value, defects, "header:To")
    assert [(a.name, a.addr_spec) for a in found] == expected


@pytest.mark.parametrize("value", ["not an address", "<>", "@", "Name Only", "foo@"])
def test_non_addresses_are_defects_not_addresses(value: str) -> None:
    defects: list[MailDefect] = []
    found = parse_address_list(value, defects, "header:To")
    assert all("@" in a.addr_spec for a in found)
    assert defects
    assert all(d.kind is DefectKind.ADDRESS for d in defects)


def test_address_without_domain_is_kept_with_a_defect() -> None:
    defects: list[MailDefect] = []
    (found,) = parse_address_list("root", defects, "header:To")
    assert found.addr_spec == "root"
    assert defects[0].kind is DefectKind.ADDRESS


def test_idna_both_directions_and_keys() -> None:
    unicode_form = Address(addr_spec="Bob@Bücher.Example")
    ascii_form = Address(addr_spec="bob@xn--bcher-kva.example")
    assert unicode_form.key == ascii_form.key == "bob@xn--bcher-kva.example"
    assert unicode_form.domain == ascii_form.domain == "bücher.example"
    assert ascii_form.unicode_addr_spec == "bob@bücher.example"
    assert unicode_form.ascii_addr_spec == "Bob@xn--bcher-kva.example"
    assert address_key("BOB@BÜCHER.EXAMPLE") == "bob@xn--bcher-kva.example"
    # a label IDNA cannot encode is kept as it is, never an exception
    long_label = Address(addr_spec="a@" + "ü" * 80 + ".example")
    assert long_label.ascii_domain.endswith(".example")
    assert Address(addr_spec="a@xn--zz.example").domain == "xn--zz.example"


def test_address_parse() -> None:
    assert Address.parse("=?utf-8?Q?Doe,_J?= <j@x.org>") == Address(
        addr_spec="j@x.org", name="Doe, J"
    )
    assert Address.parse("nothing here") == Address(addr_spec="nothing here")
    assert str(Address(addr_spec="a@x.org", name="A")) == "A <a@x.org>"


def test_address_headers_of_a_mail() -> None:
    m = parse_mail(
        mail(
            "From: A <a@x.org>\nTo: b@x.org,\n c@x.org\nTo: d@x.org\nReply-To: r@x.org\n"
            "Sender: s@x.org\nBcc: e@x.org\nMessage-ID: <1@x>\nDate: Mon, 2 Mar 2026 10:00:00 +0000"
        )
    )
    assert m.from_address == Address(addr_spec="a@x.org", name="A")
    assert [a.addr_spec for a in m.to] == ["b@x.org", "c@x.org", "d@x.org"]
    assert [a.addr_spec for a in m.recipients()] == ["b@x.org", "c@x.org", "d@x.org", "e@x.org"]
    assert m.sender == Address(addr_spec="s@x.org")
    assert m.reply_to == (Address(addr_spec="r@x.org"),)
    assert not m.defects


# -- RFC 2047 -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("plain text", "plain text"),
        ("=?utf-8?q?a?= =?utf-8?q?b?=", "ab"),  # RFC 2047 §6.2: white space between words dropped
        ("=?utf-8?q?a?=\n =?utf-8?q?b?=", "ab"),
        ("x =?utf-8?q?a?= y", "x a y"),
        ("=?utf-8?q?a_b?=", "a b"),
        ("=?UTF-8?B?w6Q=?=", "ä"),
        ("=?utf-8*de?q?=C3=A4?=", "ä"),  # RFC 2231 §5 language in an encoded word
        # a multi-byte character split over two words
        ("=?utf-8?B?4oI=?= =?utf-8?B?rA==?=", "€"),
        ("=?iso-8859-1?q?caf=E9?= =?utf-8?q?_cr=C3=A8me?=", "café crème"),
        ("pre=?utf-8?q?glued?=post", "pregluedpost"),
        ("=?utf-8?B?bad base64?=", "=?utf-8?B?bad base64?="),
        ("=?utf-8?B?YWJj?", "=?utf-8?B?YWJj?"),
        ("a\tb", "a b"),
    ],
)
def test_encoded_words(value: str, expected: str) -> None:
    assert decode_words(value, "header:Subject", []) == expected


def test_encoded_word_in_unknown_charset_is_a_defect() -> None:
    defects: list[MailDefect] = []
    assert decode_words("=?x-nope?q?abc?=", "header:Subject", defects) == "abc"
    assert defects[0].kind is DefectKind.CHARSET


def test_subject_folded_and_encoded() -> None:
    m = parse_mail(
        mail("Subject: =?utf-8?Q?Gr=C3=BC=C3=9Fe?=\n =?utf-8?Q?_aus_K=C3=B6ln?= und\n\tmehr")
    )
    assert m.subject == "Grüße aus Köln und mehr"
    assert m.header("subject") == m.subject


# -- message ids ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("<a@b>", ("a@b",)),
        ("  <a@b>  (comment <not@this>)", ("a@b",)),
        ("<a@b> <c@d>", ("a@b", "c@d")),
        ("<a@b>,<c@d>", ("a@b", "c@d")),
        ("<a@\n b>", ("a@b",)),
        ("a@b", ("a@b",)),
        ("a@b c@d", ("a@b", "c@d")),
        ('Your message of "Mon, 2 Mar" <p@x>', ("p@x",)),
        ("<<a@b>", ("a@b",)),
        ("<unterminated@x", ("unterminated@x",)),
        ("justatoken", ("justatoken",)),
        ("two words", ()),
        ("", ()),
        ("<>", ()),
        ('<"quoted local"@x>', ('"quotedlocal"@x',)),
    ],
)
def test_message_ids(value: str, expected: tuple[str, ...]) -> None:
    assert parse_msgids(value) == expected


def test_unreadable_in_reply_to_is_a_defect() -> None:
    m = parse_mail(mail("Message-ID: <1@x>\nIn-Reply-To: just some words"))
    assert m.in_reply_to == ()
    assert DefectKind.MESSAGE_ID in {d.kind for d in m.defects}


# -- dates ----------------------------------------------------------------------------------


def at(  # noqa: PLR0917
    year: int, month: int, day: int, hour: int, minute: int, second: int = 0, *, offset: int = 0
) -> dt.datetime:
    zone = dt.timezone(dt.timedelta(minutes=offset))
    return dt.datetime(year, month, day, hour, minute, second, tzinfo=zone)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Mon, 02 Mar 2026 09:15:00 +0100", at(2026, 3, 2, 9, 15, 0, offset=60)),
        ("2 Mar 2026 09:15 -0500", at(2026, 3, 2, 9, 15, offset=-300)),
        ("Mon, 2 Mar 26 09:15:00 GMT", at(2026, 3, 2, 9, 15)),
        ("Mon, 2 Mar 99 09:15:00 EST", at(1999, 3, 2, 9, 15, offset=-300)),
        ("Mon, 2 Mar 126 09:15:00 +0000", at(2026, 3, 2, 9, 15)),  # RFC 5322 §4.3 3-digit year
        ("Mon, 2 Mar 2026 09:15:00 +0100 (CET)", at(2026, 3, 2, 9, 15, offset=60)),
        ("Mon, 2 Mar 2026 09:15:00 (no zone) +0200", at(2026, 3, 2, 9, 15, offset=120)),
        ("Mon Mar  2 09:15:00 2026", at(2026, 3, 2, 9, 15)),  # asctime, no zone
        ("Monday, 02-Mar-26 09:15:00 PST", at(2026, 3, 2, 9, 15, offset=-480)),
        ("2026-03-02T09:15:00Z", at(2026, 3, 2, 9, 15)),
        ("2026-03-02 09:15:00+01:00", at(2026, 3, 2, 9, 15, offset=60)),
        ("Mon, 2 Mar 2026 09:15:60 +0000", at(2026, 3, 2, 9, 15, 59)),
        ("Mon, 2 Mar 2026 09:15:00 -0000", at(2026, 3, 2, 9, 15)),
        ("Mon, 2 Mar 2026 09:15:00 Z", at(2026, 3, 2, 9, 15)),
        ("Mon, 2 Mar 2026 09:15:00 A", at(2026, 3, 2, 9, 15)),  # military zone = -0000
        ("Mon, 2 Mar 2026 9:15 pm +0000", at(2026, 3, 2, 21, 15)),
        ("Mon, 2 Mär 2026 09:15:00 +0100", at(2026, 3, 2, 9, 15, offset=60)),
        ("Mon, 02 Mar 2026 09.15.00 +0100", at(2026, 3, 2, 9, 15, offset=60)),
    ],
)
def test_dates(value: str, expected: dt.datetime) -> None:
    parsed = parse_date(value, [])
    assert parsed == expected
    assert parsed is not None
    assert parsed.tzinfo is not None


@pytest.mark.parametrize(
    "value",
    ["", "tomorrow", "Mon, 31 Feb 2026 10:00:00 +0000", "32 Mar 2026 10:00 +0000", "Mar 2026"],
)
def test_unreadable_dates_are_defects(value: str) -> None:
    defects: list[MailDefect] = []
    assert parse_date(value, defects) is None
    assert [d.kind for d in defects] == [DefectKind.DATE]


def test_naive_date_becomes_utc_with_a_defect() -> None:
    defects: list[MailDefect] = []
    assert parse_date("Mon, 2 Mar 2026 09:15:00", defects) == at(2026, 3, 2, 9, 15)
    assert [d.kind for d in defects] == [DefectKind.DATE]


def test_zone_out_of_range_is_utc_with_a_defect() -> None:
    defects: list[MailDefect] = []
    assert parse_date("Mon, 2 Mar 2026 09:15:00 +9900", defects) == at(2026, 3, 2, 9, 15)
    assert defects


# -- parameters (RFC 2045 §5.1, RFC 2231) -------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "first", "params"),
    [
        ("Text/Plain; Charset=UTF-8", "text/plain", [("charset", "UTF-8")]),
        (
            'text/plain; charset="utf-8" ; format=flowed',
            "text/plain",
            [("charset", "utf-8"), ("format", "flowed")],
        ),
        ('attachment; filename="a;b.pdf"', "attachment", [("filename", "a;b.pdf")]),
        ('attachment; filename="a \\"q\\" b"', "attachment", [("filename", 'a "q" b')]),
        ("attachment; filename=my file.pdf", "attachment", [("filename", "my file.pdf")]),
        ("attachment; filename*=utf-8''%E2%82%AC.pdf", "attachment", [("filename", "€.pdf")]),
        ("attachment; filename*=''plain.pdf", "attachment", [("filename", "plain.pdf")]),
        (
            "attachment; filename=fallback.pdf; filename*=utf-8''%C3%A4.pdf",
            "attachment",
            [("filename", "ä.pdf")],
        ),
        (
            'attachment; filename*1="b.pdf"; filename*0="a"',
            "attachment",
            [("filename", "ab.pdf")],
        ),
        ('attachment; filename="=?utf-8?Q?=C3=A4.pdf?="', "attachment", [("filename", "ä.pdf")]),
        (
            "text/plain (comment); charset=us-ascii (more)",
            "text/plain",
            [("charset", "us-ascii (more)")],
        ),
        ('multipart/mixed; boundary="--==x"', "multipart/mixed", [("boundary", "--==x")]),
    ],
)
def test_parameters(value: str, first: str, params: list[tuple[str, str]]) -> None:
    assert parse_parameters(value, "part:1", []) == (first, params)


@pytest.mark.parametrize(
    "value",
    [
        "attachment; filename*0*=utf-8''a%; filename*1=b",
        "attachment; filename*=nocharsetquotes%41",
        "attachment; filename*x=bad",
        "attachment; filename*0=a; filename*5=b",
        'attachment; filename="unterminated',
        "attachment; flag; filename=x",
        "attachment; filename*²=x",
        "attachment; filename*" + "9" * 5000 + "=x",
    ],
)
def test_broken_parameters_are_defects(value: str) -> None:
    defects: list[MailDefect] = []
    first, params = parse_parameters(value, "part:1", defects)
    assert first == "attachment"
    assert defects
    assert all(d.kind is DefectKind.CONTENT_TYPE for d in defects)
    assert all(isinstance(v, str) for _, v in params)


# -- charsets -------------------------------------------------------------------------------


def test_charset_labels() -> None:
    assert codec_for("windows-1258") == "cp1258"
    assert codec_for('"KOI8-R"') == "koi8-r"
    assert codec_for("ks_c_5601-1987") == "cp949"
    assert codec_for("unknown-8bit") == "cp1252"
    assert codec_for("utf-8*en") == "utf-8"
    assert codec_for("base64") is None  # a codec, not a charset
    assert codec_for("x-nope") is None


def test_mostly_valid_utf8_keeps_the_text() -> None:
    defects: list[MailDefect] = []
    text = decode_bytes("Grüße aus Köln, schöne Grüße ".encode() + b"\xff", "utf-8", "p", defects)
    assert text == "Grüße aus Köln, schöne Grüße \ufffd"
    assert defects[0].kind is DefectKind.CHARSET


def test_ascii_body_with_unknown_label_is_a_defect_but_readable() -> None:
    defects: list[MailDefect] = []
    assert decode_bytes(b"hello", "x-nope", "p", defects) == "hello"
    assert defects


def test_seven_bit_charsets() -> None:
    data = "こんにちは".encode("iso2022_jp")
    assert decode_bytes(data, "ISO-2022-JP", "p", []) == "こんにちは"
    assert decode_bytes(b"+AOQ-", "utf-7", "p", []) == "ä"


def test_html_meta_charset_is_used_when_the_part_has_none() -> None:
    html = '<html><head><meta charset="windows-1251"></head><body>Привет</body></html>'
    raw = b"Content-Type: text/html\r\n\r\n" + html.encode("cp1251")
    m = parse_mail(raw)
    assert m.text == "Привет"


# -- bodies ---------------------------------------------------------------------------------


def multipart(kind: str, *parts: str, boundary: str = "B", extra: str = "") -> str:
    body = "".join(f"--{boundary}\n{part}\n" for part in parts) + f"--{boundary}--\n"
    return f'Content-Type: multipart/{kind}; boundary="{boundary}"{extra}\n\n{body}'


def raw_of(entity: str) -> bytes:
    return ("From: a@x.org\nMessage-ID: <1@x>\n" + entity).replace("\n", "\r\n").encode()


PLAIN = "Content-Type: text/plain; charset=utf-8\n\nplain body"
HTML = "Content-Type: text/html; charset=utf-8\n\n<p>html <b>body</b></p>"


def test_alternative_takes_plain_for_text_and_html_for_html() -> None:
    m = parse_mail(raw_of(multipart("alternative", PLAIN, HTML)))
    assert (m.text, m.html, m.text_from_html) == ("plain body", "<p>html <b>body</b></p>", False)
    assert [p.path for p in m.parts] == ["", "1", "2"]
    # order of the alternatives does not change the paths or the choice
    m = parse_mail(raw_of(multipart("alternative", HTML, PLAIN)))
    assert (m.text, m.html) == ("plain body", "<p>html <b>body</b></p>")
    assert [p.content_type for p in m.parts] == ["multipart/alternative", "text/html", "text/plain"]


def test_empty_plain_alternative_falls_back_to_html() -> None:
    empty = "Content-Type: text/plain\n\n \n"
    m = parse_mail(raw_of(multipart("alternative", empty, HTML)))
    assert (m.text, m.text_from_html) == ("html body", True)


def test_html_only_mail_is_converted() -> None:
    m = parse_mail(raw_of(HTML))
    assert (m.text, m.text_from_html, m.html) == ("html body", True, "<p>html <b>body</b></p>")


def test_mixed_with_several_inline_texts_and_an_html_part() -> None:
    m = parse_mail(raw_of(multipart("mixed", PLAIN, "Content-Type: text/plain\n\nsecond", HTML)))
    assert m.text == "plain body\n\nsecond\n\nhtml body"
    assert m.html == "<p>html <b>body</b></p>"
    assert not m.text_from_html


def test_text_attachments_are_files_not_body() -> None:
    m = parse_mail(
        raw_of(
            multipart(
                "mixed",
                PLAIN,
                "Content-Type: text/plain\nContent-Disposition: attachment\n\nlog line",
                "Content-Type: text/plain; name=notes.txt\n\nnotes",
                "Content-Type: text/html; name=page.html\n\n<p>page</p>",
                "Content-Type: text/calendar\n\nBEGIN:VCALENDAR",
            )
        )
    )
    assert m.text == "plain body"
    assert m.html is None
    assert [(a.filename, a.declared_type) for a in m.attachments] == [
        (None, "text/plain"),
        ("notes.txt", "text/plain"),
        ("page.html", "text/html"),
        (None, "text/calendar"),
    ]


def test_named_text_part_is_the_body_when_there_is_no_other_text() -> None:
    named = (
        'Content-Type: text/plain; name="deliveryproblems.txt"\n\nThe following addresses failed'
    )
    status = "Content-Type: message/delivery-status\n\nReporting-MTA: dns; x"
    pdf = "Content-Type: application/pdf; name=a.pdf\n\n%PDF-1.4"
    m = parse_mail(raw_of(multipart("mixed", named, status, pdf)))
    assert m.text == "The following addresses failed"
    assert [a.filename for a in m.attachments] == ["a.pdf"]


def test_alternative_with_two_plain_parts_takes_the_first() -> None:
    m = parse_mail(raw_of(multipart("alternative", PLAIN, "Content-Type: text/plain\n\nstub")))
    assert m.text == "plain body"


def test_single_part_text_with_a_name_is_still_the_body() -> None:
    m = parse_mail(raw_of("Content-Type: text/plain; name=message.txt\n\nthe body"))
    assert (m.text, m.attachments) == ("the body", ())


def test_related_root_from_start_parameter() -> None:
    image = (
        "Content-Type: image/gif\nContent-ID: <img@x>\nContent-Transfer-Encoding: base64\n\n"
        "R0lGODlhAQABAAAAACw="
    )
    root = "Content-Type: text/html\nContent-ID: <root@x>\n\n<p>root <img src=cid:img@x></p>"
    m = parse_mail(raw_of(multipart("related", image, root, extra='; start="<root@x>"')))
    assert m.text == "root"
    (gif,) = m.attachments
    assert (gif.sniffed_type, gif.inline, gif.content_id) == ("image/gif", True, "img@x")


def test_report_body_is_the_first_part_only() -> None:
    status = (
        "Content-Type: message/delivery-status\n\n"
        "Reporting-MTA: dns; x\n\nAction: failed\nStatus: 5.1.1"
    )
    headers = "Content-Type: text/rfc822-headers\n\nSubject: original"
    m = parse_mail(
        raw_of(multipart("report", PLAIN, status, headers, extra="; report-type=delivery-status"))
    )
    assert m.text == "plain body"
    assert m.attachments == ()
    texts = {p.content_type: p.text for p in m.parts}
    assert (
        texts["message/delivery-status"] == "Reporting-MTA: dns; x\n\nAction: failed\nStatus: 5.1.1"
    )
    assert texts["text/rfc822-headers"] == "Subject: original"


def test_global_delivery_status_is_utf8() -> None:
    status = "Content-Type: message/global-delivery-status\n\n"
    status += "Final-Recipient: utf-8; jörg@bücher.example"
    m = parse_mail(raw_of(multipart("report", PLAIN, status)))
    texts = {p.content_type: p.text for p in m.parts}
    assert texts["message/global-delivery-status"] == "Final-Recipient: utf-8; jörg@bücher.example"
    assert DefectKind.CHARSET not in {d.kind for d in m.defects}


def test_digest_parts_default_to_message_rfc822() -> None:
    inner = "\nFrom: x@y\nSubject: one\n\nfirst digest mail"
    m = parse_mail(raw_of(multipart("digest", inner)))
    (part,) = m.attachments
    assert part.declared_type == "message/rfc822"
    assert parse_mail(part.payload).subject == "one"


def test_format_flowed_is_joined() -> None:
    body = (
        "Content-Type: text/plain; format=flowed; delsp=yes\n\n"
        "soft- \nbreak\n> quoted \n> on \n-- \nsig"
    )
    m = parse_mail(raw_of(body))
    assert m.text == "soft-break\n> quotedon\n-- \nsig"  # delsp=yes: the space goes too
    m = parse_mail(raw_of("Content-Type: text/plain; format=flowed\n\na \nb\n>q \n>r\n \nstuffed"))
    assert m.text == "a b\n> q r\n\nstuffed"


def test_uuencoded_part() -> None:
    uu = (
        "Content-Transfer-Encoding: x-uuencode\nContent-Type: application/octet-stream\n\n"
        "begin 644 a.txt\n%:&5L;&\\\n`\nend"
    )
    m = parse_mail(raw_of(multipart("mixed", PLAIN, uu)))
    assert m.attachments[0].payload == b"hello"


def test_attachment_fields() -> None:
    png = bytes.fromhex("89504e470d0a1a0a") + bytes(100)
    part = (
        "Content-Type: application/octet-stream; name=x.bin\n"
        'Content-Disposition: attachment; filename="C:\\\\Users\\\\me\\\\shot.png"\n'
        "Content-Transfer-Encoding: base64\n\n" + base64.encodebytes(png).decode()
    )
    m = parse_mail(raw_of(multipart("mixed", PLAIN, part)))
    (att,) = m.attachments
    assert att.filename == "shot.png"
    assert (att.declared_type, att.sniffed_type, att.size) == (
        "application/octet-stream",
        "image/png",
        108,
    )
    assert att.part_path == "2"
    assert not att.inline
    assert att.payload == png
    assert att.sha256 == hashlib.sha256(png).hexdigest()


def test_body_digest_ignores_headers_and_line_ends() -> None:
    a = parse_mail(b"Received: one\r\nSubject: s\r\n\r\nbody\r\n")
    b = parse_mail(b"Received: two\nDelivered-To: x@y\nSubject: s\n\nbody\n\n")
    c = parse_mail(b"Subject: s\n\nother body\n")
    assert a.body_digest == b.body_digest != c.body_digest


def test_header_access_and_thread_ids() -> None:
    m = parse_mail(
        mail(
            "X-Thing: one\nx-thing: two\nIn-Reply-To: <p@x>\nReferences: <r@x> <p@x>\n"
            "Return-Path: <bounce@x.org>\nContent-Type: text/plain"
        )
    )
    assert m.header("X-THING") == "one"
    assert m.header_all("x-thing") == ("one", "two")
    assert m.header("missing") is None
    assert m.thread_ids == ("p@x", "r@x")
    assert m.return_path == "<bounce@x.org>"
    assert m.return_path_address == "bounce@x.org"
    assert parse_mail(b"Return-Path: <>\n\nx").return_path_address == ""
    assert parse_mail(b"Subject: x\n\nx").return_path_address is None
    assert m.content_type == "text/plain"


def test_mbox_from_line_is_skipped() -> None:
    m = parse_mail(b"From someone@x Mon Mar  2 09:00:00 2026\nSubject: mbox\n\nbody\n")
    assert m.subject == "mbox"
    assert DefectKind.HEADER_SYNTAX not in {d.kind for d in m.defects}


def test_header_continuation_first_and_garbage_line() -> None:
    m = parse_mail(b" leading continuation\nSubject: s\nnot a header\nbody line\n")
    assert m.subject == "s"
    assert m.text == "not a header\nbody line"
    assert [d.kind for d in m.defects].count(DefectKind.HEADER_SYNTAX) == 2


def test_parse_mail_accepts_bytes_like_and_refuses_str() -> None:
    assert parse_mail(bytearray(b"Subject: x\n\ny")).subject == "x"  # type: ignore[arg-type]
    assert parse_mail(memoryview(b"Subject: x\n\ny")).raw == b"Subject: x\n\ny"  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        parse_mail("Subject: x")  # type: ignore[arg-type]


# -- sniffing -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"\x89PNG\r\n\x1a\n" + bytes(8), "image/png"),
        (b"\xff\xd8\xff\xe0", "image/jpeg"),
        (b"GIF89a", "image/gif"),
        (b"BM" + bytes(12) + b"\x28\x00\x00\x00", "image/bmp"),
        (b"BMW annual report", None),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "image/webp"),
        (b"\x00\x00\x00\x18ftypheic", "image/heic"),
        (b"%PDF-1.7", "application/pdf"),
        (b"MZ\x90\x00", "application/vnd.microsoft.portable-executable"),
        (b"PK\x03\x04", "application/zip"),
        (b"  <?xml version='1.0'?>\n<svg xmlns='http://www.w3.org/2000/svg'>", "image/svg+xml"),
        (b"<!DOCTYPE html><html>", "text/html"),
        (b"plain text", None),
        (b"", None),
    ],
)
def test_sniff(data: bytes, expected: str | None) -> None:
    assert sniff(data) == expected


def test_safe_image_types_exclude_svg() -> None:
    assert "image/png" in SAFE_IMAGE_TYPES
    assert "image/svg+xml" not in SAFE_IMAGE_TYPES
