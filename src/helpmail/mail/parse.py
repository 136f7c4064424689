"""``parse_mail``: raw RFC 5322 bytes to :class:`~helpmail.mail.model.InboundMail`, never raising.

The standard library's feed parser (``compat32`` policy, the tolerant one) splits the MIME tree;
this module decodes everything itself so that a wrong or unknown charset, an RFC 2047 word in a bad
charset, a broken RFC 2231 file name or a missing header becomes a recorded defect and a best-effort
value, never an exception (RFC 2045 §4 and RFC 2046 §5.1 ask receivers to be liberal).
"""

from __future__ import annotations

import codecs
import datetime as dt
import hashlib
import re
from email import message_from_bytes
from email.header import decode_header
from email.message import Message
from email.policy import compat32
from email.utils import getaddresses, parsedate_to_datetime

from helpmail.mail.html import html_to_text
from helpmail.mail.model import Address, Attachment, InboundMail, MailDefect, MailPart
from helpmail.mail.sniff import sniff

#: Deeper MIME trees than this are not walked further (the rest is kept in ``raw``).
MAX_DEPTH = 120
#: Charset labels that mean "no idea": decoded as UTF-8 with a cp1252 fallback.
_FALLBACK_CHARSETS = ("utf-8", "cp1252")
_CHARSET_ALIASES = {
    "unknown-8bit": "cp1252",
    "x-unknown": "cp1252",
    "unknown": "cp1252",
    "ansi_x3.4-1968": "ascii",
    "ks_c_5601-1987": "cp949",
    "x-sjis": "shift_jis",
    "windows-874": "cp874",
    "gb2312": "gb18030",  # GB18030 is a superset; mail labelled gb2312 often uses it
    "gbk": "gb18030",
    "iso-8859-8-i": "iso-8859-8",
    "utf8": "utf-8",
}
_MSGID = re.compile(r"<([^<>\s]{1,998})>")
_TEXT_LIKE = frozenset(
    {"message/delivery-status", "message/global-delivery-status", "message/feedback-report",
     "message/disposition-notification", "text/rfc822-headers", "message/global-headers"}
)
_HEADER_END = re.compile(rb"\r?\n\r?\n|\r\r")


def _codec(charset: str | None) -> str | None:
    """A Python codec name for a MIME charset label, or ``None`` when unknown."""
    if not charset:
        return None
    label = charset.strip().strip('"').lower()
    label = _CHARSET_ALIASES.get(label, label)
    try:
        return codecs.lookup(label).name
    except LookupError:
        return None


def decode_bytes(data: bytes, charset: str | None, where: str, defects: list[MailDefect]) -> str:
    """Decode ``data`` declared as ``charset``; unknown or wrong charsets fall back with a defect."""
    codec = _codec(charset)
    if charset and codec is None:
        defects.append(MailDefect(where=where, what=f"unknown charset {charset!r}"))
    if codec is not None:
        try:
            return data.decode(codec)
        except UnicodeDecodeError:
            defects.append(MailDefect(where=where, what=f"bytes do not match charset {charset!r}"))
        except LookupError:  # pragma: no cover - codecs.lookup succeeded above
            pass
    for fallback in _FALLBACK_CHARSETS:
        try:
            return data.decode(fallback)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")  # cannot fail


def _fix_8bit(value: str, where: str, defects: list[MailDefect]) -> str:
    """Header values with raw 8-bit bytes arrive surrogate-escaped: decode them (RFC 6532 UTF-8)."""
    if value.isascii():
        return value
    try:
        raw = value.encode("ascii", "surrogateescape")
    except UnicodeEncodeError:
        return value  # already real text
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        defects.append(MailDefect(where=where, what="8-bit header is not UTF-8; read as cp1252"))
        return raw.decode("cp1252", "replace")


