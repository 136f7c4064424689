"""Charset labels to text, never raising: the decoding rules of :func:`helpmail.parse_mail`.

Mail declares its charsets itself (RFC 2045 §5.1 ``charset=``, RFC 2047 encoded words, RFC 2231
parameters) and often lies: ``us-ascii`` bodies full of UTF-8, ``utf-8`` labels on cp1252 bytes,
labels Python does not know (``windows-1258`` is known as ``cp1258``, ``unknown-8bit``,
``x-user-defined``). The rule kept here: a known label whose bytes decode is used as is; a label
that is unknown or does not match the bytes is recorded as a defect and the text is read with the
fallback chain UTF-8 → cp1252 → Latin-1 (the last cannot fail), except when the declared charset
decodes all but a few bytes, in which case the few are replaced (U+FFFD) and the rest kept.
"""

from __future__ import annotations

import codecs
import unicodedata

from helpmail.mail.model import DefectKind, MailDefect

#: Labels seen in real mail that Python's codec registry does not know (or knows wrongly).
CHARSET_ALIASES: dict[str, str] = {
    "unknown-8bit": "cp1252",
    "x-unknown": "cp1252",
    "unknown": "cp1252",
    "x-user-defined": "cp1252",
    "default": "cp1252",
    "ansi_x3.4-1968": "ascii",
    "ansi_x3.4-1986": "ascii",
    "iso-646-us": "ascii",
    "us": "ascii",
    "ks_c_5601-1987": "cp949",
    "ks_c_5601": "cp949",
    "x-sjis": "shift_jis",
    "shift-jis": "shift_jis",
    "windows-31j": "cp932",
    "windows-874": "cp874",
    "gb2312": "gb18030",  # GB18030 is a superset; mail labelled gb2312 often uses it
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "cn-gb": "gb18030",
    "big5-hkscs": "big5hkscs",
    "iso-8859-8-i": "iso-8859-8",
    "iso-8859-6-i": "iso-8859-6",
    "utf8": "utf-8",
    "x-utf8": "utf-8",
    "utf-7": "utf-7",
    "x-mac-roman": "mac-roman",
    "macintosh": "mac-roman",
    "tis-620": "cp874",
    "iso-2022-jp-2": "iso2022_jp_2",
    "cp-850": "cp850",
}
#: Python codecs that are not text charsets: a mail label that resolves to one is refused.
_NOT_CHARSETS = frozenset(
    {
        "base64",
        "hex",
        "quopri",
        "uu",
        "zlib",
        "bz2",
        "rot-13",
        "punycode",
        "idna",
        "mbcs",
        "raw-unicode-escape",
        "unicode-escape",
        "undefined",
        "utf-8-sig",
        "utf-16",
        "utf-32",
    }
)
_MULTI_BYTE = frozenset(
    {
        "utf-8",
        "shift_jis",
        "cp932",
        "euc_jp",
        "gb18030",
        "big5",
        "big5hkscs",
        "cp949",
        "euc_kr",
        "iso2022_jp",
        "iso2022_jp_2",
        "iso2022_kr",
        "cp950",
        "utf-16-le",
        "utf-16-be",
    }
)
_codec_cache: dict[str, str | None] = {}


def codec_for(label: str | None) -> str | None:
    """The Python codec name for a MIME charset label, or ``None`` when it names no text charset.

    RFC 2231 §5 language suffixes (``utf-8*en``) and quotes are ignored; lookups are cached.
    """
    if not label:
        return None
    try:
        return _codec_cache[label]
    except KeyError:
        pass
    name = label.strip().strip("\"'").split("*", 1)[0].strip().lower()
    name = CHARSET_ALIASES.get(name, name)
    found: str | None
    try:
        found = codecs.lookup(name).name
    except (LookupError, ValueError):
        found = None
    if found in _NOT_CHARSETS:
        found = None
    if len(_codec_cache) < 1024:
        _codec_cache[label] = found
    return found


def _fallback(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def decode_bytes(
    data: bytes,
    charset: str | None,
    where: str,
    defects: list[MailDefect],
    *,
    declared: bool = True,
) -> str:
    """Decode ``data`` labelled ``charset`` (see the module docstring); never raises.

    ``declared=False`` means the label is a default (RFC 2045 §5.2 us-ascii), so 8-bit bytes under
    it are read with the fallback chain without complaining about the label.
    """
    if data.isascii():
        codec = codec_for(charset) if charset else "ascii"
        if codec is None:
            defects.append(
                MailDefect(
                    where=where, what=f"unknown charset {charset!r}", kind=DefectKind.CHARSET
                )
            )
            return data.decode("ascii")
        if codec in ("ascii", "utf-8", "cp1252", "latin-1", "iso8859-1", "iso8859-15"):
            return data.decode("ascii")
        try:
            return data.decode(codec)  # utf-7, iso-2022-jp and friends are 7-bit
        except UnicodeError:
            return data.decode("ascii")
    codec = codec_for(charset)
    if codec is None or codec == "ascii":
        if charset and codec is None:
            what = f"unknown charset {charset!r}"
        elif declared and charset:
            what = f"8-bit bytes declared {charset!r}"
        else:
            what = "8-bit bytes without a charset"
        defects.append(MailDefect(where=where, what=what, kind=DefectKind.CHARSET))
        return _fallback(data)
    try:
        text = data.decode(codec)
    except UnicodeError:
        pass
    except LookupError:  # pragma: no cover - codec_for checked it
        return _fallback(data)
    else:
        if codec == "cp1258":
            # Vietnamese windows-1258 writes most letters as base + combining mark: compose them
            # (NFC) so the text compares and searches like the same text sent in UTF-8.
            text = unicodedata.normalize("NFC", text)
        return text
    defects.append(
        MailDefect(
            where=where, what=f"bytes do not match charset {charset!r}", kind=DefectKind.CHARSET
        )
    )
    replaced = data.decode(codec, "replace")
    if codec in _MULTI_BYTE:
        # Mostly right (a few broken sequences) or a wrong label? A wrong label on 8-bit text
        # breaks nearly every non-ASCII character.
        bad = replaced.count("\ufffd")
        good = sum(1 for ch in replaced if ord(ch) > 0x7F) - bad
        if bad > good:
            return _fallback(data)
    return replaced
