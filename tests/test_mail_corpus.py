"""parse_mail on the hand-made broken and tricky mails in tests/data/mail (see its README)."""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Callable
from pathlib import Path

import pytest

from helpmail import InboundMail, parse_mail
from helpmail.mail.model import DefectKind

DATA = Path(__file__).parent / "data" / "mail"


def load(name: str) -> InboundMail:
    return parse_mail((DATA / name).read_bytes())


def kinds(mail: InboundMail) -> set[DefectKind]:
    return {d.kind for d in mail.defects}


def names(mail: InboundMail) -> list[str | None]:
    return [a.filename for a in mail.attachments]


def check_koi8r(m: InboundMail) -> None:
    assert m.subject == "Привет"
    assert m.from_[0].name == "Иван"
    assert m.text == "Привет, не работает принтер."
    assert not m.defects


def check_cp1250(m: InboundMail) -> None:
    assert m.subject == "Zgłoszenie"
    assert m.text_from_html
    assert m.text == "Dzień dobry,\n\ndrukarka nie działa. Pozdrawiam, mały święty"
    assert m.html is not None
    assert "działa" in m.html


def check_cp1258(m: InboundMail) -> None:
    assert m.subject == "Xin chào"
    assert m.text == unicodedata.normalize("NFC", "Xin chào, máy in bị hỏng.")
    assert DefectKind.CHARSET not in kinds(m)


def check_unknown_charset(m: InboundMail) -> None:
    assert m.subject == "Grüße"
    assert m.text == "Grüße aus Köln"
    charset_defects = [d for d in m.defects if d.kind is DefectKind.CHARSET]
    assert {d.where for d in charset_defects} == {"header:Subject", "part:root"}


def check_ascii_label(m: InboundMail) -> None:
    assert m.text == "Café crème, 10 €"
    assert DefectKind.CHARSET in kinds(m)


def check_utf8_label(m: InboundMail) -> None:
    assert m.text == "Prüfung für Müller – 10 €"
    assert DefectKind.CHARSET in kinds(m)


def check_8bit_headers(m: InboundMail) -> None:
    assert m.from_[0].name == "Jörg Müller"
    assert m.from_[0].addr_spec == "joerg@example.de"
    assert m.subject.startswith("Grüße")
    assert m.text == "Text ohne Charset: äöü"
    assert {DefectKind.HEADER_ENCODING, DefectKind.CHARSET} <= kinds(m)


def check_utf8_headers(m: InboundMail) -> None:
    author = m.from_[0]
    assert (author.name, author.addr_spec) == ("Zoë Ünal", "zoë@exämple.de")
    assert author.ascii_domain == "xn--exmple-cua.de"
    assert m.subject == "Größe ändern — 日本語"
    assert m.text == "UTF-8 überall."
    assert not m.defects


def check_rfc2231(m: InboundMail) -> None:
    assert names(m) == [
        "Grüße aus Köln.pdf",
        "Rechnung März.pdf",
        "bad%zzescapemissing-section.pdf",
        "äö.pdf",
        "unterminated.pdf",
    ]
    assert all(a.sniffed_type == "application/pdf" for a in m.attachments)
    assert DefectKind.CONTENT_TYPE in kinds(m)
    assert m.text == "see attachments"


def check_rfc2047_filename(m: InboundMail) -> None:
    assert names(m) == ["Übersicht März 2026.pdf"]


def check_bare_cr(m: InboundMail) -> None:
    assert m.subject == "classic"
    assert m.from_[0].addr_spec == "mac@example.org"
    assert m.text == "line one\nline two"
    assert DefectKind.LINE_ENDS in kinds(m)


def check_bare_lf(m: InboundMail) -> None:
    assert m.text == "plain lf"
    assert m.html == "<p>html lf</p>"
    assert not m.defects


def check_truncated_boundary(m: InboundMail) -> None:
    assert m.text == "body before the cut"
    assert names(m) == ["shot.png"]
    assert m.attachments[0].sniffed_type == "image/png"
    assert {DefectKind.MIME_STRUCTURE, DefectKind.TRANSFER_ENCODING} <= kinds(m)


def check_truncated_base64(m: InboundMail) -> None:
    assert m.text.startswith("Hallo Welt, die Übertragung bricht")
    assert DefectKind.TRANSFER_ENCODING in kinds(m)


def check_invalid_encodings(m: InboundMail) -> None:
    assert m.text.startswith("Köln =XY ist schön")
    assert m.attachments[0].payload == b"Hello world"
    where = {d.where for d in m.defects if d.kind is DefectKind.TRANSFER_ENCODING}
    assert where == {"part:1", "part:2", "part:3"}


def check_missing_headers(m: InboundMail) -> None:
    assert m.from_ == ()
    assert m.date is None
    assert m.message_id is None
    assert m.subject == "no from, no date, no id"
    assert m.text == "body"
    missing = {d.where for d in m.defects if d.kind is DefectKind.MISSING_HEADER}
    assert missing == {"header:From", "header:Date", "header:Message-ID"}


