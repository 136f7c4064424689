"""``parse_bounce``: read every bounced recipient, its reason and the original Message-ID.

The rule this module keeps: **machine-readable first, text last, never raise.** The readers run in
order and the first one that finds recipients decides the format:

1. RFC 3464 delivery status notifications (``message/delivery-status``), including RFC 6533
   ``message/global-delivery-status`` and the non-standard ``Action`` values MTAs write;
2. Amazon SES / SNS JSON notifications (parsed as JSON, so no JSON fragment ever becomes an
   address -- flufl.bounce's failure on these);
3. the ``X-Failed-Recipients`` header (Exim, Gmail, ...);
4. MTA text formats (Postfix, Exim, qmail, Sendmail, Exchange/Office 365, Gmail, Yahoo,
   OpenSMTPD, Courier, Domino, ...), read as data: :data:`RECIPIENT_LINES`;
5. generic patterns: addresses near failure wording in the report text.

Line ends are normalised (CR and CRLF to LF) before any of this; a mail with bare CRs is parsed
again from normalised bytes. Every address returned is a valid addr-spec (email-validator, syntax
only). The reason of each recipient comes from its status code *and* text
(:func:`helpmail.bounces.reasons.decide_reason`).
"""

from __future__ import annotations

import bisect
import functools
import itertools
import json
import re
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

import attrs

from helpmail.bounces.model import (
    Bounce,
    BouncedRecipient,
    BounceKind,
    BounceReason,
    SmtpCommand,
)
from helpmail.bounces.reasons import (
    FILTERING_GATEWAYS,
    HARD_REASONS,
    decide_reason,
    normalise_status,
    smtp_command,
    soft_reason_in_report,
)

if TYPE_CHECKING:
    from helpmail.mail.model import InboundMail

#: Part types that carry an RFC 3464 report (RFC 6533 §6 adds the "global" UTF-8 form).
DSN_TYPES = frozenset({"message/delivery-status", "message/global-delivery-status"})
#: Part types that carry the returned message or its headers (RFC 3462 §2, RFC 6533 §6).
RETURNED_TYPES = frozenset(
    {
        "message/rfc822",
        "message/global",
        "text/rfc822-headers",
        "message/global-headers",
        "message/partial",
    }
)

#: RFC 3464 §2.3.3 defines failed, delayed, delivered, relayed, expanded; MTAs write others.
ACTIONS: dict[str, str] = {
    "failed": "failed",
    "failure": "failed",
    "fail": "failed",
    "failed permanently": "failed",
    "bounced": "failed",
    "bounce": "failed",
    "permanent": "failed",
    "error": "failed",
    "undeliverable": "failed",
    "rejected": "failed",
    "reject": "failed",
    "hardbounce": "failed",
    "delayed": "delayed",
    "delay": "delayed",
    "deferred": "delayed",
    "retry": "delayed",
    "transient": "delayed",
    "temporary": "delayed",
    "queued": "delayed",
    "delivered": "delivered",
    "deliver": "delivered",
    "success": "delivered",
    "sent": "delivered",
    "expired": "failed",
    "abandoned": "failed",
    "dropped": "failed",
    "suppressed": "failed",
    "blocked": "failed",
    "timeout": "failed",
    "relayed": "relayed",
    "relay": "relayed",
    "expanded": "expanded",
}
_FAILING_ACTIONS = frozenset({"failed", "delayed"})

# An addr-spec as found in bounce text (RFC 5322 §3.4.1 dot-atom local part, which covers real
# bounces; quoted local parts are rare there). Bounded repetitions keep it linear.
_ADDR_BODY = r"[\w.!#$%&'*+/=?^`{|}~-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63}){1,8}"
_ADDR = (
    r"(?<![\w.!#$%&'*+/=?^`{|}~-])[\w.!#$%&'*+/=?^`{|}~-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63}){1,8}"
)
_ADDR_RX = re.compile(_ADDR)
_REPLY_CODE = re.compile(r"(?<![\d.])([245]\d\d)(?:[ \-]|$)", re.MULTILINE)
_BLANK_SPLIT = re.compile(r"\n[ \t]*\n")
_FIELD = re.compile(r"^([A-Za-z][A-Za-z0-9-]{0,76})[ \t]*:[ \t]*(.*)$")
_SNS_WRAP = re.compile(r"!\n ")

#: Addresses that send bounces, never receive them (RFC 5321 §4.5.1 postmaster, RFC 3834 §5).
_NOT_RECIPIENT = re.compile(
    r"^(?:mailer-daemon|postmaster|mail-daemon|maildaemon|mailerdaemon|root|abuse|"
    r"no-?reply|do-?not-?reply|bounces?|nobody|double-bounce|mdaemon)@",
    re.IGNORECASE,
)

#: Where the returned copy of the original mail starts inside a text bounce (qmail, Exim,
#: Sendmail, Postfix without MIME, Exchange, ...). Text after it is the original mail, not the
#: report, so no recipient is read from it, but its Message-ID is the original one.
RETURNED_MESSAGE_MARKERS = re.compile(
    r"^[ \t]*(?:-{2,}|={2,}|\*{2,})?[ \t]*(?:"
    r"below this line is a copy of the message|this is a copy of the message|"
    r"(?:the )?original message (?:follows|headers|was (?:attached|included|returned)|is "
    r"(?:attached|included|below))|original message[ \t]*(?:-{2,}|:|$)|original message details|"
    r"unsent message (?:below|follows)|returned message|"
    r"message text follows|the header of the original message|undelivered message headers|"
    r"copy of (?:the |your )?(?:original )?message|rejected message|"
    r"headers of the original message|"
    r"your message reads|(?:partial )?message headers? follows?|original message header|"
    r"\*+ ?message headers? ?\*+|returned mail|"
    r"original mail(?: header)?s?|attached is a copy of|message header follows|"
    r"the first \d+ lines of|following is a copy of|undelivered message follows|"
    r"included is a copy|body of message generated response|transcript of session follows|"
    r"start of (?:the )?returned message|original message as received"
    r")",
    re.IGNORECASE | re.MULTILINE,
)
#: Markers that end the report but whose following text still belongs to it (session
#: transcripts hold the SMTP dialogue, useful for the reason).
_TRANSCRIPT = re.compile(r"transcript of session follows", re.IGNORECASE)

