"""Header fields: the header block, RFC 2047 words, MIME parameters, message ids and dates.

Every function here reads what real mail sends, not only what the RFCs allow, and never raises:
what it has to repair it reports as a :class:`~helpmail.mail.model.MailDefect` in the list it is
given. All regular expressions are compiled once and have no nested unbounded quantifiers, so
every function is linear in its input.
"""

from __future__ import annotations

import binascii
import datetime as dt
import re

from helpmail.mail.charsets import decode_bytes
from helpmail.mail.model import DefectKind, MailDefect

# RFC 5322 §2.2: field-name = 1*(%d33-57 / %d59-126); obsolete syntax (§4.5) allows WSP before ":".
_FIELD = re.compile(rb"([\x21-\x39\x3b-\x7e]+)[ \t]*:")
# RFC 2047 §2: encoded-word = "=?" charset "?" encoding "?" encoded-text "?="
_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([QqBb])\?([^?]*)\?=")
_B64_JUNK = re.compile(rb"[^A-Za-z0-9+/]")
_B64_CHARS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="
_WSP = re.compile(r"[ \t]+")


# -- header block -------------------------------------------------------------------------------


def header_text(
    value: bytes, where: str, defects: list[MailDefect], fallback: str = "cp1252"
) -> str:
    """Header bytes to text: ASCII, else UTF-8 (RFC 6532), else ``fallback`` with a defect.

    The fallback is cp1252 unless the caller knows better (the charset the mail declares for its
    body is the best guess for raw 8-bit headers written by the same mailer).
    """
    if value.isascii():
        return value.decode("ascii")
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        defects.append(
            MailDefect(
                where=where,
                what=f"8-bit header is not UTF-8; read as {fallback}",
                kind=DefectKind.HEADER_ENCODING,
            )
        )
        return decode_bytes(value, fallback, where, [])


def parse_header_block(  # noqa: PLR0917 - buffer, span, place and defect list read best by position
    buf: bytes,
    start: int,
    end: int,
    where: str,
    defects: list[MailDefect],
    fallback: str = "cp1252",
) -> tuple[list[tuple[str, str]], int]:
    """Read the header block of the entity at ``buf[start:end]`` (line ends already ``\\n``).

    Returns ``(fields, body_start)``: field names as written and values unfolded (RFC 5322
    §2.2.3: the line breaks of folding are removed) but not yet RFC 2047-decoded. The block ends at
    the first empty line; a line that is not a field starts the body (as the stdlib parser does),
    with a defect. A leading mbox ``From `` line is skipped.
    """
    fields: list[tuple[str, str]] = []
    name: str | None = None
    chunks: list[bytes] = []
    pos = start
    first = True
    while pos < end:
        nl = buf.find(b"\n", pos, end)
        line_end = end if nl < 0 else nl
        next_pos = end if nl < 0 else nl + 1
        if line_end == pos:  # the empty line that ends the header block
            pos = next_pos
            break
        first_byte = buf[pos]
        if first_byte in (0x20, 0x09):  # continuation line (folding)
            if name is None:
                defects.append(
                    MailDefect(
                        where=where,
                        what="header block starts with a continuation line",
                        kind=DefectKind.HEADER_SYNTAX,
                    )
                )
            else:
                chunks.append(buf[pos:line_end])
            pos = next_pos
            first = False
            continue
        match = _FIELD.match(buf, pos, line_end)
        if match is None:
            if first and buf.startswith(b"From ", pos):  # mbox separator line
                pos = next_pos
                first = False
                continue
            defects.append(
                MailDefect(
                    where=where,
                    what="line in the header block is not a header field",
                    kind=DefectKind.HEADER_SYNTAX,
                )
            )
            break  # the body starts at this line
        if name is not None:
            fields.append((name, _join(chunks, _field_where(where, name), defects, fallback)))
        name = match.group(1).decode("ascii")
        chunks = [buf[match.end() : line_end]]
        pos = next_pos
        first = False
    if name is not None:
        fields.append((name, _join(chunks, _field_where(where, name), defects, fallback)))
    return fields, pos


def _field_where(where: str, name: str) -> str:
    return f"header:{name}" if where == "header" else f"{where} header:{name}"


def _join(chunks: list[bytes], where: str, defects: list[MailDefect], fallback: str) -> str:
    value = chunks[0] if len(chunks) == 1 else b"".join(chunks)
    text = header_text(value, where, defects, fallback)
    if "\x00" in text:
        text = text.replace("\x00", "")
    return text.strip(" \t")