def check_header_only(m: InboundMail) -> None:
    assert m.subject == "header only"
    assert m.message_id == "hdronly@test.example"
    assert m.text == ""
    assert m.html is None
    assert m.attachments == ()
    assert not m.defects


def check_nul(m: InboundMail) -> None:
    assert m.subject == "nulbyte"
    assert m.text == "beforeafter"
    assert DefectKind.NUL in kinds(m)


def check_garbage(m: InboundMail) -> None:
    assert isinstance(m.text, str)
    assert m.from_ == ()
    assert {DefectKind.HEADER_SYNTAX, DefectKind.NUL} <= kinds(m)


def check_exe_as_png(m: InboundMail) -> None:
    (attachment,) = m.attachments
    assert attachment.filename == "holiday.png"
    assert attachment.declared_type == "image/png"
    assert attachment.sniffed_type == "application/vnd.microsoft.portable-executable"


def check_dsn(m: InboundMail) -> None:
    assert m.content_type == "multipart/report"
    assert m.text.startswith("This is the mail system at host mx.example.net.")
    assert "Final-Recipient" not in m.text
    status = [p for p in m.parts if p.content_type == "message/delivery-status"]
    assert status
    assert status[0].text is not None
    assert "Status: 5.1.1" in status[0].text
    (returned,) = m.attachments
    assert returned.declared_type == "message/rfc822"
    assert parse_mail(returned.payload).message_id == "helpmail.42.1@example.com"


def check_pgp_signed(m: InboundMail) -> None:
    assert m.text == "Signed request text."
    assert names(m) == ["doc.pdf"]  # the signature is not an attachment
    assert any(p.content_type == "application/pgp-signature" for p in m.parts)


def check_pgp_encrypted(m: InboundMail) -> None:
    assert m.text == ""
    assert names(m) == ["encrypted.asc"]
    assert DefectKind.ENCRYPTED in kinds(m)


def check_smime(m: InboundMail) -> None:
    assert m.text == ""
    assert [a.declared_type for a in m.attachments] == ["application/pkcs7-mime"]
    assert DefectKind.ENCRYPTED in kinds(m)


def check_related(m: InboundMail) -> None:
    assert m.text == "See the screenshot:\n[image: shot.png]"
    assert not m.text_from_html
    assert m.html is not None
    assert "cid:ii_shot" in m.html
    (image,) = m.attachments
    assert (image.inline, image.content_id, image.sniffed_type) == (True, "ii_shot", "image/png")


def check_mixed_inline(m: InboundMail) -> None:
    assert m.text == "First part of the text.\n\nSecond part, after the photo."
    (photo,) = m.attachments
    assert photo.inline
    assert photo.sniffed_type == "image/jpeg"


def check_forwarded(m: InboundMail) -> None:
    assert m.text == "Please handle the mail below."
    (forwarded,) = m.attachments
    assert forwarded.declared_type == "message/rfc822"
    assert forwarded.filename == "complaint.eml"
    inner = parse_mail(forwarded.payload)
    assert (inner.message_id, inner.text) == ("inner@example.net", "The inner body.")


def check_outlook(m: InboundMail) -> None:
    assert m.text_from_html
    assert m.text == (
        "Hi team,\n\nThe printer on floor 3 is still broken:\n\n- paper jam\n- error E–4\n\n"
        "Model\nHP 4000\n\nThanks,\nAnn\nFrom: Support <support@example.com>\nSent: Monday"
    )
    assert "shapedefaults" not in m.text
    assert "MsoNormal" not in m.text


def check_gmail(m: InboundMail) -> None:
    assert m.text == (
        "Still can't log in.\n\nBob\n\n"
        "On Mon, Mar 2, 2026 at 9:00 AM Support <support@example.com> wrote:\n\n"
        "> Please try again.\n> See the help page <https://help.example.com/login>."
    )


def check_addresses(m: InboundMail) -> None:
    assert [(a.name, a.addr_spec) for a in m.from_] == [("Müller, Jörg", "joerg@bücher.example")]
    assert m.from_[0].key == "joerg@xn--bcher-kva.example"
    assert m.sender is not None
    assert m.sender.addr_spec == "owner@example.org"
    assert [(a.name, a.addr_spec) for a in m.reply_to] == [("John Doe", "john.doe@example.org")]
    assert m.to == ()
    assert [(a.name, a.addr_spec) for a in m.cc] == [
        ("Smith, Ann", "ann@example.com"),
        ("", "bob@example.com"),
        ("Doe, Jane", "jane@xn--bcher-kva.example"),
        ("山田 太郎", "yamada@example.jp"),
        ("Иван", "ivan@пример.рф"),
    ]
    assert m.cc[2].domain == "bücher.example"
    assert m.cc[4].ascii_domain == "xn--e1afmkfd.xn--p1ai"
    assert [a.addr_spec for a in m.bcc] == ['"quoted local"@example.org']
    assert [d.where for d in m.defects] == ["header:Bcc"]