_DELAY_WORDS = re.compile(
    r"delivery (?:status notification \(delay\)|delayed|has been delayed)|"
    r"has not (?:yet )?been delivered|will (?:continue|keep) (?:trying|to try|retrying)|"
    r"still (?:being )?(?:retried|trying)|warning: could not send message for past|"
    r"delayed mail|message delayed|not been delivered yet|temporarily deferred|"
    r"this is (?:only )?a warning|no action is required on your part|"
    r"delivery attempts will continue|retrying|try again for",
    re.IGNORECASE,
)
_FAIL_WORDS = re.compile(
    r"permanent(?:ly)?|fatal|could not be delivered|undeliverable|failed|giving up|gave up|"
    r"returned to sender|delivery (?:has )?failed|not delivered|unable to deliver|"
    r"rejected|does not exist|did not reach|could not reach|error|not accepted|did not like|"
    r"unknown user|user unknown|no such user|mailbox (?:is )?full|over quota|"
    r"无法|失败|未能|送達|送信できな|配信できな|届けられ|エラー|fehlgeschlagen|unzustellbar|"
    r"nicht zugestellt|impossible de|n'a pas pu|non recapitabile|no se pudo|não foi possível|"
    r"kon niet",
    re.IGNORECASE,
)

#: Recipient lines of the MTA text formats, as data: ``(format, regex)``; each regex has a group
#: ``addr`` and may have ``text`` (the rest of the line). The first format with a match decides;
#: diagnostic text is the rest of the line plus the lines that follow up to a blank line.
_DATE_WORDS = r"(?:[A-Za-z]{3},?[ \t]+)?\d{1,4}(?:[/.-]\d{1,2}[/.-]\d{1,4}|[ \t]+[A-Za-z]{3})"
_OPEN = r"[<\"'(\[]?"
_CLOSE = r"[>\"')\]]?"
RECIPIENT_LINES: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (name, re.compile(pattern, re.IGNORECASE | re.MULTILINE))
    for name, pattern in (
        # Postfix (bounce(8) template): "<user@example.org> (expanded from <x>): text"
        (
            "postfix",
            rf"^<(?P<addr>{_ADDR})>(?: \(expanded from <[^>\n]{{0,300}}>\))?:[ \t]*"
            rf"(?P<text>.*)$",
        ),
        # Exim (and 1&1's Exim): the failed address on its own line, then "SMTP error from
        # remote mail server after RCPT TO:..." -- unambiguous, so read even when the address is
        # also the bounce's own recipient
        (
            "exim",
            rf"^[ \t]*{_OPEN}(?P<addr>{_ADDR}){_CLOSE}:?[ \t]*\n[ \t]*"
            rf"(?P<text>SMTP error from remote (?:mail )?server\b[^\n]*)$",
        ),
        # Sendmail: "<user@example.org>... User unknown" / "... while talking to"
        ("sendmail", rf"^[ \t]*(?:[45]\d\d[ \t]+)?<?(?P<addr>{_ADDR})>?\.\.\.[ \t]*(?P<text>.*)$"),
        # Sendmail's list: "----- The following addresses had permanent fatal errors -----"
        # and the address on the next line (also Biglobe, Trend Micro, V5 Sendmail).
        (
            "sendmail-list",
            rf"^[ \t]*-{{2,}}[^\n]{{0,20}}(?:following address(?:es)? (?:had|has)|"
            rf"addresses had)[^\n]{{0,80}}\n[ \t]*<?(?P<addr>{_ADDR})>?(?P<text>[^\n]*)$",
        ),
        # SendGrid: "user:00000:<user@example.org> : Connection timed out in connect"
        ("sendgrid", rf"^[\w.+-]{{1,64}}:\d{{1,10}}:<(?P<addr>{_ADDR})>[ \t]*:[ \t]*(?P<text>.*)$"),
        # SMTP transcripts: Sendmail ">>> RCPT To:<user@...>", Postfix " In:  RCPT TO:<...>"
        (
            "transcript",
            rf"^[ \t]*(?:>>>|in:)?[ \t]*RCPT[ \t]+TO:[ \t]*<(?P<addr>{_ADDR})>"
            rf"(?P<text>.*)$",
        ),
        # Exchange 2003 / Notes: "user@example.org on 1/2/2009 3:04 PM", "... on Thu, 29 Apr".
        (
            "exchange",
            rf"^[ \t]*{_OPEN}(?P<addr>{_ADDR}){_CLOSE}[ \t]+on[ \t]+{_DATE_WORDS}"
            rf"(?P<text>.*)$",
        ),
        # Exchange 2007+/O365: "user@example.org" alone after "Delivery has failed to these
        # recipients"; Exim "  user@example.org" indented; Gmail "     user@example.org";
        # qmail / Yahoo / Courier "<user@example.org>:".
        (
            "line",
            rf"^[ \t]*{_OPEN}(?P<addr>{_ADDR}){_CLOSE}[ \t]*(?:\((?:generated|expanded) "
            rf"from [^)\n]{{0,300}}\))?[ \t]*:?[ \t]*$",
        ),
        # OpenSMTPD, Courier, ... "user@example.org: 550 ..."
        (
            "colon",
            rf"^[ \t]*(?:[*•][ \t]*)?{_OPEN}(?P<addr>{_ADDR}){_CLOSE}[ \t]*:[ \t]+"
            rf"(?P<text>\S.*)$",
        ),
        # Free text: "There was an error delivering your mail to <user@...>." (DragonFly),
        # "could not be delivered to user@...", "Delivery to the following recipient failed".
        # X.400 forms in old Exchange reports: "c=US;a= ;p=...;dda:SMTP=user@example.com;"
        ("x400", rf"\bSMTP[=:](?P<addr>{_ADDR_BODY})(?P<text>.*)$"),
        (
            "phrase",
            rf"(?:addressed(?:[ \t]+to)?[ \t]*,?|deliver(?:ing|y|ed)?|send(?:ing)?|sent|"
            rf"relay(?:ing)?)[ \t]+(?:(?:of|your|"
            rf"the|this|a)[ \t]+)?(?:(?:e-?mail|mail|message)[ \t]+)?(?:to|for)[ \t]+"
            rf"(?:the[ \t]+)?(?:(?:following[ \t]+)?(?:recipient|address|user)s?[ \t]*)?:?[ \t]*"
            rf"{_OPEN}(?P<addr>{_ADDR}){_CLOSE}(?P<text>.*)$",
        ),
        # "Recipient: user@example.org", "Original-Recipient: rfc822;user@...", "To: <...>" in
        # a report body, "Failed address: ...", "Unknown user: ...".
        (
            "labelled",
            rf"(?:\brecipient(?:\(s\))?|\brcpt to|failed address|\baddressee|\bthe user|"
            rf"\buser(?:name)?|\bmailbox|\baddress(?:es)?|destinatario|empfänger|\bto)[ \t]*"
            rf"(?:address)?[ \t]*[:=]?[ \t]*(?:rfc822;)?[ \t]*{_OPEN}(?P<addr>{_ADDR})"
            rf"{_CLOSE}(?P<text>.*)$",
        ),
    )
)
#: Formats whose matches are weak enough that our own and MTA addresses are filtered out.
_WEAK_FORMATS = frozenset({"line", "colon", "phrase", "labelled"})