# -- RFC 2047 encoded words ---------------------------------------------------------------------


def _b64(text: str) -> bytes | None:
    data = text.encode("ascii", "replace")
    if data.translate(None, _B64_CHARS):
        return None  # not base64 at all: keep the word as written
    try:
        return binascii.a2b_base64(data)
    except binascii.Error:
        cleaned = _B64_JUNK.sub(b"", data)
        cleaned = cleaned[: len(cleaned) - len(cleaned) % 4] if len(cleaned) % 4 == 1 else cleaned
        cleaned += b"=" * (-len(cleaned) % 4)
        try:
            return binascii.a2b_base64(cleaned)
        except binascii.Error:
            return None


def decode_words(value: str, where: str, defects: list[MailDefect]) -> str:
    """Decode the RFC 2047 encoded words in ``value``; tabs become spaces.

    White space between two adjacent encoded words is dropped (RFC 2047 §6.2) and adjacent words in
    the same charset are joined before decoding, so a multi-byte character split over two words
    survives. Words inside quoted strings or glued to other text (both forbidden, both common)
    are decoded too. A word that cannot be decoded is kept as written, with a defect.
    """
    if "\t" in value:
        value = value.replace("\t", " ")
    if "=?" not in value:
        return value
    out: list[str] = []
    pending = b""
    pending_charset = ""
    pos = 0
    after_word = False
    for match in _ENCODED_WORD.finditer(value):
        gap = value[pos : match.start()]
        charset, encoding, text = match.group(1), match.group(2), match.group(3)
        data = (
            _b64(text)
            if encoding in "Bb"
            else binascii.a2b_qp(text.encode("utf-8", "replace"), header=True)
        )
        if data is None:
            defects.append(
                MailDefect(
                    where=where, what="undecodable encoded word", kind=DefectKind.HEADER_ENCODING
                )
            )
            if pending:
                out.append(decode_bytes(pending, pending_charset, where, defects))
                pending = b""
            out.append(gap)
            out.append(match.group(0))
            pos = match.end()
            after_word = False
            continue
        if after_word and not gap.strip(" \n\r"):
            gap = ""
        charset_key = charset.split("*", 1)[0].lower()
        if gap or charset_key != pending_charset:
            if pending:
                out.append(decode_bytes(pending, pending_charset, where, defects))
            out.append(gap)
            pending = data
            pending_charset = charset_key
        else:
            pending += data
        pos = match.end()
        after_word = True
    if pending:
        out.append(decode_bytes(pending, pending_charset, where, defects))
    out.append(value[pos:])
    return "".join(out)


def display_text(value: str, where: str, defects: list[MailDefect]) -> str:
    """A header value as people read it: encoded words decoded, white space runs collapsed."""
    decoded = decode_words(value, where, defects)
    if "  " in decoded or "\n" in decoded or "\r" in decoded:
        decoded = _WSP.sub(" ", decoded.replace("\r", " ").replace("\n", " "))
    return decoded.strip()


# -- MIME parameters (RFC 2045 §5.1, RFC 2231) --------------------------------------------------


def _skip_comment(value: str, pos: int) -> int:
    """Position after the (nested) RFC 5322 comment that starts at ``value[pos] == '('``."""
    depth = 0
    n = len(value)
    while pos < n:
        ch = value[pos]
        if ch == "\\":
            pos += 2
            continue
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                return pos + 1
        pos += 1
    return n


def _quoted(value: str, pos: int) -> tuple[str, int, bool]:
    """The quoted string starting at ``value[pos] == '"'``: (content, end, terminated)."""
    out: list[str] = []
    n = len(value)
    pos += 1
    start = pos
    while pos < n:
        ch = value[pos]
        if ch == "\\" and pos + 1 < n:
            out.append(value[start:pos])
            out.append(value[pos + 1])
            pos += 2
            start = pos
            continue
        if ch == '"':
            out.append(value[start:pos])
            return "".join(out), pos + 1, True
        pos += 1
    out.append(value[start:])
    return "".join(out), n, False


