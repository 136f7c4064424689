"""Address lists (From, To, Cc, Reply-To, ...) to :class:`~helpmail.mail.model.Address` values.

A tolerant, linear RFC 5322 §3.4 address-list reader written for what mail really carries:

- display names as atoms, quoted strings or RFC 2047 encoded words (RFC 2047 §5(3)), also
  encoded words whose decoded text holds commas, words inside quotes (forbidden, common), and
  raw UTF-8 (RFC 6532);
- group syntax (``Team: a@x, b@y;``, ``undisclosed-recipients:;``), whose members are listed;
- obsolete forms (RFC 5322 §4.4): routes (``<@relay:user@host>``), white space and comments
  inside the addr-spec (``john . doe @ example . org``), empty list elements;
- a name in a trailing comment (``user@host (Name)``) when there is no display name;
- the unquoted comma of ``Doe, John <john@x>`` (a phrase without address glued to the next one).

Only entries that hold an addr-spec become addresses; the rest is reported as defects.
"""

from __future__ import annotations

import re

from helpmail.mail.headers import decode_words
from helpmail.mail.model import Address, DefectKind, MailDefect

_ENCODED_WORD = re.compile(r"=\?[^?\s]+\?[QqBb]\?[^?]*\?=")
_SPECIALS = frozenset(',:;@.<>()[]"\\')
_WSP_RUN = re.compile(r"\s+")

# token kinds
_WORD, _QUOTED, _COMMENT, _ANGLE, _SPECIAL, _LITERAL = range(6)
_Token = tuple[int, str, bool]  # kind, text, white space before


def _tokens(value: str) -> list[_Token]:
    out: list[_Token] = []
    n = len(value)
    pos = 0
    space = False
    while pos < n:
        ch = value[pos]
        if ch in " \t\r\n":
            space = True
            pos += 1
            continue
        if ch == '"':
            end = pos + 1
            chunks: list[str] = []
            start = end
            while end < n and value[end] != '"':
                if value[end] == "\\" and end + 1 < n:
                    chunks.append(value[start:end])
                    start = end + 1
                    end += 2
                    continue
                end += 1
            chunks.append(value[start:end])
            out.append((_QUOTED, "".join(chunks), space))
            pos = end + 1
        elif ch == "(":
            depth = 0
            end = pos
            while end < n:
                c = value[end]
                if c == "\\":
                    end += 2
                    continue
                if c == "(":
                    depth += 1
                elif c == ")":
                    depth -= 1
                    if depth == 0:
                        break
                end += 1
            out.append((_COMMENT, value[pos + 1 : end], space))
            pos = end + 1
        elif ch == "<":
            end = value.find(">", pos + 1)
            if end < 0:
                end = n
            out.append((_ANGLE, value[pos + 1 : end], space))
            pos = end + 1
        elif ch == "[":
            end = value.find("]", pos + 1)
            if end < 0:
                end = n - 1
            out.append((_LITERAL, value[pos : end + 1], space))
            pos = end + 1
        elif ch in _SPECIALS:
            out.append((_SPECIAL, ch, space))
            pos += 1
        else:
            if ch == "=" and value.startswith("=?", pos):
                match = _ENCODED_WORD.match(value, pos)
                if match is not None:
                    out.append((_WORD, match.group(), space))
                    pos = match.end()
                    space = False
                    continue
            end = pos + 1
            while end < n and value[end] not in _SPECIALS and value[end] not in " \t\r\n":
                if value[end] == "=" and value.startswith("=?", end):
                    break
                end += 1
            out.append((_WORD, value[pos:end], space))
            pos = end
        space = False
    return out


def _split(tokens: list[_Token]) -> list[list[_Token]]:
    """Split at top-level commas; flatten groups (RFC 5322 §3.4 ``group``)."""
    pieces: list[list[_Token]] = []
    current: list[_Token] = []
    in_group = False
    for token in tokens:
        kind, text, _ = token
        if kind == _SPECIAL and text == ",":
            pieces.append(current)
            current = []
        elif (
            kind == _SPECIAL
            and text == ":"
            and not in_group
            and not any(k == _ANGLE or (k == _SPECIAL and t == "@") for k, t, _ in current)
        ):
            current = []  # the group's display name is not an address
            in_group = True
        elif kind == _SPECIAL and text == ";":
            pieces.append(current)
            current = []
            in_group = False
        else:
            current.append(token)
    pieces.append(current)
    return [p for p in pieces if p]