def decode_words(value: str, where: str, defects: list[MailDefect]) -> str:
    """Decode RFC 2047 encoded words and unfold; bad words are kept readable with a defect."""
    value = _fix_8bit(value, where, defects)
    unfolded = re.sub(r"\r?\n[ \t]", " ", value).replace("\r", "").replace("\n", " ")
    if "=?" not in unfolded:
        return unfolded.strip()
    try:
        chunks = decode_header(unfolded)
    except Exception:  # email.errors.HeaderParseError and friends
        defects.append(MailDefect(where=where, what="malformed encoded word"))
        return unfolded.strip()
    out: list[str] = []
    for chunk, charset in chunks:
        if isinstance(chunk, str):
            out.append(chunk)
        else:
            out.append(decode_bytes(chunk, charset or "ascii", where, defects))
    return "".join(out).strip()


def _addresses(values: list[str], where: str, defects: list[MailDefect]) -> tuple[Address, ...]:
    found: list[Address] = []
    fixed = [_fix_8bit(v, where, defects).replace("\r", "").replace("\n", "") for v in values]
    try:
        pairs = getaddresses(fixed)
    except Exception:
        defects.append(MailDefect(where=where, what="unparseable address list"))
        return ()
    for name, spec in pairs:
        spec = spec.strip()
        if not spec:
            if name:
                defects.append(MailDefect(where=where, what=f"not an address: {name!r}"))
            continue
        if "@" not in spec:
            defects.append(MailDefect(where=where, what=f"address without domain: {spec!r}"))
        found.append(Address(addr_spec=spec, name=decode_words(name, where, defects)))
    return tuple(found)


def _msgids(value: str | None) -> tuple[str, ...]:
    if not value:
        return ()
    ids = _MSGID.findall(value)
    if ids:
        return tuple(ids)
    bare = value.strip()
    return (bare,) if bare and " " not in bare else ()


def _date(value: str | None, defects: list[MailDefect]) -> dt.datetime | None:
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        defects.append(MailDefect(where="header:Date", what=f"unparseable date {value[:60]!r}"))
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed


def _body_digest(raw: bytes) -> str:
    match = _HEADER_END.search(raw)
    body = raw[match.end() :] if match else b""
    body = body.replace(b"\r\n", b"\n").replace(b"\r", b"\n").rstrip(b"\n")
    return hashlib.sha256(body).hexdigest()


def _filename(part: Message, where: str, defects: list[MailDefect]) -> str | None:
    try:
        name = part.get_filename()
    except Exception:
        name = None
        defects.append(MailDefect(where=where, what="malformed file name parameter"))
    if name is None:
        return None
    name = decode_words(str(name), where, defects)
    # Keep only the last path component: a sender controls this string.
    name = re.split(r"[\\/]", name)[-1].strip().strip("\x00")
    return name or None


def _payload(part: Message, where: str, defects: list[MailDefect]) -> bytes:
    try:
        data = part.get_payload(decode=True)
    except Exception:
        defects.append(MailDefect(where=where, what="payload could not be decoded"))
        data = None
    if isinstance(data, bytes):
        return data
    raw = part.get_payload()
    if isinstance(raw, str):
        return raw.encode("ascii", "surrogateescape")
    return b""


