"""parse_mail on big and deep mails: 25 MB attachments, 100-level nesting, thousands of parts.

No timing assertions (bench/bench_parse.py measures the scaling); these tests check that such
mails parse completely and correctly, which a quadratic or recursive implementation would not do
within the suite's time.
"""

from __future__ import annotations

import base64
import hashlib

from helpmail import parse_mail
from helpmail.mail.model import DefectKind
from helpmail.mail.parse import MAX_DEPTH

HEAD = (
    "From: a@example.org\r\nTo: b@example.org\r\nSubject: big\r\nMessage-ID: <big@x>\r\n"
    "Date: Mon, 2 Mar 2026 10:00:00 +0000\r\n"
)


def test_25_mb_attachment() -> None:
    payload = (b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 100_000)[: 25 * 1024 * 1024 // 4 * 3]
    encoded = base64.encodebytes(payload).replace(b"\n", b"\r\n")
    raw = (
        (
            HEAD + 'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
            "Content-Type: text/plain\r\n\r\nsee attachment\r\n--b\r\n"
            "Content-Type: image/png; name=big.png\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        ).encode()
        + encoded
        + b"\r\n--b--\r\n"
    )
    assert len(raw) > 25_000_000
    mail = parse_mail(raw)
    (attachment,) = mail.attachments
    assert attachment.size == len(payload)
    assert attachment.payload == payload
    assert attachment.sha256 == hashlib.sha256(payload).hexdigest()
    assert attachment.sniffed_type == "image/png"
    assert mail.text == "see attachment"
    assert mail.defects == ()


def test_25_mb_text_body_without_line_breaks() -> None:
    raw = (HEAD + "\r\n").encode() + b"x" * 25_000_000
    mail = parse_mail(raw)
    assert len(mail.text) == 25_000_000


def test_truncated_big_attachment() -> None:
    encoded = base64.encodebytes(bytes(6_000_000)).replace(b"\n", b"\r\n")
    raw = (
        HEAD + 'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
        "Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    ).encode() + encoded[: len(encoded) // 2 + 3]
    mail = parse_mail(raw)
    (attachment,) = mail.attachments
    assert 2_900_000 < attachment.size < 3_100_000
    assert {DefectKind.MIME_STRUCTURE, DefectKind.TRANSFER_ENCODING} <= {
        d.kind for d in mail.defects
    }


def nested(depth: int, leaf: str = "Content-Type: text/plain\r\n\r\ndeep text") -> bytes:
    entity = leaf
    for level in reversed(range(depth)):
        boundary = f"level{level}"
        entity = (
            f'Content-Type: multipart/mixed; boundary="{boundary}"\r\n\r\n'
            f"--{boundary}\r\n{entity}\r\n--{boundary}--\r\n"
        )
    return (HEAD + entity).encode()


def test_100_level_nesting() -> None:
    mail = parse_mail(nested(100))
    assert mail.text == "deep text"
    assert len(mail.parts) == 101
    assert mail.parts[-1].path == ".".join(["1"] * 100)
    assert mail.defects == ()


def test_nesting_beyond_the_limit_is_a_defect() -> None:
    mail = parse_mail(nested(MAX_DEPTH + 50))
    assert mail.text == ""
    assert [d.kind for d in mail.defects] == [DefectKind.DEPTH]


def test_nested_rfc822_messages() -> None:
    entity = "Content-Type: text/plain\r\n\r\ninnermost"
    for level in range(100):
        entity = f"Content-Type: message/rfc822\r\n\r\nSubject: level {level}\r\n{entity}"
    mail = parse_mail((HEAD + entity).encode())
    (forwarded,) = mail.attachments
    assert parse_mail(forwarded.payload).subject == "level 99"


def test_thousands_of_parts() -> None:
    parts = "".join(
        f"--b\r\nContent-Type: application/octet-stream; name=f{i}.bin\r\n\r\ndata {i}\r\n"
        for i in range(5000)
    )
    raw = (
        HEAD + 'Content-Type: multipart/mixed; boundary="b"\r\n\r\n' + parts + "--b--\r\n"
    ).encode()
    mail = parse_mail(raw)
    assert len(mail.attachments) == 5000
    assert mail.attachments[-1].payload == b"data 4999"


def test_thousands_of_headers_and_a_huge_folded_header() -> None:
    many = "".join(f"X-Trace-{i}: value {i}\r\n" for i in range(20_000))
    folded = "References: " + "\r\n ".join(f"<id{i}@example.org>" for i in range(20_000)) + "\r\n"
    mail = parse_mail((HEAD + many + folded + "\r\nbody").encode())
    assert len(mail.references) == 20_000
    assert mail.header("X-Trace-19999") == "value 19999"
    assert mail.text == "body"


def test_many_boundary_lookalikes() -> None:
    lookalikes = "--bb\r\n" * 100_000
    raw = (
        HEAD + 'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
        "Content-Type: text/plain\r\n\r\n" + lookalikes + "--b--\r\n"
    ).encode()
    mail = parse_mail(raw)
    assert mail.text.count("--bb") == 100_000
