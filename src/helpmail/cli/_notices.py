"""The automatic mails an import caused, message by message, for the command line.

:class:`MailNotices` sits between :class:`helpmail.service.Desk` (as its ``on_events`` hook) and a
:class:`~helpmail.notify.notifier.Notifier`: it hands every ticket event to the notifier, keeps the
resulting :class:`~helpmail.notify.notifier.Delivery` values until the import reports the message
that caused them (:meth:`MailNotices.take`, called from the import's progress hook), and fills in
the ticket's language from the mail's ``Content-Language`` header (RFC 3282) when the event does
not carry one, so a German customer gets the German confirmation.

:func:`mail_route` decides where the automatic mails of ``helpmail import`` and ``helpmail poll``
go: ``--no-mail`` turns them off, ``--outbox DIR`` writes them to a Maildir, else the ``[smtp]``
section sends them; with neither, none are sent and the command says so once.

The rule this module keeps: every automatic mail is shown with its recipient and subject, and every
recipient left out is shown with the policy's reason - nobody is dropped silently.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterator, Sequence
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from helpmail.cli._common import SourceWrapper
from helpmail.tickets.events import TicketEvent

if TYPE_CHECKING:
    from helpmail.adapters.smtp import SmtpSettings
    from helpmail.config import Config
    from helpmail.notify.notifier import Delivery, Notifier
    from helpmail.notify.ports import DeliveryGuardLike, MailSender
    from helpmail.ports import MailSource, SourceMessage

log = logging.getLogger("helpmail.mail")

#: RFC 5646 language tag, loosely: ``de``, ``de-DE``, ``nl-BE``, ``zh-Hant-TW``
_TAG = re.compile(r"^[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8}){0,7}$")
#: how much of a mail is searched for its header block
_HEADER_LIMIT = 64 * 1024


def content_language(raw: bytes) -> str | None:
    """The first language tag of the top-level ``Content-Language`` header (RFC 3282 §2:
    ``Content-Language: de-DE, en``), lower-cased; ``None`` when there is none or it is not a
    language tag. Reads only the header block; never raises."""
    head = raw[:_HEADER_LIMIT].replace(b"\r\n", b"\n")
    end = head.find(b"\n\n")
    if end >= 0:
        head = head[:end]
    value: str | None = None
    for line in head.split(b"\n"):
        if value is not None and line[:1] in (b" ", b"\t"):
            value += " " + line.decode("ascii", "replace").strip()
            continue
        if value is not None:
            break
        if line[:17].lower() == b"content-language:":
            value = line[17:].decode("ascii", "replace").strip()
    if not value:
        return None
    first = re.sub(r"\([^()]{0,200}\)", " ", value).split(",")[0].strip()
    return first.lower() if _TAG.match(first) else None


def with_language(event: TicketEvent, language: str | None) -> TicketEvent:
    """``event`` with ``language`` as its ticket's language, unless the ticket has one already."""
    if language is None or event.ticket.language:
        return event
    return attrs.evolve(event, ticket=attrs.evolve(event.ticket, language=language))


class _LanguageSource(SourceWrapper):
    """A :class:`~helpmail.ports.MailSource` that notes the language of the message in hand."""

    def __init__(self, inner: MailSource, notices: MailNotices) -> None:
        super().__init__(inner)
        self.notices = notices

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def messages(self) -> Iterator[SourceMessage]:
        for message in self.inner.messages():
            self.notices.language = content_language(message.raw)
            yield message
        self.notices.language = None


@attrs.define
class MailNotices:
    """``Desk(on_events=notices)``: send each event's mails through ``notifier`` and keep the
    deliveries of the message being imported until :meth:`take` collects them."""

    notifier: Notifier
    language: str | None = None
    _pending: list[Delivery] = attrs.field(factory=list, alias="_pending")
    #: automatic mails sent (or written to the outbox) by the deliveries :meth:`drain` saw
    sent_total: int = 0
    #: recipients the delivery guard held or whose mail failed, in those deliveries
    held_total: int = 0

    def __call__(self, events: Sequence[TicketEvent]) -> None:
        for event in events:
            self._pending.append(self.notifier.notify(with_language(event, self.language)))

    def source(self, source: MailSource) -> MailSource:
        """``source``, noting each message's ``Content-Language`` for the events it causes."""
        wrapped: MailSource = _LanguageSource(source, self)
        return wrapped

    def take(self) -> list[Delivery]:
        """The deliveries since the last call (those of the message just imported)."""
        taken, self._pending = self._pending, []
        return taken

    def drain(self) -> list[Delivery]:
        """:meth:`take`, counting and logging each mail: sent at INFO, held by the guard at
        INFO, failed at WARNING (recipient, subject and reason; never a credential)."""
        taken = self.take()
        for delivery in taken:
            sent_now, held_now = _log_delivery(delivery)
            self.sent_total += sent_now
            self.held_total += held_now
        return taken


