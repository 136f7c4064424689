"""helpmail's own Message-IDs: HMAC-signed, naming the ticket and the recipient.

Every mail helpmail sends carries a Message-ID of the form::

    <hm.{kind}.{ticket}.{recipient}.{nonce}.{signature}@{domain}>

``kind`` says what the mail was (``n`` notification, ``r`` reply, ``a`` auto-reply, ...),
``ticket`` the ticket id, ``recipient`` the recipient's address or person id (base32, so any
character is safe in a msg-id, RFC 5322 §3.6.4), ``nonce`` makes it unique, and ``signature`` is a
truncated HMAC-SHA256 over the rest under the desk's secret key. When a reply quotes it in
In-Reply-To or References, helpmail knows the ticket *and* who answered, and a forged or
guessed id does not verify (osTicket's idea; see prior-art §1c). A mail whose own Message-ID
verifies is helpmail's own mail coming back (a loop). Several keys may be given to verify, so
keys can be rotated.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence

import attrs

PREFIX = "hm"
_SIG_LEN = 16  # base32 characters = 80 bits of HMAC
_PART = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@attrs.frozen(kw_only=True)
class SignedId:
    """What a verified helpmail Message-ID says."""

    kind: str
    ticket: str
    recipient: str | None
    nonce: str


def _b32(text: str) -> str:
    return base64.b32encode(text.encode("utf-8")).decode("ascii").rstrip("=").lower()


def _unb32(token: str) -> str | None:
    padded = token.upper() + "=" * (-len(token) % 8)
    try:
        return base64.b32decode(padded).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None


def _signature(key: bytes, payload: str) -> str:
    digest = hmac.new(key, payload.encode("utf-8"), hashlib.sha256).digest()
    return base64.b32encode(digest).decode("ascii").lower()[:_SIG_LEN]


def make_message_id(
    *,
    key: bytes,
    domain: str,
    kind: str,
    ticket: str,
    recipient: str | None = None,
    nonce: str | None = None,
) -> str:
    """A signed Message-ID (without angle brackets) for mail about ``ticket`` to ``recipient``.

    ``kind`` and ``ticket`` must be 1-64 characters of ``[A-Za-z0-9_-]``; ``recipient`` may be any
    text (an address or a person id). ``nonce`` defaults to 64 random bits; pass one for
    reproducible output.
    """
    if not _PART.match(kind) or not _PART.match(ticket):
        raise ValueError("kind and ticket must be 1-64 characters of [A-Za-z0-9_-]")
    if not key:
        raise ValueError("an empty signing key would make every id forgeable")
    nonce = nonce or secrets.token_hex(8)
    if not _PART.match(nonce):
        raise ValueError("nonce must be 1-64 characters of [A-Za-z0-9_-]")
    who = _b32(recipient.lower()) if recipient else "0"
    payload = f"{PREFIX}.{kind}.{ticket}.{who}.{nonce}"
    return f"{payload}.{_signature(key, payload)}@{domain}"


def looks_like_ours(message_id: str) -> bool:
    """True when the id has helpmail's shape (not verified: use :func:`read_message_id`)."""
    local = message_id.strip("<> ").partition("@")[0]
    return local.startswith(PREFIX + ".") and local.count(".") == 5


def read_message_id(message_id: str, keys: Sequence[bytes]) -> SignedId | None:
    """Verify and decode one of helpmail's Message-IDs; ``None`` when it is not ours or forged.

    The domain part is not checked: providers such as Amazon SES keep the local part of a
    Message-ID only in References, and the HMAC is what proves origin.
    """
    local = message_id.strip().strip("<>").partition("@")[0]
    pieces = local.split(".")
    if len(pieces) != 6 or pieces[0] != PREFIX:
        return None
    _, kind, ticket, who, nonce, signature = pieces
    payload = ".".join(pieces[:5])
    for key in keys:
        if key and hmac.compare_digest(_signature(key, payload), signature.lower()):
            recipient = None if who == "0" else _unb32(who)
            return SignedId(kind=kind, ticket=ticket, recipient=recipient, nonce=nonce)
    return None
