"""From one ticket event to the mails it causes: resolve, render, compose - as values.

:func:`plan_notifications` runs the three pure steps and returns a :class:`NotificationPlan`:
who gets which mail (rendered and composed, ready for a :class:`~helpmail.notify.ports.MailSender`)
and who gets none, with the reason. The service layer sends the plan; ``helpmail notify`` prints
it without sending.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

import attrs

from helpmail.errors import HelpmailError
from helpmail.notify.compose import compose
from helpmail.notify.policy import Recipient, Resolution, resolve_recipients
from helpmail.notify.ports import DeliveryGuardLike, Directory, OutgoingMail
from helpmail.notify.settings import NotifySettings
from helpmail.templates import RenderedTemplates, TemplateRenderer
from helpmail.tickets.events import TicketEvent


@attrs.frozen(kw_only=True)
class Notification:
    """One mail for one recipient: the templates' output and the composed mail."""

    recipient: Recipient
    rendered: RenderedTemplates
    mail: OutgoingMail | None = None


@attrs.frozen(kw_only=True)
class NotificationPlan:
    """The mails one event causes, and the resolution that explains them."""

    resolution: Resolution
    notifications: tuple[Notification, ...]
    failed: tuple[tuple[Recipient, HelpmailError], ...] = ()
    """Recipients whose mail could not be rendered or composed, with the error (a
    :class:`~helpmail.errors.TemplateError` names the template and line)."""


def ticket_url(server_url: str, ticket_id: str) -> str:
    """``{server_url}ticketlist/ticket/{ticket.id}`` - the link to the ticket in the host app."""
    base = server_url if server_url.endswith("/") else server_url + "/"
    return f"{base}ticketlist/ticket/{quote(ticket_id, safe='')}"


def template_variables(
    event: TicketEvent, recipient: Recipient, settings: NotifySettings, kind: str
) -> dict[str, Any]:
    """The variables a notification template sees.

    ``ticket`` (the snapshot at the event), ``event``, ``recipient`` (address, name, person,
    roles, language, sender), ``server_url``, ``ticket_url``, ``kind`` (event kind), ``role``
    (the template role) and ``language``.
    """
    return {
        "ticket": event.ticket,
        "event": event,
        "recipient": recipient,
        "server_url": settings.server_url,
        "ticket_url": ticket_url(settings.server_url, event.ticket.id),
        "kind": kind,
        "role": str(recipient.template_role),
        "language": recipient.language,
    }


def render_for(
    resolution: Resolution,
    recipient: Recipient,
    settings: NotifySettings,
    renderer: TemplateRenderer,
) -> RenderedTemplates:
    """Render subject, text and HTML for one recipient of a resolution."""
    kind = str(resolution.kind)
    variables = template_variables(resolution.event, recipient, settings, kind)
    return renderer.render(kind, str(recipient.template_role), recipient.language, variables)


def plan_notifications(
    event: TicketEvent,
    settings: NotifySettings,
    directory: Directory,
    renderer: TemplateRenderer,
    guard: DeliveryGuardLike | None = None,
    *,
    now: dt.datetime | None = None,
    compose_mail: bool = True,
    references: Sequence[str] = (),
) -> NotificationPlan:
    """Resolve the recipients of ``event``, render their templates and compose their mails.

    ``compose_mail=False`` stops after rendering (previews, the benchmark's render figure). A
    recipient whose template fails (:class:`~helpmail.errors.TemplateError`, naming template and
    line) or whose mail cannot be composed is listed in ``failed``; the others still get theirs.
    """
    resolution = resolve_recipients(event, settings, directory, guard, now=now)
    notifications = []
    failed: list[tuple[Recipient, HelpmailError]] = []
    for recipient in resolution.recipients:
        try:
            rendered = render_for(resolution, recipient, settings, renderer)
            mail = (
                compose(
                    event=event,
                    recipient=recipient,
                    rendered=rendered,
                    settings=settings,
                    references=references,
                )
                if compose_mail
                else None
            )
        except HelpmailError as error:
            failed.append((recipient, error))
            continue
        notifications.append(Notification(recipient=recipient, rendered=rendered, mail=mail))
    return NotificationPlan(
        resolution=resolution, notifications=tuple(notifications), failed=tuple(failed)
    )