#: Phrases that put an address in a failure context in free text ("could not deliver to x").
_GENERIC_CONTEXT = re.compile(
    r"(?:unknown|invalid|failed|fail|undeliverable|not (?:be )?delivered|could not|couldn't|unable|"
    r"rejected|refused|error|does not exist|no such|not found|bounced|permanent|full|quota|"
    r"disabled|deliver(?:y|ed)?|recipient|user|mailbox)",
    re.IGNORECASE,
)

_MSGID_HEADER = re.compile(r"^message-id:[ \t]*(.*)$", re.IGNORECASE | re.MULTILINE)
_SUBJECT_HEADER = re.compile(r"^subject:[ \t]*(.*)$", re.IGNORECASE | re.MULTILINE)


def _unfolded(text: str, match: re.Match[str]) -> str:
    """A header value found by ``match`` with its continuation lines (RFC 5322 §2.2.3)."""
    value = [match[1]]
    for line in text[match.end() + 1 :].split("\n", 8)[:8]:
        if line[:1] not in (" ", "\t"):
            break
        value.append(line.strip())
    return " ".join(value)


_MSGID_VALUE = re.compile(r"<([^<>\s]{1,998})>")


def normalise_line_ends(text: str) -> str:
    """CRLF and bare CR to LF (RFC 5322 §2.3 allows only CRLF; bounces arrive with all three)."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


@functools.lru_cache(maxsize=8192)
def valid_addr_spec(text: str) -> str | None:
    """``text`` as a valid addr-spec (email-validator, syntax only), or ``None``.

    The domain must have a dot and the address must not be a JSON fragment, a Message-ID nor a
    file name: everything that is returned as a bounced recipient passes here.
    """
    candidate = text.strip().strip("<>\"'()[],;:").rstrip(".")
    if not candidate or "@" not in candidate or len(candidate) > 254:
        return None
    if any(c in candidate for c in '{}"\\ \t\n'):
        return None
    from email_validator import EmailNotValidError, validate_email

    try:
        validate_email(
            candidate,
            check_deliverability=False,
            allow_smtputf8=True,
            globally_deliverable=False,
            allow_quoted_local=False,
        )
    except EmailNotValidError:
        return None
    except Exception:  # pragma: no cover - email-validator's idna may raise on odd input
        return None
    local, _, domain = candidate.rpartition("@")
    if "." not in domain:
        return None
    return f"{local}@{domain}"


@attrs.frozen(kw_only=True)
class _Row:
    """One recipient as a reader found it, before the reason is decided."""

    address: str
    action: str | None = None
    status: str | None = None
    reply_code: str | None = None
    diagnostic: str | None = None
    remote_mta: str | None = None
    original_recipient: str | None = None
    extra_text: str = ""
    source: str = ""
    forced_reason: BounceReason | None = None
    reporting_mta: str | None = None


@attrs.frozen(kw_only=True)
class _View:
    """The parts of a mail the readers need, line ends normalised."""

    mail: InboundMail
    report: str
    """The human-readable report (text before the returned copy of the original message)."""
    transcript: str
    returned: str
    """The returned original message (or its headers), as text."""
    dsn: tuple[str, ...]
    body: str
    about: dict[str, list[str]] = attrs.field(factory=dict, eq=False)
    """Address -> the report's blocks naming it (:func:`_about_index`)."""
    sessions: dict[str, list[str]] = attrs.field(factory=dict, eq=False)
    """Address -> the report's paragraphs naming it (:func:`_session_index`): where an MTA's
    account of the SMTP dialogue with that recipient is (the command a refusal answered)."""


_EMBEDDED_RETURN = re.compile(
    r"^content-type:[ \t]*(?:text/rfc822-headers|message/rfc822|message/global)\b[^\n]*\n",
    re.IGNORECASE | re.MULTILINE,
)


def _part_text(part_text: str | None, payload: bytes) -> str:
    if part_text is not None:
        return normalise_line_ends(part_text)
    return normalise_line_ends(payload.decode("utf-8", "replace"))


def _view(mail: InboundMail) -> _View:
    dsn: list[str] = []
    returned: list[str] = []
    texts: list[str] = []
    for part in mail.parts:
        if part.content_type in DSN_TYPES:
            dsn.append(_part_text(part.text, part.payload))
        elif part.content_type in RETURNED_TYPES:
            # Some MTAs forget the blank line after the part's own headers, so the returned
            # mail's headers end up among them (RFC 2046 §5.2.1 wants the line): keep both.
            own = [
                f"{name}: {value}"
                for name, value in part.headers
                if not name.lower().startswith("content-")
            ]
            returned.append(
                "\n".join(own) + ("\n" if own else "") + _part_text(part.text, part.payload)
            )
        elif part.content_type == "text/plain" and part.disposition != "attachment":
            texts.append(normalise_line_ends(part.text or ""))
        elif part.content_type == "text/html" and not texts and part.text:
            from helpmail.mail.html import html_to_text

            texts.append(normalise_line_ends(html_to_text(part.text)))
    body = "\n\n".join(t for t in texts if t.strip())
    if not body.strip():
        body = normalise_line_ends(mail.text)
    report, transcript, rest = _split_report(body)
    if rest:
        returned.append(rest)
    if not returned:
        # a broken MIME structure may leave the returned part inside another part's text
        for text in (*dsn, body):
            embedded = _EMBEDDED_RETURN.search(text)
            if embedded is not None:
                returned.append(text[embedded.end() :])
                break
    view = _View(
        mail=mail,
        report=report,
        transcript=transcript,
        returned="\n".join(returned),
        dsn=tuple(dsn),
        body=body,
    )
    view.about.update(_about_index(view))
    view.sessions.update(_session_index(view))
    return view


