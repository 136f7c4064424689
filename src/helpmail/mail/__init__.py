"""Inbound mail as values: parsing raw RFC 5322 bytes into :class:`InboundMail`.

The rule this package keeps: parsing never raises on malformed mail. Anything odd (a broken charset,
a truncated MIME part, an undecodable header) is repaired as well as possible and recorded as a
:class:`MailDefect`, so the caller can quarantine or explain instead of crashing.

The parser (:mod:`helpmail.mail.parse`) reads MIME itself and imports no ``email.*`` module (the
standard library's ``email.utils`` imports ``socket``); it is still loaded on the first parse
only, so ``import helpmail`` stays light.
"""

from __future__ import annotations

from helpmail.mail.model import (
    Address,
    Attachment,
    DefectKind,
    InboundMail,
    MailDefect,
    MailPart,
    address_key,
)


def parse_mail(raw: bytes) -> InboundMail:
    """Parse one raw mail into an :class:`InboundMail`; never raises on malformed mail.

    Defects found on the way are listed in :attr:`InboundMail.defects`.
    """
    from helpmail.mail.parse import parse_mail as _parse_mail

    return _parse_mail(raw)


__all__ = [
    "Address",
    "Attachment",
    "DefectKind",
    "InboundMail",
    "MailDefect",
    "MailPart",
    "address_key",
    "parse_mail",
]
