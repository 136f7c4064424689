"""``parse_mail``: raw RFC 5322 bytes to :class:`~helpmail.mail.model.InboundMail`, never raising.

The rule this module keeps: a receiver must be liberal (RFC 2045 §4, RFC 2046 §5.1, RFC 5322 §4),
so every malformed piece is repaired as well as possible and recorded as a
:class:`~helpmail.mail.model.MailDefect`; no input makes ``parse_mail`` raise.

It is a MIME reader of its own, working on one byte buffer with offsets: line ends are normalised
once, multipart boundaries are found with ``bytes.find`` over the part's span (no copies, no
per-line Python work, so a 25 MB attachment costs a few C-speed passes), transfer encodings are
decoded with :mod:`binascii`, and headers, parameters, addresses and dates are read by the
tolerant readers in :mod:`helpmail.mail.headers` and :mod:`helpmail.mail.addresses`. It imports
no ``email.*`` module (which would import ``socket``).

Which parts make the body (RFC 2046 §5.1, RFC 2387, RFC 6522, RFC 1847):

- ``multipart/alternative``: the text comes from the first alternative that has ``text/plain``
  (as the stdlib's ``get_body``), the HTML from the last one that has ``text/html`` (RFC 2046
  §5.1.4: the last is the richest); other alternatives (calendars) are attachments;
- ``multipart/related``: the root part (``start`` parameter, else the first) is the body, the rest
  are inline resources (attachments with ``inline=True``);
- ``multipart/report``: the first part is the body; delivery-status and friends are listed in
  ``parts`` with ``.text``; a returned ``message/rfc822`` is an attachment;
- ``multipart/signed``: the first part is the body; the signature is only listed in ``parts``;
- ``multipart/encrypted`` and ``application/pkcs7-mime``: attachments, with an ``encrypted`` defect;
- ``multipart/mixed`` and any other multipart: the inline text parts in order, joined.

A ``text/plain`` or ``text/html`` leaf is body unless it is ``Content-Disposition: attachment``
(except when it is the whole mail). A text leaf with a file name is a file when the mail has other
body text, else it is the body (a bounce's ``deliveryproblems.txt``). When no ``text/plain``
body has any text, the HTML body converted by :func:`~helpmail.mail.html.html_to_text` is the
text (``text_from_html``).
"""

from __future__ import annotations

import binascii
import hashlib
import re

from helpmail.mail.addresses import parse_address_list
from helpmail.mail.charsets import codec_for, decode_bytes
from helpmail.mail.headers import (
    decode_words,
    parse_date,
    parse_header_block,
    parse_msgids,
    parse_parameters,
)
from helpmail.mail.html import html_to_text
from helpmail.mail.model import (
    Address,
    Attachment,
    DefectKind,
    InboundMail,
    MailDefect,
    MailPart,
)
from helpmail.mail.sniff import sniff

__all__ = ["MAX_DEPTH", "decode_bytes", "decode_words", "parse_mail"]

