"""A loop storm through the real running pipeline: a simulated week of mail between a running
helpmail and the worst correspondents (issue 4).

``tests/test_guard_storm.py`` plays the same game against the pure functions; here every inbound
mail goes through :meth:`helpmail.service.Desk.process_raw` (SQLite store and SQLite guard state
in one file, as ``helpmail demo`` builds them), every ticket event goes to a real
:class:`~helpmail.notify.notifier.Notifier` that plans, renders and composes the automatic mails,
and every composed mail is handed to a capturing :class:`~helpmail.notify.ports.MailSender`. Each
mail the desk sends is fed to the scripted party it was sent to; whatever that party answers is
fed back into the desk one minute later, on a :class:`~helpmail.testing.FakeClock` (no real time
passes). The correspondents:

* ``alice@`` -- a person who writes every 3 hours, alternately a new question and a reply to her
  latest ticket (``Re:`` with ``In-Reply-To`` the desk's confirmation);
* ``away@`` -- an RFC 3834 auto-responder (``Auto-Submitted: auto-replied``, RFC 3834 §5) that
  answers *every* mail it receives; its owner writes a new question every 6 hours;
* ``rude@`` -- an auto-responder without any RFC 3834 header: only an "Out of office" subject and
  the original quoted in the body, no ``In-Reply-To`` (weak evidence only); writes every 6 hours;
* ``robot@`` -- a foreign system that confirms every mail it receives with a fresh,
  human-looking mail (no headers, new subject, no references): a real loop that only the delivery
  guard's caps can stop; it also writes every hour on its own;
* ``ghost@`` -- spoofed mail from a dead address, every hour; its MTA bounces every mail the desk
  sends there with a Postfix-style RFC 3464 DSN returning the original headers
  (``text/rfc822-headers``, RFC 3462), so ``parse_bounce`` finds the original Message-ID;
* ``full@`` -- a full mailbox, writes every 2 hours; its MTA bounces every mail with Postfix's text
  format (``552 5.2.2 Mailbox full``) and the original message below;
* ``sam@`` -- the demo desk's assignee, whose mail client has a rule that answers every mail with
  a human-looking ``Re:`` (``In-Reply-To`` the notice): every follow-up notice comes back as a
  follow-up on the same ticket, which notifies the assignee again -- a loop on one ticket that
  only the per-ticket caps stop;
* ``first-level@`` -- the desk's own queue address, misconfigured to forward everything back into
  the support mailbox: the desk's own mail coming back (``own_loop``), dropped.

Checked over the week: no address gets more automatic mails in a day, and no ticket more in a
window, than :class:`~helpmail.guard.GuardSettings` allows; the dead address gets exactly one mail;
a full mailbox gets nothing for 3 hours after each bounce; no mail the pipeline classified as
automated (its ``mail_kind`` in the trace) caused any mail; the storm ends when the writers stop;
every inbound mail is on a ticket, a filed auto-reply or bounce, or dropped as own mail -- never
quarantined.
"""

from __future__ import annotations

import collections
import datetime as dt
import email
import email.policy
import heapq
import itertools
from collections.abc import Iterator
from email.message import EmailMessage

import attrs
import pytest

from helpmail import demo
from helpmail.adapters.sqlite import SqliteStore
from helpmail.adapters.sqlite_guard import SqliteGuardState
from helpmail.bounces import BounceReason
from helpmail.config import parse_toml
from helpmail.guard import DeliveryGuard, GuardSettings, HoldReason
from helpmail.message_ids import read_message_id
from helpmail.notify import SuppressReason
from helpmail.notify.notifier import Notifier, notifier_from_config
from helpmail.notify.ports import OutgoingMail, SendReceipt
from helpmail.service import Desk, MessageResult
from helpmail.testing import FakeClock, make_mail
from helpmail.tickets.importing import OutcomeKind

DESK = "support@acme.example"
KEYS = (demo.DEMO_SIGNING_KEY.encode(),)
MINUTE = dt.timedelta(minutes=1)
#: a mail between the desk and its own agents is delivered locally: within seconds
LOCAL = dt.timedelta(seconds=5)
WEEK = dt.timedelta(days=7)