def _mail_subject(notification: Any) -> str:
    mail = notification.mail
    return _subject(mail.message["Subject"] if mail is not None else notification.rendered.subject)


def _log_delivery(delivery: Delivery) -> tuple[int, int]:
    """Log one event's mails; return how many were sent and how many held or failed."""
    sent_now = held_now = 0
    for notification, receipt in delivery.receipts:
        sent_now += 1
        subject = _mail_subject(notification)
        log.info("automatic mail sent to %s: %s", notification.recipient.address, subject)
        for address, (code, reply) in receipt.refused.items():
            log.warning("automatic mail to %s refused: %s: %s %s", address, subject, code, reply)
    for failed, error in delivery.failures:
        if error.startswith("the delivery guard still counts"):  # a note on a failure above
            log.warning("%s", error)
            continue
        held_now += 1
        if failed is None:
            log.warning("automatic mail of %s not sent: %s", delivery.event.ticket.id, error)
        else:
            log.warning(
                "automatic mail to %s not sent: %s: %s",
                failed.recipient.address,
                _mail_subject(failed),
                error,
            )
    if delivery.plan is not None:
        for entry in delivery.plan.resolution.suppressed:
            if entry.reason == "held":
                held_now += 1
                log.info(
                    "no automatic mail to %s (%s): %s",
                    entry.who,
                    entry.role,
                    _held(entry.guard_reason, entry.detail),
                )
    return sent_now, held_now