class _Walker:
    """Flattens the MIME tree iteratively (no recursion limit) and picks the body parts."""

    def __init__(self, defects: list[MailDefect]) -> None:
        self.defects = defects
        self.parts: list[MailPart] = []
        self.text_parts: list[str] = []
        self.html_parts: list[str] = []
        self.attachments: list[Attachment] = []

    def walk(self, root: Message) -> None:
        # stack of (message, path, depth, in_body, parent_alternative)
        stack: list[tuple[Message, str, int, bool, bool]] = [(root, "", 0, True, False)]
        while stack:
            part, path, depth, in_body, in_alternative = stack.pop()
            where = f"part:{path or 'root'}"
            if depth > MAX_DEPTH:
                self.defects.append(MailDefect(where=where, what="MIME nesting too deep; rest kept raw"))
                continue
            for defect in getattr(part, "defects", ()):
                self.defects.append(MailDefect(where=where, what=type(defect).__name__))
            content_type = self._content_type(part, where)
            params = self._params(part)
            if part.is_multipart() and not content_type.startswith("message/"):
                self.parts.append(MailPart(path=path, content_type=content_type, params=params))
                children = part.get_payload()
                if not isinstance(children, list):
                    continue
                alternative = content_type == "multipart/alternative"
                if alternative and in_body:
                    children = self._prefer_alternative(children)
                child_in_body = in_body and content_type != "multipart/report"
                items: list[tuple[Message, str, int, bool, bool]] = []
                for index, child in enumerate(children, start=1):
                    child_path = f"{path}.{index}" if path else str(index)
                    body_here = child_in_body if not (alternative and index > 1) else False
                    if content_type == "multipart/report" and index == 1 and in_body:
                        body_here = True
                    items.append((child, child_path, depth + 1, body_here, alternative))
                stack.extend(reversed(items))
                continue
            self._leaf(part, path, content_type, params, in_body)

    @staticmethod
    def _prefer_alternative(children: list[Message]) -> list[Message]:
        """Order alternatives so the one we read as the body comes first (plain, then HTML)."""

        def rank(child: Message) -> int:
            kind = child.get_content_type()
            if kind == "text/plain":
                return 0
            if kind.startswith("multipart/"):
                return 1
            if kind == "text/html":
                return 2
            return 3

        ordered = sorted(children, key=rank)
        # the HTML alternative is still wanted for ``InboundMail.html``: handled in _leaf via html
        return ordered

    def _content_type(self, part: Message, where: str) -> str:
        try:
            value = part.get_content_type()
        except Exception:
            self.defects.append(MailDefect(where=where, what="malformed Content-Type"))
            return "application/octet-stream"
        if "/" not in value or " " in value:
            self.defects.append(MailDefect(where=where, what=f"bad Content-Type {value!r}"))
            return "text/plain"
        return value

    @staticmethod
    def _params(part: Message) -> tuple[tuple[str, str], ...]:
        out: list[tuple[str, str]] = []
        try:
            raw_params = part.get_params() or []
        except Exception:
            return ()
        for key, value in raw_params[1:]:
            if isinstance(value, tuple):
                value = value[2] if len(value) == 3 else str(value)
            out.append((str(key).lower(), str(value)))
        return tuple(out)

    def _leaf(
        self, part: Message, path: str, content_type: str, params: tuple[tuple[str, str], ...],
        in_body: bool,
    ) -> None:
        where = f"part:{path or 'root'}"
        disposition = (part.get("Content-Disposition") or "").split(";")[0].strip().lower() or None
        filename = _filename(part, where, self.defects)
        charset = None
        try:
            charset = part.get_content_charset()
        except Exception:
            self.defects.append(MailDefect(where=where, what="malformed charset parameter"))
        content_id_raw = part.get("Content-ID")
        content_id = _msgids(str(content_id_raw))[0] if content_id_raw and _msgids(str(content_id_raw)) else None
        payload = _payload(part, where, self.defects)
        if content_type.startswith("message/") and not payload:
            # compat32 parses message/rfc822 into one sub-message and delivery-status reports into
            # one header block per sub-message: serialise them back to bytes.
            inner = part.get_payload()
            if isinstance(inner, list):
                chunks: list[bytes] = []
                for block in inner:
                    if isinstance(block, Message):
                        try:
                            chunks.append(block.as_bytes(policy=compat32))
                        except Exception:
                            self.defects.append(MailDefect(where=where, what="unserialisable part"))
                payload = b"".join(chunks) if content_type in _TEXT_LIKE else b"\n".join(chunks)
        text: str | None = None
        if content_type.startswith("text/") or content_type in _TEXT_LIKE:
            text = decode_bytes(payload, charset, where, self.defects)
        headers = tuple((k, str(v)) for k, v in part.items())
        self.parts.append(
            MailPart(path=path, content_type=content_type, params=params, disposition=disposition,
                     filename=filename, charset=charset, content_id=content_id, payload=payload,
                     text=text, headers=headers)
        )
        is_body = (
            in_body and disposition != "attachment" and filename is None
            and content_type in ("text/plain", "text/html")
        )
        if is_body and text is not None:
            (self.text_parts if content_type == "text/plain" else self.html_parts).append(text)
            return
        if content_type in ("text/plain", "text/html") and disposition != "attachment" and filename is None:
            # an alternative we did not choose as body (e.g. the HTML of multipart/alternative)
            if content_type == "text/html" and text is not None and not self.html_parts:
                self.html_parts.append(text)
            return
        if content_type in _TEXT_LIKE or not payload:
            return
        self.attachments.append(
            Attachment(filename=filename, declared_type=content_type, sniffed_type=sniff(payload),
                       size=len(payload), sha256=hashlib.sha256(payload).hexdigest(), payload=payload,
                       content_id=content_id, inline=disposition == "inline", part_path=path)
        )