ALICE = "alice@customer.example"
AWAY = "away@partner.example"
RUDE = "rude@partner.example"
ROBOT = "robot@vendor.example"
GHOST = "ghost@dead.example"
FULL = "full@busy.example"
QUEUE = "first-level@acme.example"
#: the ticket's assignee in the demo desk, whose mail client answers every mail
AGENT = "sam@acme.example"
#: the demo desk's dispatcher and manager
DISPATCHER = "dana@acme.example"
#: the desk's own people: the guard caps them with ``staff_address_caps`` (none by default)
STAFF = frozenset({AGENT, DISPATCHER, QUEUE})
#: who writes to the desk on their own, and how often
WRITERS = {
    ALICE: dt.timedelta(hours=3),
    AWAY: dt.timedelta(hours=6),
    RUDE: dt.timedelta(hours=6),
    ROBOT: dt.timedelta(hours=1),
    GHOST: dt.timedelta(hours=1),
    FULL: dt.timedelta(hours=2),
}


@attrs.define
class Sent:
    """One automatic mail the desk handed to the sender."""

    to: str
    ticket: str
    at: dt.datetime
    mail: OutgoingMail


@attrs.define
class CapturingSender:
    """A :class:`~helpmail.notify.ports.MailSender` that keeps every mail in a list."""

    clock: FakeClock
    sent: list[Sent] = attrs.field(factory=list)

    def send(self, mail: OutgoingMail) -> SendReceipt:
        signed = read_message_id(mail.message_id, KEYS)
        assert signed is not None, mail.message_id  # every automatic mail is signed
        for to in mail.envelope_to:
            self.sent.append(
                Sent(to=to.lower(), ticket=signed.ticket, at=self.clock.now(), mail=mail)
            )
        return SendReceipt(accepted=mail.envelope_to)