def _split_report(body: str) -> tuple[str, str, str]:
    """Split a text bounce into report, session transcript and the returned original mail."""
    report, transcript = body, ""
    for match in RETURNED_MESSAGE_MARKERS.finditer(body):
        if match.start() == 0 and match.end() < 40 and not body[: match.start()].strip():
            continue
        if _TRANSCRIPT.search(match.group(0)):
            tail = body[match.end() :]
            nxt = RETURNED_MESSAGE_MARKERS.search(tail)
            if nxt is not None and not _TRANSCRIPT.search(nxt.group(0)):
                transcript = tail[: nxt.start()]
                return body[: match.start()], transcript, tail[nxt.start() :]
            return body[: match.start()], tail, ""
        return body[: match.start()], transcript, body[match.start() :]
    return report, transcript, ""


# --- RFC 3464 ----------------------------------------------------------------------------------


def _dsn_groups(text: str) -> list[dict[str, str]]:
    """The field groups of a DSN (RFC 3464 §2.1: per-message fields, then one group per recipient,
    separated by blank lines). Continuation lines are unfolded (RFC 5322 §2.2.3); a group with two
    ``Final-Recipient`` fields (MTAs that forget the blank line) is split."""
    groups: list[dict[str, str]] = []
    for chunk in _BLANK_SPLIT.split(text):
        current: dict[str, str] = {}
        last: str | None = None
        for line in chunk.split("\n"):
            if not line.strip():
                continue
            if line[:1] in " \t" and last is not None:
                current[last] += " " + line.strip()
                continue
            match = _FIELD.match(line)
            if match is None:
                continue
            name = match[1].lower()
            if name == "final-recipient" and name in current:
                groups.append(current)
                current = {}
            current.setdefault(name, match[2].strip())
            last = name if current.get(name) == match[2].strip() else None
        if current:
            groups.append(current)
    return groups


def _typed_value(value: str) -> str:
    """The value of an RFC 3464 ``type; value`` field (``rfc822; a@b`` -> ``a@b``)."""
    head, sep, tail = value.partition(";")
    text = tail if sep and " " not in head.strip() else value
    return text.strip()


#: A reply code under a label (Zoho: "ERROR_CODE :550, ERROR_CODE :Requested action not taken").
_LABELLED_REPLY_CODE = re.compile(
    r"\b(?:error|reply|smtp|response)[_ ]?code[ \t]*[:=][ \t]*([245]\d\d)\b", re.IGNORECASE
)


def _reply_code(text: str | None) -> str | None:
    if not text:
        return None
    match = _REPLY_CODE.search(text) or _LABELLED_REPLY_CODE.search(text)
    return match[1] if match else None


_EMBEDDED_DSN = re.compile(
    r"^(?:reporting-mta|original-recipient|final-recipient)[ \t]*:[ \t]*"
    r"(?:rfc822|dns|utf-8)[ \t]*;",
    re.IGNORECASE | re.MULTILINE,
)


def _rfc3464(view: _View) -> tuple[list[_Row], bool]:
    """Recipients of the DSN parts; the flag says whether any DSN recipient group was seen."""
    rows: list[_Row] = []
    seen_any = False
    texts = list(view.dsn)
    if not texts:
        # a DSN whose MIME structure broke (a bad boundary): its fields sit in the text
        embedded = _EMBEDDED_DSN.search(view.report)
        if embedded is not None:
            texts.append(view.report[embedded.start() :])
    for text in texts:
        groups = _dsn_groups(text)
        per_message = groups[0] if groups and "final-recipient" not in groups[0] else {}
        for group in groups:
            raw = (
                group.get("final-recipient")
                or group.get("original-recipient")
                or group.get("x-actual-recipient")
            )
            if raw is None:
                continue
            seen_any = True
            address = valid_addr_spec(_typed_value(raw))
            if address is None:
                fallback = group.get("original-recipient") or group.get("x-actual-recipient")
                address = valid_addr_spec(_typed_value(fallback)) if fallback else None
            if address is None:
                found = _ADDR_RX.search(raw)
                address = valid_addr_spec(found[0]) if found else None
            if address is None:
                continue
            status = normalise_status(group.get("status"))
            diagnostic = group.get("diagnostic-code")
            diag_text = _typed_value(diagnostic) if diagnostic else None
            from_diag = normalise_status(diag_text)
            if status is None or (
                status.endswith(".0.0") and from_diag and from_diag[0] == status[0]
            ):
                status = from_diag or status
            action_raw = (group.get("action") or "").strip().lower().split(" ")[0].rstrip(";,.")
            action = ACTIONS.get(action_raw)
            if action is None:
                action = _action_from_status(status)
            reporting = per_message.get("reporting-mta")
            remote = group.get("remote-mta") or reporting
            original_raw = group.get("original-recipient")
            original = valid_addr_spec(_typed_value(original_raw)) if original_raw else None
            if original is not None and original.lower() == address.lower():
                original = None
            rows.append(
                _Row(
                    address=address,
                    action=action,
                    status=status,
                    reply_code=_reply_code(diag_text),
                    diagnostic=diag_text or None,
                    remote_mta=_typed_value(remote) if remote else None,
                    source="rfc3464",
                    original_recipient=original,
                    reporting_mta=_typed_value(reporting) if reporting else None,
                    extra_text=_text_about(view, address),
                )
            )
    return rows, seen_any


def _action_from_status(status: str | None) -> str | None:
    if status is None:
        return None
    return {"5": "failed", "4": "delayed", "2": "delivered"}.get(status[0])


# --- Amazon SES / SNS JSON -------------------------------------------------------------------

#: SES bounce sub-types (https://docs.aws.amazon.com/ses/latest/dg/notification-contents.html).
SES_SUBTYPES: dict[str, BounceReason] = {
    "suppressed": BounceReason.SUPPRESSED,
    "onaccountsuppressionlist": BounceReason.SUPPRESSED,
    "noemail": BounceReason.USER_UNKNOWN,
    "mailboxfull": BounceReason.MAILBOX_FULL,
    "messagetoolarge": BounceReason.TOO_BIG,
    "contentrejected": BounceReason.REJECTED_POLICY,
    "attachmentrejected": BounceReason.REJECTED_POLICY,
}


