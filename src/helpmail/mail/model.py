"""Value types for one inbound mail: addresses, MIME parts, attachments, defects.

All types are frozen and keyword-only. :class:`InboundMail` is what :func:`helpmail.parse_mail`
returns and what every later step (classification, ticket references, rules, reply extraction)
reads; none of them needs the raw bytes again, but they are kept (``raw``) so a mail can be stored
in a quarantine or re-parsed byte for byte.
"""

from __future__ import annotations

import datetime as dt
import enum
import functools
from collections.abc import Iterator

import attrs


@functools.lru_cache(maxsize=4096)
def _ascii_domain(domain: str) -> str:
    """Lower-case ASCII (IDNA 2003 ToASCII, label by label) form of a domain.

    A label that cannot be encoded (too long, forbidden characters) is kept lower-cased as written,
    so the result is always defined; comparisons of such domains fall back to Unicode equality.
    """
    domain = domain.strip().rstrip(".").lower()
    if domain.isascii():
        return domain
    labels: list[str] = []
    for label in (
        domain.replace("\u3002", ".").replace("\uff0e", ".").replace("\uff61", ".").split(".")
    ):
        if label.isascii():
            labels.append(label)
            continue
        try:
            labels.append(label.encode("idna").decode("ascii"))
        except UnicodeError:
            labels.append(label)
    return ".".join(labels)


@functools.lru_cache(maxsize=4096)
def _unicode_domain(domain: str) -> str:
    """Lower-case Unicode form of a domain: ``xn--`` labels (RFC 3492 punycode) decoded."""
    domain = domain.strip().rstrip(".").lower()
    if "xn--" not in domain:
        return domain
    labels: list[str] = []
    for label in domain.split("."):
        if label.startswith("xn--") and label.isascii():
            try:
                decoded = label.encode("ascii").decode("idna")
                # RFC 3490 §4.2 step 7: ToUnicode must round-trip, else keep the label as it is
                if decoded.encode("idna").decode("ascii") == label:
                    labels.append(decoded)
                    continue
            except UnicodeError:
                pass
        labels.append(label)
    return ".".join(labels)


@attrs.frozen(kw_only=True)
class Address:
    """One mailbox from an address header (RFC 5322 §3.4).

    ``addr_spec`` is ``local@domain`` as written, with the domain shown in Unicode. ``key`` is the
    form used for every comparison: case-folded local part and the lower-case ASCII (IDNA) domain,
    so
    ``Bob@Exämple.ORG`` and ``bob@xn--exmple-cua.org`` are the same person. Display names never
    take part in comparisons.
    """

    addr_spec: str
    name: str = ""

    @property
    def local(self) -> str:
        return self.addr_spec.rpartition("@")[0] if "@" in self.addr_spec else self.addr_spec

    @property
    def domain(self) -> str:
        """Domain in Unicode, lower case ('' when the address has no domain)."""
        return _unicode_domain(self.addr_spec.rpartition("@")[2]) if "@" in self.addr_spec else ""

    @property
    def ascii_domain(self) -> str:
        return _ascii_domain(self.addr_spec.rpartition("@")[2]) if "@" in self.addr_spec else ""

    @property
    def key(self) -> str:
        """Normalised addr-spec for comparisons (see class docstring)."""
        if "@" not in self.addr_spec:
            return self.addr_spec.casefold()
        return f"{self.local.casefold()}@{self.ascii_domain}"

    @property
    def unicode_addr_spec(self) -> str:
        """``local@domain`` with the domain in Unicode (``xn--`` labels decoded)."""
        if "@" not in self.addr_spec:
            return self.addr_spec
        return f"{self.local}@{self.domain}"

    @property
    def ascii_addr_spec(self) -> str:
        """``local@domain`` with the domain in ASCII (IDNA); use it on the wire to SMTP servers
        without SMTPUTF8."""
        if "@" not in self.addr_spec:
            return self.addr_spec
        return f"{self.local}@{self.ascii_domain}"

    @classmethod
    def parse(cls, text: str) -> Address:
        """Build an address from ``user@host`` or ``Name <user@host>`` text (no validation).

        Uses the same tolerant parser as :func:`helpmail.parse_mail` (RFC 2047 words in the name
        are decoded); text that holds no address becomes ``Address(addr_spec=text.strip())``.
        """
        from helpmail.mail.addresses import parse_address_list

        found = parse_address_list(text, [], "address")
        if found:
            return found[0]
        return cls(addr_spec=text.strip())

    def __str__(self) -> str:
        if self.name:
            return f"{self.name} <{self.addr_spec}>"
        return self.addr_spec


