"""What the import-like sub-commands share: loading the configuration, opening sources, and
describing what became of each message in one readable line.

The rule kept here: a message's line says *what happened and why* in the words of the trace
(``ticket #4 created``, ``refused invoice.png: content is an executable``), never a bare status.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from helpmail.config import Config, MailboxConfig, MailboxKind, load_config
from helpmail.errors import ConfigError, SourceError

if TYPE_CHECKING:
    from helpmail.desk.steps import DeskSettings
    from helpmail.guard import DeliveryGuard
    from helpmail.pipeline import RulesHook, TraceStep
    from helpmail.ports import MailSource
    from helpmail.service import MessageResult
    from helpmail.tickets.settings import ImportSettings

IMAP_SCHEMES = ("imap://", "imaps://")


class SourceWrapper:
    """A :class:`~helpmail.ports.MailSource` around another one: everything is passed through
    (including :meth:`checkpoint`, when the inner source keeps checkpoints); subclasses change
    :meth:`messages`."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    @property
    def name(self) -> str:
        name: str = self.inner.name
        return name

    def messages(self) -> Iterator[Any]:
        return iter(self.inner.messages())

    def apply(self, ref: Any, actions: Any) -> None:
        self.inner.apply(ref, actions)

    def checkpoint(self) -> None:
        from helpmail.ports import Checkpointing

        if isinstance(self.inner, Checkpointing):
            self.inner.checkpoint()

    def close(self) -> None:
        self.inner.close()


def load(config: Path | None, *, env: Mapping[str, str] | None = None) -> Config:
    """The configuration in ``config`` (every default when ``None``)."""
    return load_config(config, env=env) if config is not None else Config()


def _imap_source(settings: object, db: Path | None = None) -> MailSource:
    """An IMAP source; with ``db`` its scan state (folder watermarks) lives in that SQLite file
    (:class:`~helpmail.adapters.sqlite_scanner.SQLiteScanState`), so a rerun reads only new mail.
    Close the state with :func:`close_source`."""
    try:
        from helpmail.adapters.imap import ImapSource
    except ImportError as error:  # pragma: no cover - the IMAP adapter ships with helpmail
        raise SourceError(f"IMAP is not available in this installation: {error}") from None
    state = None
    if db is not None:
        from helpmail.adapters.sqlite_scanner import SQLiteScanState

        state = SQLiteScanState(db)
    source: MailSource = ImapSource(settings, state=state)  # type: ignore[arg-type]
    return source


def close_source(source: MailSource) -> None:
    """Close ``source`` and, for an IMAP source, the scan state it saved its progress into."""
    try:
        source.close()
    finally:
        state = getattr(source, "state", None)
        close = getattr(state, "close", None)
        if callable(close):
            close()


def open_source(
    source: str, config: Config, *, db: Path | None = None
) -> tuple[MailSource, object | None]:
    """Open ``source``: a configured mailbox name, an ``imap(s)://`` URL, a Maildir or mbox path.

    Returns the source and the configured mailbox it came from (``None`` for a path or URL), whose
    ``after_import`` actions apply. With ``db``, an IMAP source keeps its scan state in that
    SQLite file (close it with :func:`close_source`).
    """
    for mailbox in config.mailboxes:
        if getattr(mailbox, "name", None) == source:
            return _open_configured(mailbox, db), mailbox
    if source.lower().startswith(IMAP_SCHEMES):
        from helpmail.scanner.config import parse_imap_url

        settings = parse_imap_url(source, env=os.environ)
        return _imap_source(settings, db), None
    from helpmail.adapters.mailbox import open_source as open_path

    try:
        path = Path(source).expanduser()
    except RuntimeError:  # "~someone" for a user this machine does not know
        raise SourceError(f"{source}: cannot expand the home directory") from None
    if not path.exists():
        known = [str(getattr(m, "name", "")) for m in config.mailboxes]
        hint = f" (configured mailboxes: {', '.join(known)})" if known else ""
        raise SourceError(f"{source}: no such Maildir, mbox file or configured mailbox{hint}")
    return open_path(path), None


