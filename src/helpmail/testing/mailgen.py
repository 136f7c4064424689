"""Generated, realistic mailboxes for tests, the crash test and the import benchmark.

:func:`generate_mails` yields a deterministic mix of what a support mailbox receives: new requests
in English, German and Dutch (plain text, HTML only, multipart/alternative), follow-ups that carry
the ticket tag and quote the previous mail, screenshots (real PNG bytes), an executable disguised as
``.png``, out-of-office replies, a bounce, and the same mail delivered twice. It knows which
ticket number each new request will get when the mails are imported in order into an empty store
with the default settings, so follow-ups name real tickets. :func:`write_maildir` writes them as a
Maildir with names and modification times in that order. Only one mail is held in memory.
"""

from __future__ import annotations

import base64
import os
import random
from collections.abc import Iterable, Iterator
from pathlib import Path

__all__ = ["generate_mails", "write_maildir"]

_PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f"
    b"\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00"
    b"\x00IEND\xaeB`\x82"
)
_EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 200

_TOPICS = (
    (
        "Printer on floor 3 does not print",
        "the printer on floor 3 shows error E42 and prints nothing",
    ),
    ("VPN connection drops every hour", "my VPN connection drops every hour since the update"),
    (
        "Cannot log in to the portal",
        "I cannot log in to the customer portal, it says wrong password",
    ),
    ("Invoice 2026-0113 is wrong", "the invoice 2026-0113 lists 12 licences but we have 10"),
    (
        "Drucker im 3. Stock druckt nicht",
        "der Drucker im 3. Stock zeigt Fehler E42 und druckt nicht",
    ),
    ("Passwort vergessen", "ich habe mein Passwort vergessen und kann mich nicht anmelden"),
    ("Factuur klopt niet", "op de factuur staan twaalf licenties maar wij hebben er tien"),
    ("Wachtwoord vergeten", "ik ben mijn wachtwoord vergeten en kan niet meer inloggen"),
)
_NAMES = ("Alice Adams", "Bob Brown", "Carla Clausen", "Dirk de Vries", "Eva Engel", "Femke Fokker")
_DOMAINS = ("example.org", "example.com", "beispiel.de", "voorbeeld.nl")


def _addr(index: int) -> tuple[str, str]:
    name = _NAMES[index % len(_NAMES)]
    local = name.lower().replace(" ", ".") + str(index)
    return name, f"{local}@{_DOMAINS[index % len(_DOMAINS)]}"


def _date(seconds: int) -> str:
    day, rest = divmod(seconds, 86400)
    hour, rest = divmod(rest, 3600)
    minute, second = divmod(rest, 60)
    return f"Mon, {5 + day % 20:02d} Jan 2026 {hour:02d}:{minute:02d}:{second:02d} +0000"


def _head(
    name: str, address: str, subject: str, mid: str, when: int, *, extra: Iterable[str] = ()
) -> list[str]:
    return [
        "Return-Path: <" + address + ">",
        "Delivered-To: support@desk.example",
        "Received: from mx.example.net by desk.example; " + _date(when),
        f"From: {name} <{address}>",
        "To: Support <support@desk.example>",
        f"Subject: {subject}",
        f"Date: {_date(when)}",
        f"Message-ID: <{mid}>",
        "MIME-Version: 1.0",
        *extra,
    ]


def _plain(lines: list[str], body: str) -> bytes:
    lines += [
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: 8bit",
        "",
        body,
    ]
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


def _html_only(lines: list[str], body: str) -> bytes:
    paragraphs = "".join(f"<p>{p}</p>" for p in body.split("\n\n"))
    html = f"<html><body><div style='font-family:Arial'>{paragraphs}</div></body></html>"
    lines += ["Content-Type: text/html; charset=utf-8", "Content-Transfer-Encoding: 8bit", "", html]
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


def _alternative(lines: list[str], body: str, files: Iterable[tuple[str, bytes]]) -> bytes:
    outer, inner = "outer-b0undary", "inner-b0undary"
    html = "".join(f"<p>{p}</p>" for p in body.split("\n\n"))
    lines += [f'Content-Type: multipart/mixed; boundary="{outer}"', "", f"--{outer}"]
    lines += [f'Content-Type: multipart/alternative; boundary="{inner}"', "", f"--{inner}"]
    lines += [
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: 8bit",
        "",
        body,
    ]
    lines += [f"--{inner}", "Content-Type: text/html; charset=utf-8", "", html, f"--{inner}--"]
    for filename, payload in files:
        encoded = base64.encodebytes(payload).decode("ascii").strip().replace("\n", "\r\n")
        lines += [
            f"--{outer}",
            f'Content-Type: image/png; name="{filename}"',
            f'Content-Disposition: attachment; filename="{filename}"',
            "Content-Transfer-Encoding: base64",
            "",
            encoded,
        ]
    lines.append(f"--{outer}--")
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


