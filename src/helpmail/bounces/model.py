"""Value types for automated mail: the kind of a mail, the evidence for it, bounces and reasons.

The rule this module keeps: every verdict carries its reasons. A :class:`Classification` lists the
headers or text that decided it (:class:`Evidence`, each strong or weak), and a
:class:`BouncedRecipient` keeps the status code, SMTP reply code and diagnostic text its reason was
read from, so an admin can always see *why* helpmail treated a mail or an address the way it did.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

import attrs


class MailKind(StrEnum):
    """What sort of mail an inbound message is (DESIGN.md, prior-art §4.1)."""

    HUMAN = "human"
    """Written by a person: the normal flow (tickets, follow-ups, automatic answers)."""
    BOUNCE = "bounce"
    """A non-delivery or delay report (RFC 3464 DSN, ``X-Failed-Recipients``, an MTA's text)."""
    AUTO_REPLY = "auto_reply"
    """An automatic answer (RFC 3834 ``Auto-Submitted``, vacation and out-of-office replies)."""
    BULK = "bulk"
    """List or bulk mail (``Precedence: bulk``, ``List-Id``, ``List-Unsubscribe``, ...)."""
    OWN_LOOP = "own_loop"
    """helpmail's own mail coming back (signed Message-ID, loop header, a system sender)."""
    COMPLAINT = "complaint"
    """An abuse / spam complaint (RFC 5965 ARF feedback report)."""
    DELIVERY_REPORT = "delivery_report"
    """A DSN that reports success, relay or expansion only (RFC 3464 ``Action: delivered``...)."""

    @property
    def automated(self) -> bool:
        """True for every kind except :attr:`HUMAN`: such a mail never gets an automatic answer."""
        return self is not MailKind.HUMAN


class Strength(StrEnum):
    """How sure a piece of evidence is.

    ``strong`` evidence is a machine-readable marker (a header, a report part, our signature) that
    people do not type; ``weak`` evidence is a guess from words (an "Out of office" subject), which
    a person may write too. Weak evidence is enough to hold back automatic answers, never enough
    to drop a mail.
    """

    STRONG = "strong"
    WEAK = "weak"


@attrs.frozen(kw_only=True)
class Evidence:
    """One observation that decided a classification.

    ``rule`` names the rule row (see :data:`helpmail.bounces.classify.RULES`), ``where`` the header
    or place (``"header:Auto-Submitted"``, ``"subject"``, ``"part:2"``), ``value`` what was found.
    """

    rule: str
    where: str
    value: str
    strength: Strength = Strength.STRONG

    def __str__(self) -> str:
        return f"{self.where}: {self.value} ({self.rule}, {self.strength})"


@attrs.frozen(kw_only=True)
class Classification:
    """The verdict of :func:`helpmail.classify`: a kind and the evidence for it.

    ``evidence`` is empty for :attr:`MailKind.HUMAN` mail. ``strength`` is the strength of the
    deciding evidence (``strong`` for human mail: no marker was found at all).
    """

    kind: MailKind
    evidence: tuple[Evidence, ...] = ()
    strength: Strength = Strength.STRONG

    @property
    def automated(self) -> bool:
        return self.kind.automated

    def explain(self) -> str:
        """One readable line: the kind and what decided it."""
        if not self.evidence:
            return f"{self.kind}: no sign of automated mail"
        return f"{self.kind} ({self.strength}): " + "; ".join(str(e) for e in self.evidence)


class BounceReason(StrEnum):
    """Why a mail could not be delivered: helpmail's taxonomy (DESIGN.md's bounce table).

    The reason decides whether the failure is hard and how long automatic mail to the address is
    held back (:data:`helpmail.bounces.reasons.REASONS`).
    """

    USER_UNKNOWN = "user_unknown"
    DOMAIN_UNKNOWN = "domain_unknown"
    MAILBOX_FULL = "mailbox_full"
    SERVER_FULL = "server_full"
    RELAY_DENIED = "relay_denied"
    TOO_BIG = "too_big"
    ACCOUNT_DISABLED = "account_disabled"
    REJECTED_POLICY = "rejected_policy"
    TRANSIENT = "transient"
    SUPPRESSED = "suppressed"
    DELAYED = "delayed"
    UNKNOWN = "unknown"


class BounceKind(StrEnum):
    """Whether a bounce reports a failure (given up) or a delay (still trying, RFC 3464 §2.3.3)."""

    FAILURE = "failure"
    DELAY = "delay"


class SmtpCommand(StrEnum):
    """The stage of the SMTP dialogue (RFC 5321 §3.3) at which the receiving server refused."""

    CONNECT = "CONNECT"
    """The greeting or the connection itself."""
    HELO = "HELO"
    """``HELO`` / ``EHLO`` (and ``STARTTLS``): about the sending host."""
    MAIL = "MAIL"
    """``MAIL FROM``: about our sender, never about the recipient."""
    RCPT = "RCPT"
    """``RCPT TO``: the server looked at this recipient (the stage where mailboxes are checked)."""
    DATA_COMMAND = "DATA-COMMAND"
    """A ``DATA`` line in a session transcript (Sendmail's ``>>> DATA``), followed by an error.
    Sendmail shows the answer to the end of the data under it, so it reads as after ``DATA``;
    but with pipelining (RFC 2920) the answers to ``RCPT TO`` arrive after it too, and when the
    server then answers ``DATA`` with "503 Need RCPT" (RFC 5321 §3.3) the command is ``RCPT``."""
    DATA = "DATA"
    """The end of the data (the ``.`` line): the message content was refused, after the server
    had accepted the recipient at ``RCPT TO``."""


@attrs.frozen(kw_only=True)
class BouncedRecipient:
    """One recipient a bounce reports.

    ``address`` is always a valid addr-spec (checked with email-validator, syntax only).
    ``status`` is the enhanced status code (RFC 3463, ``5.1.1``), ``reply_code`` the SMTP reply
    code (RFC 5321 §4.2, ``550``), ``diagnostic`` the server's text, ``action`` the DSN action
    (RFC 3464 §2.3.3, normalised: failed, delayed, ...), ``source`` the format it was read from
    (``rfc3464``, ``x-failed-recipients``, ``postfix``, ...). ``reason`` is ``delayed`` for a
    delay warning, whose own cause is in ``cause``.
    """

    address: str
    reason: BounceReason
    hard: bool
    status: str | None = None
    reply_code: str | None = None
    diagnostic: str | None = None
    action: str | None = None
    remote_mta: str | None = None
    source: str = ""
    original_recipient: str | None = None
    """The address as the sender wrote it, when the report names another one (RFC 3464 §2.3.1
    ``Original-Recipient``: before alias expansion). The delivery guard blocks this one: it is
    the address helpmail sends to."""
    cause: BounceReason | None = None
    """For a delay warning, what the delay is about (``mailbox_full``, ``transient``...), read
    from its status and text as for a failure; ``None`` otherwise."""
    smtp_command: SmtpCommand | None = None
    """The SMTP command the receiving server refused (:class:`SmtpCommand`, a ``str``: ``RCPT``,
    ``DATA``, ``MAIL``, ...), as the report says it (Postfix "in reply to RCPT TO command", Exim
    "after RCPT TO:", a Sendmail ``>>>`` / ``<<<`` transcript, ...; see
    :func:`helpmail.bounces.reasons.smtp_command`); ``DATA`` also when a content-filter gateway
    wrote the report. ``None`` when the report does not say. It weighs on the reason: "unknown
    user" text is read as a dead mailbox only with a witness -- a refusal at ``RCPT TO`` or an
    RFC 3463 ``X.1.X`` addressing status (:func:`helpmail.bounces.reasons.decide_reason`)."""


@attrs.frozen(kw_only=True)
class Bounce:
    """What :func:`helpmail.parse_bounce` read from one bounce.

    ``original_message_id`` is the Message-ID of the mail that bounced (from the returned
    ``message/rfc822`` or ``text/rfc822-headers`` part, else In-Reply-To / References), without
    angle brackets: with helpmail's signed ids it names the ticket and the recipient.
    """

    recipients: tuple[BouncedRecipient, ...]
    kind: BounceKind = BounceKind.FAILURE
    original_message_id: str | None = None
    original_subject: str | None = None
    reporting_mta: str | None = None
    message_id: str | None = None
    """The bounce's own Message-ID (stored with a block, so an admin can find the bounce)."""
    arrival: dt.datetime | None = None
    """The bounce's Date, when it has one."""
    format: str = ""
    """The format that found the recipients (``rfc3464``, ``postfix``, ``generic``, ...)."""

    @property
    def hard(self) -> bool:
        """True when any recipient failed hard."""
        return any(r.hard for r in self.recipients)
