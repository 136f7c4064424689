"""The demo mailbox imported with notifications on: the mails its import caused, in an outbox.

Runs the real import (``Desk`` over the bundled Maildir, SQLite store) with a
:class:`~helpmail.notify.Notifier` writing into a Maildir outbox, as ``helpmail demo`` can.
"""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from helpmail import demo
from helpmail.adapters.outbox import MaildirOutbox
from helpmail.message_ids import read_message_id
from helpmail.notify import SuppressReason
from helpmail.notify.notifier import Notifier, notifier_from_config
from helpmail.tickets import events as ev


@pytest.fixture(scope="module")
def demo_outbox(tmp_path_factory: pytest.TempPathFactory) -> tuple[Notifier, Path]:
    from helpmail.adapters.mailbox import MaildirSource
    from helpmail.adapters.sqlite import SqliteStore
    from helpmail.adapters.sqlite_guard import SqliteGuardState
    from helpmail.cli.demo import deliver
    from helpmail.config import parse_toml
    from helpmail.guard import DeliveryGuard
    from helpmail.service import Desk

    folder = tmp_path_factory.mktemp("demo-notify")
    config = parse_toml(
        demo.config_text(),
        source=folder / "demo.toml",
        base_dir=folder,
        env={demo.DEMO_KEY_VARIABLE: demo.DEMO_SIGNING_KEY},
    )
    mailbox = config.mailbox("demo")
    assert mailbox.path is not None
    assert config.database.path is not None
    deliver(mailbox.path)
    store = SqliteStore(config.database.path)
    source = MaildirSource(mailbox.path)
    state = SqliteGuardState(config.database.path)
    guard = DeliveryGuard(state)
    notifier = notifier_from_config(config, MaildirOutbox(folder / "outbox"), guard)
    try:
        desk = Desk(
            store=store, settings=config.import_settings(mailbox), on_events=notifier, guard=guard
        )
        desk.import_from(source)
    finally:
        source.close()
        store.close()
        state.close()
    return notifier, folder / "outbox"


def _parse(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def test_demo_import_confirmations_land_in_the_outbox(demo_outbox: tuple[Notifier, Path]) -> None:
    notifier, outbox = demo_outbox
    mails = [_parse(raw) for raw in MaildirOutbox(outbox).messages()]
    human_created = [
        d.event
        for d in notifier.log
        if isinstance(d.event, ev.TicketCreated) and d.event.origin is ev.Origin.CUSTOMER
    ]
    assert len(human_created) >= 10
    # the demo desk's own people and queue (dana, sam, first-level) get their notices too
    assert len(mails) == sum(len(d.receipts) for d in notifier.log)
    staff = {"dana@acme.example", "sam@acme.example", "first-level@acme.example"}
    customers = [m for m in mails if m["To"].addresses[0].addr_spec not in staff]
    # every customer who opened a ticket gets the confirmation, unless the delivery guard holds
    # the address (Petra's mailbox was full: mail 31)
    held = [
        s
        for d in notifier.log
        for s in (d.plan.resolution.suppressed if d.plan is not None else ())
        if s.reason is SuppressReason.HELD
    ]
    assert [s.who for s in held] == ["petra.schulz@kunde.example"]
    assert len(customers) == len(human_created) - len(held)
    human_created = [
        e for e in human_created if e.ticket.reporter_address not in {s.who for s in held}
    ]
    by_to = {str(m["To"].addresses[0].addr_spec): m for m in customers}
    for event in human_created:
        message = by_to[str(event.ticket.reporter_address)]
        number = event.ticket.number
        # (a long subject is folded after "Subject:"; unfolding leaves the folding space)
        subject = str(message["Subject"]).strip()
        assert subject.startswith(f"[Ticket#{number}] Ticket {number} - ")
        assert subject.endswith(" is registered")  # no language on the ticket: the desk's
        assert message["From"].addresses[0].addr_spec == event.ticket.support_address
        assert message["Auto-Submitted"] == "auto-generated"
        assert message["Return-Path"]
        signed = read_message_id(str(message["Message-ID"]), [demo.DEMO_SIGNING_KEY.encode()])
        assert signed is not None
        assert signed.ticket == event.ticket.id


def test_demo_automated_mail_and_bounces_cause_no_mail(demo_outbox: tuple[Notifier, Path]) -> None:
    notifier, _ = demo_outbox
    automated = [
        d for d in notifier.log if getattr(d.event, "origin", None) is ev.Origin.AUTOMATED_MAIL
    ]
    assert automated
    for delivery in automated:
        assert delivery.plan is not None
        assert delivery.plan.notifications == ()
        assert {s.reason for s in delivery.plan.resolution.suppressed} == {
            SuppressReason.AUTOMATED_ORIGIN
        }
    bounces = [d for d in notifier.log if isinstance(d.event, ev.BounceAttached)]
    assert bounces
    assert all(d.plan is not None and d.plan.notifications == () for d in bounces)
    assert all(not d.failures for d in notifier.log)
