"""Benchmark: resolved-and-rendered notifications per second (issue 6).

A desk of 50 queues (10 with their own address), 500 agents (20 with dispatcher rights), 2,000
customers and 10,000 ticket events of every kind. Measured in one run:

* ``resolve``: :func:`resolve_recipients` alone, per event;
* ``resolve+render``: recipients resolved and subject, text and HTML rendered in the sandbox, per
  notification (the figure the issue asks for: aim well over 1,000 per second);
* ``+compose``: the same plus building the ``EmailMessage`` and serialising it for SMTP;

and two baselines on the same machine at the same time: a bare (unsandboxed) Jinja2 render of a
similar three-part template, and ``EmailMessage(...).as_bytes()`` of a similar mail, which every
sender pays anyway. Figures are reported as rates and as ratios to the baselines.

``python -m bench notify [--events N]``.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import time
from pathlib import Path
from typing import Any

import jinja2

from helpmail.notify import (
    NotifySettings,
    Person,
    Queue,
    ReturnPathMode,
    Sender,
    StaticDirectory,
    plan_notifications,
    resolve_recipients,
)
from helpmail.notify.plan import render_for
from helpmail.templates import TemplateRenderer
from helpmail.tickets import events as ev

RESULTS = Path(__file__).parent / "results" / "notify.json"
AT = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)
LANGS = ["en", "de", "nl"]


def build_desk(rng: random.Random) -> tuple[StaticDirectory, NotifySettings]:
    agents = [
        Person(
            id=f"a{i}", name=f"Agent {i}", address=f"agent{i}@desk.example.com",
            language=LANGS[i % 3], dispatcher=i < 20,
        )
        for i in range(500)
    ]  # fmt: skip
    customers = [
        Person(
            id=f"c{i}",
            name=f"Customer {i}",
            address=f"customer{i}@example.org",
            language=LANGS[i % 3],
        )
        for i in range(2000)
    ]
    queues = [
        Queue(
            id=f"q{i}", name=f"Queue {i}",
            address=f"queue{i}@desk.example.com" if i < 10 else None,
            members=tuple(f"a{j}" for j in range(i * 10, i * 10 + 10)),
        )
        for i in range(50)
    ]  # fmt: skip
    settings = NotifySettings(
        default_sender=Sender(address="desk@desk.example.com", name="Desk"),
        signing_key=b"bench-key", message_id_domain="desk.example.com",
        server_url="https://desk.example.com/", return_path=ReturnPathMode.VERP,
        bounce_address="bounces@desk.example.com",
    )  # fmt: skip
    return StaticDirectory.of([*agents, *customers], queues), settings


def build_events(rng: random.Random, n: int) -> list[ev.TicketEvent]:
    events: list[ev.TicketEvent] = []
    for i in range(n):
        queue = f"q{rng.randrange(50)}"
        snapshot = ev.TicketSnapshot(
            id=f"T-{i}", number=str(10000 + i), title=f"Request number {i} about the printer",
            status="new", queue=queue, reporter=f"c{rng.randrange(2000)}",
            manager=f"a{rng.randrange(500)}", assignee=f"a{rng.randrange(500)}",
            external_recipients=("watcher@example.net",) if i % 7 == 0 else (),
        )  # fmt: skip
        actor = f"a{rng.randrange(500)}" if i % 3 == 0 else None
        pick = i % 8
        event: ev.TicketEvent
        if pick == 0:
            event = ev.TicketCreated(
                ticket=snapshot, at=AT, channel=ev.Channel.MAIL, via_mail_import=True,
                text="My printer prints only blank pages since this morning.",
                message_id=f"<m{i}@mail.example.org>",
            )  # fmt: skip
        elif pick == 1:
            event = ev.TicketCreated(ticket=snapshot, at=AT, channel=ev.Channel.PHONE, actor=actor)
        elif pick == 2:
            event = ev.FollowUpAdded(ticket=snapshot, at=AT, via_mail_import=True, text="Any news?")
        elif pick == 3:
            event = ev.RequestFromUser(ticket=snapshot, at=AT)
        elif pick == 4:
            event = ev.InquiryAuthorised(ticket=snapshot, at=AT, actor=actor)
        elif pick == 5:
            event = ev.EscalationWarning(ticket=snapshot, at=AT)
        elif pick == 6:
            event = ev.CommentAdded(
                ticket=snapshot,
                at=AT,
                actor=actor,
                text="Please restart it.",
                visible_to_customer=True,
            )
        else:
            event = ev.TicketClosed(ticket=snapshot, at=AT, actor=actor, old_status="open")
        events.append(event)
    return events


BASE_SUBJECT = "New ticket: {{ ticket.title }}"
BASE_TEXT = (
    "Hello {{ recipient.name }},\n\nA new ticket has been created.\n\n"
    "Ticket: {{ ticket.number }} - {{ ticket.title }}\nStatus: {{ ticket.status }}\n"
    "{% if event.text %}\n{{ event.text }}\n{% endif %}\nOpen the ticket: {{ url }}\n"
)
BASE_HTML = (
    "<html><body><p>Hello {{ recipient.name }},</p><p>A new ticket has been created.</p>"
    "<table><tr><th>Ticket</th><td>{{ ticket.number }} - {{ ticket.title }}</td></tr></table>"
    '{% if event.text %}<div>{{ event.text }}</div>{% endif %}<p><a href="{{ url }}">Open</a></p>'
    "</body></html>"
)


def baseline_jinja(events: list[ev.TicketEvent], count: int) -> float:
    """Bare Jinja2 (no sandbox, no strict undefined): three parts per notification, per second."""
    env = jinja2.Environment(autoescape=False)
    parts = [env.from_string(t) for t in (BASE_SUBJECT, BASE_TEXT, BASE_HTML)]
    person = Person(id="a1", name="Agent 1", address="agent1@desk.example.com")
    start = time.perf_counter()
    for i in range(count):
        event = events[i % len(events)]
        values = {"ticket": event.ticket, "event": event, "recipient": person, "url": "https://x/"}
        for template in parts:
            template.render(values)
    return count / (time.perf_counter() - start)


def baseline_as_bytes(count: int) -> float:
    """``EmailMessage`` with text + HTML built and serialised (what any sender pays), per second."""
    from email import policy
    from email.message import EmailMessage

    start = time.perf_counter()
    for i in range(count):
        message = EmailMessage()
        message["From"] = "Desk <desk@desk.example.com>"
        message["To"] = f"Agent {i} <agent{i}@desk.example.com>"
        message["Subject"] = f"[Ticket#{i}] New ticket: Request number {i} about the printer"
        message["Message-ID"] = f"<m{i}@desk.example.com>"
        message.set_content("Hello,\n\nA new ticket has been created.\n" * 3)
        message.add_alternative(
            "<p>Hello,</p><p>A new ticket has been created.</p>" * 3, subtype="html"
        )
        message.as_bytes(policy=policy.SMTP)
    return count / (time.perf_counter() - start)


def main(argv: list[str]) -> None:
    n = 10_000
    for arg in argv:
        if arg.startswith("--events="):
            n = int(arg.split("=", 1)[1])
    rng = random.Random(6)
    directory, settings = build_desk(rng)
    events = build_events(rng, n)
    renderer = TemplateRenderer()

    start = time.perf_counter()
    resolutions = [resolve_recipients(e, settings, directory) for e in events]
    t_resolve = time.perf_counter() - start
    notifications = sum(len(r.recipients) for r in resolutions)
    suppressed = sum(len(r.suppressed) for r in resolutions)

    renderer_warm = TemplateRenderer()  # compile outside the timed loop, as a running desk would
    for r in resolutions[:64]:
        for recipient in r.recipients:
            render_for(r, recipient, settings, renderer_warm)
    start = time.perf_counter()
    rendered = 0
    for e in events:
        resolution = resolve_recipients(e, settings, directory)
        for recipient in resolution.recipients:
            render_for(resolution, recipient, settings, renderer_warm)
            rendered += 1
    t_render = time.perf_counter() - start

    from email import policy

    sample = events[: max(1, n // 10)]
    start = time.perf_counter()
    composed = 0
    for e in sample:
        plan = plan_notifications(e, settings, directory, renderer)
        for item in plan.notifications:
            assert item.mail is not None
            item.mail.message.as_bytes(policy=policy.SMTP)
            composed += 1
    t_compose = time.perf_counter() - start

    jinja_rate = baseline_jinja(events, min(rendered, 20_000))
    bytes_rate = baseline_as_bytes(min(composed, 2_000))

    rate_resolve_render = rendered / t_render
    rate_compose = composed / t_compose
    results: dict[str, Any] = {
        "desk": {"queues": 50, "agents": 500, "customers": 2000, "events": n},
        "notifications": notifications,
        "suppressed": suppressed,
        "resolve_events_per_s": n / t_resolve,
        "resolve_render_notifications_per_s": rate_resolve_render,
        "resolve_render_compose_serialise_per_s": rate_compose,
        "baseline_bare_jinja_3_parts_per_s": jinja_rate,
        "baseline_emailmessage_as_bytes_per_s": bytes_rate,
        "ratio_resolve_render_vs_bare_jinja": rate_resolve_render / jinja_rate,
        "ratio_resolve_render_vs_as_bytes": rate_resolve_render / bytes_rate,
        "ratio_full_vs_as_bytes": rate_compose / bytes_rate,
    }
    rows = [
        ("events", f"{n:,}"),
        ("notifications (recipients)", f"{notifications:,} (+{suppressed:,} suppressed)"),
        ("resolve only", f"{n / t_resolve:,.0f} events/s"),
        ("resolve + render (3 parts)", f"{rate_resolve_render:,.0f} notifications/s"),
        ("resolve + render + compose + as_bytes", f"{rate_compose:,.0f} notifications/s"),
        ("baseline: bare Jinja2, 3 parts", f"{jinja_rate:,.0f} /s"),
        ("baseline: EmailMessage.as_bytes()", f"{bytes_rate:,.0f} /s"),
        ("resolve+render / bare Jinja2", f"{results['ratio_resolve_render_vs_bare_jinja']:.2f}x"),
        ("resolve+render / as_bytes", f"{results['ratio_resolve_render_vs_as_bytes']:.2f}x"),
        ("full pipeline / as_bytes", f"{results['ratio_full_vs_as_bytes']:.2f}x"),
    ]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
