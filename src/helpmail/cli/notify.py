"""``helpmail notify --config FILE --event EVENT.json [--json] [--body]``: who would get what.

Resolves, renders and composes the notifications of one ticket event exactly as the service
would, and prints them - recipients with the roles that selected them, sender, return path,
subject and the templates used, and everyone left out with the reason - without sending
anything. The ``EVENT.json`` format is described in :mod:`helpmail.notify.event_json`; the
configuration's ``[notify]`` section in ``docs/notifications.md``. The delivery guard is not
consulted (it needs the store).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from helpmail.errors import ConfigError

HELP = "show who would get which automatic mail for one ticket event, and why (sends nothing)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, type=Path, metavar="FILE", help="TOML config")
    parser.add_argument("--event", required=True, type=Path, metavar="EVENT.json", help="event")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--body", action="store_true", help="also print each text part")


def load(config_file: Path, settings_note: list[str] | None = None) -> tuple[Any, Any, Any]:
    """(settings, directory, renderer) from a config file with a ``[notify]`` section.

    Notes about substitutions (a throwaway signing key) are appended to ``settings_note``.
    """
    settings_note = settings_note if settings_note is not None else []
    import tomllib

    from helpmail import config as c
    from helpmail.notify.settings import NotifyConfig, parse_notify_config
    from helpmail.templates import TemplateRenderer

    try:
        data = tomllib.loads(config_file.read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigError(str(config_file), f"cannot read: {error.strerror or error}") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(str(config_file), f"not valid TOML: {error}") from None
    registered = "notify" in c.SECTIONS
    raw_notify = data.get("notify", {}) if registered else data.pop("notify", {})
    config = c.parse_config(data, base_dir=config_file.parent, source=config_file)
    section = config.section("notify")
    if not isinstance(section, NotifyConfig):
        token = c._CONTEXT.set(c.LoadContext(base_dir=config_file.parent))
        try:
            section = parse_notify_config(raw_notify, "notify")
        finally:
            c._CONTEXT.reset(token)
    settings = section.settings_with(config)
    if not settings.signing_key:  # a dry run still shows Message-IDs; they just won't verify
        import secrets

        import attrs

        settings = attrs.evolve(settings, signing_key=secrets.token_bytes(32))
        settings_note.append("no [desk] signing_key: Message-IDs signed with a throwaway key")
    renderer = TemplateRenderer(
        template_dir=section.template_dir, default_language=settings.default_language
    )
    return settings, section.directory, renderer


def report(plan: Any, *, body: bool = False) -> dict[str, Any]:
    """The plan as a JSON-able dict (the ``--json`` output)."""
    event = plan.resolution.event
    recipients = []
    for n in plan.notifications:
        r = n.recipient
        entry: dict[str, Any] = {
            "address": r.address,
            "person": r.person,
            "name": r.name,
            "roles": [str(role) for role in r.roles],
            "template_role": str(r.template_role),
            "language": r.language,
            "from": {"address": r.sender.address, "name": r.sender.name},
            "subject": str(n.mail.message["Subject"]) if n.mail else n.rendered.subject,
            "templates": list(n.rendered.names),
        }
        if n.mail is not None:
            entry["envelope_from"] = n.mail.envelope_from
            entry["message_id"] = n.mail.message_id
        if body:
            entry["text"] = n.rendered.text
        recipients.append(entry)
    return {
        "failed": [{"address": r.address, "error": str(e)} for r, e in plan.failed],
        "event": str(plan.resolution.kind),
        "ticket": {"id": event.ticket.id, "number": event.ticket.number},
        "recipients": recipients,
        "suppressed": [
            {
                "who": s.who,
                "person": s.person,
                "role": str(s.role),
                "reason": str(s.reason),
                "detail": s.detail,
                "until": s.until.isoformat() if s.until else None,
                "guard_reason": s.guard_reason,
            }
            for s in plan.resolution.suppressed
        ],
    }


def run(args: argparse.Namespace) -> int:
    from helpmail.notify.event_json import event_from_json
    from helpmail.notify.plan import plan_notifications

    notes: list[str] = []
    settings, directory, renderer = load(args.config, notes)
    try:
        raw = json.loads(args.event.read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigError(str(args.event), f"cannot read: {error.strerror or error}") from None
    except json.JSONDecodeError as error:
        raise ConfigError(str(args.event), f"not valid JSON: {error}") from None
    event = event_from_json(raw)
    plan = plan_notifications(event, settings, directory, renderer)
    data = report(plan, body=args.body)
    data["notes"] = notes
    if args.json:
        json.dump(data, sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
        return 0
    out = sys.stdout
    ticket = data["ticket"]
    out.write(f"{data['event']} on ticket {ticket['number']} ({ticket['id']})\n")
    out.write(f"would send {len(data['recipients'])} mail(s):\n")
    for r in data["recipients"]:
        who = f" ({r['name']})" if r["name"] else ""
        out.write(f"  to {r['address']}{who} as {'+'.join(r['roles'])} [{r['language']}]\n")
        sender = f"{r['from']['name']} <{r['from']['address']}>".strip()
        out.write(f"     from {sender}, return path {r.get('envelope_from', '-')}\n")
        out.write(f"     subject: {r['subject']}\n")
        out.write(f"     templates: {', '.join(r['templates'])}\n")
        if args.body:
            out.write("     | " + r["text"].rstrip("\n").replace("\n", "\n     | ") + "\n")
    for failure in data["failed"]:
        out.write(f"  FAILED for {failure['address']}: {failure['error']}\n")
    if data["suppressed"]:
        out.write("not sent:\n")
        for s in data["suppressed"]:
            until = f" until {s['until']}" if s["until"] else ""
            detail = f": {s['detail']}" if s["detail"] else ""
            out.write(f"  {s['who']} ({s['role']}) - {s['reason']}{until}{detail}\n")
    for note in notes:
        out.write(f"note: {note}\n")
    out.write("(nothing was sent; the delivery guard was not consulted)\n")
    return 0