@contextlib.contextmanager
def mail_log_to(stream: Any, *, verbose: bool) -> Iterator[None]:
    """While in the block, the mail log (``helpmail.mail``) is printed on ``stream``: failures
    always, each mail sent too when ``verbose``. For commands that configure no logging
    (``helpmail import``); ``helpmail poll`` has its own logging setup."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s"))
    handler.setLevel(logging.INFO if verbose else logging.WARNING)
    previous = log.level
    log.addHandler(handler)
    if verbose and not log.isEnabledFor(logging.INFO):
        log.setLevel(logging.INFO)
    try:
        yield
    finally:
        log.removeHandler(handler)
        log.setLevel(previous)


class MailRouteKind(StrEnum):
    """Where the automatic mails of an import go."""

    SMTP = "smtp"  #: sent through the ``[smtp]`` server
    OUTBOX = "outbox"  #: written to the ``--outbox`` Maildir
    OFF = "off"  #: ``--no-mail``
    UNCONFIGURED = "unconfigured"  #: no ``[smtp]`` section and no ``--outbox``: none sent


#: said once on stderr when no automatic mail can go anywhere
OFF_NOTICE = "automatic mails: off (no [smtp] section, no --outbox)"


@attrs.frozen(kw_only=True)
class MailRoute:
    """Where the automatic mails go (see :func:`mail_route`)."""

    kind: MailRouteKind
    outbox: Path | None = None
    smtp: SmtpSettings | None = None

    @property
    def on(self) -> bool:
        """Whether automatic mails go anywhere."""
        return self.kind in (MailRouteKind.SMTP, MailRouteKind.OUTBOX)

    def describe(self) -> str:
        """One line for people: where the mails go (no credential)."""
        if self.kind is MailRouteKind.SMTP and self.smtp is not None:
            return (
                f"automatic mails: sent through {self.smtp.host}:{self.smtp.effective_port} "
                f"({self.smtp.security})"
            )
        if self.kind is MailRouteKind.OUTBOX:
            return f"automatic mails: written to the outbox {self.outbox} (nothing is sent)"
        if self.kind is MailRouteKind.OFF:
            return "automatic mails: off (--no-mail)"
        return OFF_NOTICE

    def sender(self, stack: contextlib.ExitStack) -> MailSender:
        """A new sender for this route (one per thread: an SMTP connection is not shared),
        closed with ``stack``."""
        if self.kind is MailRouteKind.SMTP and self.smtp is not None:
            from helpmail.adapters.smtp import SmtpSender

            smtp: MailSender = stack.enter_context(SmtpSender(self.smtp))
            return smtp
        if self.kind is MailRouteKind.OUTBOX and self.outbox is not None:
            from helpmail.adapters.outbox import MaildirOutbox

            return MaildirOutbox(self.outbox)
        raise ValueError(f"automatic mails are {self.kind}: no sender")

    def notices(
        self, config: Config, guard: DeliveryGuardLike | None, stack: contextlib.ExitStack
    ) -> MailNotices | None:
        """``Desk(on_events=...)`` for this route (``None`` when mails are off): a notifier
        over a new sender, with ``guard`` (the Desk's own) admitting every mail."""
        if not self.on:
            return None
        from helpmail.notify.notifier import notifier_from_config

        notifier = notifier_from_config(config, self.sender(stack), guard)
        notifier.keep = 1  # the deliveries are drained message by message: memory stays flat
        return MailNotices(notifier)


def mail_route(config: Config, *, outbox: Path | None, no_mail: bool) -> MailRoute:
    """``--no-mail`` (off), else ``--outbox DIR``, else the ``[smtp]`` section, else none."""
    from helpmail.adapters.smtp import SmtpSettings

    if no_mail:
        return MailRoute(kind=MailRouteKind.OFF)
    if outbox is not None:
        return MailRoute(kind=MailRouteKind.OUTBOX, outbox=outbox)
    smtp = config.section("smtp")
    if isinstance(smtp, SmtpSettings):
        return MailRoute(kind=MailRouteKind.SMTP, smtp=smtp)
    return MailRoute(kind=MailRouteKind.UNCONFIGURED)


def _subject(delivery_subject: object) -> str:
    return " ".join(str(delivery_subject).split())


def _held(guard_reason: str | None, detail: str) -> str:
    """``held by the delivery guard (address blocked: mailbox_full)``: the guard's reason and
    the bounce reason its detail names, without the rest of the detail (``helpmail explain`` and
    the guard's own records have it)."""
    from helpmail.bounces.model import BounceReason

    why = "held by the delivery guard"
    if guard_reason:
        why += f" ({guard_reason.replace('_', ' ')}"
        bounce = next((r.value for r in BounceReason if re.search(rf"\b{r.value}\b", detail)), None)
        why += f": {bounce})" if bounce else ")"
    return why


def sent(deliveries: Sequence[Delivery]) -> list[tuple[str, str]]:
    """``(recipient, subject)`` of every mail the deliveries sent (or wrote to the outbox)."""
    found = []
    for delivery in deliveries:
        for notification, _receipt in delivery.receipts:
            mail = notification.mail
            subject = mail.message["Subject"] if mail is not None else notification.rendered.subject
            found.append((notification.recipient.address, _subject(subject)))
    return found


def suppressed(deliveries: Sequence[Delivery]) -> list[tuple[str, str]]:
    """``(who, why)`` of every recipient left out or whose mail failed; a reason shared by every
    role of an automated mail is given once, as ``("", why)``."""
    found: list[tuple[str, str]] = []
    for delivery in deliveries:
        for notification, error in delivery.failures:
            who = notification.recipient.address if notification is not None else ""
            found.append((who, f"failed: {error}"))
        if delivery.plan is None:
            continue
        resolution = delivery.plan.resolution
        reasons = resolution.suppressed
        if reasons and all(s.reason == "automated_origin" for s in reasons):
            found.append(("", reasons[0].detail or "automated mail is never answered"))
            continue
        if not reasons and not delivery.plan.notifications and not delivery.failures:
            found.append(("", f"nobody is notified of {str(resolution.kind).replace('_', ' ')}"))
            continue
        for entry in reasons:
            if entry.reason == "held":
                why = _held(entry.guard_reason, entry.detail)
            else:
                why = str(entry.reason).replace("_", " ")
            if entry.until is not None:
                why += f" until {entry.until:%Y-%m-%d %H:%M} UTC"
            if entry.detail and entry.reason != "held":
                why += f": {entry.detail}"
            who = entry.who if not entry.who.startswith("(") else ""
            found.append((f"{who} ({entry.role})" if who else f"the {entry.role}", why))
    return found


def lines(deliveries: Sequence[Delivery]) -> list[str]:
    """Readable lines: ``mail to ADDRESS: SUBJECT`` and ``no mail to WHO: WHY``."""
    text = [f"mail to {address}: {subject}" for address, subject in sent(deliveries)]
    for who, why in suppressed(deliveries):
        text.append(f"no mail to {who}: {why}" if who else f"no mail: {why}")
    return text


def as_dicts(deliveries: Sequence[Delivery]) -> dict[str, list[dict[str, str]]]:
    """A JSON-ready form: ``{"sent": [{"to", "subject"}], "suppressed": [{"who", "why"}]}``."""
    return {
        "sent": [{"to": to, "subject": subject} for to, subject in sent(deliveries)],
        "suppressed": [{"who": who, "why": why} for who, why in suppressed(deliveries)],
    }