def _ses_json(view: _View) -> tuple[list[_Row], str | None, bool]:
    """Rows from an SES notification (JSON body, maybe wrapped in an SNS envelope).

    Returns the rows, the original Message-ID and whether the body was an SES notification at
    all (a complaint or delivery notification is one, with no rows).
    """
    body = view.body.strip()
    start = body.find("{")
    if start < 0 or start > 200 or ('"notificationType"' not in body and '"eventType"' not in body):
        return [], None, False
    end = body.rfind("}")
    blob = _SNS_WRAP.sub("", body[start : end + 1])
    try:
        data: Any = json.loads(blob)
    except ValueError:
        return [], None, True
    if isinstance(data, dict) and isinstance(data.get("Message"), str):
        try:
            data = json.loads(data["Message"])
        except ValueError:
            return [], None, True
    if not isinstance(data, dict):
        return [], None, True
    kind = str(data.get("notificationType") or data.get("eventType") or "")
    mail_info = data.get("mail") if isinstance(data.get("mail"), dict) else {}
    original = None
    if isinstance(mail_info, dict):
        for header in mail_info.get("headers") or []:
            if isinstance(header, dict) and str(header.get("name", "")).lower() == "message-id":
                found = _MSGID_VALUE.search(str(header.get("value", "")))
                original = found[1] if found else None
        if original is None and isinstance(mail_info.get("messageId"), str):
            original = mail_info["messageId"]
    if kind.lower() != "bounce":
        return [], original, True
    bounce = data.get("bounce")
    if not isinstance(bounce, dict):
        return [], original, True
    bounce_type = str(bounce.get("bounceType") or "").lower()
    subtype = str(bounce.get("bounceSubType") or "").lower()
    rows: list[_Row] = []
    for item in bounce.get("bouncedRecipients") or []:
        if not isinstance(item, dict):
            continue
        address = valid_addr_spec(str(item.get("emailAddress") or ""))
        if address is None:
            continue
        diag = item.get("diagnosticCode")
        diag_text = _typed_value(str(diag)) if diag else None
        status = normalise_status(str(item.get("status") or "")) or normalise_status(diag_text)
        forced = SES_SUBTYPES.get(subtype)
        action = (
            "delayed" if bounce_type == "transient" and status and status[0] == "4" else "failed"
        )
        rows.append(
            _Row(
                address=address,
                action=action,
                status=status,
                reply_code=_reply_code(diag_text),
                diagnostic=diag_text,
                source="amazon-ses-json",
                forced_reason=forced,
                remote_mta=str(bounce.get("reportingMTA") or "") or None,
            )
        )
    return rows, original, True


# --- text formats --------------------------------------------------------------------------


_ANY_ADDR = re.compile(_ADDR_BODY)


def _about_index(view: _View) -> dict[str, list[str]]:
    """For every address in the report and transcript, the blocks that name it: the line and the
    following lines up to a blank line (at most 4 blocks an address). Built once a mail, so a
    bounce with thousands of recipients stays linear."""
    index: dict[str, list[str]] = {}
    for text in (view.report, view.transcript):
        lines = text.split("\n")
        for number, line in enumerate(lines):
            if "@" not in line:
                continue
            block: list[str] | None = None
            for match in _ANY_ADDR.finditer(line):
                found = match[0].lower().rstrip(".")
                keys = {found, found.rpartition("=")[2], found.rpartition(";")[2]}
                for key in keys:
                    blocks = index.setdefault(key, [])
                    if len(blocks) >= 4:
                        continue
                    if block is None:
                        block = [line]
                        for follow in lines[number + 1 : number + 12]:
                            if not follow.strip() or _new_entry(follow.strip(), found):
                                break  # a blank line or the next recipient's entry
                            block.append(follow)
                    text_block = "\n".join(block)
                    if not blocks or blocks[-1] != text_block:
                        blocks.append(text_block)
    return index


def _session_index(view: _View) -> dict[str, list[str]]:
    """For every address in the report and transcript, the paragraphs (text between blank lines)
    that name it, at most 2 an address: a Sendmail transcript's ``>>> DATA`` line or Postfix's
    "(in reply to RCPT TO command)" may be lines away from the address. Built once a mail."""
    index: dict[str, list[str]] = {}
    for text in (view.report, view.transcript):
        for paragraph in _BLANK_SPLIT.split(text):
            if "@" not in paragraph:
                continue
            piece = paragraph[:_TEXT_LIMIT]
            for key in {m[0].lower().rstrip(".") for m in _ANY_ADDR.finditer(paragraph)}:
                found = index.setdefault(key, [])
                if len(found) < 2:
                    found.append(piece)
    return index


def _session_command(view: _View, address: str) -> SmtpCommand | None:
    """The SMTP command the refusal for ``address`` answered, from the paragraphs naming it."""
    for paragraph in view.sessions.get(address.lower(), ()):
        command = smtp_command(paragraph, address)
        if command is not None:
            return command
    return None


def _text_about(view: _View, address: str) -> str:
    """The lines of the report (and transcript) that talk about ``address``: each line naming it
    and the following lines up to a blank line."""
    return "\n".join(view.about.get(address.lower(), ()))


#: A line that starts with an address (maybe in brackets or quotes): the next entry of a list.
#: Sendmail prefixes its per-recipient lines with the reply code ("554 <user@host>... reason")
#: and writes per-host lines between them ("550 example.org (smtp)... 550 Host unknown"): each
#: starts the next entry too, so one recipient's diagnostic never runs into the next one's.
_ENTRY_START = re.compile(
    rf"(?:[45]\d\d[ \t]+)?(?:[<\"'(\[]?{_ADDR}[>\"')\]]?(?:[ \t:.]|$)|[\w.-]+ \(smtp\)\.\.\.)"
)


def _new_entry(line: str, address: str) -> bool:
    """Whether ``line`` starts the next recipient's entry (an address other than ``address``;
    Postfix repeats the same address on its continuation lines)."""
    match = _ENTRY_START.match(line)
    return match is not None and address.lower() not in match[0].lower()


def _block_after(lines: list[str], index: int, first: str, address: str = "") -> str:
    """``first`` plus the lines after ``lines[index]`` up to a blank line or the next recipient's
    entry (at most 12 lines); while that says nothing yet or only introduces the reason
    ("because:"), the next paragraph too (Gmail, Exchange, Domino put the reason a paragraph or
    two below the address)."""
    block = [first] if first.strip() else []
    position = index + 1
    for _ in range(3):
        for follow in lines[position : position + 12]:
            stripped = follow.strip()
            if not stripped or _new_entry(stripped, address):
                break  # a blank line, or the next recipient's entry
            block.append(stripped)
            position += 1
        joined = " ".join(block).strip()
        if sum(c.isalnum() for c in joined) >= 4 and not joined.endswith(":"):
            break
        while position < len(lines) and not lines[position].strip():
            position += 1
        if position >= len(lines) or _new_entry(lines[position].strip(), address):
            break
    return " ".join(block).strip()


