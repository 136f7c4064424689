"""The notification service glue: events in, mails out through a :class:`MailSender`.

:class:`Notifier` is what a host (or :class:`helpmail.service.Desk` through its ``on_events``
hook) calls after a commit: for each ticket event it plans the notifications
(:func:`~helpmail.notify.plan_notifications`) and hands each mail to the sender port. It performs
no I/O of its own - only through the ports it is given - and it never lets one failure stop the
rest: a template error or a refused mail is recorded in the :class:`Delivery` log with its reason,
so the import that caused the event is never undone by a notification.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import attrs

from helpmail.errors import HelpmailError
from helpmail.mail.model import address_key
from helpmail.notify.plan import Notification, NotificationPlan, plan_notifications
from helpmail.notify.ports import (
    DeliveryGuardLike,
    Directory,
    HeldLike,
    MailAdmitter,
    MailSender,
    SendReceipt,
    SentRecorder,
)
from helpmail.notify.settings import CUSTOMER_ROLES, NotifySettings
from helpmail.templates import TemplateRenderer
from helpmail.tickets.events import TicketEvent

if TYPE_CHECKING:
    from helpmail.config import Config


@attrs.frozen(kw_only=True)
class Delivery:
    """What happened to one event's notifications: the plan, receipts, and errors."""

    event: TicketEvent
    plan: NotificationPlan | None
    receipts: tuple[tuple[Notification, SendReceipt], ...] = ()
    failures: tuple[tuple[Notification | None, str], ...] = ()


@attrs.define(kw_only=True)
class Notifier:
    """Plans and sends the notifications of ticket events (usable as ``Desk(on_events=...)``).

    When ``guard`` can admit mail (:class:`~helpmail.notify.ports.MailAdmitter`, as
    ``helpmail.guard.DeliveryGuard`` can), each mail is admitted right before it is sent: the
    guard checks and counts it in one step, so notifiers in several threads or processes sharing
    the guard's state never send more than a cap allows; a mail the guard holds at that moment
    (another worker, or an earlier recipient of the same event, took the last slot) is listed in
    ``failures`` with the guard's reason, and the slot of a mail the sender did not deliver is
    given back. A guard that can only record sent mail
    (:class:`~helpmail.notify.ports.SentRecorder`) gets every accepted mail recorded after
    sending. ``on_sent`` is called after each accepted mail; ``log`` keeps the last ``keep``
    deliveries for inspection (the demo prints it).
    """

    settings: NotifySettings
    directory: Directory
    renderer: TemplateRenderer
    sender: MailSender
    guard: DeliveryGuardLike | None = None
    now: Callable[[], dt.datetime] | None = None
    on_sent: Callable[[Notification, SendReceipt], None] | None = None
    keep: int = 1000
    log: list[Delivery] = attrs.field(factory=list)

    def __call__(self, events: Sequence[TicketEvent]) -> None:
        for event in events:
            self.notify(event)

    def notify(self, event: TicketEvent) -> Delivery:
        """Plan and send the mails of one event; never raises a :class:`HelpmailError`."""
        now = self.now() if self.now is not None else None
        try:
            plan = plan_notifications(
                event, self.settings, self.directory, self.renderer, self.guard, now=now
            )
        except HelpmailError as error:
            return self._keep(Delivery(event=event, plan=None, failures=((None, str(error)),)))
        receipts: list[tuple[Notification, SendReceipt]] = []
        failures: list[tuple[Notification | None, str]] = [
            (None, f"{recipient.address}: {error}") for recipient, error in plan.failed
        ]
        guard: object = self.guard
        admitter = guard if isinstance(guard, MailAdmitter) else None
        at = now or event.at
        ticket = event.ticket.id
        for notification in plan.notifications:
            if notification.mail is None:
                continue
            address = notification.recipient.address
            if admitter is not None:
                refusal = _admit(admitter, notification, ticket, at)
                if refusal is not None:
                    failures.append((notification, refusal))
                    continue
            try:
                receipt = self.sender.send(notification.mail)
            except HelpmailError as error:
                failures.append((notification, str(error)))
                if admitter is not None:
                    failures.extend(_release(admitter, notification, ticket, at))
                continue
            receipts.append((notification, receipt))
            if admitter is not None:
                if address_key(address) not in {address_key(a) for a in receipt.accepted}:
                    failures.extend(_release(admitter, notification, ticket, at))
            elif isinstance(guard, SentRecorder):
                for accepted in receipt.accepted:
                    guard.record_sent(accepted, ticket, at)
            if self.on_sent is not None:
                self.on_sent(notification, receipt)
        return self._keep(
            Delivery(event=event, plan=plan, receipts=tuple(receipts), failures=tuple(failures))
        )

    def _keep(self, delivery: Delivery) -> Delivery:
        self.log.append(delivery)
        excess = len(self.log) - max(self.keep, 0)  # keep=0 keeps none (a [:-0] slice: all)
        if excess > 0:
            del self.log[:excess]
        return delivery


def _admit(
    admitter: MailAdmitter, notification: Notification, ticket: str, at: dt.datetime
) -> str | None:
    """Admit one mail through the guard: ``None`` to send it, else why not (``held by the
    delivery guard when sending: address_cap (...)``). A guard that cannot answer (its store
    failed) holds the mail: no automatic mail goes out unguarded."""
    recipient = notification.recipient
    staff = recipient.template_role not in CUSTOMER_ROLES
    try:
        decision = admitter.admit(recipient.address, ticket, at, staff=staff)
    except HelpmailError as error:
        return f"held: the delivery guard failed: {error}"
    if not isinstance(decision, HeldLike) or decision.reason is None:
        return None
    detail = getattr(decision, "detail", "")
    text = f"held by the delivery guard when sending: {decision.reason}"
    return text + (f" ({detail})" if detail else "")


def _release(
    admitter: MailAdmitter, notification: Notification, ticket: str, at: dt.datetime
) -> list[tuple[Notification | None, str]]:
    """Give back the slot of a mail that was not delivered; a failure to do so is reported
    (the slot then stays counted, which errs on the safe side)."""
    try:
        admitter.release(notification.recipient.address, ticket, at)
    except HelpmailError as error:
        return [(notification, f"the delivery guard still counts this mail: {error}")]
    return []


def notifier_from_config(
    config: Config, sender: MailSender, guard: DeliveryGuardLike | None = None
) -> Notifier:
    """A :class:`Notifier` for a parsed configuration: the ``[notify]`` section (defaults and an
    empty directory when there is none), completed from ``[desk]`` and ``[import]``.

    For the demo and ``helpmail import``:
    ``Desk(..., on_events=notifier_from_config(config, MaildirOutbox(folder)))``.
    """
    from helpmail.notify.ports import StaticDirectory
    from helpmail.notify.settings import NotifyConfig

    section = config.section("notify")
    if not isinstance(section, NotifyConfig):
        section = NotifyConfig(settings=NotifySettings(), directory=StaticDirectory())
    settings = section.settings_with(config)
    renderer = TemplateRenderer(
        template_dir=section.template_dir, default_language=settings.default_language
    )
    return Notifier(
        settings=settings,
        directory=section.directory,
        renderer=renderer,
        sender=sender,
        guard=guard,
    )
