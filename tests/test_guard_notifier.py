"""The Notifier admits every mail through the delivery guard right before sending it.

:meth:`helpmail.guard.DeliveryGuard.admit` checks and counts in one step, so the caps hold for
the recipients of one event (the plan checked them all before any was sent) and for notifiers
in several threads sharing the guard's SQLite file; a mail that was not delivered gives its slot
back; a guard that cannot answer holds the mail.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import attrs

from helpmail.adapters.outbox import MaildirOutbox
from helpmail.adapters.sqlite_guard import SqliteGuardState
from helpmail.errors import SendError, StoreError
from helpmail.guard import Cap, DeliveryGuard, Direction, GuardSettings, MemoryGuardState
from helpmail.notify import (
    MailSender,
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
from helpmail.testing.guard_conformance import run_threads
from helpmail.tickets import events as ev

AT = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
SETTINGS = NotifySettings(
    default_sender=Sender(address="desk@example.com"),
    signing_key=b"k",
    message_id_domain="d.example",
)
AGENTS = [Person(id=f"agent{i}", address=f"agent{i}@example.com") for i in range(4)]
DIRECTORY = StaticDirectory.of(AGENTS, [Queue(id="q", members=tuple(a.id for a in AGENTS))])


def ticket(number: int) -> ev.TicketSnapshot:
    return ev.TicketSnapshot(
        id=f"T-{number}", number=str(number), title="Hi", status="new", queue="q"
    )


def notifier(
    guard: DeliveryGuard, sender: MailSender, *, directory: StaticDirectory = DIRECTORY
) -> Notifier:
    return Notifier(
        settings=SETTINGS,
        directory=directory,
        renderer=TemplateRenderer(),
        sender=sender,
        guard=guard,
        now=lambda: AT,
    )


def logged(guard: DeliveryGuard) -> list[dt.datetime]:
    return list(guard.state.mail_times(since=AT - DAY, direction=Direction.OUT))


def test_one_event_cannot_pass_the_ticket_cap(tmp_path: Path) -> None:
    """Four agents, a ticket cap of 2: the plan allows all four (nothing was sent yet), the
    guard admits two at sending and holds the other two, with its reason."""
    settings = GuardSettings(address_caps=(), ticket_caps=(Cap(limit=2, window=DAY),))
    guard = DeliveryGuard(settings=settings)
    outbox = MaildirOutbox(tmp_path / "outbox")
    delivery = notifier(guard, outbox).notify(ev.Escalated(ticket=ticket(1), at=AT))
    assert delivery.plan is not None
    assert len(delivery.plan.notifications) == 4
    assert len(delivery.receipts) == 2
    assert len(list(outbox.messages())) == 2
    assert [why.split(" (")[0] for _, why in delivery.failures] == [
        "held by the delivery guard when sending: ticket_cap"
    ] * 2
    assert len(logged(guard)) == 2


@attrs.define
class Refusing:
    """Fails agent0's mail, refuses agent1 in the receipt, passes the rest to an outbox."""

    outbox: MaildirOutbox

    def send(self, mail: OutgoingMail) -> SendReceipt:
        if mail.envelope_to[0].startswith("agent0@"):
            raise SendError("550 no such user")
        if mail.envelope_to[0].startswith("agent1@"):
            return SendReceipt(accepted=(), refused={"agent1@example.com": (550, "no")})
        return self.outbox.send(mail)


def test_an_undelivered_mail_gives_its_slot_back(tmp_path: Path) -> None:
    """agent0's mail fails, agent1's is refused: only the two delivered mails count."""
    guard = DeliveryGuard(settings=GuardSettings(staff_address_caps=(Cap(limit=1, window=DAY),)))
    sender = Refusing(MaildirOutbox(tmp_path / "outbox"))
    delivery = notifier(guard, sender).notify(ev.Escalated(ticket=ticket(1), at=AT))
    assert [why for _, why in delivery.failures] == ["550 no such user"]
    assert len(delivery.receipts) == 3  # agent1's receipt names the refusal
    counted = {
        address
        for address in (a.address for a in AGENTS)
        if address and guard.state.mail_times(since=AT - DAY, address=address)
    }
    assert counted == {"agent2@example.com", "agent3@example.com"}
    # agent0 and agent1 still have their one mail a day
    later = notifier(guard, MaildirOutbox(tmp_path / "later")).notify(
        ev.Escalated(ticket=ticket(2), at=AT)
    )
    assert sorted(n.recipient.address for n, _ in later.receipts) == [
        "agent0@example.com",
        "agent1@example.com",
    ]


def test_a_guard_that_cannot_answer_holds_the_mail(tmp_path: Path) -> None:
    def locked() -> None:
        raise StoreError("database is locked")

    class Broken(MemoryGuardState):
        @contextlib.contextmanager
        def transaction(self) -> Iterator[None]:
            locked()
            yield

    guard = DeliveryGuard(Broken())
    outbox = MaildirOutbox(tmp_path / "outbox")
    delivery = notifier(guard, outbox).notify(ev.Escalated(ticket=ticket(1), at=AT))
    assert delivery.receipts == ()
    assert {why for _, why in delivery.failures} == {
        "held: the delivery guard failed: database is locked"
    }
    assert list(outbox.messages()) == []


def test_notifiers_in_threads_keep_the_cap_through_one_sqlite_file(tmp_path: Path) -> None:
    """4 threads, each with its own Notifier, outbox and connection to one guard file, notify
    10 tickets each to one agent capped at 5 mails a day: 5 mails go out in total."""
    path = tmp_path / "desk.sqlite3"
    SqliteGuardState(path).close()
    one_agent = StaticDirectory.of([AGENTS[0]], [Queue(id="q", members=("agent0",))])
    settings = GuardSettings(staff_address_caps=(Cap(limit=5, window=DAY),))

    def work(index: int) -> int:
        with SqliteGuardState(path) as state:
            outbox = MaildirOutbox(tmp_path / f"outbox{index}")
            desk = notifier(DeliveryGuard(state, settings), outbox, directory=one_agent)
            for number in range(10):
                desk.notify(ev.Escalated(ticket=ticket(index * 100 + number), at=AT))
            return len(list(outbox.messages()))

    assert sum(run_threads(4, work)) == 5
    with SqliteGuardState(path) as state:
        assert len(state.mail_times(since=AT - DAY, address="agent0@example.com")) == 5
