"""Composition: a rendered notification becomes an ``email.message.EmailMessage`` and its envelope.

Every automatic mail carries what keeps mail loops and lost threads away (DESIGN.md "Loops"):

* ``Auto-Submitted: auto-generated`` - RFC 3834 §5: "automatic responses ... MUST NOT" be sent
  to a message carrying it, so well-behaved responders stay quiet;
* ``X-Auto-Response-Suppress: All`` - Exchange/Outlook send no out-of-office or read receipts;
* ``X-Helpmail-Loop`` - helpmail's own mark, so its classifier can recognise its own mail coming
  back (prior-art §4.1 row 1); optional ``Precedence: bulk`` for responders that only honour it;
* an HMAC-signed Message-ID naming ticket and recipient (:mod:`helpmail.message_ids`), and
  ``In-Reply-To``/``References`` (RFC 5322 §3.6.4) to the mail that caused the event and to a
  per-ticket thread root, so replies find their ticket and mail clients group the notices;
* the ticket tag (``[Ticket#N]``) in the subject and the reply-above marker as a text line and an
  HTML element, so the import can cut the answer from the quote.

No header injection: CR, LF and other control characters in a subject or display name are
replaced by spaces before a header is set, so a ticket title can never add a header line
(RFC 5322 §2.2: a header field is one line unless folded).

The ``email`` package is imported inside functions (it imports ``socket``), so importing
:mod:`helpmail.notify` stays free of I/O modules.
"""

from __future__ import annotations

import datetime as dt
import functools
import importlib
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from helpmail.errors import HelpmailError
from helpmail.message_ids import make_message_id
from helpmail.notify.ports import OutgoingMail
from helpmail.notify.settings import NotifySettings, ReturnPathMode

if TYPE_CHECKING:
    from helpmail.notify.policy import Recipient
    from helpmail.templates import RenderedTemplates
    from helpmail.tickets.events import TicketEvent

#: the HTML element id of the reply-above marker when :mod:`helpmail.replies` does not define one
FALLBACK_MARKER_HTML_ID = "helpmail-reply-above"
FALLBACK_MARKER_TEXT = {
    "en": "===== reply above this line =====",
    "de": "===== Bitte oberhalb dieser Zeile antworten =====",
    "nl": "===== Antwoord boven deze regel =====",
}
MAX_REFERENCES = 10

_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029\x85]+")
_SPACES = re.compile(r"\s{2,}")
_BODY_OPEN = re.compile(r"<body\b[^>]*>", re.IGNORECASE)


class ComposeError(HelpmailError):
    """A notification could not be composed (no signing key, an unusable ticket id or address)."""


def one_line(text: str) -> str:
    """``text`` with every control character (CR, LF, TAB, NUL, ...) turned into one space."""
    return _SPACES.sub(" ", _CONTROL.sub(" ", text)).strip()


def subject_with_tag(subject: str, tag: str) -> str:
    """The subject with the ticket tag in front, unless the template already put it in."""
    subject = one_line(subject)
    return subject if tag in subject else f"{tag} {subject}".strip()


@functools.cache
def reply_markers(language: str, text: str | None = None) -> tuple[str, str]:
    """(text line, HTML element) of the reply-above marker in ``language``.

    Taken from :mod:`helpmail.replies.markers` (``marker_text``/``marker_html``), so the import
    cuts exactly where composition marks; ``text`` is a configured marker wording
    (``NotifySettings.reply_marker``). A local fallback is used only if that module is missing.
    """
    for module_name in ("helpmail.replies.markers", "helpmail.replies"):
        try:
            markers = importlib.import_module(module_name)
            return str(markers.marker_text(language, text=text)), str(
                markers.marker_html(language, text=text)
            )
        except (ImportError, AttributeError, TypeError):
            continue
    lang = (
        language.partition("-")[0] if language.partition("-")[0] in FALLBACK_MARKER_TEXT else "en"
    )
    line = text or FALLBACK_MARKER_TEXT[lang]
    shown = line.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return line, (
        f'<div id="{FALLBACK_MARKER_HTML_ID}" class="{FALLBACK_MARKER_HTML_ID}" '
        f'style="color:#8a8a8a;font-size:12px">{shown}</div>'
    )