def _phrase(tokens: list[_Token], where: str, defects: list[MailDefect]) -> str:
    out: list[str] = []
    for kind, text, space in tokens:
        if kind == _COMMENT:
            continue
        if out and space:
            out.append(" ")
        out.append(text)
    name = decode_words("".join(out), where, defects)
    name = _WSP_RUN.sub(" ", name).strip()
    if len(name) > 1 and name[0] == name[-1] == "'":
        name = name[1:-1].strip()
    return name.replace("\x00", "")


def _comment_name(tokens: list[_Token], where: str, defects: list[MailDefect]) -> str:
    for kind, text, _ in reversed(tokens):
        if kind == _COMMENT and text.strip():
            return _WSP_RUN.sub(" ", decode_words(text, where, defects)).strip()
    return ""


def _clean_angle(text: str) -> str:
    if '"' in text:  # keep the white space of a quoted local part: <"John Doe"@x>
        pieces = text.split('"')
        text = '"'.join(p if i % 2 else "".join(p.split()) for i, p in enumerate(pieces))
    else:
        text = "".join(text.split())
    if text.startswith("@") and ":" in text:  # RFC 5322 §4.4 obs-route
        text = text[text.rfind(":") + 1 :]
    if "(" in text:
        text = re.sub(r"\([^()]*\)", "", text)
    return text.strip().strip("<>")


def _spec(tokens: list[_Token]) -> str:
    out: list[str] = []
    for kind, text, _ in tokens:
        if kind == _COMMENT:
            continue
        if kind == _QUOTED:
            out.append('"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"')
        else:
            out.append(text)
    return "".join(out)


def parse_address_list(value: str, defects: list[MailDefect], where: str) -> tuple[Address, ...]:
    """The addresses in one address-list header value (unfolded, not RFC 2047-decoded)."""
    if "\x00" in value:  # RFC 5322 §2.3: no NUL in a mail; never let one into an address
        value = value.replace("\x00", "")
    found: list[Address] = []
    pending_phrase = ""
    pieces = _split(_tokens(value))
    for index, piece in enumerate(pieces):
        angle = next((i for i, (kind, _, _) in enumerate(piece) if kind == _ANGLE), None)
        if angle is not None:
            spec = _clean_angle(piece[angle][1])
            name = _phrase(piece[:angle], where, defects) or _comment_name(piece, where, defects)
            if pending_phrase:
                name = f"{pending_phrase}, {name}" if name else pending_phrase
                pending_phrase = ""
            if not spec:
                defects.append(
                    MailDefect(where=where, what="empty address <>", kind=DefectKind.ADDRESS)
                )
                continue
            if "@" not in spec:
                defects.append(
                    MailDefect(
                        where=where,
                        what=f"address without domain: {spec[:80]!r}",
                        kind=DefectKind.ADDRESS,
                    )
                )
            found.append(Address(addr_spec=spec, name=name))
            continue
        has_at = any(kind == _SPECIAL and text == "@" for kind, text, _ in piece)
        if has_at:
            spec = _spec(piece)
            if spec.startswith("@") or spec.endswith("@"):
                defects.append(
                    MailDefect(
                        where=where, what=f"not an address: {spec[:80]!r}", kind=DefectKind.ADDRESS
                    )
                )
                continue
            name = _comment_name(piece, where, defects)
            if pending_phrase:
                defects.append(
                    MailDefect(
                        where=where,
                        what=f"not an address: {pending_phrase[:80]!r}",
                        kind=DefectKind.ADDRESS,
                    )
                )
                pending_phrase = ""
            found.append(Address(addr_spec=spec, name=name))
            continue
        words = [t for t in piece if t[0] != _COMMENT]
        next_has_angle = index + 1 < len(pieces) and any(
            k == _ANGLE for k, _, _ in pieces[index + 1]
        )
        if next_has_angle and words:
            # "Doe, John <john@x>": the comma was part of an unquoted display name
            phrase = _phrase(piece, where, defects)
            pending_phrase = f"{pending_phrase}, {phrase}" if pending_phrase else phrase
            continue
        if len(words) == 1 and words[0][0] == _WORD and "=?" not in words[0][1]:
            spec = words[0][1]
            defects.append(
                MailDefect(
                    where=where,
                    what=f"address without domain: {spec[:80]!r}",
                    kind=DefectKind.ADDRESS,
                )
            )
            found.append(Address(addr_spec=spec, name=_comment_name(piece, where, defects)))
            continue
        text = _phrase(piece, where, defects) or _comment_name(piece, where, defects)
        if text:
            defects.append(
                MailDefect(
                    where=where, what=f"not an address: {text[:80]!r}", kind=DefectKind.ADDRESS
                )
            )
    if pending_phrase:
        defects.append(
            MailDefect(
                where=where,
                what=f"not an address: {pending_phrase[:80]!r}",
                kind=DefectKind.ADDRESS,
            )
        )
    return tuple(found)