def address_key(addr_spec: str) -> str:
    """Comparison key of a bare addr-spec string (same rule as :attr:`Address.key`)."""
    return Address(addr_spec=addr_spec).key


class DefectKind(enum.StrEnum):
    """What sort of thing a :class:`MailDefect` reports (stable values, for matching in code)."""

    EMPTY = "empty"
    """The input holds no mail at all (empty or only white space)."""
    LINE_ENDS = "line_ends"
    """Bare CR line ends (RFC 5322 §2.3 allows only CRLF); they were read as line breaks."""
    NUL = "nul"
    """NUL bytes in the mail (RFC 5322 §2.3 forbids them); removed from decoded text."""
    HEADER_SYNTAX = "header_syntax"
    """A header line that is not ``name: value`` (RFC 5322 §2.2), or a header block without end."""
    HEADER_ENCODING = "header_encoding"
    """8-bit header bytes that are not UTF-8 (RFC 6532), or a broken RFC 2047 encoded word."""
    MISSING_HEADER = "missing_header"
    """A header RFC 5322 §3.6 requires (From, Date) or helpmail needs (Message-ID) is missing."""
    ADDRESS = "address"
    """An address-list entry that is not a mailbox (RFC 5322 §3.4)."""
    MESSAGE_ID = "message_id"
    """A Message-ID / In-Reply-To / References value without a usable id (RFC 5322 §3.6.4)."""
    DATE = "date"
    """A Date header that could not be read, or has no usable zone (RFC 5322 §3.3)."""
    CHARSET = "charset"
    """An unknown charset label, or bytes that do not match the declared charset."""
    CONTENT_TYPE = "content_type"
    """A malformed Content-Type / Content-Disposition or parameter (RFC 2045 §5.1, RFC 2231)."""
    MIME_STRUCTURE = "mime_structure"
    """Missing or unclosed multipart boundaries, truncated parts (RFC 2046 §5.1)."""
    TRANSFER_ENCODING = "transfer_encoding"
    """Invalid base64 / quoted-printable, or an unknown Content-Transfer-Encoding (RFC 2045 §6)."""
    DEPTH = "depth"
    """MIME nesting deeper than :data:`helpmail.mail.parse.MAX_DEPTH`; the rest is kept raw."""
    ENCRYPTED = "encrypted"
    """Encrypted or opaque-signed content (S/MIME, PGP/MIME) that helpmail does not decode."""
    OTHER = "other"


@attrs.frozen(kw_only=True)
class MailDefect:
    """Something malformed that parsing repaired or skipped.

    ``where`` names the place: ``"header:Subject"``, ``"part:1.2"``, ``"mail"``. ``what`` is a short
    readable description. ``kind`` (a :class:`DefectKind`) is the stable value to match in code.
    """

    where: str
    what: str
    kind: DefectKind = DefectKind.OTHER

    def __str__(self) -> str:
        return f"{self.where}: {self.what}"


@attrs.frozen(kw_only=True)
class MailPart:
    """One leaf or container of the MIME tree, flattened in document order.

    ``path`` is the dotted position (``"1"``, ``"2.1"``; the root is ``""``). ``payload`` holds the
    transfer-decoded bytes of leaf parts (``b""`` for multiparts). ``text`` is the decoded text for
    ``text/*``, ``message/delivery-status``, ``message/global-delivery-status``,
    ``message/feedback-report`` and ``text/rfc822-headers`` parts, else ``None``. For
    ``message/rfc822`` parts, ``payload`` is the embedded message's bytes.
    """

    path: str
    content_type: str
    params: tuple[tuple[str, str], ...] = ()
    disposition: str | None = None
    filename: str | None = None
    charset: str | None = None
    content_id: str | None = None
    payload: bytes = b""
    text: str | None = None
    headers: tuple[tuple[str, str], ...] = ()

    def param(self, name: str) -> str | None:
        name = name.lower()
        for key, value in self.params:
            if key == name:
                return value
        return None

    @property
    def maintype(self) -> str:
        return self.content_type.partition("/")[0]

    @property
    def is_multipart(self) -> bool:
        return self.maintype == "multipart"