def parse_mail(raw: bytes) -> InboundMail:
    """Parse one mail. Never raises: malformed input is repaired and recorded in ``defects``."""
    defects: list[MailDefect] = []
    if not isinstance(raw, bytes | bytearray | memoryview):
        raise TypeError(f"parse_mail expects bytes, not {type(raw).__name__}")
    raw = bytes(raw)
    if not raw.strip():
        defects.append(MailDefect(where="mail", what="empty message"))
    try:
        message = message_from_bytes(raw, policy=compat32)
    except Exception as exc:  # pragma: no cover - the feed parser is tolerant
        defects.append(MailDefect(where="mail", what=f"unparseable: {exc}"))
        message = Message()
    headers: list[tuple[str, str]] = []
    for key, value in message.items():
        name = _fix_8bit(str(key), "header", defects).strip()
        headers.append((name, decode_words(str(value), f"header:{name}", defects)))

    def raw_all(name: str) -> list[str]:
        return [str(v) for v in (message.get_all(name) or [])]

    def first(name: str) -> str | None:
        values = raw_all(name)
        return values[0] if values else None

    walker = _Walker(defects)
    try:
        walker.walk(message)
    except RecursionError:  # pragma: no cover - the walker is iterative
        defects.append(MailDefect(where="mail", what="MIME tree too deep"))
    message_ids = _msgids(first("Message-ID"))
    if not message_ids:
        defects.append(MailDefect(where="header:Message-ID", what="missing or empty Message-ID"))
    text = "\n\n".join(t.strip("\n") for t in walker.text_parts if t.strip())
    html = "\n".join(walker.html_parts) if walker.html_parts else None
    text_from_html = False
    if not text.strip() and html:
        text = html_to_text(html)
        text_from_html = True
    sender = _addresses(raw_all("Sender"), "header:Sender", defects)
    return_path = first("Return-Path")
    try:
        content_type = message.get_content_type()
    except Exception:
        content_type = "text/plain"
    return InboundMail(
        raw=raw,
        headers=tuple(headers),
        message_id=message_ids[0] if message_ids else None,
        in_reply_to=_msgids(first("In-Reply-To")),
        references=tuple(mid for v in raw_all("References") for mid in _msgids(v)),
        subject=decode_words(first("Subject") or "", "header:Subject", defects),
        date=_date(first("Date"), defects),
        from_=_addresses(raw_all("From"), "header:From", defects),
        sender=sender[0] if sender else None,
        reply_to=_addresses(raw_all("Reply-To"), "header:Reply-To", defects),
        to=_addresses(raw_all("To"), "header:To", defects),
        cc=_addresses(raw_all("Cc"), "header:Cc", defects),
        bcc=_addresses(raw_all("Bcc"), "header:Bcc", defects),
        return_path=return_path.strip() if return_path is not None else None,
        content_type=content_type,
        text=text.replace("\r\n", "\n").replace("\r", "\n"),
        html=html,
        text_from_html=text_from_html,
        attachments=tuple(walker.attachments),
        parts=tuple(walker.parts),
        body_digest=_body_digest(raw),
        defects=tuple(defects),
    )