#: Deeper MIME trees than this are not walked further (the rest is kept as one opaque part).
MAX_DEPTH = 128
_TEXT_LIKE = frozenset(
    {
        "message/delivery-status",
        "message/global-delivery-status",
        "message/feedback-report",
        "message/disposition-notification",
        "message/global-disposition-notification",
        "text/rfc822-headers",
        "message/global-headers",
    }
)
_SIGNATURES = frozenset(
    {"application/pgp-signature", "application/pkcs7-signature", "application/x-pkcs7-signature"}
)
_PKCS7_MIME = frozenset({"application/pkcs7-mime", "application/x-pkcs7-mime"})
_EMBEDDED_MAIL = frozenset({"message/rfc822", "message/global"})
# RFC 2045 §5.1: type "/" subtype, both tokens
_CONTENT_TYPE = re.compile(r"[a-z0-9!#$%&'*+.^_`{|}~-]+/[a-z0-9!#$%&'*+.^_`{|}~-]+\Z")
_B64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=\n\t "
_B64_JUNK = re.compile(rb"[^A-Za-z0-9+/]")
_B64_PADDING = re.compile(rb"=[= \t\n]*")
_QP_BAD = re.compile(rb"=(?![0-9A-Fa-f]{2})(?![ \t]*(?:\n|\Z))")
_META_CHARSET = re.compile(
    rb"""<meta[^>]{0,200}?charset\s*=\s*["']?([A-Za-z0-9_.:-]{1,40})""", re.I
)
_LIST_HEADERS = frozenset({"from", "to", "cc", "bcc", "reply-to", "sender", "references"})
_CHARSET_HINT = re.compile(rb"""charset\s*=\s*["']?([A-Za-z0-9_.:-]{1,40})""", re.I)
_PATH_SEP = re.compile(r"[\\/]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class _Node:
    """One MIME entity during parsing (mutable; turned into a :class:`MailPart` at the end)."""

    __slots__ = (
        "_payload",
        "_text",
        "body_end",
        "body_start",
        "charset",
        "children",
        "content_id",
        "content_type",
        "cte",
        "disposition",
        "filename",
        "headers",
        "opaque",
        "params",
        "path",
        "root",
    )

    def __init__(self, path: str) -> None:
        self.path = path
        self.headers: list[tuple[str, str]] = []
        self.content_type = "text/plain"
        self.params: list[tuple[str, str]] = []
        self.charset: str | None = None
        self.disposition: str | None = None
        self.filename: str | None = None
        self.content_id: str | None = None
        self.cte = ""
        self.body_start = 0
        self.body_end = 0
        self.children: list[_Node] | None = None
        self.opaque = False
        self.root = False
        self._payload: bytes | None = None
        self._text: str | None = None

    @property
    def where(self) -> str:
        return f"part:{self.path or 'root'}"

    def param(self, name: str) -> str | None:
        for key, value in self.params:
            if key == name:
                return value
        return None


class _Parser:
    def __init__(self, buf: bytes, defects: list[MailDefect]) -> None:
        self.buf = buf
        self.defects = defects
        self.attachments: list[Attachment] = []

    def defect(self, where: str, what: str, kind: DefectKind) -> None:
        self.defects.append(MailDefect(where=where, what=what, kind=kind))

    # -- structure ---------------------------------------------------------------------------

    def entity(
        self,
        *,
        start: int,
        end: int,
        path: str,
        depth: int,
        default_type: str,
        headers: list[tuple[str, str]] | None = None,
        body_start: int | None = None,
    ) -> _Node:
        node = _Node(path)
        where = node.where
        if headers is None or body_start is None:
            headers, body_start = parse_header_block(self.buf, start, end, where, self.defects)
        node.headers = headers
        node.body_start, node.body_end = body_start, end
        content_type = disposition = cte = content_id = None
        for name, value in headers:
            lower = name.lower()
            if lower == "content-type":
                if content_type is None:
                    content_type = value
            elif lower == "content-disposition":
                disposition = disposition if disposition is not None else value
            elif lower == "content-transfer-encoding":
                cte = cte if cte is not None else value
            elif lower == "content-id":
                content_id = content_id if content_id is not None else value
        kind = default_type
        if content_type is not None:
            kind, node.params = parse_parameters(content_type, where, self.defects)
            if not _CONTENT_TYPE.match(kind):
                # RFC 2045 §5.2: an invalid Content-Type means text/plain; charset=us-ascii
                self.defect(
                    where,
                    f"bad Content-Type {kind[:60]!r}; read as text/plain",
                    DefectKind.CONTENT_TYPE,
                )
                kind = "text/plain"
        node.content_type = kind
        node.charset = (
            node.param("charset") if kind.startswith("text/") or kind in _TEXT_LIKE else None
        )
        if node.charset is not None and not node.charset.strip():
            node.charset = None
        file_name = None
        if disposition is not None:
            disp, disp_params = parse_parameters(disposition, where, self.defects)
            node.disposition = disp or None
            for key, value in disp_params:
                if key == "filename":
                    file_name = value
                    break
        if file_name is None:
            file_name = node.param("name")
        if file_name is not None:
            node.filename = self._clean_filename(file_name)
        if content_id is not None:
            ids = parse_msgids(content_id)
            node.content_id = ids[0] if ids else None
        node.cte = "".join(cte.split()).lower() if cte else ""
        if kind.startswith("multipart/"):
            boundary = node.param("boundary")
            if not boundary:
                self.defect(
                    where,
                    "multipart without boundary; read as text/plain",
                    DefectKind.MIME_STRUCTURE,
                )
                node.content_type = "text/plain"
            elif depth >= MAX_DEPTH:
                self.defect(where, "MIME nesting too deep; rest kept raw", DefectKind.DEPTH)
                node.opaque = True
            else:
                self._split(node, boundary.encode("utf-8", "replace"), depth)
        return node

    def _split(self, node: _Node, boundary: bytes, depth: int) -> None:
        """Cut a multipart body at its delimiter lines (RFC 2046 §5.1.1)."""
        buf = self.buf
        start, end = node.body_start, node.body_end
        delimiter = b"--" + boundary
        spans: list[tuple[int, int]] = []
        part_start = -1
        closed = False
        pos = start
        while True:
            idx = buf.find(delimiter, pos, end)
            if idx < 0:
                break
            if idx != start and buf[idx - 1] != 0x0A:
                pos = idx + 1
                continue
            nl = buf.find(b"\n", idx, end)
            line_end = end if nl < 0 else nl
            rest = buf[idx + len(delimiter) : line_end]
            is_close = rest.startswith(b"--")
            if (rest[2:] if is_close else rest).strip(b" \t"):
                pos = idx + 1  # "--boundaryX": a longer boundary, not ours
                continue
            if part_start >= 0:
                # RFC 2046 §5.1.1: the line break before the delimiter belongs to the delimiter
                spans.append((part_start, max(part_start, idx - 1)))
            if is_close:
                closed = True
                break
            part_start = min(line_end + 1, end)
            pos = line_end
        if part_start < 0:
            self.defect(
                node.where,
                "multipart boundary never found; read as text/plain",
                DefectKind.MIME_STRUCTURE,
            )
            node.content_type = "text/plain"
            node.charset = None
            return
        if not closed:
            self.defect(
                node.where, "closing boundary missing (truncated mail?)", DefectKind.MIME_STRUCTURE
            )
            spans.append((part_start, end))
        default = "message/rfc822" if node.content_type == "multipart/digest" else "text/plain"
        prefix = f"{node.path}." if node.path else ""
        node.children = [
            self.entity(
                start=s, end=e, path=f"{prefix}{index}", depth=depth + 1, default_type=default
            )
            for index, (s, e) in enumerate(spans, start=1)
        ]

    def _clean_filename(self, name: str) -> str | None:
        # A sender controls this string: keep only the last path component, no control characters.
        name = _PATH_SEP.split(name)[-1]
        if _CONTROL.search(name):
            name = _CONTROL.sub("", name)
        name = name.strip()
        return None if name in ("", ".", "..") else name

    # -- content -----------------------------------------------------------------------------

    def payload(self, node: _Node) -> bytes:
        """The transfer-decoded bytes of a leaf (RFC 2045 §6); cached."""
        if node._payload is not None:
            return node._payload
        data = self.buf[node.body_start : node.body_end]
        cte = node.cte
        if cte in ("", "7bit", "8bit", "binary") or not data:
            pass
        elif cte == "base64":
            data = self._base64(data, node.where)
        elif cte == "quoted-printable":
            if _QP_BAD.search(data) is not None:
                self.defect(
                    node.where,
                    "invalid quoted-printable escape kept as is",
                    DefectKind.TRANSFER_ENCODING,
                )
            data = binascii.a2b_qp(data)
        elif cte in ("x-uuencode", "uuencode", "x-uue", "uue"):
            data = self._uudecode(data, node.where)
        else:
            self.defect(
                node.where,
                f"unknown Content-Transfer-Encoding {cte[:40]!r}",
                DefectKind.TRANSFER_ENCODING,
            )
        node._payload = data
        return data

    def _base64(self, data: bytes, where: str) -> bytes:
        if data.translate(None, _B64_ALPHABET):
            self.defect(where, "invalid characters in base64 skipped", DefectKind.TRANSFER_ENCODING)
        pad = data.find(b"=")
        if pad >= 0 and data[pad:].strip(b"= \t\n"):
            # Padding in the middle: several encoded chunks glued together. binascii stops at
            # the first padding, so decode chunk by chunk.
            self.defect(
                where, "base64 data after padding decoded too", DefectKind.TRANSFER_ENCODING
            )
            return b"".join(self._base64_chunk(chunk) for chunk in _B64_PADDING.split(data))
        try:
            return binascii.a2b_base64(data)
        except binascii.Error:
            pass
        self.defect(
            where, "truncated or badly padded base64 repaired", DefectKind.TRANSFER_ENCODING
        )
        return self._base64_chunk(data)

    @staticmethod
    def _base64_chunk(data: bytes) -> bytes:
        cleaned = _B64_JUNK.sub(b"", data)
        if len(cleaned) % 4 == 1:
            cleaned = cleaned[:-1]
        cleaned += b"=" * (-len(cleaned) % 4)
        try:
            return binascii.a2b_base64(cleaned)
        except binascii.Error:  # pragma: no cover - cleaned is valid base64 by construction
            return b""

    def _uudecode(self, data: bytes, where: str) -> bytes:
        out: list[bytes] = []
        lines = data.split(b"\n")
        started = False
        for line in lines:
            if not started:
                started = line.startswith(b"begin ")
                continue
            if line.strip() == b"end":
                break
            if not line.strip():
                continue
            try:
                out.append(binascii.a2b_uu(line))
            except binascii.Error:
                self.defect(where, "bad uuencoded line skipped", DefectKind.TRANSFER_ENCODING)
        return b"".join(out)

    def text(self, node: _Node) -> str:
        """The decoded text of a text-like leaf, line ends ``\\n``, without NUL; cached."""
        if node._text is not None:
            return node._text
        data = self.payload(node)
        charset = node.charset
        if charset is None and node.content_type.startswith("message/global"):
            charset = "utf-8"  # RFC 6532 §3.5-3.7: message/global* parts are UTF-8
        if charset is None and node.content_type == "text/html" and not data.isascii():
            found = _META_CHARSET.search(data, 0, 4096)
            if found is not None and codec_for(found.group(1).decode("ascii")):
                charset = found.group(1).decode("ascii")
        text = decode_bytes(data, charset, node.where, self.defects, declared=charset is not None)
        if "\r" in text:
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        if "\x00" in text:
            text = text.replace("\x00", "")
        if node.content_type == "text/plain" and (node.param("format") or "").lower() == "flowed":
            text = _unflow(text, (node.param("delsp") or "").lower() == "yes")
        node._text = text
        return text

    # -- body and attachments ----------------------------------------------------------------

    def select(self, node: _Node) -> tuple[list[tuple[bool, _Node]], list[_Node]]:
        """(text pieces as (is_html, node), html nodes) of the body below ``node``; files found on
        the way become attachments."""
        kind = node.content_type
        if node.opaque:
            return [], []
        children = node.children
        if children is not None:
            subtype = kind.partition("/")[2]
            if not children:
                return [], []
            if subtype == "alternative":
                results = [self.select(child) for child in children]
                # text: the first alternative with text/plain (as the stdlib's get_body; broken
                # mailers send several plain alternatives, the first is the real one); HTML: the
                # last one with HTML (RFC 2046 §5.1.4: the last is the richest).
                texts = next(
                    (t for t, _ in results if any(not is_html for is_html, _ in t)),
                    next((t for t, _ in reversed(results) if t), []),
                )
                htmls = next((h for _, h in reversed(results) if h), [])
                return texts, htmls
            if subtype == "related":
                start = node.param("start")
                start_id = parse_msgids(start)[0] if start and parse_msgids(start) else None
                root = next(
                    (c for c in children if start_id and c.content_id == start_id), children[0]
                )
                result = self.select(root)
                for child in children:
                    if child is not root:
                        self.attach_all(child, inline_default=True)
                return result
            if subtype in ("report", "signed"):
                result = self.select(children[0])
                for child in children[1:]:
                    if subtype == "signed" and child.content_type in _SIGNATURES:
                        continue
                    self.attach_all(child)
                return result
            if subtype == "encrypted":
                self.defect(
                    node.where,
                    f"encrypted content ({node.param('protocol') or 'no protocol'}) not decoded",
                    DefectKind.ENCRYPTED,
                )
                for child in children:
                    if child.content_type != "application/pgp-encrypted":
                        self.attach_all(child)
                return [], []
            all_texts: list[tuple[bool, _Node]] = []
            all_htmls: list[_Node] = []
            for child in children:
                texts_here, htmls_here = self.select(child)
                all_texts.extend(texts_here)
                all_htmls.extend(htmls_here)
            return all_texts, all_htmls
        if kind in ("text/plain", "text/html") and (node.root or node.disposition != "attachment"):
            # a named text part is a file unless the mail has no other text (see _parse)
            if kind == "text/plain":
                return [(False, node)], []
            return [(True, node)], [node]
        self.attach_all(node)
        return [], []

    def attach_all(self, node: _Node, *, inline_default: bool = False) -> None:
        """Every file at or below ``node`` becomes an attachment (no body is looked for)."""
        if node.opaque:
            return
        if node.children is not None:
            for child in node.children:
                self.attach_all(child, inline_default=inline_default)
            return
        kind = node.content_type
        if kind in _TEXT_LIKE:
            return
        if kind in _PKCS7_MIME:
            smime = node.param("smime-type") or "unknown"
            self.defect(
                node.where,
                f"S/MIME content ({smime}) not decoded; kept as attachment",
                DefectKind.ENCRYPTED,
            )
        payload = self.payload(node)
        if not payload:
            return
        inline = node.disposition == "inline" or (
            node.disposition is None and (inline_default or node.content_id is not None)
        )
        self.attachments.append(
            Attachment(
                filename=node.filename,
                declared_type=kind,
                sniffed_type=sniff(payload),
                size=len(payload),
                sha256=hashlib.sha256(payload).hexdigest(),
                payload=payload,
                content_id=node.content_id,
                inline=inline,
                part_path=node.path,
            )
        )

    def flatten(self, root: _Node, root_headers: tuple[tuple[str, str], ...]) -> list[MailPart]:
        """Every entity in document order (pre-order), as :class:`MailPart` values."""
        out: list[MailPart] = []
        stack = [root]
        while stack:
            node = stack.pop()
            headers = (
                root_headers
                if node is root
                else tuple(
                    (name, decode_words(value, node.where, self.defects).strip())
                    for name, value in node.headers
                )
            )
            if node.children is not None:
                out.append(
                    MailPart(
                        path=node.path,
                        content_type=node.content_type,
                        params=tuple(node.params),
                        disposition=node.disposition,
                        headers=headers,
                    )
                )
                stack.extend(reversed(node.children))
                continue
            kind = node.content_type
            payload = b"" if node.opaque else self.payload(node)
            text = (
                self.text(node)
                if (kind.startswith("text/") or kind in _TEXT_LIKE) and not node.opaque
                else None
            )
            out.append(
                MailPart(
                    path=node.path,
                    content_type=kind,
                    params=tuple(node.params),
                    disposition=node.disposition,
                    filename=node.filename,
                    charset=node.charset,
                    content_id=node.content_id,
                    payload=payload,
                    text=text,
                    headers=headers,
                )
            )
        return out


def _unflow(text: str, delsp: bool) -> str:
    """Join the soft line breaks of ``format=flowed`` text (RFC 3676 §4.2)."""
    out: list[str] = []
    held: str | None = None
    held_depth = 0
    for line in text.split("\n"):
        depth = len(line) - len(line.lstrip(">"))
        content = line[depth:]
        if content.startswith(" "):
            content = content[1:]  # RFC 3676 §4.4 space-stuffing
        flowed = content.endswith(" ") and content != "-- "
        if flowed and delsp:
            content = content[:-1]
        if held is not None and held_depth != depth:
            out.append((">" * held_depth + " " if held_depth else "") + held)
            held = None
        held = content if held is None else held + content
        held_depth = depth
        if not flowed:
            out.append((">" * depth + " " if depth else "") + held)
            held = None
    if held is not None:
        out.append((">" * held_depth + " " if held_depth else "") + held)
    return "\n".join(out)


def _document_order(root: _Node) -> list[str]:
    out: list[str] = []
    stack = [root]
    while stack:
        node = stack.pop()
        out.append(node.path)
        if node.children is not None:
            stack.extend(reversed(node.children))
    return out


def _first(headers: list[tuple[str, str]], name: str) -> str | None:
    for key, value in headers:
        if key.lower() == name:
            return value
    return None


def parse_mail(raw: bytes) -> InboundMail:
    """Parse one mail. Never raises on malformed mail: it is repaired and recorded in ``defects``.

    Raises :class:`TypeError` only when ``raw`` is not bytes-like (a programming error).
    """
    if not isinstance(raw, bytes | bytearray | memoryview):
        raise TypeError(f"parse_mail expects bytes, not {type(raw).__name__}")
    raw = bytes(raw)
    try:
        return _parse(raw)
    except Exception as exc:  # a bug must not stop an import: report it as a defect
        return InboundMail(
            raw=raw,
            headers=(),
            message_id=None,
            defects=(
                MailDefect(
                    where="mail",
                    what=f"internal parser error: {type(exc).__name__}: {exc}",
                    kind=DefectKind.OTHER,
                ),
            ),
        )


def _parse(raw: bytes) -> InboundMail:
    defects: list[MailDefect] = []
    buf = raw
    blank = not raw or raw.isspace()  # (no copy: strip() would copy a 25 MB mail)
    if blank:
        defects.append(MailDefect(where="mail", what="empty message", kind=DefectKind.EMPTY))
    if b"\r" in buf:
        buf = buf.replace(b"\r\n", b"\n")
        if b"\r" in buf:
            defects.append(
                MailDefect(
                    where="mail",
                    what="bare CR line ends read as line breaks",
                    kind=DefectKind.LINE_ENDS,
                )
            )
            buf = buf.replace(b"\r", b"\n")
    if b"\x00" in buf:
        defects.append(
            MailDefect(where="mail", what="NUL bytes (removed from text)", kind=DefectKind.NUL)
        )
    parser = _Parser(buf, defects)
    before_headers = len(defects)
    headers, body_start = parse_header_block(buf, 0, len(buf), "header", defects)
    if any(d.kind is DefectKind.HEADER_ENCODING for d in defects):
        # Raw 8-bit headers that are not UTF-8: the charset the mail declares for its text is the
        # best guess for the same mailer's headers (GB2312 subjects from Chinese webmail, ...).
        hint = _CHARSET_HINT.search(buf, 0, 65536)
        codec = codec_for(hint.group(1).decode("ascii")) if hint is not None else None
        if codec is not None and codec not in ("utf-8", "ascii"):
            del defects[before_headers:]
            headers, body_start = parse_header_block(buf, 0, len(buf), "header", defects, codec)
    root = parser.entity(
        start=0,
        end=len(buf),
        path="",
        depth=0,
        default_type="text/plain",
        headers=headers,
        body_start=body_start,
    )
    root.root = True

    # -- headers ---------------------------------------------------------------------------
    decoded: list[tuple[str, str]] = []
    lists: dict[str, list[str]] = {}
    for name, value in headers:
        lower = name.lower()
        if lower in _LIST_HEADERS:
            lists.setdefault(lower, []).append(value)
        if "=?" in value or "\t" in value:  # values are already unfolded and stripped
            decoded.append((name, decode_words(value, f"header:{name}", defects).strip()))
        else:
            decoded.append((name, value))

    def addresses(lower: str, name: str) -> tuple[Address, ...]:
        found: list[Address] = []
        for value in lists.get(lower, ()):
            found.extend(parse_address_list(value, defects, f"header:{name}"))
        return tuple(found)

    message_id_value = _first(headers, "message-id")
    message_ids = parse_msgids(message_id_value)
    if not message_ids:
        what = (
            "missing Message-ID" if message_id_value is None else "empty or unreadable Message-ID"
        )
        kind = DefectKind.MISSING_HEADER if message_id_value is None else DefectKind.MESSAGE_ID
        defects.append(MailDefect(where="header:Message-ID", what=what, kind=kind))
    in_reply_to_value = _first(headers, "in-reply-to")
    in_reply_to = parse_msgids(in_reply_to_value)
    if in_reply_to_value is not None and in_reply_to_value.strip() and not in_reply_to:
        defects.append(
            MailDefect(where="header:In-Reply-To", what="no message id", kind=DefectKind.MESSAGE_ID)
        )
    references = tuple(mid for value in lists.get("references", ()) for mid in parse_msgids(value))
    date_value = _first(headers, "date")
    date = parse_date(date_value, defects) if date_value is not None else None
    subject = _first(decoded, "subject") or ""
    from_ = addresses("from", "From")
    if not blank:
        if "from" not in lists:
            defects.append(
                MailDefect(where="header:From", what="missing From", kind=DefectKind.MISSING_HEADER)
            )
        if date_value is None:
            defects.append(
                MailDefect(where="header:Date", what="missing Date", kind=DefectKind.MISSING_HEADER)
            )
    sender = addresses("sender", "Sender")
    return_path = _first(headers, "return-path")

    # -- body --------------------------------------------------------------------------------
    pieces, html_nodes = parser.select(root)
    if any(node.filename is None or node.root for _, node in pieces):
        # Text parts with a file name are files when the mail has other text, else the body
        # (a bounce's "deliveryproblems.txt", a one-part mail sent as "message.txt").
        named = {id(node) for _, node in pieces if node.filename is not None and not node.root}
        if named:
            for _, node in pieces:
                if id(node) in named:
                    parser.attach_all(node)
            pieces = [(is_html, node) for is_html, node in pieces if id(node) not in named]
            html_nodes = [node for node in html_nodes if id(node) not in named]
            order = {node_path: index for index, node_path in enumerate(_document_order(root))}
            parser.attachments.sort(key=lambda a: order.get(a.part_path, 0))
    decoded_headers = tuple(decoded)
    parts = parser.flatten(root, decoded_headers)
    texts: list[str] = []
    from_plain = False
    converted: dict[int, str] = {}
    for is_html, node in pieces:
        if is_html:
            piece = converted.get(id(node))
            if piece is None:
                piece = converted[id(node)] = html_to_text(parser.text(node))
        else:
            piece = parser.text(node).strip("\n")
        if piece.strip():
            texts.append(piece)
            from_plain = from_plain or not is_html
    html = "\n".join(parser.text(node) for node in html_nodes) if html_nodes else None
    text = "\n\n".join(texts)
    text_from_html = bool(texts) and not from_plain
    if not text.strip() and html is not None:
        text = html_to_text(html)
        text_from_html = bool(text)
    body_end = len(buf)
    while body_end > body_start and buf[body_end - 1] == 0x0A:  # trailing line ends do not count
        body_end -= 1
    return InboundMail(
        raw=raw,
        headers=decoded_headers,
        message_id=message_ids[0] if message_ids else None,
        in_reply_to=in_reply_to,
        references=references,
        subject=subject,
        date=date,
        from_=from_,
        sender=sender[0] if sender else None,
        reply_to=addresses("reply-to", "Reply-To"),
        to=addresses("to", "To"),
        cc=addresses("cc", "Cc"),
        bcc=addresses("bcc", "Bcc"),
        return_path=return_path.strip() if return_path is not None else None,
        content_type=root.content_type,
        text=text,
        html=html,
        text_from_html=text_from_html,
        attachments=tuple(parser.attachments),
        parts=tuple(parts),
        body_digest=hashlib.sha256(memoryview(buf)[body_start:body_end]).hexdigest(),
        defects=tuple(dict.fromkeys(defects)),  # the same defect found twice is listed once
    )