def parse_parameters(
    value: str, where: str, defects: list[MailDefect]
) -> tuple[str, list[tuple[str, str]]]:
    """Split ``type/subtype; name=value; ...`` into the lower-cased first item and parameters.

    Parameter names are lower-cased; values are unquoted, RFC 2231 continuations (``name*0``,
    ``name*1*``) joined and their charsets decoded, and RFC 2047 words (forbidden in parameters,
    sent by Outlook and Gmail for file names) decoded. Broken pieces are kept as well as possible,
    with a defect.
    """
    n = len(value)
    semi = value.find(";")
    head_end = n if semi < 0 else semi
    head = value[:head_end]
    if "(" in head:
        head = head[: head.find("(")]
    first = "".join(head.split()).lower()
    pos = head_end
    plain: list[tuple[str, str]] = []
    extended: dict[str, list[tuple[int, bool, str]]] = {}
    while pos < n:
        ch = value[pos]
        if ch in "; \t\r\n":
            pos += 1
            continue
        if ch == "(":
            pos = _skip_comment(value, pos)
            continue
        eq = value.find("=", pos)
        semi = value.find(";", pos)
        if eq < 0 or (0 <= semi < eq):
            stop = n if semi < 0 else semi
            defects.append(
                MailDefect(
                    where=where,
                    what=f"parameter without value {value[pos:stop].strip()[:40]!r}",
                    kind=DefectKind.CONTENT_TYPE,
                )
            )
            pos = stop
            continue
        name = value[pos:eq].strip().lower()
        pos = eq + 1
        while pos < n and value[pos] in " \t":
            pos += 1
        if pos < n and value[pos] == '"':
            text, pos, closed = _quoted(value, pos)
            if not closed:
                defects.append(
                    MailDefect(
                        where=where,
                        what=f"unterminated quoted value for {name!r}",
                        kind=DefectKind.CONTENT_TYPE,
                    )
                )
        else:
            semi = value.find(";", pos)
            stop = n if semi < 0 else semi
            text = value[pos:stop].strip()
            pos = stop
        if "*" in name:
            base, _, rest = name.partition("*")
            is_ext = rest.endswith("*") or rest == ""
            index_text = rest.rstrip("*")
            if index_text and not (
                index_text.isascii() and index_text.isdigit() and len(index_text) < 6
            ):
                defects.append(
                    MailDefect(
                        where=where,
                        what=f"bad RFC 2231 section {name!r}",
                        kind=DefectKind.CONTENT_TYPE,
                    )
                )
                index_text = "0"
            extended.setdefault(base, []).append((int(index_text or 0), is_ext, text))
        elif name:
            plain.append((name, text))
    params: dict[str, str] = {}
    for name, text in plain:
        params.setdefault(
            name, decode_words(text, where, defects).strip() if "=?" in text else text
        )
    for base, sections in extended.items():
        if not base:
            continue  # "*=value": a section of no parameter
        # RFC 2231 §4.1: an extended value wins over a plain value of the same name.
        params[base] = _join_2231(base, sections, where, defects)
    return first, list(params.items())


def _join_2231(
    name: str, sections: list[tuple[int, bool, str]], where: str, defects: list[MailDefect]
) -> str:
    sections.sort(key=lambda item: item[0])
    indices = [index for index, _, _ in sections]
    if indices != list(range(len(indices))):
        defects.append(
            MailDefect(
                where=where,
                what=f"RFC 2231 sections of {name!r} are not 0..n",
                kind=DefectKind.CONTENT_TYPE,
            )
        )
    charset = ""
    chunks: list[bytes] = []
    for number, (_, is_ext, section) in enumerate(sections):
        text = section
        if is_ext:
            if number == 0:
                # RFC 2231 §4: charset'language'value in the first section
                parts = section.split("'", 2)
                if len(parts) == 3:
                    charset, text = parts[0], parts[2]
                else:
                    defects.append(
                        MailDefect(
                            where=where,
                            what=f"RFC 2231 value of {name!r} lacks charset'lang'",
                            kind=DefectKind.CONTENT_TYPE,
                        )
                    )
            chunks.append(_unquote_percent(text, name, where, defects))
        else:
            chunks.append(text.encode("utf-8", "surrogateescape"))
    data = b"".join(chunks)
    text = decode_bytes(data, charset or "utf-8", where, defects, declared=bool(charset))
    if "=?" in text:  # some mailers put RFC 2047 words inside RFC 2231 values
        text = decode_words(text, where, defects)
    return text


