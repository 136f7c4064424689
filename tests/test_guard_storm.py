"""A loop storm: a week of mail between a helpmail-like desk and the worst correspondents.

The desk is built from the pure functions only (the import pipeline may later be wired in here):
every inbound mail is classified; a bounce is parsed and recorded with the guard; a human mail gets
an automatic acknowledgement if and only if the guard allows it, and the sent mail is recorded.
The correspondents, on a simulated clock (no real time passes):

* ``rude@`` -- an auto-responder that answers *every* mail with a human-looking reply (no RFC 3834
  headers, "Re:" subject), and also writes on its own every hour: a real loop, bounded only by
  the caps;
* ``polite@`` -- an out-of-office responder with ``Auto-Submitted: auto-replied``; and ``abwesend@``
  whose replies carry only a German out-of-office subject (weak evidence);
* ``ghost@`` -- spoofed mail from an address that does not exist: every mail to it bounces
  (RFC 3464, 5.1.1);
* ``full@`` -- a full mailbox that bounces half of the mails with 5.2.2, as Postfix text;
* ``slow@`` -- a server that sends a delay warning (``Action: delayed``) for every mail.

The week's log is then checked against the caps and the blocks.
"""

from __future__ import annotations

import datetime as dt
import heapq
import itertools
import re

import attrs

from helpmail import parse_mail
from helpmail.bounces import BounceReason, ClassifySettings, MailKind, classify, parse_bounce
from helpmail.guard import Allowed, DeliveryGuard, GuardSettings
from helpmail.message_ids import make_message_id
from helpmail.testing import FakeClock, make_mail

KEY = b"storm-test-key"
DESK = "support@desk.example"
SETTINGS = ClassifySettings(
    keys=(KEY,), own_domains=frozenset({"desk.example"}), system_addresses=frozenset({DESK})
)
MINUTE = dt.timedelta(minutes=1)
WEEK = dt.timedelta(days=7)
_TAG = re.compile(r"\[Ticket#(\d+)\]")


@attrs.define
class Sent:
    to: str
    ticket: str
    at: dt.datetime
    message_id: str


@attrs.define
class Desk:
    """A helpmail-like desk driven by classify, parse_bounce and the guard."""

    guard: DeliveryGuard
    clock: FakeClock
    sent: list[Sent] = attrs.field(factory=list)
    answered_kinds: list[MailKind] = attrs.field(factory=list)
    ignored: dict[str, int] = attrs.field(factory=dict)
    held: int = 0
    tickets: itertools.count[int] = attrs.field(factory=lambda: itertools.count(1))
    received: itertools.count[int] = attrs.field(factory=lambda: itertools.count(1))

    def receive(self, raw: bytes) -> list[tuple[str, bytes]]:
        now = self.clock.now()
        if next(self.received) % 100 == 0:
            self.guard.prune(now)  # the log only needs the longest window
        mail = parse_mail(raw)
        verdict = classify(mail, SETTINGS)
        found = _TAG.search(mail.subject)
        ticket = found[1] if found else str(next(self.tickets))
        self.guard.record_received(ticket, now)
        if verdict.kind is MailKind.BOUNCE:
            bounce = parse_bounce(mail)
            if bounce is not None:
                self.guard.record_bounce(bounce, now)
        if verdict.kind is not MailKind.HUMAN:
            self.ignored[verdict.kind] = self.ignored.get(verdict.kind, 0) + 1
            return []
        sender = mail.from_address
        if sender is None:
            return []
        decision = self.guard.check(sender.addr_spec, ticket, now)
        if not isinstance(decision, Allowed):
            self.held += 1
            return []
        self.answered_kinds.append(verdict.kind)
        mid = make_message_id(
            key=KEY, domain="desk.example", kind="a", ticket=ticket, recipient=sender.addr_spec
        )
        subject = mail.subject if found else f"[Ticket#{ticket}] {mail.subject}"
        reply = make_mail(
            subject=subject,
            body="We received your message.",
            sender=DESK,
            to=sender.addr_spec,
            message_id=mid,
            in_reply_to=mail.message_id,
            headers=[
                ("Auto-Submitted", "auto-replied"),
                ("X-Auto-Response-Suppress", "All"),
                ("X-Helpmail-Loop", "desk"),
            ],
        )
        self.guard.record_sent(sender.addr_spec, ticket, now)
        self.sent.append(Sent(to=sender.addr_spec.lower(), ticket=ticket, at=now, message_id=mid))
        return [(sender.addr_spec.lower(), reply)]