@attrs.frozen(kw_only=True)
class Attachment:
    """A file carried by the mail (any non-body leaf part with a non-empty payload).

    ``declared_type`` is what the Content-Type header says; ``sniffed_type`` is what the bytes are,
    found from their signature ("magic", :mod:`helpmail.mail.sniff`), or ``None`` when the content
    matches no known signature. Decisions about which attachments to keep look at ``sniffed_type``
    only: the name and the declared type are chosen by the sender. ``payload`` is the
    transfer-decoded content (for a ``message/rfc822`` attachment: the embedded mail's bytes, which
    :func:`helpmail.parse_mail` reads), ``size`` its length and ``sha256`` its hex digest.
    ``filename`` is the last path component of the (RFC 2231 / RFC 2047 decoded) name, ``None``
    when the part has none. ``inline`` is true for ``Content-Disposition: inline`` parts and for
    the resources of a ``multipart/related`` body (images referenced by ``cid:`` from the HTML,
    ``content_id`` without brackets). ``part_path`` is the :attr:`MailPart.path` of its part.
    """

    filename: str | None
    declared_type: str
    sniffed_type: str | None
    size: int
    sha256: str
    payload: bytes = attrs.field(repr=False)
    content_id: str | None = None
    inline: bool = False
    part_path: str = ""


@attrs.frozen(kw_only=True)
class InboundMail:
    """A parsed inbound mail: everything the pipeline reads, decoded.

    Message ids are stored without angle brackets. ``text`` is the best plain-text body: the
    ``text/plain`` body parts (several inline ones joined by a blank line) when they hold text,
    else the HTML body converted to readable text (``text_from_html`` is then true); line ends are
    ``\\n``, ``format=flowed`` is joined, NUL characters are removed. ``html`` is the HTML body as
    sent (``None`` without one). ``headers`` are all header fields in order, unfolded and RFC 2047
    decoded. ``date`` is always time-zone aware (UTC when the mail gives no zone). ``return_path``
    is the Return-Path value as written (``"<>"`` for the null path; see
    :attr:`return_path_address`). ``body_digest`` is the SHA-256 of the raw body (everything after
    the header block, line ends normalised, trailing line ends ignored): two copies of one mail
    delivered to two support addresses differ in their trace headers but share it. ``defects``
    lists what parsing repaired or skipped (:class:`MailDefect`); a mail without defects was
    well-formed as far as helpmail reads it.
    """

    raw: bytes = attrs.field(repr=False)
    headers: tuple[tuple[str, str], ...] = attrs.field(repr=False)
    message_id: str | None
    in_reply_to: tuple[str, ...] = ()
    references: tuple[str, ...] = ()
    subject: str = ""
    date: dt.datetime | None = None
    from_: tuple[Address, ...] = ()
    sender: Address | None = None
    reply_to: tuple[Address, ...] = ()
    to: tuple[Address, ...] = ()
    cc: tuple[Address, ...] = ()
    bcc: tuple[Address, ...] = ()
    return_path: str | None = None
    content_type: str = "text/plain"
    text: str = attrs.field(default="", repr=False)
    html: str | None = attrs.field(default=None, repr=False)
    text_from_html: bool = False
    attachments: tuple[Attachment, ...] = ()
    parts: tuple[MailPart, ...] = attrs.field(default=(), repr=False)
    body_digest: str = ""
    defects: tuple[MailDefect, ...] = ()

    @property
    def from_address(self) -> Address | None:
        """The first From address (the author), or ``None`` when From is missing or empty."""
        return self.from_[0] if self.from_ else None

    @property
    def size(self) -> int:
        """Size of the raw mail in bytes."""
        return len(self.raw)

    @property
    def return_path_address(self) -> str | None:
        """The addr-spec of Return-Path: ``""`` for the null path ``<>`` (RFC 5321 §4.5.5: bounces
        and auto-replies), ``None`` when the header is missing."""
        if self.return_path is None:
            return None
        value = self.return_path.strip()
        if value.startswith("<"):
            value = value[1:].partition(">")[0]
        return value.strip()

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (case-insensitive), decoded, or ``None``."""
        name = name.lower()
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return None

    def header_all(self, name: str) -> tuple[str, ...]:
        """All values of header ``name`` in order of appearance."""
        name = name.lower()
        return tuple(value for key, value in self.headers if key.lower() == name)

    def recipients(self) -> Iterator[Address]:
        """To, Cc and Bcc addresses in that order."""
        yield from self.to
        yield from self.cc
        yield from self.bcc

    @property
    def thread_ids(self) -> tuple[str, ...]:
        """In-Reply-To then References (newest reference first), without duplicates."""
        seen: dict[str, None] = {}
        for mid in (*self.in_reply_to, *reversed(self.references)):
            seen.setdefault(mid, None)
        return tuple(seen)
