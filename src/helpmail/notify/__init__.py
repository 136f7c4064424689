"""Ticket events -> recipients -> templates -> composed mail.

* :func:`resolve_recipients` - who gets a mail for one event, with the roles that selected them,
  and who does not, with the reason (:mod:`helpmail.notify.policy`);
* :class:`NotifySettings` - which event notifies which role, as a data table, plus senders and
  return path (:mod:`helpmail.notify.settings`);
* :func:`plan_notifications` - resolve, render (:mod:`helpmail.templates`) and compose
  (:mod:`helpmail.notify.compose`) in one call;
* :func:`check_notify_settings` - the ``helpmail check`` findings for all of it;
* :class:`Notifier` - plans and sends each event's mails through a :class:`MailSender`
  (``Desk(on_events=Notifier(...))``), recording failures instead of raising.

Nothing here does I/O; a :class:`MailSender` (:mod:`helpmail.adapters.smtp`,
:mod:`helpmail.adapters.outbox`) sends what the plan says.
"""

from __future__ import annotations

from helpmail.notify.check import Finding, Severity, check_notify_settings
from helpmail.notify.compose import ComposeError, compose, parse_verp, verp_address
from helpmail.notify.notifier import Delivery, Notifier
from helpmail.notify.plan import (
    Notification,
    NotificationPlan,
    plan_notifications,
    template_variables,
    ticket_url,
)
from helpmail.notify.policy import (
    Recipient,
    Resolution,
    Suppressed,
    SuppressReason,
    resolve_recipients,
)
from helpmail.notify.ports import (
    DeliveryGuardLike,
    Directory,
    MailSender,
    OutgoingMail,
    Person,
    Queue,
    SendReceipt,
    StaticDirectory,
)
from helpmail.notify.settings import (
    DEFAULT_EVENT_ROLES,
    EventKind,
    NotifyConfig,
    NotifySettings,
    ReturnPathMode,
    Role,
    Sender,
    event_kind,
    parse_notify_config,
)

__all__ = [
    "DEFAULT_EVENT_ROLES",
    "ComposeError",
    "Delivery",
    "DeliveryGuardLike",
    "Directory",
    "EventKind",
    "Finding",
    "MailSender",
    "Notification",
    "NotificationPlan",
    "Notifier",
    "NotifyConfig",
    "NotifySettings",
    "OutgoingMail",
    "Person",
    "Queue",
    "Recipient",
    "Resolution",
    "ReturnPathMode",
    "Role",
    "SendReceipt",
    "Sender",
    "Severity",
    "StaticDirectory",
    "SuppressReason",
    "Suppressed",
    "check_notify_settings",
    "compose",
    "event_kind",
    "parse_notify_config",
    "parse_verp",
    "plan_notifications",
    "resolve_recipients",
    "template_variables",
    "ticket_url",
    "verp_address",
]
