"""The Notifier: events in, mails into a real Maildir outbox; failures recorded, never raised."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import attrs
import jinja2
import pytest

from helpmail.adapters.outbox import MaildirOutbox
from helpmail.errors import SendError
from helpmail.notify import (
    NotifySettings,
    OutgoingMail,
    Person,
    Queue,
    Sender,
    SendReceipt,
    StaticDirectory,
)
from helpmail.notify.notifier import Notifier
from helpmail.templates import TemplateRenderer
from helpmail.tickets import events as ev

AT = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)
SETTINGS = NotifySettings(
    default_sender=Sender(address="desk@example.com"),
    signing_key=b"k",
    message_id_domain="d.example",
)
DIRECTORY = StaticDirectory.of(
    [
        Person(id="anna", address="anna@example.com"),
        Person(id="bob", address="refuse-bob@example.com"),
    ],
    [Queue(id="q", members=("anna", "bob"))],
)
TICKET = ev.TicketSnapshot(id="T-1", number="1", title="Hello", status="new", queue="q")


@attrs.define
class Refusing:
    """A sender that refuses one address and passes the rest to an outbox."""

    inner: MaildirOutbox

    def send(self, mail: OutgoingMail) -> SendReceipt:
        if mail.envelope_to[0].startswith("refuse"):
            raise SendError("550 no such user")
        return self.inner.send(mail)


def test_notifier_sends_each_events_mails_to_the_outbox(tmp_path: Path) -> None:
    outbox = MaildirOutbox(tmp_path / "outbox")
    sent: list[str] = []
    notifier = Notifier(
        settings=SETTINGS, directory=DIRECTORY, renderer=TemplateRenderer(),
        sender=Refusing(outbox), on_sent=lambda n, r: sent.append(n.recipient.address),
    )  # fmt: skip
    notifier(
        (ev.Escalated(ticket=TICKET, at=AT), ev.StatusChanged(ticket=TICKET, at=AT, old_status="x"))
    )
    assert sent == ["anna@example.com"]
    assert len(list(outbox.messages())) == 1
    first, second = notifier.log
    assert [(n.recipient.address if n else None, why) for n, why in first.failures] == [
        ("refuse-bob@example.com", "550 no such user")
    ]
    assert second.plan is not None
    assert second.plan.notifications == ()


def test_notifier_template_error_is_recorded_not_raised(tmp_path: Path) -> None:
    broken = TemplateRenderer(jinja2.DictLoader({"en/default.subject": "{{ nope }}"}))
    notifier = Notifier(
        settings=SETTINGS, directory=DIRECTORY, renderer=broken, sender=MaildirOutbox(tmp_path)
    )
    delivery = notifier.notify(ev.Escalated(ticket=TICKET, at=AT))
    assert delivery.receipts == ()
    assert [why for _, why in delivery.failures] == [
        f"{address}: template en/default.subject, line 1: UndefinedError: 'nope' is undefined"
        for address in ("anna@example.com", "refuse-bob@example.com")
    ]


def test_plan_one_recipients_template_failure_does_not_stop_the_others() -> None:
    from helpmail.notify import plan_notifications
    from helpmail.templates import TemplateRenderError

    directory = StaticDirectory.of(
        [
            Person(id="anna", address="anna@example.com", language="de"),
            Person(id="bob", address="bob@example.com"),
        ],
        [Queue(id="q", members=("anna", "bob"))],
    )
    broken_de = TemplateRenderer(jinja2.DictLoader({"de/default.subject": "{{ 1 / 0 }}"}))
    plan = plan_notifications(ev.Escalated(ticket=TICKET, at=AT), SETTINGS, directory, broken_de)
    assert [n.recipient.address for n in plan.notifications] == ["bob@example.com"]
    [(recipient, error)] = plan.failed
    assert recipient.address == "anna@example.com"
    assert isinstance(error, TemplateRenderError)
    assert (error.template, error.line) == ("de/default.subject", 1)


def test_real_delivery_guard_block_and_caps(tmp_path: Path) -> None:
    """With helpmail.guard: a bounced address is held with the guard's reason; sent mail counts."""
    from helpmail.bounces.model import BounceReason
    from helpmail.guard import AddressBlock, Cap, DeliveryGuard, GuardSettings
    from helpmail.mail.model import address_key
    from helpmail.notify import SuppressReason, resolve_recipients

    directory = StaticDirectory.of(
        [
            Person(id="anna", address="anna@example.com"),
            Person(id="bob", address="bob@example.com"),
        ],
        [Queue(id="q", members=("anna", "bob"))],
    )
    one_a_day = (Cap(limit=1, window=dt.timedelta(days=1)),)
    # anna and bob are queue members: the desk's own people, capped by the staff caps
    guard = DeliveryGuard(settings=GuardSettings(staff_address_caps=one_a_day))
    guard.state.put_block(
        AddressBlock(
            address=address_key("bob@example.com"),
            reason=BounceReason.USER_UNKNOWN,
            hard=True,
            blocked_at=AT,
            blocked_until=None,
        )
    )
    outbox = MaildirOutbox(tmp_path / "outbox")
    notifier = Notifier(
        settings=SETTINGS, directory=directory, renderer=TemplateRenderer(), sender=outbox,
        guard=guard, now=lambda: AT,
    )  # fmt: skip
    first = notifier.notify(ev.Escalated(ticket=TICKET, at=AT))
    assert first.plan is not None
    assert [n.recipient.address for n in first.plan.notifications] == ["anna@example.com"]
    [bob] = first.plan.resolution.suppressed
    assert (bob.who, bob.reason, bob.guard_reason, bob.until) == (
        "bob@example.com",
        SuppressReason.HELD,
        "address_blocked",
        None,
    )
    assert "user_unknown" in bob.detail
    # The mail to Anna was recorded: the next event hits her address cap (1 per day).
    later = resolve_recipients(
        ev.Escalated(ticket=TICKET, at=AT),
        SETTINGS,
        directory,
        guard,
        now=AT + dt.timedelta(minutes=1),
    )
    assert {s.who: s.guard_reason for s in later.suppressed} == {
        "anna@example.com": "address_cap",
        "bob@example.com": "address_blocked",
    }
    assert len(list(outbox.messages())) == 1


@pytest.mark.parametrize(("keep", "kept"), [(0, 0), (1, 1), (2, 2), (5, 3)])
def test_the_log_keeps_the_last_keep_deliveries(tmp_path: Path, keep: int, kept: int) -> None:
    notifier = Notifier(
        settings=SETTINGS, directory=DIRECTORY, renderer=TemplateRenderer(),
        sender=MaildirOutbox(tmp_path), keep=keep,
    )  # fmt: skip
    deliveries = [notifier.notify(ev.Escalated(ticket=TICKET, at=AT)) for _ in range(3)]
    assert notifier.log == deliveries[len(deliveries) - kept :]