def _open_configured(mailbox: object, db: Path | None = None) -> MailSource:
    if isinstance(mailbox, MailboxConfig):
        if mailbox.kind is MailboxKind.IMAP:
            from helpmail.scanner.config import settings_from_config

            return _imap_source(settings_from_config(mailbox), db)
        from helpmail.adapters.mailbox import MaildirSource, MboxSource

        assert mailbox.path is not None
        # Named by path, as `helpmail import PATH` names it: both ways give the same message keys.
        if mailbox.kind is MailboxKind.MBOX:
            return MboxSource(mailbox.path)
        return MaildirSource(mailbox.path)
    # The scanner's own mailbox settings (its [[mailboxes]] parser returns them for IMAP).
    return _imap_source(mailbox, db)


def count_messages(source: MailSource) -> int | None:
    """How many messages a Maildir source holds (a cheap directory listing), else ``None``.

    Used only for the progress bar; mbox and IMAP sources are not counted ahead (that would
    mean reading them twice).
    """
    from helpmail.adapters.mailbox import MaildirSource

    if not isinstance(source, MaildirSource):
        return None
    total = 0
    for sub in ("new", "cur"):
        try:
            with os.scandir(source.path / sub) as entries:
                total += sum(1 for entry in entries if not entry.name.startswith("."))
        except OSError:
            return None
    return total


def mailbox_settings(config: Config, mailbox: object | None) -> ImportSettings:
    """The :class:`~helpmail.tickets.settings.ImportSettings` for importing from ``mailbox`` (a
    configured mailbox of either kind; anything else: no mailbox actions)."""
    from helpmail.scanner.settings import MailboxSettings

    if isinstance(mailbox, MailboxConfig | MailboxSettings):
        return config.import_settings(mailbox)
    return config.import_settings()


def rules_hook(config: Config) -> RulesHook | None:
    """The scanner rules of the configuration (``[[rules]]``) as the pipeline's rules hook."""
    from helpmail.rules.engine import RuleSet

    rules = config.section("rules")
    if isinstance(rules, RuleSet) and rules.rules:
        hook: RulesHook = rules.evaluate
        return hook
    return None


def database_path(db: Path | None, config: Config) -> Path:
    """``--db`` or the configuration's ``[database] path``; a clear error when neither is set."""
    if db is not None:
        return db
    if config.database.path is not None:
        return config.database.path
    raise ConfigError("--db", "no database given: pass --db PATH or set [database] path")


def delivery_guard(db: Path, stack: contextlib.ExitStack) -> DeliveryGuard:
    """The delivery guard with its state in the desk's SQLite file (``guard_*`` tables), so a
    bounce imported in one run blocks the address in the next; closed with ``stack``."""
    from helpmail.adapters.sqlite_guard import SqliteGuardState
    from helpmail.guard import DeliveryGuard

    state = SqliteGuardState(db)
    stack.callback(state.close)
    return DeliveryGuard(state)


#: the configuration sections of the desk steps (issue 7)
DESK_SECTIONS = ("support_addresses", "contacts", "admission", "spam")


def desk_settings(config: Config) -> DeskSettings | None:
    """The :class:`~helpmail.desk.steps.DeskSettings` of the configuration when it has any desk
    section (``[support_addresses]``, ``[contacts]``, ``[admission]``, ``[spam]``), else ``None``
    (the import then runs without the desk steps, as before they existed)."""
    if not any(config.section(name) is not None for name in DESK_SECTIONS):
        return None
    from helpmail.desk.steps import DeskSettings

    return DeskSettings.from_config(config)


def desk_options(config: Config, db: Path, stack: contextlib.ExitStack) -> dict[str, Any]:
    """``Desk`` keyword arguments for the desk steps: ``desk`` (:func:`desk_settings`) and, with
    it, ``suspended`` (the suspended queue in the desk's SQLite file, closed with ``stack``)."""
    desk = desk_settings(config)
    if desk is None:
        return {}
    from helpmail.adapters.sqlite_suspended import SqliteSuspendedQueue

    queue = SqliteSuspendedQueue(db)
    stack.callback(queue.close)
    return {"desk": desk, "suspended": queue}


# --------------------------------------------------------------------------------------------
# Describing results


def trace_of(result: MessageResult) -> tuple[TraceStep, ...]:
    """The decision trace of one result."""
    trace: tuple[TraceStep, ...] = result.trace
    return trace


def _steps(trace: Sequence[TraceStep], step: str) -> list[tuple[str, str]]:
    return [(s.decision, s.detail) for s in trace if s.step == step]