def _excluded(view: _View) -> set[str]:
    """Addresses that are never bounced recipients of this mail: the bounce's own sender and
    recipient (the original sender), and the original's From."""
    mail = view.mail
    excluded = {a.addr_spec.lower() for a in (*mail.from_, *mail.to)}
    if mail.return_path:
        found = _ADDR_RX.search(mail.return_path)
        if found:
            excluded.add(found[0].lower())
    return excluded


def _text_rows(view: _View) -> tuple[list[_Row], str]:
    """Recipients found by :data:`RECIPIENT_LINES`, then by generic context; and the format."""
    report = view.report + ("\n\n" + view.transcript if view.transcript else "")
    lines = report.split("\n")
    starts = list(itertools.accumulate((len(line) + 1 for line in lines[:-1]), initial=0))
    excluded = _excluded(view)
    rows: dict[str, _Row] = {}
    seen: set[str] = set()
    fmt = ""
    for name, pattern in RECIPIENT_LINES:
        for match in itertools.islice(pattern.finditer(report), 4 * MAX_RECIPIENTS):
            address = valid_addr_spec(match["addr"])
            if address is None:
                continue
            weak = name in _WEAK_FORMATS
            if weak and (_NOT_RECIPIENT.match(address) or address.lower() in excluded):
                continue
            if address.lower() in seen:
                continue
            seen.add(address.lower())
            line_index = bisect.bisect_right(starts, match.start("addr")) - 1
            text = match.groupdict().get("text") or ""
            diagnostic = _block_after(lines, line_index, text, address)
            rows[address] = _Row(address=address, diagnostic=diagnostic or None, source=name)
        if rows and not fmt:
            fmt = name
        if rows and (name in _WEAK_FORMATS or name == "transcript"):
            break  # strong formats add up (a Sendmail list and its "...": lines); weak ones do not
    if not rows:
        for match in _ADDR_RX.finditer(report):
            address = valid_addr_spec(match[0])
            if address is None or _NOT_RECIPIENT.match(address) or address.lower() in excluded:
                continue
            line_start = report.rfind("\n", 0, match.start()) + 1
            line_end = report.find("\n", match.end())
            line = report[line_start : line_end if line_end >= 0 else len(report)]
            if (
                "message-id" in line.lower()
                or "received:" in line.lower()
                or (
                    line[max(0, match.start() - line_start - 1) : match.start() - line_start] == "<"
                    and re.search(r"\bid\b|message", line, re.IGNORECASE)
                )
            ):
                continue
            context = report[max(0, match.start() - 200) : match.end() + 200]
            if not _GENERIC_CONTEXT.search(context):
                continue
            rows.setdefault(
                address, _Row(address=address, diagnostic=line.strip(), source="generic")
            )
        fmt = "generic" if rows else ""
    return list(rows.values()), fmt


# --- the reader ------------------------------------------------------------------------------

_BOUNCE_SENDER = re.compile(
    r"(?:^|[\s<\"'])(?:mailer-daemon|post_?master|mail-daemon|maildaemon|mailerdaemon|mdaemon|"
    r"double-bounce|bounce[s]?|returns?|mail-?router|smtp-?gw)\b|"
    r"mail delivery (?:system|subsystem|service)|mail administrator|mailer[- ]daemon|"
    r"postmaster|bounce",
    re.IGNORECASE,
)
_BOUNCE_SUBJECT = re.compile(
    r"undeliver|undelivered|delivery (?:status notification|failure|failed|has failed|report|"
    r"problem|notification)|returned mail|mail delivery failed|failure notice|"
    r"delivery status|non[- ]?delivery|could not (?:be )?deliver|not delivered|"
    r"delivery (?:to the following recipients? )?failed|mail system error|rejected|"
    r"message (?:not delivered|delivery failed|status|could not be delivered)|bounce|"
    r"nondeliverable|unzustellbar|non remis|no entregado|non recapitabile|onbestelbaar|"
    r"error sending message|delayed mail|warning: could not send|delivery notification|"
    r"returned to sender|permanent (?:error|failure)|mail failure|failed delivery|"
    r"delivery error|undeliverable mail|unknown user|user unknown|mailbox full|failed mail|"
    r"sender address rejected|notice of delivery|unable to deliver|mensaje no entregado|"
    r"エラー|不達|届きません|送信できません|返送|退信|未送达|系统退信",
    re.IGNORECASE,
)
#: Replies and forwards (a person forwarding a bounce writes human mail).
_FORWARDED_SUBJECT = re.compile(
    r"^\s*(?:re|aw|sv|antw|fwd?|fw|wg|tr|rv|vs|i|doorst)\s*(?:\[\d{1,3}\])?\s*:", re.IGNORECASE
)


def _looks_like_text_bounce(view: _View) -> bool:
    """A text bounce needs an MTA sender (or a bounce subject that is no reply or forward) *and*
    failure or delay wording in its report."""
    mail = view.mail
    subject = mail.subject or ""
    sender = " ".join(f"{a.name} {a.addr_spec}".strip() for a in mail.from_)
    sender = sender or (mail.header("From") or "")
    by_sender = bool(_BOUNCE_SENDER.search(sender))
    by_subject = bool(_BOUNCE_SUBJECT.search(subject)) and not _FORWARDED_SUBJECT.match(subject)
    if not (by_sender or by_subject):
        return False
    if by_sender and by_subject:
        return True
    text = view.report + "\n" + view.transcript
    return bool(_FAIL_WORDS.search(text) or _DELAY_WORDS.search(text))


_TO_HEADER = re.compile(r"^to:[ \t]*(.*)$", re.IGNORECASE | re.MULTILINE)


def _returned_head(view: _View) -> str:
    """The header block of the returned original: from its first header field (past a marker
    line such as Exim's "------ This is a copy of the message ------") to the first blank line."""
    lines = view.returned.lstrip("\n").split("\n", 200)
    start = next((n for n, line in enumerate(lines[:5]) if _FIELD.match(line)), 0)
    head: list[str] = []
    for line in lines[start:]:
        if not line.strip():
            break
        head.append(line)
    return "\n".join(head)


def _returned_to(view: _View) -> str | None:
    """The single To address of the returned original message, if it has exactly one."""
    head = _returned_head(view)
    match = _TO_HEADER.search(head)
    if match is None:
        return None
    found = {a.lower() for a in _ADDR_RX.findall(match[1])}
    if len(found) != 1:
        return None
    return valid_addr_spec(found.pop())


_CC_HEADER = re.compile(r"^(?:to|cc):[ \t]*(.*)$", re.IGNORECASE | re.MULTILINE)


