"""``helpmail check CONFIG``: validate a configuration file and report every problem.

Exit status 0 when the file is valid, 1 when it has problems (each printed on its own line with the
key it concerns), 2 when it cannot be read at all. Secrets are resolved (so a missing environment
variable is reported) but never printed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from helpmail.cli._output import dump_json, table
from helpmail.config import Config, ConfigErrors, load_config
from helpmail.errors import ConfigError

HELP = "validate a configuration file and report every problem"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", metavar="CONFIG", type=Path, help="the TOML configuration file")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def _attachments(config: Config) -> str:
    allowed = config.import_.attachments.allowed_types
    if allowed is None:
        return "all"
    if not allowed:
        return "none"
    if all(kind.startswith("image/") for kind in allowed):
        return "images (by content)"
    return ", ".join(sorted(allowed))


def summary(config: Config) -> list[tuple[str, str]]:
    """What the configuration sets up, as (what, value) pairs (no secrets)."""
    rows = [
        ("desk", f"{config.desk.name} ({config.desk.domain})"),
        (
            "signing keys",
            ", ".join(str(key) for key in config.desk.signing_keys) or "none (signed ids off)",
        ),
        ("database", str(config.database.path) if config.database.path else "not set"),
        ("import status", config.import_.status),
        ("attachments kept", _attachments(config)),
        ("ticket tag", config.import_.ticket_tag.render("123")),
    ]
    for mailbox in config.mailboxes:
        # [[mailboxes]] entries are MailboxConfig, or the IMAP scanner's own settings values.
        shown = getattr(mailbox, "url", None) or getattr(mailbox, "describe", lambda: "")()
        rows.append((f"mailbox {getattr(mailbox, 'name', '?')}", str(shown)))
    known = {"desk", "import", "database", "mailboxes"}
    rows.extend(("section", name) for name in config.sections if name not in known)
    return rows


def run(args: argparse.Namespace) -> int:
    path: Path = args.config
    try:
        config = load_config(path)
    except ConfigErrors as errors:
        problems = list(errors.errors)
    except ConfigError as error:
        if error.key == str(path) and not path.is_file():
            raise
        problems = [error]
    else:
        if args.json:
            dump_json(
                {"file": str(path), "valid": True, "problems": [], "summary": dict(summary(config))}
            )
        else:
            print(f"{path}: OK")
            print(table([(f"  {what}", value) for what, value in summary(config)]))
        return 0
    if args.json:
        dump_json(
            {
                "file": str(path),
                "valid": False,
                "problems": [{"key": p.key, "problem": p.problem} for p in problems],
            }
        )
    else:
        count = len(problems)
        print(f"{path}: {count} problem{'s' if count != 1 else ''}", file=sys.stdout)
        for problem in problems:
            print(f"  {problem}")
    return 1