def _unquote_percent(text: str, name: str, where: str, defects: list[MailDefect]) -> bytes:
    data = text.encode("utf-8", "surrogateescape")
    if b"%" not in data:
        return data
    out = bytearray()
    pos = 0
    n = len(data)
    bad = False
    while pos < n:
        pct = data.find(b"%", pos)
        if pct < 0:
            out += data[pos:]
            break
        out += data[pos:pct]
        pair = data[pct + 1 : pct + 3]
        try:
            out += bytes.fromhex(pair.decode("ascii")) if len(pair) == 2 else b""
            if len(pair) != 2:
                raise ValueError
            pos = pct + 3
        except ValueError:
            bad = True
            out += b"%"
            pos = pct + 1
    if bad:
        defects.append(
            MailDefect(
                where=where,
                what=f"bad %-escape in RFC 2231 value of {name!r}",
                kind=DefectKind.CONTENT_TYPE,
            )
        )
    return bytes(out)


# -- message ids (RFC 5322 §3.6.4) --------------------------------------------------------------


def parse_msgids(value: str | None) -> tuple[str, ...]:
    """The message ids in a Message-ID / In-Reply-To / References / Content-ID value.

    RFC 5322 §3.6.4: ``msg-id = [CFWS] "<" id-left "@" id-right ">" [CFWS]``. Comments, quoted
    phrases (the obsolete ``In-Reply-To: Your message of "..." <id>``), commas and folding white
    space between ids are skipped; white space inside brackets is removed. When a value has no
    bracketed id, bare tokens with an ``@`` are taken (and a single bare token without one).
    Ids are returned without brackets, in order, at most 998 characters each.
    """
    if not value:
        return ()
    ids: list[str] = []
    bare: list[str] = []
    n = len(value)
    pos = 0
    token_start = -1

    def end_token(stop: int) -> None:
        nonlocal token_start
        if token_start >= 0:
            bare.append(value[token_start:stop])
            token_start = -1

    while pos < n:
        ch = value[pos]
        if ch == "<":
            end_token(pos)
            close = value.find(">", pos + 1)
            inner = value[pos + 1 : n if close < 0 else close]
            if "<" in inner:  # unbalanced "<": restart at the inner one
                pos = pos + 1 + inner.find("<")
                continue
            inner = "".join(inner.split())
            if inner and len(inner) <= 998:
                ids.append(inner)
            pos = n if close < 0 else close + 1
        elif ch == "(":
            end_token(pos)
            pos = _skip_comment(value, pos)
        elif ch == '"':
            end_token(pos)
            pos = _quoted(value, pos)[1]
        elif ch in " \t\r\n,;":
            end_token(pos)
            pos += 1
        else:
            if token_start < 0:
                token_start = pos
            pos += 1
    end_token(n)
    if ids:
        return tuple(ids)
    with_at = [t for t in bare if "@" in t and len(t) <= 998]
    if with_at:
        return tuple(t.strip(".") for t in with_at)
    if len(bare) == 1 and len(bare[0]) <= 998:
        return (bare[0],)
    return ()


# -- dates (RFC 5322 §3.3 and §4.3) -------------------------------------------------------------

_MONTHS = {
    "jan": 1,
    "feb": 2,
    "mar": 3,
    "apr": 4,
    "may": 5,
    "jun": 6,
    "jul": 7,
    "aug": 8,
    "sep": 9,
    "oct": 10,
    "nov": 11,
    "dec": 12,
    # a few localised abbreviations seen from misconfigured mailers
    "mär": 3,
    "mrz": 3,
    "mai": 5,
    "okt": 10,
    "dez": 12,
    "dic": 12,
    "ene": 1,
    "abr": 4,
    "ago": 8,
    "fev": 2,
    "avr": 4,
    "aoû": 8,
    "déc": 12,
    "mei": 5,
    "maa": 3,
    "gen": 1,
    "giu": 6,
    "lug": 7,
    "set": 9,
    "ott": 10,
}
# RFC 5322 §4.3 obsolete zones, plus the common names mailers write instead of an offset.
_ZONES = {
    "ut": 0,
    "utc": 0,
    "gmt": 0,
    "z": 0,
    "est": -300,
    "edt": -240,
    "cst": -360,
    "cdt": -300,
    "mst": -420,
    "mdt": -360,
    "pst": -480,
    "pdt": -420,
    "bst": 60,
    "cet": 60,
    "cest": 120,
    "met": 60,
    "mest": 120,
    "mez": 60,
    "mesz": 120,
    "eet": 120,
    "eest": 180,
    "wet": 0,
    "west": 60,
    "msk": 180,
    "jst": 540,
    "kst": 540,
    "hkt": 480,
    "sgt": 480,
    "aest": 600,
    "aedt": 660,
    "nzst": 720,
    "nzdt": 780,
    "hst": -600,
    "akst": -540,
    "akdt": -480,
}
_DATE_TOKEN = re.compile(
    r"(?P<time>\d{1,2}[:.]\d{2}(?:[:.]\d{2})?(?:\.\d+)?)"
    r"|(?P<zone>[+-]\d{2}:?\d{2})(?!\d)"
    r"|(?P<num>\d+)"
    r"|(?P<word>[^\W\d_]+)"
)
_ISO = re.compile(r"\s*\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")