_QUOTED = re.compile(r"'([^']{1,200})'")
_CONTENT = re.compile(r"content is ([\w.+/-]{1,100})")
_EVIDENCE = {
    "signed_message_id": "signed Message-ID",
    "known_message_id": "In-Reply-To/References",
    "subject_tag": "subject tag",
    "bounced_message_id": "bounced Message-ID",
}


def _attachment_note(decision: str, detail: str) -> str:
    label, _, why = detail.partition(": ")
    name = _QUOTED.search(label)
    shown = name.group(1) if name else label or "an attachment"
    content = _CONTENT.search(why)
    if decision == "refused":
        what = f"content is {content.group(1)}" if content else why
        return f"refused attachment {shown} ({what})"
    return f"kept attachment {shown}" + (f" ({content.group(1)})" if content else "")


def notes(trace: Sequence[TraceStep], *, contacts: bool = True) -> list[str]:
    """The noteworthy details of an outcome: attachments, repairs, refused subject tags, senders.

    ``contacts=False`` leaves out the routine "new contact" notes.
    """
    found: list[str] = []
    for decision, detail in _steps(trace, "attachment"):
        found.append(_attachment_note(decision, detail))
    for decision, detail in _steps(trace, "parse"):
        if decision != "clean":
            found.append(f"repaired while parsing ({detail or decision})")
    for decision, detail in _steps(trace, "ticket_ref"):
        if decision == "not followed":
            found.append(detail)
    if contacts:
        for decision, detail in _steps(trace, "sender"):
            if decision in ("new contact", "default contact"):
                found.append(f"{decision}: {detail}")
    return found


def _evidence(trace: Sequence[TraceStep]) -> str:
    for decision, _detail in _steps(trace, "ticket_ref"):
        if decision not in ("none", "not followed"):
            return _EVIDENCE.get(decision, decision.replace("_", " "))
    return ""


def describe(result: MessageResult) -> str:
    """One readable line for what became of a message (without its subject)."""
    from helpmail.tickets.importing import OutcomeKind

    trace = trace_of(result)
    number = f"#{result.ticket_number}" if result.ticket_number else "a ticket"
    kind = result.mail_kind
    automated = kind not in (None, "human")
    evidence = _evidence(trace)
    by = f" (found by {evidence})" if evidence else ""
    if result.kind is OutcomeKind.CREATED:
        text = f"ticket {number} created"
        if automated:
            text += f", filed as automated mail ({kind}): never answered"
    elif result.kind is OutcomeKind.FOLLOW_UP:
        if automated:
            text = f"{kind.replace('_', '-') if kind else 'automated'} filed on {number}{by}: "
            text += "not answered"
        else:
            text = f"follow-up on {number}{by}"
    elif result.kind is OutcomeKind.BOUNCE_ATTACHED:
        text = f"bounce attached to {number}{by}"
        bounce = _steps(trace, "bounce")
        if bounce:
            text += f": {bounce[0][1].split(';')[0]}"
        text += "; never answered"
    elif result.kind is OutcomeKind.DUPLICATE:
        text = f"duplicate of a mail already imported into {number}: not imported again"
    elif result.kind is OutcomeKind.ALREADY_IMPORTED:
        text = "already imported (skipped)"
    elif result.kind is OutcomeKind.DROPPED:
        text = f"not imported: {result.detail or 'dropped'}"
    elif result.kind is OutcomeKind.QUARANTINED:
        text = f"quarantined: {result.error}"
    elif result.kind is OutcomeKind.SKIPPED_QUARANTINED:
        text = "in quarantine from an earlier run (skipped)"
    else:  # an outcome added later (suspended, rejected...): its name and the trace's last word
        text = str(result.kind.value).replace("_", " ")
        if result.detail:
            text += f": {result.detail}"
    extra = notes(trace, contacts=False)
    if extra:
        text += "; " + "; ".join(extra)
    return text


def result_dict(result: MessageResult) -> dict[str, object]:
    """A JSON-ready form of one result."""
    trace = trace_of(result)
    return {
        "ref": str(result.ref),
        "outcome": result.kind.value,
        "mail_kind": result.mail_kind,
        "subject": result.subject,
        "ticket": result.ticket_number,
        "summary": describe(result),
        "notes": notes(trace),
        "error": result.error,
        "trace": [{"step": s.step, "decision": s.decision, "detail": s.detail} for s in trace],
    }