def _written_recipient(view: _View, rows: list[_Row]) -> list[_Row]:
    """The address helpmail wrote, for a report whose one failed address is its domain alias.

    A domain alias or forward keeps the local part and changes the domain (``bob@example.org``
    forwarded to ``bob@mail.example.net``; Exim's ``X-Failed-Recipients`` then names the
    forward). When the returned original was addressed to exactly one address, the failed one is
    none of its To/Cc addresses, and both have the same local part on different domains, that
    one is the ``original_recipient`` (RFC 3464 §2.3.1's meaning): the delivery guard blocks the
    address helpmail sends to. Nothing looser: a failed address that is not in To/Cc is as often
    a Bcc recipient or a list member, and blocking the To (the sender, the list) would be wrong.
    """
    if len(rows) != 1 or rows[0].original_recipient is not None:
        return rows
    written = _returned_to(view)
    failed = rows[0].address
    if written is None:
        return rows
    written_local, _, written_domain = written.lower().rpartition("@")
    failed_local, _, failed_domain = failed.lower().rpartition("@")
    if written_local != failed_local or written_domain == failed_domain:
        return rows
    head = _returned_head(view)
    named = {
        a.lower()
        for match in _CC_HEADER.finditer(head)
        for a in _ADDR_RX.findall(_unfolded(head, match))
    }
    if failed.lower() in named:
        return rows
    return [attrs.evolve(rows[0], original_recipient=written)]


def _original_headers(view: _View) -> tuple[str | None, str | None]:
    """Message-ID and Subject of the returned original (the first header block found)."""
    text = view.returned
    mid: str | None = None
    subject: str | None = None
    if text:
        head = text.lstrip("\n")
        match = _MSGID_HEADER.search(head)
        if match:
            value = _unfolded(head, match)
            found = _MSGID_VALUE.search(value)
            mid = found[1] if found else (value.strip() or None)
            if mid is not None and (" " in mid or "@" not in mid):
                mid = None
        match = _SUBJECT_HEADER.search(head)
        if match:
            subject = " ".join(_unfolded(head, match).split()) or None
    if mid is None:
        for candidate in (*view.mail.in_reply_to, *reversed(view.mail.references)):
            if candidate and candidate != view.mail.message_id:
                mid = candidate
                break
    if subject is not None and "=?" in subject:
        from helpmail.mail.parse import decode_words

        subject = decode_words(subject, "returned:Subject", [])
    return mid, subject


def _normalised(mail: InboundMail) -> InboundMail:
    """The mail re-parsed from LF bytes when it has bare CRs (old Mac line ends, RFC 5322 §2.3)."""
    raw = mail.raw
    if raw and raw.count(b"\r") != raw.count(b"\r\n"):
        from helpmail.mail import parse_mail

        return parse_mail(raw.replace(b"\r\n", b"\n").replace(b"\r", b"\n"))
    return mail


def _from_filtering_gateway(mail: InboundMail) -> bool:
    """Whether a content-filter gateway wrote the bounce (:data:`FILTERING_GATEWAYS`)."""
    return any(
        pattern.search(value)
        for header, pattern in FILTERING_GATEWAYS
        for value in mail.header_all(header)
    )


#: At most this many recipients are read from one bounce (helpmail's own mails have a handful;
#: a "bounce" with thousands is an attack on the parser's time, not a report).
MAX_RECIPIENTS = 500
#: Only the first recipients get the report's context read for their reason; the rest are read
#: from their own diagnostic and status (cached), so the work stays linear in the mail's size.
_CONTEXT_ROWS = 50
_TEXT_LIMIT = 2000


def _dsn_status(row: _Row, context: str) -> str | None:
    """A DSN recipient's status. A generic ``X.0.0`` without a ``Diagnostic-Code`` gives way to
    the status the report's text gives for the same recipient, in the same class (OpenSMTPD
    writes ``Status: 5.0.0`` and puts "550 5.1.1 ... User unknown" in its text part): RFC 3463
    §3.1 makes ``X.0.0`` "other/undefined", so the specific one says more."""
    status = row.status
    if row.diagnostic or (status is not None and not status.endswith(".0.0")):
        return status
    found = normalise_status(context, failures_only=True)
    if found is not None and (status is None or found[0] == status[0]):
        return found
    return status


def _rows_to_recipients(rows: Iterable[_Row], view: _View) -> Iterator[BouncedRecipient]:
    fallback_text: str | None = None
    gateway = _from_filtering_gateway(view.mail)
    rows = list(itertools.islice(rows, MAX_RECIPIENTS))
    single = len(rows) == 1
    for number, row in enumerate(rows):
        text = (row.diagnostic or "")[:_TEXT_LIMIT]
        context = row.extra_text[:_TEXT_LIMIT] if number < _CONTEXT_ROWS else ""
        both = f"{text}\n{context}"
        status = (
            _dsn_status(row, context)
            if row.source == "rfc3464"
            else row.status or normalise_status(both, failures_only=True)
        )
        reply_code = row.reply_code or _reply_code(both)
        delayed = row.action == "delayed"
        domain = row.address.rpartition("@")[2]
        command = (
            smtp_command(text, row.address)
            or smtp_command(context, row.address)
            or (_session_command(view, row.address) if number < _CONTEXT_ROWS else None)
        )
        if command is None and gateway and (status is None or status.endswith(".0.0")):
            # a gateway refuses after DATA; a specific status still speaks
            command = SmtpCommand.DATA
        if row.forced_reason is not None:
            reason = row.forced_reason
            hard = reason in HARD_REASONS and not (status or "").startswith("4")
        else:
            reason, hard = decide_reason(
                status=status,
                reply_code=reply_code,
                text=text,
                context=context,
                command=command,
                domain=domain,
                final=not delayed,
                address=row.address,
            )
            if reason is BounceReason.UNKNOWN:
                if fallback_text is None:
                    fallback_text = " ".join((view.report + "\n" + view.transcript).split())[:4000]
                reason, hard = decide_reason(
                    status=status,
                    reply_code=reply_code,
                    text=None,
                    context=fallback_text,
                    command=command,
                    domain=domain,
                    final=not delayed,
                    address=row.address,
                )
        if reason is BounceReason.USER_UNKNOWN and single:
            # the report's own notification names a soft condition for its one recipient
            # ("The user(s) account is disabled.", "Not enough disk space"): the words
            # disagree with "unknown user", and the soft reading wins (as Sisimai lets another
            # reason's text beat even a 5.1.1)
            other = soft_reason_in_report(view.report[:_TEXT_LIMIT])
            if other is not None:
                reason, hard = other, False
        cause = None
        if delayed:
            cause, reason, hard = reason, BounceReason.DELAYED, False
        yield BouncedRecipient(
            address=row.address,
            reason=reason,
            hard=hard,
            status=status,
            reply_code=reply_code,
            diagnostic=row.diagnostic,
            action=row.action or "failed",
            remote_mta=row.remote_mta,
            source=row.source,
            cause=cause,
            original_recipient=row.original_recipient,
            smtp_command=command,
        )