def verp_address(bounce_address: str, ticket: str, recipient: str) -> str:
    """``bounces+TICKET.LOCAL=DOMAIN@desk``: a return path that names ticket and recipient.

    Falls back to ``bounce_address`` when the local part would exceed 64 octets (RFC 5321
    §4.5.3.1.1).
    """
    local, _, domain = bounce_address.rpartition("@")
    r_local, _, r_domain = recipient.rpartition("@")
    tagged = f"{local}+{ticket}.{r_local}={r_domain}"
    if len(tagged.encode("utf-8")) > 64:
        return bounce_address
    return f"{tagged}@{domain}"


def parse_verp(address: str, bounce_address: str) -> tuple[str, str] | None:
    """(ticket, recipient) from a VERP return path made by :func:`verp_address`, else ``None``."""
    local, _, domain = address.strip().strip("<>").rpartition("@")
    b_local, _, b_domain = bounce_address.rpartition("@")
    if domain.lower() != b_domain.lower() or not local.lower().startswith(b_local.lower() + "+"):
        return None
    token = local[len(b_local) + 1 :]
    ticket, dot, rest = token.partition(".")
    r_local, eq, r_domain = rest.rpartition("=")
    if not (ticket and dot and eq and r_local and r_domain):
        return None
    return ticket, f"{r_local}@{r_domain}"


@functools.lru_cache(maxsize=8192)
def wire_address(address: str) -> tuple[str, bool]:
    """The form of an address on the wire, and whether it needs UTF-8 (SMTPUTF8, RFC 6531).

    An ASCII local part with a Unicode domain travels in ASCII with the IDNA domain
    (``anna@xn--mller-kva.example``); a non-ASCII local part needs UTF-8 headers.
    """
    from email_validator import EmailNotValidError, validate_email

    try:
        valid = validate_email(address, check_deliverability=False)
    except EmailNotValidError as error:
        raise ComposeError(f"cannot address the mail to {address!r}: {error}") from None
    if valid.ascii_email:
        return valid.ascii_email, False
    return valid.normalized, True


def _mailbox(name: str, address: str, utf8: bool) -> object:
    """A From/To value: an ``Address`` (ASCII), or a quoted string for UTF-8 addresses, which
    ``email.headerregistry.Address`` refuses to build."""
    from email.headerregistry import Address

    display = one_line(name)
    if not utf8 or address.isascii():
        return Address(display_name=display, addr_spec=address)
    if not display:
        return address
    quoted = display.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{quoted}" <{address}>'


def _insert_html_marker(html: str, marker: str) -> str:
    match = _BODY_OPEN.search(html)
    if match is None:
        return marker + "\n" + html
    return html[: match.end()] + "\n" + marker + html[match.end() :]


def thread_root(ticket_id: str, settings: NotifySettings) -> str:
    """The per-ticket pseudo Message-ID every notice of a ticket references (signed, stable)."""
    return "<" + _signed(settings, kind="t", ticket=ticket_id, recipient=None, nonce="root") + ">"


def _signed(
    settings: NotifySettings, *, kind: str, ticket: str, recipient: str | None, nonce: str | None
) -> str:
    try:
        return make_message_id(
            key=settings.signing_key,
            domain=settings.message_id_domain,
            kind=kind,
            ticket=ticket,
            recipient=recipient,
            nonce=nonce,
        )
    except ValueError as error:
        raise ComposeError(f"cannot make a Message-ID for ticket {ticket!r}: {error}") from None


