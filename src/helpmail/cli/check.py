"""``helpmail check CONFIG``: validate a configuration file and report every problem.

Two passes. First the file is parsed: every problem is printed on its own line with the key it
concerns. Then a valid configuration is checked as a whole, each finding naming the rule it breaks:
the notification settings (:func:`helpmail.notify.check.check_config`: recipients without or with
invalid addresses, duplicate roles, redundant customer notices, queues without a sender, templates
that fail to render) and the mailboxes (certificate checks switched off, plain-text IMAP).

Exit status 0 when the file is valid and no finding is an error (warnings are printed), 1 when it
has problems or error findings, 2 when it cannot be read at all. Secrets are resolved (so a missing
environment variable is reported) but never printed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from helpmail.cli._output import dump_json, table
from helpmail.config import Config, ConfigErrors, load_config
from helpmail.errors import ConfigError

if TYPE_CHECKING:
    from helpmail.notify.check import Finding

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


def mailbox_findings(config: Config) -> list[Finding]:
    """Mailboxes that work but are weaker than they should be (each a warning with its rule)."""
    from helpmail.notify.check import Finding, Severity
    from helpmail.scanner.settings import MailboxSettings, Security

    found = []
    for index, mailbox in enumerate(config.mailboxes):
        if not isinstance(mailbox, MailboxSettings):
            continue
        key = f"mailboxes[{index}]"
        if not mailbox.verify_certificate:
            found.append(
                Finding(
                    severity=Severity.WARNING,
                    rule="mailboxes.certificate-not-verified",
                    key=f"{key}.verify_certificate",
                    message=f"{mailbox.name}: the server's certificate is not verified; anyone "
                    "on the path can read the password (give ca_file instead)",
                )
            )
        if mailbox.security is Security.PLAIN:
            found.append(
                Finding(
                    severity=Severity.WARNING,
                    rule="mailboxes.plaintext",
                    key=f"{key}.tls",
                    message=f"{mailbox.name}: plain IMAP sends the password unencrypted",
                )
            )
    return found


def findings(config: Config) -> list[Finding]:
    """Every finding of the whole-configuration checks (notifications, mailboxes)."""
    from helpmail.notify.check import check_config

    return [*check_config(config), *mailbox_findings(config)]


def _finding_line(finding: Finding) -> str:
    where = f" [{finding.key}]" if finding.key else ""
    return f"  {finding.severity.value}: {finding.rule}{where}: {finding.message}"


def _finding_dict(finding: Finding) -> dict[str, str | None]:
    return {
        "severity": finding.severity.value,
        "rule": finding.rule,
        "key": finding.key,
        "message": finding.message,
    }


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
        from helpmail.notify.check import Severity

        found = findings(config)
        failing = [f for f in found if f.severity is Severity.ERROR]
        if args.json:
            dump_json(
                {
                    "file": str(path),
                    "valid": not failing,
                    "problems": [],
                    "findings": [_finding_dict(f) for f in found],
                    "summary": dict(summary(config)),
                }
            )
            return 1 if failing else 0
        warnings = len(found) - len(failing)
        if failing:
            print(f"{path}: {len(failing)} error{'s' if len(failing) != 1 else ''} found")
        elif warnings:
            print(f"{path}: OK, {warnings} warning{'s' if warnings != 1 else ''}")
        else:
            print(f"{path}: OK")
        print(table([(f"  {what}", value) for what, value in summary(config)]))
        if found:
            print()
            for finding in found:
                print(_finding_line(finding))
        return 1 if failing else 0
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