def _dsn(to: str, original: bytes, *, action: str, status: str, diagnostic: str) -> bytes:
    head = original.split(b"\r\n\r\n", 1)[0].decode()
    return (
        "From: Mail Delivery System <MAILER-DAEMON@mx.example.net>\r\n"
        f"To: {DESK}\r\nSubject: Undelivered Mail Returned to Sender\r\n"
        "Message-ID: <dsn-{n}@mx.example.net>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain\r\n\r\nI'm sorry to have to inform you...\r\n"
        "--b\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example.net\r\n\r\n"
        f"Final-Recipient: rfc822; {to}\r\nAction: {action}\r\nStatus: {status}\r\n"
        f"Diagnostic-Code: smtp; {diagnostic}\r\n\r\n"
        f"--b\r\nContent-Type: text/rfc822-headers\r\n\r\n{head}\r\n\r\n--b--\r\n"
    ).encode()


def _postfix_text_bounce(to: str, original: bytes) -> bytes:
    return (
        "From: MAILER-DAEMON@mx.example.com (Mail Delivery System)\r\n"
        f"To: {DESK}\r\nSubject: Undelivered Mail Returned to Sender\r\n"
        "Message-ID: <pf@mx.example.com>\r\n\r\n"
        "This is the mail system at host mx.example.com.\r\n\r\n"
        "I'm sorry to have to inform you that your message could not\r\n"
        "be delivered to one or more recipients.\r\n\r\n"
        "                   The mail system\r\n\r\n"
        f"<{to}>: host mx.example.com[192.0.2.1] said: 552 5.2.2\r\n"
        "    Mailbox full (in reply to RCPT TO command)\r\n\r\n"
        "--- Below this line is a copy of the message.\r\n\r\n"
    ).encode() + original


@attrs.define
class World:
    """The correspondents' behaviour: what each sends back for a mail from the desk."""

    bounced_full: int = 0
    counter: itertools.count[int] = attrs.field(factory=lambda: itertools.count(1))

    def answer(self, to: str, mail: bytes) -> list[bytes]:
        parsed = parse_mail(mail)
        subject = parsed.subject
        n = next(self.counter)
        if to.startswith("rude@"):
            return [
                make_mail(
                    subject=f"Re: {subject}",
                    body="Thank you! We will get back to you.",
                    sender=to,
                    to=DESK,
                    message_id=f"rude-{n}@example.net",
                    in_reply_to=parsed.message_id,
                )
            ]
        if to.startswith("polite@"):
            return [
                make_mail(
                    subject=f"Out of Office: {subject}",
                    body="I am away.",
                    sender=to,
                    to=DESK,
                    message_id=f"ooo-{n}@example.org",
                    headers=[("Auto-Submitted", "auto-replied")],
                )
            ]
        if to.startswith("abwesend@"):
            return [
                make_mail(
                    subject=f"Abwesenheitsnotiz: {subject}",
                    body="Ich bin im Urlaub.",
                    sender=to,
                    to=DESK,
                    message_id=f"abw-{n}@example.de",
                )
            ]
        if to.startswith("ghost@"):
            return [
                _dsn(
                    to,
                    mail,
                    action="failed",
                    status="5.1.1",
                    diagnostic="550 5.1.1 <ghost@example.org>: User unknown",
                ).replace(b"{n}", str(n).encode())
            ]
        if to.startswith("full@"):
            self.bounced_full += 1
            if self.bounced_full % 2:
                return [_postfix_text_bounce(to, mail)]
            return []
        if to.startswith("slow@"):
            return [
                _dsn(
                    to,
                    mail,
                    action="delayed",
                    status="4.4.7",
                    diagnostic="451 4.4.7 delivery temporarily suspended",
                ).replace(b"{n}", str(n).encode())
            ]
        return []


def _schedule() -> list[tuple[dt.datetime, int, bytes]]:
    """Mail written on its own during the week (by people, or by misbehaving machines)."""
    start = FakeClock().now()
    writers = [
        ("rude@example.net", dt.timedelta(hours=1)),
        ("ghost@example.org", dt.timedelta(hours=1)),
        ("full@example.com", dt.timedelta(hours=2)),
        ("polite@example.org", dt.timedelta(hours=6)),
        ("abwesend@example.de", dt.timedelta(hours=6)),
        ("slow@example.jp", dt.timedelta(hours=4)),
        ("alice@example.com", dt.timedelta(hours=3)),
    ]
    out: list[tuple[dt.datetime, int, bytes]] = []
    seq = itertools.count()
    for sender, every in writers:
        moment = start
        while moment < start + WEEK:
            n = next(seq)
            out.append(
                (
                    moment,
                    n,
                    make_mail(
                        subject=f"Question {n}",
                        sender=sender,
                        to=DESK,
                        message_id=f"w{n}@{sender.split('@')[1]}",
                    ),
                )
            )
            moment += every
    return out