def parse_date(value: str, defects: list[MailDefect]) -> dt.datetime | None:
    """An aware datetime from a Date value (RFC 5322 §3.3 and the obsolete forms of §4.3).

    Accepted: optional day name, day and month in either order, 2-, 3- and 4-digit years (§4.3:
    2-digit years below 50 are 20xx, others 19xx; 3-digit years add 1900), seconds optional,
    numeric or named zones, comments, ``asctime`` (``Mon Jan  1 10:00:00 2024``) and ISO 8601.
    A missing zone, ``-0000`` or a military letter (§4.3) mean "local time unknown": the result
    is then UTC, and a missing zone is recorded as a defect. Unreadable values give ``None`` and a
    defect.
    """
    where = "header:Date"
    text = value.strip()
    if "(" in text:
        kept: list[str] = []
        pos = 0
        while True:
            start = text.find("(", pos)
            if start < 0:
                kept.append(text[pos:])
                break
            kept.append(text[pos:start] + " ")
            pos = _skip_comment(text, start)
        text = "".join(kept)
    if _ISO.match(text):
        try:
            iso = dt.datetime.fromisoformat(
                text.strip().replace("Z", "+00:00").replace("z", "+00:00")
            )
        except ValueError:
            pass
        else:
            return iso if iso.tzinfo else iso.replace(tzinfo=dt.UTC)
    day = month = year = hour = minute = None
    second = 0
    offset: int | None = None
    zone_seen = False
    pm: bool | None = None
    numbers: list[str] = []
    for match in _DATE_TOKEN.finditer(text[:200]):
        kind = match.lastgroup
        token = match.group()
        if kind == "time" and hour is None:
            bits = token.replace(".", ":").split(":")
            hour, minute = int(bits[0]), int(bits[1])
            if len(bits) > 2:
                second = int(bits[2])
        elif kind == "zone" and hour is not None and not zone_seen:
            digits = token[1:].replace(":", "")
            minutes = int(digits[:2]) * 60 + int(digits[2:])
            offset = -minutes if token[0] == "-" else minutes
            zone_seen = True
            if token == "-0000":
                offset = None
        elif kind == "num":
            numbers.append(token)
        elif kind == "word":
            word = token.lower()
            if month is None and word[:3] in _MONTHS:
                month = _MONTHS[word[:3]]
            elif word in _ZONES and not zone_seen and hour is not None:
                offset = _ZONES[word]
                zone_seen = True
            elif len(word) == 1 and not zone_seen and hour is not None and word != "t":
                zone_seen = True  # RFC 5322 §4.3: military zones are treated as -0000
            elif word in ("am", "pm"):
                pm = word == "pm"
    for token in numbers:
        number = int(token)
        if day is None and len(token) <= 2 and 1 <= number <= 31:
            day = number
        elif year is None:
            year = number
            if len(token) == 2:
                year += 2000 if number < 50 else 1900
            elif len(token) == 3:
                year += 1900
    if day is None or month is None or year is None or hour is None or minute is None:
        defects.append(
            MailDefect(where=where, what=f"unparseable date {value[:60]!r}", kind=DefectKind.DATE)
        )
        return None
    if pm is not None and hour <= 12:
        hour = hour % 12 + (12 if pm else 0)
    second = min(second, 59)  # RFC 5322 §3.3 allows a leap second "60"
    if offset is not None and abs(offset) >= 24 * 60:
        defects.append(
            MailDefect(
                where=where, what=f"zone out of range in {value[:60]!r}", kind=DefectKind.DATE
            )
        )
        offset = None
    if not zone_seen:
        defects.append(
            MailDefect(
                where=where,
                what=f"no time zone in {value[:60]!r}; UTC assumed",
                kind=DefectKind.DATE,
            )
        )
    tz = dt.UTC if not offset else dt.timezone(dt.timedelta(minutes=offset))
    try:
        return dt.datetime(year, month, day, hour, minute, second, tzinfo=tz)
    except (ValueError, OverflowError):
        defects.append(
            MailDefect(where=where, what=f"impossible date {value[:60]!r}", kind=DefectKind.DATE)
        )
        return None