def check_message_ids(m: InboundMail) -> None:
    assert m.message_id == "bare-id@example.org"
    assert m.in_reply_to == ("parent@example.com",)
    assert m.references == (
        "root@example.com",
        "mid-dle@example.com",
        "parent@example.com",
        "second-header@example.com",
    )
    assert m.thread_ids[:2] == ("parent@example.com", "second-header@example.com")


def check_obsolete_date(m: InboundMail) -> None:
    assert m.date == dt.datetime(2026, 3, 3, 22, 5, 7, tzinfo=dt.UTC)
    assert not m.defects


def check_bad_date(m: InboundMail) -> None:
    assert m.date is None
    assert kinds(m) == {DefectKind.DATE}


def check_no_boundary(m: InboundMail) -> None:
    assert m.text == "The body is still readable."
    assert DefectKind.MIME_STRUCTURE in kinds(m)


CHECKS: dict[str, Callable[[InboundMail], None]] = {
    "koi8r.eml": check_koi8r,
    "windows-1250-html.eml": check_cp1250,
    "windows-1258.eml": check_cp1258,
    "unknown-charset.eml": check_unknown_charset,
    "ascii-label-utf8-bytes.eml": check_ascii_label,
    "utf8-label-cp1252-bytes.eml": check_utf8_label,
    "8bit-headers.eml": check_8bit_headers,
    "utf8-headers.eml": check_utf8_headers,
    "rfc2231-filenames.eml": check_rfc2231,
    "rfc2047-filename.eml": check_rfc2047_filename,
    "bare-cr.eml": check_bare_cr,
    "bare-lf.eml": check_bare_lf,
    "truncated-boundary.eml": check_truncated_boundary,
    "truncated-base64.eml": check_truncated_base64,
    "invalid-encodings.eml": check_invalid_encodings,
    "missing-headers.eml": check_missing_headers,
    "header-only.eml": check_header_only,
    "nul-bytes.eml": check_nul,
    "garbage.bin": check_garbage,
    "exe-as-png.eml": check_exe_as_png,
    "dsn-report.eml": check_dsn,
    "pgp-signed.eml": check_pgp_signed,
    "pgp-encrypted.eml": check_pgp_encrypted,
    "smime-encrypted.eml": check_smime,
    "related-inline-image.eml": check_related,
    "mixed-inline-texts.eml": check_mixed_inline,
    "forwarded-rfc822.eml": check_forwarded,
    "outlook-html.eml": check_outlook,
    "gmail-html-reply.eml": check_gmail,
    "addresses.eml": check_addresses,
    "message-ids.eml": check_message_ids,
    "obsolete-date.eml": check_obsolete_date,
    "bad-date.eml": check_bad_date,
    "no-boundary.eml": check_no_boundary,
}


def test_every_data_file_is_checked_and_described() -> None:
    files = {p.name for p in DATA.iterdir() if p.name != "README.md"}
    assert files == set(CHECKS)
    readme = (DATA / "README.md").read_text()
    assert all(f"`{name}`" in readme for name in files)


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_corpus_mail(name: str) -> None:
    raw = (DATA / name).read_bytes()
    mail = parse_mail(raw)
    assert mail.raw == raw
    assert not any("internal parser error" in d.what for d in mail.defects)
    CHECKS[name](mail)


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_corpus_mail_with_crlf_and_lf_gives_the_same_result(name: str) -> None:
    raw = (DATA / name).read_bytes()
    if b"\r" in raw.replace(b"\r\n", b""):
        pytest.skip("bare CR mail")
    lf = parse_mail(raw.replace(b"\r\n", b"\n"))
    crlf = parse_mail(raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))
    assert (lf.subject, lf.text, lf.html, lf.from_, lf.attachments) == (
        crlf.subject,
        crlf.text,
        crlf.html,
        crlf.from_,
        crlf.attachments,
    )
    assert lf.body_digest == crlf.body_digest


def every_test_mail() -> list[Path]:
    """Every mail file the suite holds (bounce and reply corpora, desk and mail samples)."""
    root = Path(__file__).parent / "data"
    suffixes = {".eml", ".txt", ".msg", ".bin"}
    return sorted(
        path
        for path in root.rglob("*")
        if path.is_file() and path.suffix in suffixes and path.name.lower() != "readme.txt"
    )


def test_every_mail_in_the_test_data_parses_cleanly() -> None:
    paths = every_test_mail()
    assert len(paths) > 100
    for path in paths:
        raw = path.read_bytes()
        mail = parse_mail(raw)
        assert mail.raw == raw
        assert not any("internal parser error" in d.what for d in mail.defects), path
        assert all(a.addr_spec for a in (*mail.from_, *mail.to, *mail.cc)), path
        assert mail.date is None or mail.date.tzinfo is not None, path
        assert "\x00" not in mail.text, path
        assert all(a.size == len(a.payload) for a in mail.attachments), path
        if b"\r" not in raw.replace(b"\r\n", b""):
            other = raw.replace(b"\r\n", b"\n") if b"\r\n" in raw else raw.replace(b"\n", b"\r\n")
            assert parse_mail(other).text == mail.text, path