def envelope_sender(
    settings: NotifySettings, ticket: str, recipient: str, from_address: str
) -> str:
    """The return path (RFC 5321 MAIL FROM) for one mail, per :class:`ReturnPathMode`."""
    if settings.return_path is ReturnPathMode.FROM or not settings.bounce_address:
        return from_address
    if settings.return_path is ReturnPathMode.DEDICATED:
        return settings.bounce_address
    return verp_address(settings.bounce_address, ticket, recipient)


def compose(
    *,
    event: TicketEvent,
    recipient: Recipient,
    rendered: RenderedTemplates,
    settings: NotifySettings,
    references: Sequence[str] = (),
    nonce: str | None = None,
) -> OutgoingMail:
    """Build the mail for one recipient: headers (see the module docstring), a text part with the
    reply-above marker line and an HTML alternative with the marker element.

    ``references`` are Message-IDs of earlier mails in the conversation (oldest first) to add to
    ``References``; ``nonce`` makes the Message-ID reproducible (tests).
    """
    from email import policy
    from email.message import EmailMessage
    from email.utils import format_datetime

    ticket = event.ticket
    to_address, to_utf8 = wire_address(recipient.address)
    from_address, from_utf8 = wire_address(recipient.sender.address)
    # RFC 6532: a non-ASCII local part can only travel as UTF-8 headers (and SMTPUTF8).
    utf8 = to_utf8 or from_utf8
    message = EmailMessage(policy=policy.default.clone(utf8=True)) if utf8 else EmailMessage()
    try:
        message["From"] = _mailbox(recipient.sender.name, from_address, utf8)
        message["To"] = _mailbox(recipient.name, to_address, utf8)
    except (ValueError, IndexError) as error:  # headerregistry rejects a broken addr-spec
        raise ComposeError(f"cannot address the mail: {error}") from None
    tag = settings.subject_tag.replace("{number}", one_line(ticket.number))
    message["Subject"] = subject_with_tag(rendered.subject, tag)
    at = event.at if event.at.tzinfo is not None else event.at.replace(tzinfo=dt.UTC)
    message["Date"] = format_datetime(at)
    message_id = (
        "<"
        + _signed(settings, kind="n", ticket=ticket.id, recipient=recipient.address, nonce=nonce)
        + ">"
    )
    message["Message-ID"] = message_id
    root = thread_root(ticket.id, settings)
    trigger = getattr(event, "message_id", None)
    chain = [root, *(one_line(r) for r in references)]
    if isinstance(trigger, str) and trigger.strip():
        trigger_id = one_line(trigger)
        trigger_id = trigger_id if trigger_id.startswith("<") else f"<{trigger_id}>"
        chain.append(trigger_id)
    chain = list(dict.fromkeys(chain))
    # RFC 5322 §3.6.4 lets References be trimmed: keep the thread root and the newest ids.
    if len(chain) > MAX_REFERENCES:
        chain = [chain[0], *chain[-(MAX_REFERENCES - 1) :]]
    message["In-Reply-To"] = chain[-1]
    message["References"] = " ".join(chain)
    # RFC 3834 §5: "Auto-Submitted: auto-generated" marks a mail no automatic responder answers.
    message["Auto-Submitted"] = "auto-generated"
    message["X-Auto-Response-Suppress"] = "All"
    message["X-Helpmail-Loop"] = one_line(settings.loop_token) or "helpmail"
    if settings.precedence_bulk:
        message["Precedence"] = "bulk"
    text_marker, html_marker = reply_markers(recipient.language, settings.reply_marker)
    message.set_content(f"{text_marker}\n\n{rendered.text}", cte="quoted-printable")
    message.add_alternative(
        _insert_html_marker(rendered.html, html_marker), subtype="html", cte="quoted-printable"
    )
    return OutgoingMail(
        message=message,
        envelope_from=envelope_sender(settings, ticket.id, to_address, from_address),
        envelope_to=(to_address,),
    )