def _message(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def _header_block(mail: OutgoingMail) -> str:
    raw = mail.message.as_bytes().replace(b"\r\n", b"\n").decode("utf-8", "replace")
    return raw.split("\n\n", 1)[0]


def _ghost_dsn(n: int, mail: OutgoingMail, to: str) -> bytes:
    """A Postfix bounce (RFC 3464 report, RFC 3462 ``text/rfc822-headers``) for a dead user."""
    return (
        "Return-Path: <>\r\n"
        "From: MAILER-DAEMON@mx.dead.example (Mail Delivery System)\r\n"
        f"To: {mail.envelope_from}\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        f"Message-ID: <dsn-{n}@mx.dead.example>\r\n"
        "Auto-Submitted: auto-replied\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: multipart/report; report-type=delivery-status;\r\n"
        '\tboundary="B-dsn"\r\n\r\n'
        "This is a MIME-encapsulated message.\r\n\r\n"
        "--B-dsn\r\nContent-Description: Notification\r\n"
        "Content-Type: text/plain; charset=us-ascii\r\n\r\n"
        "This is the mail system at host mx.dead.example.\r\n\r\n"
        "I'm sorry to have to inform you that your message could not\r\n"
        "be delivered to one or more recipients.\r\n\r\n"
        "                   The mail system\r\n\r\n"
        f"<{to}>: host mx.dead.example[192.0.2.7] said: 550 5.1.1 <{to}>:\r\n"
        "    Recipient address rejected: User unknown in local recipient table (in reply\r\n"
        "    to RCPT TO command)\r\n\r\n"
        "--B-dsn\r\nContent-Description: Delivery report\r\n"
        "Content-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.dead.example\r\n"
        f"X-Postfix-Queue-ID: 4Q{n:06d}\r\n"
        f"X-Postfix-Sender: rfc822; {mail.envelope_from}\r\n"
        "Arrival-Date: Mon,  5 Jan 2026 09:00:00 +0000 (UTC)\r\n\r\n"
        f"Final-Recipient: rfc822; {to}\r\n"
        f"Original-Recipient: rfc822;{to}\r\n"
        "Action: failed\r\n"
        "Status: 5.1.1\r\n"
        "Remote-MTA: dns; mx.dead.example\r\n"
        f"Diagnostic-Code: smtp; 550 5.1.1 <{to}>: Recipient address rejected: User unknown\r\n"
        "    in local recipient table\r\n\r\n"
        "--B-dsn\r\nContent-Description: Undelivered Message Headers\r\n"
        "Content-Type: text/rfc822-headers\r\n\r\n"
        f"{_header_block(mail).replace(chr(10), chr(13) + chr(10))}\r\n\r\n"
        "--B-dsn--\r\n"
    ).encode()


def _full_bounce(n: int, mail: OutgoingMail, to: str) -> bytes:
    """Postfix's plain-text bounce for a full mailbox, with the original message below."""
    return (
        "Return-Path: <>\r\n"
        "From: MAILER-DAEMON@mx.busy.example (Mail Delivery System)\r\n"
        f"To: {mail.envelope_from}\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        f"Message-ID: <full-{n}@mx.busy.example>\r\n\r\n"
        "This is the mail system at host mx.busy.example.\r\n\r\n"
        "I'm sorry to have to inform you that your message could not\r\n"
        "be delivered to one or more recipients.\r\n\r\n"
        "                   The mail system\r\n\r\n"
        f"<{to}>: host mx.busy.example[192.0.2.9] said: 552 5.2.2\r\n"
        "    Mailbox full (in reply to RCPT TO command)\r\n\r\n"
        "--- Below this line is a copy of the message.\r\n\r\n"
    ).encode() + mail.message.as_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def _quoted(text: str) -> str:
    return "\r\n".join("> " + line for line in text.splitlines()[:20])


@attrs.define
class World:
    """The scripted correspondents: what each one sends back for a mail from the desk."""

    counter: Iterator[int] = attrs.field(factory=itertools.count)
    last_confirmation: dict[str, tuple[str, str]] = attrs.field(factory=dict)

    def answer(self, to: str, mail: OutgoingMail) -> list[bytes]:
        n = next(self.counter)
        message = mail.message
        subject = str(message["Subject"]).strip()
        mid = mail.message_id.strip("<>")
        body = message.get_body(("plain",))
        text = body.get_content() if body is not None else ""
        if to == ALICE:  # a person reads it and may reply later (see _written)
            self.last_confirmation[to] = (subject, mid)
            return []
        if to == AWAY:  # RFC 3834 §5: Auto-Submitted: auto-replied, In-Reply-To, "Auto:" subject
            return [
                make_mail(
                    subject=f"Automatic reply: {subject}",
                    body="I am out of the office until next week.",
                    sender=AWAY,
                    to=DESK,
                    message_id=f"away-{n}@partner.example",
                    in_reply_to=mid,
                    references=[mid],
                    headers=[("Auto-Submitted", "auto-replied")],
                )
            ]
        if to == RUDE:  # no headers at all, only the subject and the quoted original
            return [
                make_mail(
                    subject="Out of office",
                    body=f"I am out of the office.\r\n\r\n{_quoted(text)}",
                    sender=RUDE,
                    to=DESK,
                    message_id=f"rude-{n}@partner.example",
                )
            ]
        if to == ROBOT:  # a foreign system's confirmation that looks like a person's mail
            return [
                make_mail(
                    subject=f"Case {1000 + n} about your inquiry",
                    body=f"Dear sender,\r\nwe have looked at case {1000 + n}.\r\nKind regards",
                    sender=ROBOT,
                    to=DESK,
                    message_id=f"robot-{n}@vendor.example",
                )
            ]
        if to == GHOST:
            return [_ghost_dsn(n, mail, to)]
        if to == FULL:
            return [_full_bounce(n, mail, to)]
        if to == AGENT:  # a mail-client rule: a plain reply on the same thread
            return [
                make_mail(
                    subject=f"Re: {subject}",
                    body=f"Thanks, I will look at it.\r\n\r\n{_quoted(text)}",
                    sender=AGENT,
                    to=DESK,
                    message_id=f"sam-{n}@acme.example",
                    in_reply_to=mid,
                    references=[mid],
                )
            ]
        if to == QUEUE:  # forwarded back unchanged into the support mailbox
            return [mail.message.as_bytes()]
        return []  # the other agents read their mail and do not answer automatically

    def written(self, sender: str, n: int) -> bytes:
        """A mail ``sender`` writes on their own (the ``n``-th mail of the week)."""
        domain = sender.partition("@")[2]
        previous = self.last_confirmation.pop(sender, None)
        if sender == ALICE and previous is not None:
            subject, mid = previous
            return make_mail(
                subject=f"Re: {subject}",
                body="Thanks, but it still does not work.\r\n\r\nAlice",
                sender=sender,
                to=DESK,
                message_id=f"w{n}@{domain}",
                in_reply_to=mid,
                references=[mid],
            )
        return make_mail(
            subject=f"Question {n}: the printer on floor {n % 5} is broken",
            body="Hello,\r\nthe printer does not print. Can you help?\r\n",
            sender=sender,
            to=DESK,
            message_id=f"w{n}@{domain}",
        )


def _max_in_window(times: list[dt.datetime], window: dt.timedelta) -> int:
    times = sorted(times)
    best = first = 0
    for last, moment in enumerate(times):
        while times[first] <= moment - window:
            first += 1
        best = max(best, last - first + 1)
    return best


@attrs.define
class Week:
    """What the simulated week left behind."""

    sent: list[Sent]
    results: list[tuple[str, dt.datetime, MessageResult, int]]
    """``(sender, time, result, mails the message caused)`` for every inbound mail."""
    guard: DeliveryGuard
    notifier: Notifier
    store: SqliteStore
    steps: int


@pytest.fixture(scope="module")
def week(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Week]:
    folder = tmp_path_factory.mktemp("loop-storm")
    config = parse_toml(
        demo.config_text(),
        source=folder / "demo.toml",
        base_dir=folder,
        env={demo.DEMO_KEY_VARIABLE: demo.DEMO_SIGNING_KEY},
    )
    settings = config.import_settings(config.mailbox("demo"))
    assert settings.signing_keys == KEYS
    database = folder / "desk.sqlite3"
    clock = FakeClock()
    store = SqliteStore(database)
    state = SqliteGuardState(database)
    guard = DeliveryGuard(state)
    sender = CapturingSender(clock=clock)
    notifier = notifier_from_config(config, sender, guard)
    notifier.now = clock.now
    notifier.keep = 100_000
    desk = Desk(store=store, settings=settings, clock=clock, guard=guard, on_events=notifier)
    world = World()

    # (time, seq, destination, what): destination "desk" (raw bytes) or a correspondent
    queue: list[tuple[dt.datetime, int, str, object]] = []
    seq = itertools.count()
    start = clock.start
    for writer, every in WRITERS.items():
        for i in range(int(WEEK / every)):
            heapq.heappush(queue, (start + i * every, next(seq), "write", writer))
    results: list[tuple[str, dt.datetime, MessageResult, int]] = []
    steps = 0
    written = itertools.count()
    while queue:
        at, _, where, what = heapq.heappop(queue)
        clock.offset = at - start
        steps += 1
        assert steps < 20_000, "the storm does not end"
        if where == "write":
            assert isinstance(what, str)
            heapq.heappush(queue, (at, next(seq), "desk", world.written(what, next(written))))
            continue
        if where == "desk":
            assert isinstance(what, bytes)
            before = len(sender.sent)
            result = desk.process_raw(what)
            new = sender.sent[before:]
            origin = str(_message(what)["From"].addresses[0].addr_spec).lower()
            results.append((origin, at, result, len(new)))
            for mail in new:
                hop = LOCAL if mail.to == AGENT else MINUTE
                heapq.heappush(queue, (at + hop, next(seq), mail.to, mail.mail))
            continue
        assert isinstance(what, OutgoingMail)
        hop = LOCAL if where == AGENT else MINUTE
        for answer in world.answer(where, what):
            heapq.heappush(queue, (at + hop, next(seq), "desk", answer))
    try:
        yield Week(
            sent=sender.sent,
            results=results,
            guard=guard,
            notifier=notifier,
            store=store,
            steps=steps,
        )
    finally:
        store.close()
        state.close()


def _by(sent: list[Sent], key: str) -> dict[str, list[dt.datetime]]:
    found: dict[str, list[dt.datetime]] = collections.defaultdict(list)
    for mail in sent:
        found[getattr(mail, key)].append(mail.at)
    return found


def _holds(week: Week) -> collections.Counter[tuple[str, str | None]]:
    """How often the delivery guard held a mail back, by address and guard reason."""
    found: collections.Counter[tuple[str, str | None]] = collections.Counter()
    for delivery in week.notifier.log:
        assert delivery.plan is not None
        assert not delivery.failures
        for left_out in delivery.plan.resolution.suppressed:
            if left_out.reason is SuppressReason.HELD:
                found[left_out.who, left_out.guard_reason] += 1
    return found


def test_the_storm_happened_and_ended(week: Week) -> None:
    assert week.steps > 2000
    assert len(week.results) > 1000
    # the loops ran dry within minutes of the last mail written on its own (the queue emptied)
    last_in = max(at for _, at, _, _ in week.results)
    assert last_in < FakeClock().start + WEEK + dt.timedelta(minutes=10)
    # bounded by the caps, not by the correspondents: at most 40 a day to anyone outside
    outside = {m.to for m in week.sent} - STAFF
    assert sum(1 for m in week.sent if m.to in outside) <= 40 * 7 * len(outside)


def test_automatic_mails_stay_within_the_caps(week: Week) -> None:
    caps = GuardSettings()
    by_address = _by(week.sent, "to")
    by_ticket = _by(week.sent, "ticket")
    for cap in caps.address_caps:
        for address, times in by_address.items():
            if address not in STAFF:
                assert _max_in_window(times, cap.window) <= cap.limit, address
    for cap in caps.ticket_caps:
        for ticket, times in by_ticket.items():
            assert _max_in_window(times, cap.window) <= cap.limit, ticket
    # the robot's loop (a new ticket each round) is stopped by the address cap
    assert _max_in_window(by_address[ROBOT], dt.timedelta(days=1)) == 40
    # the agent's loop (one ticket) is stopped by the ticket caps, not by an address cap: the
    # desk's own people have no address cap by default, so the robot's flood of tickets cannot
    # use up their allowance and silence the notices about real customers
    holds = _holds(week)
    assert holds[AGENT, HoldReason.TICKET_CAP] > 0
    assert holds[ROBOT, HoldReason.ADDRESS_CAP] > 0
    assert not [key for key in holds if key[0] in STAFF and key[1] == HoldReason.ADDRESS_CAP]
    assert max(_max_in_window(t, dt.timedelta(minutes=10)) for t in by_ticket.values()) == 10
    # the person always got her confirmation
    alice_new = sum(
        1 for who, _, r, _ in week.results if who == ALICE and r.kind is OutcomeKind.CREATED
    )
    assert len(by_address[ALICE]) == alice_new == 7 * 4


def test_the_dead_address_gets_one_mail_then_none(week: Week) -> None:
    by_address = _by(week.sent, "to")
    assert len(by_address[GHOST]) == 1
    block = week.guard.block_for(GHOST)
    assert block is not None
    assert block.reason is BounceReason.USER_UNKNOWN
    assert block.blocked_until is None
    assert block.original_message_id is not None
    # the bounce is tied to the mail it returns (its Message-ID, from the returned headers)
    (mail,) = [m for m in week.sent if m.to == GHOST]
    assert block.original_message_id.strip("<>") == mail.mail.message_id.strip("<>")
    bounces = [(at, r) for who, at, r, _ in week.results if who.startswith("mailer-daemon@mx.dead")]
    assert [r.kind for _, r in bounces] == [OutcomeKind.BOUNCE_ATTACHED]
    assert bounces[0][1].ticket_id == mail.ticket
    # ... and every later mail from the dead address was held back, with the block's reason
    ghost_mails = [r for who, _, r, _ in week.results if who == GHOST]
    assert len(ghost_mails) == 7 * 24
    assert _holds(week)[GHOST, HoldReason.ADDRESS_BLOCKED] == len(ghost_mails) - 1


def test_a_full_mailbox_rests_after_each_bounce(week: Week) -> None:
    full = sorted(_by(week.sent, "to")[FULL])
    bounces = sorted(
        at for who, at, r, _ in week.results if who.startswith("mailer-daemon@mx.busy")
    )
    assert len(bounces) == len(full) > 1
    for bounce in bounces:
        assert not [t for t in full if bounce < t < bounce + dt.timedelta(hours=3)]


def test_automated_mail_is_never_answered(week: Week) -> None:
    kinds: collections.Counter[str] = collections.Counter()
    for who, _, result, caused in week.results:
        kinds[f"{who.partition('@')[0]}:{result.mail_kind}"] += 1
        if result.mail_kind != "human":
            assert caused == 0, (who, result.mail_kind, result.subject)
    assert kinds["away:auto_reply"] == kinds["rude:auto_reply"] == 7 * 4
    assert kinds["away:human"] == kinds["rude:human"] == 7 * 4
    assert kinds["first-level:own_loop"] > 0
    assert not [w for w in kinds if w.startswith("mailer-daemon") and not w.endswith(":bounce")]


def test_nothing_is_lost(week: Week) -> None:
    for who, _, result, _ in week.results:
        if result.kind is OutcomeKind.DROPPED:
            assert result.mail_kind == "own_loop", (who, result.detail)
        else:
            assert result.kind in (
                OutcomeKind.CREATED,
                OutcomeKind.FOLLOW_UP,
                OutcomeKind.BOUNCE_ATTACHED,
            ), (who, result.kind, result.error)
    assert list(week.store.quarantined()) == []