def _bounce(when: int, serial: int) -> bytes:
    lines = [
        "From: Mail Delivery System <MAILER-DAEMON@mx.example.net>",
        "To: support@desk.example",
        "Subject: Undelivered Mail Returned to Sender",
        f"Date: {_date(when)}",
        f"Message-ID: <bounce{serial}@mx.example.net>",
        "MIME-Version: 1.0",
        'Content-Type: multipart/report; report-type=delivery-status; boundary="rep"',
        "",
        "--rep",
        "Content-Type: text/plain",
        "",
        "Your message could not be delivered to one or more recipients.",
        "--rep",
        "Content-Type: message/delivery-status",
        "",
        "Reporting-MTA: dns; mx.example.net",
        "",
        f"Final-Recipient: rfc822; gone{serial}@example.com",
        "Action: failed",
        "Status: 5.1.1",
        "Diagnostic-Code: smtp; 550 5.1.1 user unknown",
        "--rep",
        "Content-Type: text/rfc822-headers",
        "",
        "From: newsletter@elsewhere.example",
        f"Message-ID: <unknown{serial}@elsewhere.example>",
        "--rep--",
    ]
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


def generate_mails(count: int, *, seed: int = 2026) -> Iterator[bytes]:
    """``count`` realistic mails, oldest first (deterministic for a given ``seed``).

    The mix, by share: 55 % new requests (a third of them HTML only, some with a screenshot or an
    ``.exe`` named ``.png``), 30 % follow-ups with the ticket tag and a quote, 6 % out-of-office
    replies to a ticket, 5 % a second delivery of the previous new request (a duplicate), 4 %
    bounces that match no ticket.
    """
    rng = random.Random(seed)
    reporters: list[tuple[str, str, str]] = []  # per ticket number - 1: name, address, subject
    last_new: bytes | None = None
    for serial in range(count):
        when = 8 * 3600 + serial * 37
        roll = rng.random()
        mid = f"gen{seed}.{serial}@mail.example.net"
        if reporters and roll < 0.30:
            number = rng.randrange(len(reporters)) + 1
            name, address, subject = reporters[number - 1]
            quote = "\r\n".join("> " + line for line in _TOPICS[number % len(_TOPICS)][1].split())
            body = (
                f"Hello,\n\nthanks, but the problem is still there (attempt {serial}).\n\n"
                f"Regards,\n{name}\n\nOn {_date(when - 600)}, Support wrote:\n{quote}\n"
            )
            yield _plain(_head(name, address, f"Re: [Ticket#{number}] {subject}", mid, when), body)
            continue
        if reporters and roll < 0.36:
            number = rng.randrange(len(reporters)) + 1
            name, address, subject = reporters[number - 1]
            extra = ("Auto-Submitted: auto-replied", "X-Auto-Response-Suppress: All")
            yield _plain(
                _head(
                    name,
                    address,
                    f"Automatic reply: [Ticket#{number}] {subject}",
                    mid,
                    when,
                    extra=extra,
                ),
                "I am out of the office until Monday.",
            )
            continue
        if last_new is not None and roll < 0.41:
            copy = last_new.replace(
                b"Delivered-To: support@desk.example", b"Delivered-To: help@desk.example"
            )
            last_new = None
            yield copy
            continue
        if roll < 0.45:
            yield _bounce(when, serial)
            continue
        name, address = _addr(serial)
        subject, text = _TOPICS[serial % len(_TOPICS)]
        subject = f"{subject} ({serial})"
        body = f"Hello,\n\n{text}.\n\nCould you please help?\n\nBest regards,\n{name}"
        kind = rng.random()
        if kind < 0.33:
            raw = _html_only(_head(name, address, subject, mid, when), body)
        elif kind < 0.45:
            files = [("screenshot.png", _PNG * 40)]
            if rng.random() < 0.3:
                files.append(("invoice.png", _EXE))
            raw = _alternative(_head(name, address, subject, mid, when), body, files)
        elif kind < 0.6:
            raw = _alternative(_head(name, address, subject, mid, when), body, ())
        else:
            raw = _plain(_head(name, address, subject, mid, when), body)
        reporters.append((name, address, subject))
        last_new = raw
        yield raw


def write_maildir(path: str | os.PathLike[str], mails: Iterable[bytes]) -> int:
    """Write ``mails`` into a new Maildir at ``path`` (``new/``), names and mtimes in order.

    Returns the number written. The unique names start with the delivery time, so
    :class:`helpmail.adapters.MaildirSource` yields them in the same order.
    """
    root = Path(path)
    for sub in ("tmp", "new", "cur"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    written = 0
    base = 1_767_600_000
    for index, raw in enumerate(mails):
        stamp = base + index
        name = f"{stamp}.M{index:07d}P1Q{index}.gen.example"
        target = root / "new" / name
        target.write_bytes(raw)
        os.utime(target, (stamp, stamp))
        written += 1
    return written