#: The returned "original" is itself a delivery report: a gateway (a filtering relay, a
#: forwarder) bounced the bounce, or wrapped the DSN it received (RFC 3464 §2: a report is a
#: ``multipart/report`` with ``report-type=delivery-status``).
_INNER_REPORT = re.compile(
    r"^content-type:[ \t]*multipart/report;[^\n]*(?:\n[ \t][^\n]*)*"
    r"report-type=\"?(?:global-)?delivery-status",
    re.IGNORECASE | re.MULTILINE,
)


def _inner_bounce(view: _View, depth: int) -> Bounce | None:
    """The bounce carried as the returned original, read with the same rules (one level deep):
    its recipients are the ones that failed; the wrapper's own report names nobody."""
    if depth > 0 or not _INNER_REPORT.search(view.returned):
        return None
    from helpmail.mail import parse_mail

    inner = _parse(parse_mail(view.returned.encode("utf-8", "replace")), depth + 1)
    return inner if inner is not None and inner.recipients else None


def _parse(mail: InboundMail, depth: int = 0) -> Bounce | None:
    mail = _normalised(mail)
    view = _view(mail)
    original_id, original_subject = _original_headers(view)

    rows, dsn_seen = _rfc3464(view)
    fmt = "rfc3464"
    if dsn_seen and rows and not any(r.action in _FAILING_ACTIONS for r in rows):
        # RFC 3464 §2.3.3: delivered / relayed / expanded only: a delivery report, not a bounce.
        return None
    rows = [r for r in rows if r.action in _FAILING_ACTIONS or r.action is None]
    if not rows:
        ses_rows, ses_id, is_ses = _ses_json(view)
        if is_ses:
            if not ses_rows:
                return None
            rows, fmt = ses_rows, "amazon-ses-json"
            original_id = ses_id or original_id
    failed_header = [
        a.strip() for value in mail.header_all("X-Failed-Recipients") for a in value.split(",")
    ]
    if not rows and failed_header:
        text_rows, _ = _text_rows(view)
        by_address = {r.address.lower(): r for r in text_rows}
        for item in failed_header:
            address = valid_addr_spec(item)
            if address is None:
                continue
            found = by_address.get(address.lower())
            rows.append(
                _Row(
                    address=address,
                    diagnostic=found.diagnostic if found else None,
                    extra_text=_text_about(view, address),
                    source="x-failed-recipients",
                )
            )
        fmt = "x-failed-recipients"
    is_report = mail.content_type == "multipart/report" and any(
        (p.param("report-type") or "").lower() in ("delivery-status", "global-delivery-status")
        for p in mail.parts
        if p.content_type == "multipart/report"
    )
    looks = bool(is_report or dsn_seen or failed_header or rows) or _looks_like_text_bounce(view)
    if not rows and looks:
        rows, fmt = _text_rows(view)
        rows = [attrs.evolve(r, extra_text=_text_about(view, r.address)) for r in rows]
    if not rows and looks and (inner := _inner_bounce(view, depth)) is not None:
        return attrs.evolve(
            inner,
            message_id=mail.message_id,
            arrival=mail.date,
            format=f"wrapped-{inner.format}",
        )
    if not rows and looks:
        # Last resort: the report names nobody, but the returned original had one recipient.
        returned_to = _returned_to(view)
        if returned_to is not None:
            rows = [_Row(address=returned_to, extra_text=view.report, source="returned-to")]
            fmt = "returned-to"
    if not rows:
        if not looks:
            return None
        # A bounce that names no readable address (a display name only, a mangled report): it is
        # still a bounce, and its original Message-ID still ties it to a ticket and recipient.
        delay = bool(_DELAY_WORDS.search(view.report)) and not _FAIL_WORDS.search(view.report)
        return Bounce(
            recipients=(),
            kind=BounceKind.DELAY if delay else BounceKind.FAILURE,
            original_message_id=original_id,
            original_subject=original_subject,
            message_id=mail.message_id,
            arrival=mail.date,
            format="unreadable",
        )
    # A text bounce that only warns (no failure wording) reports a delay (RFC 3464 §2.3.3 in
    # spirit: the MTA is still trying).
    if fmt not in ("rfc3464", "amazon-ses-json"):
        head = view.report
        if _DELAY_WORDS.search(head) and not re.search(
            r"permanent|fatal|gave up|giving up|could not be delivered|failed permanently|"
            r"undeliverable|has been rejected|not be delivered",
            head,
            re.IGNORECASE,
        ):
            rows = [attrs.evolve(r, action="delayed") for r in rows]
    if len(rows) == 1 and rows[0].status is None and fmt not in ("rfc3464", "amazon-ses-json"):
        # one recipient: a status anywhere in the report is its status (Office 365 puts it in
        # "Diagnostic information for administrators", paragraphs below the address)
        anywhere = normalise_status(view.report + "\n" + view.transcript, failures_only=True)
        if anywhere is not None:
            rows = [attrs.evolve(rows[0], status=anywhere)]
    rows = _written_recipient(view, rows)
    recipients = tuple(_rows_to_recipients(rows, view))
    kind = (
        BounceKind.DELAY
        if all(r.reason is BounceReason.DELAYED for r in recipients)
        else BounceKind.FAILURE
    )
    return Bounce(
        reporting_mta=next((r.reporting_mta for r in rows if r.reporting_mta), None),
        recipients=recipients,
        kind=kind,
        original_message_id=original_id,
        original_subject=original_subject,
        message_id=mail.message_id,
        arrival=mail.date,
        format=fmt,
    )


def parse_bounce_unguarded(mail: InboundMail) -> Bounce | None:
    """:func:`parse_bounce` without its safety net: raises on a bug (benchmarks count these)."""
    return _parse(mail)


def parse_bounce(mail: InboundMail) -> Bounce | None:
    """Read a bounce: every bounced recipient with reason, hard/soft, status, reply code and
    diagnostic, and the original Message-ID. ``None`` when the mail is not a bounce (a success
    DSN, an SES complaint, a human mail).

    Never raises on malformed mail: an internal error gives ``None`` (the classifier still holds
    back automatic answers to such mail).
    """
    try:
        return _parse(mail)
    except Exception:
        return None
