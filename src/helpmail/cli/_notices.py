"""The automatic mails an import caused, message by message, for the command line.

:class:`MailNotices` sits between :class:`helpmail.service.Desk` (as its ``on_events`` hook) and a
:class:`~helpmail.notify.notifier.Notifier`: it hands every ticket event to the notifier, keeps the
resulting :class:`~helpmail.notify.notifier.Delivery` values until the import reports the message
that caused them (:meth:`MailNotices.take`, called from the import's progress hook), and fills in
the ticket's language from the mail's ``Content-Language`` header (RFC 3282) when the event does
not carry one, so a German customer gets the German confirmation.

The rule this module keeps: every automatic mail is shown with its recipient and subject, and every
recipient left out is shown with the policy's reason - nobody is dropped silently.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from helpmail.tickets.events import TicketEvent

if TYPE_CHECKING:
    from helpmail.notify.notifier import Delivery, Notifier
    from helpmail.ports import MailSource, SourceMessage

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


class _LanguageSource:
    """A :class:`~helpmail.ports.MailSource` that notes the language of the message in hand."""

    def __init__(self, inner: MailSource, notices: MailNotices) -> None:
        self.inner = inner
        self.notices = notices

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    @property
    def name(self) -> str:
        name: str = self.inner.name
        return name

    def messages(self) -> Iterator[SourceMessage]:
        for message in self.inner.messages():
            self.notices.language = content_language(message.raw)
            yield message
        self.notices.language = None

    def apply(self, ref: Any, actions: Any) -> None:
        self.inner.apply(ref, actions)

    def checkpoint(self) -> None:
        from helpmail.ports import Checkpointing

        if isinstance(self.inner, Checkpointing):
            self.inner.checkpoint()

    def close(self) -> None:
        self.inner.close()


@attrs.define
class MailNotices:
    """``Desk(on_events=notices)``: send each event's mails through ``notifier`` and keep the
    deliveries of the message being imported until :meth:`take` collects them."""

    notifier: Notifier
    language: str | None = None
    _pending: list[Delivery] = attrs.field(factory=list, alias="_pending")

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