def _max_in_window(times: list[dt.datetime], window: dt.timedelta) -> int:
    times = sorted(times)
    best = 0
    first = 0
    for last, moment in enumerate(times):
        while times[first] <= moment - window:
            first += 1
        best = max(best, last - first + 1)
    return best


def test_a_week_of_loop_storm_stays_within_the_caps() -> None:
    clock = FakeClock()
    settings = GuardSettings()
    guard = DeliveryGuard(settings=settings)
    desk = Desk(guard=guard, clock=clock)
    world = World()
    # (time, seq, destination, raw): destination "desk" or a correspondent's address
    queue: list[tuple[dt.datetime, int, str, bytes]] = []
    seq = itertools.count()
    for at, _, raw in _schedule():
        heapq.heappush(queue, (at, next(seq), "desk", raw))
    end = clock.start + WEEK + dt.timedelta(days=1)
    steps = 0
    while queue and queue[0][0] < end:
        at, _, where, raw = heapq.heappop(queue)
        clock.offset = at - clock.start
        steps += 1
        if where == "desk":
            for to, reply in desk.receive(raw):
                heapq.heappush(queue, (at + MINUTE, next(seq), to, reply))
        else:
            for answer in world.answer(where, raw):
                heapq.heappush(queue, (at + MINUTE, next(seq), "desk", answer))
    assert steps > 1000  # the storm did happen

    by_address: dict[str, list[dt.datetime]] = {}
    by_ticket: dict[str, list[dt.datetime]] = {}
    for sent in desk.sent:
        by_address.setdefault(sent.to, []).append(sent.at)
        by_ticket.setdefault(sent.ticket, []).append(sent.at)
    # caps: per address and per ticket, over every sliding window
    for cap in settings.address_caps:
        for address, times in by_address.items():
            assert _max_in_window(times, cap.window) <= cap.limit, address
    for cap in settings.ticket_caps:
        for ticket, times in by_ticket.items():
            assert _max_in_window(times, cap.window) <= cap.limit, ticket
    # the loop with the rude responder ran, but no faster than the address cap allows
    rude = by_address["rude@example.net"]
    assert len(rude) <= 8 * 40
    assert _max_in_window(rude, dt.timedelta(days=1)) == 40
    # a dead address gets exactly one automatic mail, then is blocked until cleared
    assert len(by_address["ghost@example.org"]) == 1
    block = guard.block_for("ghost@example.org")
    assert block is not None
    assert block.reason is BounceReason.USER_UNKNOWN
    assert block.blocked_until is None
    assert (block.bounce_message_id or "").startswith("dsn-")
    # a full mailbox is held for 3 h after each bounce: never two mails within 3 h of a bounce
    full = sorted(by_address["full@example.com"])
    assert 1 < len(full) < 7 * 12
    # out-of-office answers are never answered: each polite/abwesend address gets one
    # acknowledgement per mail it wrote itself (every 6 h), not one per auto-reply
    assert len(by_address["polite@example.org"]) <= 7 * 4
    assert len(by_address["abwesend@example.de"]) <= 7 * 4
    assert desk.ignored[MailKind.AUTO_REPLY] >= 2 * 7 * 4 - 2
    # delay warnings never block and are never answered
    assert guard.block_for("slow@example.jp") is None
    assert len(by_address["slow@example.jp"]) == 7 * 6
    assert desk.ignored[MailKind.BOUNCE] >= 7 * 6
    # nothing but human mail was ever answered, and alice (a person) always got her answer
    assert set(desk.answered_kinds) == {MailKind.HUMAN}
    assert len(by_address["alice@example.com"]) == 7 * 8
    # in total, the week's automatic mail is bounded by the caps, not by the correspondents
    assert len(desk.sent) <= sum(8 * 40 for _ in by_address)


if __name__ == "__main__":  # pragma: no cover - a quick look at the week's numbers
    import time

    started = time.perf_counter()
    test_a_week_of_loop_storm_stays_within_the_caps()
    print(f"{time.perf_counter() - started:.2f} s")
