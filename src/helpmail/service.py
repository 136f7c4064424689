"""The service: the one place that runs the inbound pipeline against the ports.

:class:`Desk` reads messages from a :class:`~helpmail.ports.MailSource`, runs the pure pipeline
(:mod:`helpmail.pipeline`) with facts from a :class:`~helpmail.ports.TicketStore`, commits each
message's outcome in one store transaction, and only then applies the mailbox actions (mark seen,
move, delete) to the source. That order is what makes the import crash-safe and idempotent
(DESIGN.md "Idempotent import"): a crash before the commit leaves the message unimported and in
place; a crash after it leaves a recorded key, so the rerun skips the message and redoes only its
mailbox actions.

A message the pipeline cannot process is put in the store's quarantine with its error, left in
the mailbox, and skipped by later runs (never lost, never retried forever);
:meth:`Desk.reprocess_quarantined` retries it on request. Store failures are not the message's
fault: they stop the import with :class:`~helpmail.errors.StoreError`.

``explain`` runs the same pipeline on one raw mail and touches no store.
"""

from __future__ import annotations

import datetime as dt
import traceback
from collections import Counter
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Protocol

import attrs

from helpmail.errors import HelpmailError, SourceError, StoreError
from helpmail.mail import parse_mail
from helpmail.mail.model import address_key
from helpmail.pipeline import (
    REPORT_KINDS,
    Classify,
    ExtractReply,
    Facts,
    Lookups,
    Outcome,
    ParseBounce,
    RulesHook,
    TraceStep,
    analyse,
    decide,
    position_outcome,
    quarantine_outcome,
)
from helpmail.ports import (
    AlreadyImported,
    Checkpointing,
    Clock,
    CommitRejected,
    ImportKey,
    MailboxAction,
    MailSource,
    MessageRecord,
    MessageRef,
    SourceMessage,
    SystemClock,
    TicketRecord,
    TicketStore,
)
from helpmail.tickets.events import TicketEvent
from helpmail.tickets.importing import OutcomeKind, events_for, raw_digest
from helpmail.tickets.settings import ImportSettings

if TYPE_CHECKING:
    from helpmail.desk.steps import DeskSettings
    from helpmail.mail.model import InboundMail
    from helpmail.spam import SpamChecker, SpamVerdict
    from helpmail.suspended import SuspendedQueue

__all__ = [
    "Desk",
    "GuardLike",
    "ImportReport",
    "MessageResult",
    "Progress",
    "explain",
    "gather_facts",
]


@attrs.frozen(kw_only=True)
class MessageResult:
    """What became of one message: one line of an :class:`ImportReport`.

    ``ticket_number``/``ticket_id`` name the ticket created or updated (or the duplicate's
    ticket); ``events`` are the ticket events the commit caused; ``error`` the quarantine reason;
    ``action_error`` a failure applying the mailbox actions (only set by :meth:`Desk.process_one`;
    :meth:`Desk.import_from` collects them in :attr:`ImportReport.action_errors`; the import
    itself is committed and the next run redoes them). ``trace`` explains the decision.
    """

    ref: MessageRef
    kind: OutcomeKind
    subject: str = ""
    ticket_id: str | None = None
    ticket_number: str | None = None
    detail: str = ""
    error: str | None = None
    action_error: str | None = None
    events: tuple[TicketEvent, ...] = ()
    trace: tuple[TraceStep, ...] = attrs.field(default=(), repr=False, eq=False)
    mail_kind: str | None = None

    def line(self) -> str:
        """One readable line for summaries (``created ticket 12: 'Printer broken'``)."""
        ticket = f" {self.ticket_number}" if self.ticket_number else ""
        subject = f" {self.subject!r}" if self.subject else ""
        text = {
            OutcomeKind.CREATED: f"created ticket{ticket}:{subject}",
            OutcomeKind.FOLLOW_UP: f"follow-up on ticket{ticket}:{subject}",
            OutcomeKind.BOUNCE_ATTACHED: f"bounce attached to ticket{ticket}:{subject}",
            OutcomeKind.DUPLICATE: f"duplicate (ticket{ticket or ' none'}):{subject}",
            OutcomeKind.ALREADY_IMPORTED: f"skipped, already imported:{subject}",
            OutcomeKind.DROPPED: f"dropped:{subject}",
            OutcomeKind.QUARANTINED: f"quarantined:{subject} ({self.error})",
            OutcomeKind.SKIPPED_QUARANTINED: "skipped, in quarantine",
            OutcomeKind.SUSPENDED: f"suspended:{subject}",
        }[self.kind]
        if self.detail and self.kind in (
            OutcomeKind.DROPPED,
            OutcomeKind.DUPLICATE,
            OutcomeKind.SUSPENDED,
        ):
            text += f" — {self.detail}"
        return text


@attrs.define
class ImportReport:
    """Per-message results of one import run, with counts by outcome.

    ``results`` holds the per-message results (all of them unless the import was told to keep
    fewer); ``counts`` and ``total`` always cover every message. ``action_errors`` lists mailbox
    actions that failed (the imports are committed; the next run applies the actions again).
    """

    results: list[MessageResult] = attrs.field(factory=list)
    action_errors: list[tuple[MessageRef, str]] = attrs.field(factory=list)
    _counts: Counter[OutcomeKind] = attrs.field(factory=Counter, alias="_counts")

    def add(self, result: MessageResult, *, keep: int | None = None) -> None:
        """Count ``result`` and keep it if fewer than ``keep`` are kept (``None``: no limit)."""
        self._counts[result.kind] += 1
        if keep is None or len(self.results) < keep:
            self.results.append(result)

    @property
    def counts(self) -> dict[OutcomeKind, int]:
        """Messages per outcome (every :class:`OutcomeKind`, zero included)."""
        found = self._counts if self._counts else Counter(r.kind for r in self.results)
        return {kind: found.get(kind, 0) for kind in OutcomeKind}

    @property
    def total(self) -> int:
        return sum(self._counts.values()) if self._counts else len(self.results)

    def summary(self) -> str:
        """``60 messages: 40 created, 15 follow-up, ...`` (zero counts left out)."""
        parts = [f"{n} {kind.value.replace('_', ' ')}" for kind, n in self.counts.items() if n]
        return f"{self.total} messages: " + (", ".join(parts) if parts else "nothing to do")


class GuardLike(Protocol):
    """What the import tells the delivery guard (:class:`helpmail.guard.DeliveryGuard`)."""

    def record_bounce(self, bounce: Any, now: dt.datetime) -> Any:
        """Block the bounced recipients as their reasons say."""
        ...

    def record_received(self, ticket: str | None, now: dt.datetime) -> Any:
        """Count an inbound mail on ``ticket`` (floods block automatic mail on it)."""
        ...


class Progress(Protocol):
    """Called after every message: how many are done, and the result of the last one."""

    def __call__(self, done: int, result: MessageResult) -> None: ...


def gather_facts(
    store: TicketStore | None,
    lookups: Lookups,
    *,
    check_position: bool = False,
) -> Facts:
    """Ask ``store`` the pipeline's questions (all read-only); empty facts without a store."""
    if store is None:
        return Facts()
    tickets: dict[str, TicketRecord] = {}
    by_number: dict[str, TicketRecord] = {}

    def keep(ticket: TicketRecord | None) -> None:
        if ticket is not None:
            tickets[ticket.id] = ticket
            by_number[ticket.number] = ticket

    for ticket_key in lookups.ticket_keys:
        keep(store.get_ticket(ticket_key) or store.find_ticket_by_number(ticket_key))
    for number in lookups.ticket_numbers:
        keep(store.find_ticket_by_number(number))
    messages: dict[str, MessageRecord] = {}
    if lookups.message_ids:
        messages = dict(store.find_messages(lookups.message_ids))
        for message in messages.values():
            if message.ticket_id not in tickets:
                keep(store.get_ticket(message.ticket_id))
    subject_tickets: tuple[TicketRecord, ...] = ()
    if lookups.subject:
        # Optional store capability (not every host store can search by subject).
        find = getattr(store, "find_tickets_by_subject", None)
        if find is not None:
            subject_tickets = tuple(find(lookups.subject))
            for ticket in subject_tickets:
                keep(ticket)
    key = lookups.key
    return Facts(
        already_imported=store.find_import(key.ref) if check_position else None,
        same_mail=store.find_same_mail(key.message_id, key.content_digest),
        tickets=tickets,
        by_number=by_number,
        messages=messages,
        sender_contact=store.find_contact(lookups.sender_key) if lookups.sender_key else None,
        subject_tickets=subject_tickets,
    )


def with_support_addresses(settings: ImportSettings, desk: DeskSettings | None) -> ImportSettings:
    """``settings`` with the desk's support addresses among ``own_addresses`` (mail *from* them
    is the desk's own, never customer mail; they are never ticket participants)."""
    if desk is None:
        return settings
    own = {address_key(a) for a in settings.own_addresses}
    extra = tuple(s.address for s in desk.support_addresses if s.key not in own)
    if not extra:
        return settings
    return attrs.evolve(settings, own_addresses=(*settings.own_addresses, *extra))


def _error_text(error: BaseException) -> str:
    frames = traceback.extract_tb(error.__traceback__)
    where = f" (at {frames[-1].filename.rsplit('/', 1)[-1]}:{frames[-1].lineno})" if frames else ""
    return f"{type(error).__name__}: {error}{where}"


def explain(
    raw: bytes,
    *,
    settings: ImportSettings | None = None,
    store: TicketStore | None = None,
    now: dt.datetime | None = None,
    classify: Classify | None = None,
    parse_bounce: ParseBounce | None = None,
    extract_reply: ExtractReply | None = None,
    rules: RulesHook | None = None,
    desk: DeskSettings | None = None,
) -> Outcome:
    """The pipeline's decision for one raw mail, with its trace; writes nothing anywhere.

    ``desk`` runs the desk steps too (support address, sender, spam, admission).

    With ``store`` the facts come from it (only read methods are called), else they are empty:
    every mail then looks new. Never raises for a malformed mail; an internal failure becomes a
    ``quarantined`` outcome with the error.
    """
    settings = with_support_addresses(settings or ImportSettings(), desk)
    now = now or dt.datetime.now(dt.UTC)
    digest = raw_digest(raw)
    ref = MessageRef(source="explain", folder="", uid=digest[:16])
    try:
        mail = parse_mail(raw)
        analysis = analyse(
            mail, settings, ref=ref, classify=classify, parse_bounce=parse_bounce, rules=rules
        )
        facts = gather_facts(store, analysis.lookups)
        return decide(
            analysis, facts, settings, now, extract_reply=extract_reply, rules=rules, desk=desk
        )
    except StoreError:
        raise
    except Exception as error:
        key = ImportKey(ref=ref, message_id=None, content_digest=digest)
        return quarantine_outcome(key, _error_text(error))


class Desk:
    """The inbound side of a helpdesk: mail sources in, tickets in a store out.

    ``store`` is any :class:`~helpmail.ports.TicketStore` (:class:`helpmail.adapters.SqliteStore`
    is the embedded default), ``settings`` the desk's :class:`ImportSettings`, ``clock`` where
    "now" comes from. ``classify``, ``parse_bounce``, ``extract_reply`` replace the pipeline steps
    (defaults: :mod:`helpmail.bounces`, :mod:`helpmail.replies`); ``rules`` is the scanner rules
    hook (``RuleInput -> Evaluation``, e.g. ``RuleSet.evaluate``); ``on_events`` receives the
    ticket events of every commit (for notifications), after the commit.

    ``desk`` (:class:`helpmail.desk.steps.DeskSettings`) turns on the desk steps: support
    addresses (routing, and never customer mail *from* them: they are added to
    ``settings.own_addresses``), contacts and organisations, spam verdicts and admission.
    ``suspended`` is the :class:`~helpmail.suspended.SuspendedQueue` that suspended mail goes to
    (required for a desk that may suspend: without it a ``suspended`` outcome is quarantined, so
    the mail is never lost); ``spam_checker`` a plugged-in :class:`~helpmail.spam.SpamChecker`
    (default: the trusted headers and the IMAP flags, per ``desk.spam``). Without ``desk`` the
    import behaves exactly as it did before these steps existed.
    """

    def __init__(
        self,
        *,
        store: TicketStore,
        settings: ImportSettings | None = None,
        clock: Clock | None = None,
        classify: Classify | None = None,
        parse_bounce: ParseBounce | None = None,
        extract_reply: ExtractReply | None = None,
        rules: RulesHook | None = None,
        on_events: Callable[[tuple[TicketEvent, ...]], None] | None = None,
        guard: GuardLike | None = None,
        desk: DeskSettings | None = None,
        suspended: SuspendedQueue | None = None,
        spam_checker: SpamChecker | None = None,
    ) -> None:
        self.store = store
        self.settings = with_support_addresses(settings or ImportSettings(), desk)
        self.desk = desk
        self.suspended = suspended
        self.spam_checker = spam_checker
        self.clock: Clock = clock or SystemClock()
        self.classify = classify
        self.parse_bounce = parse_bounce
        self.extract_reply = extract_reply
        self.rules = rules
        self.on_events = on_events
        self.guard = guard

    # -- importing ---------------------------------------------------------------------------
    def import_from(
        self,
        source: MailSource,
        *,
        progress: Progress | None = None,
        limit: int | None = None,
        keep: int | None = None,
    ) -> ImportReport:
        """Import every message of ``source`` (streamed), one store commit per message.

        Mailbox actions are applied after the commits they follow were made durable
        (:meth:`TicketStore.sync`), in batches of :attr:`action_batch` messages and at the end;
        a crash in between leaves them to the next run, which skips the imported messages and
        applies their actions then. A source that can save its position mid-scan
        (:class:`~helpmail.ports.Checkpointing`, e.g. IMAP) is told after each such batch and at
        the end that everything handed out so far is done. Stops after ``limit`` messages.
        ``keep`` bounds how many per-message results the report holds (``None``: all; the counts
        are always complete), so a huge mailbox imports in constant memory. Raises
        :class:`StoreError` when the store fails and :class:`SourceError` when the source does;
        everything committed stays.
        """
        report = ImportReport()
        pending: list[tuple[MessageRef, tuple[MailboxAction, ...]]] = []
        checkpoint = source.checkpoint if isinstance(source, Checkpointing) else None
        since = 0  # messages handled since the last flush
        try:
            for message in source.messages():
                result, actions = self._process(message)
                report.add(result, keep=keep)
                since += 1
                if actions:
                    pending.append((message.ref, actions))
                if len(pending) >= self.action_batch or (
                    checkpoint is not None and since >= self.action_batch
                ):
                    self._flush(source, pending, report)
                    since = 0
                    if checkpoint is not None:
                        checkpoint()  # all handed out so far: durable, actions applied
                if progress is not None:
                    progress(report.total, result)
                if limit is not None and report.total >= limit:
                    break
        finally:
            if pending:
                self._flush(source, pending, report)
        if checkpoint is not None and since:  # not after a failure: the finally re-raised it
            checkpoint()
        return report

    #: Mailbox actions are applied in batches of this many messages (after one durability sync).
    action_batch = 64

    def process_one(
        self,
        message: SourceMessage,
        *,
        source: MailSource | None = None,
        release_quarantine: str | None = None,
    ) -> MessageResult:
        """Process one message: skip, quarantine, or commit it; then (after a durability sync)
        apply its mailbox actions to ``source`` (none are applied without it)."""
        result, actions = self._process(message, release_quarantine=release_quarantine)
        if source is not None and actions:
            report = ImportReport()
            self._flush(source, [(message.ref, actions)], report)
            if report.action_errors:
                result = attrs.evolve(result, action_error=report.action_errors[0][1])
        return result

    def _process(
        self, message: SourceMessage, *, release_quarantine: str | None = None
    ) -> tuple[MessageResult, tuple[MailboxAction, ...]]:
        settings = self.settings
        ref = message.ref
        if release_quarantine is None:
            early = position_outcome(
                ref,
                imported=self.store.find_import(ref),
                quarantined=self.store.find_quarantined(ref),
                settings=settings,
            )
            if early is not None:
                return self._result(ref, early, subject=""), early.mailbox_actions
        now = self.clock.now()
        outcome, subject = self._decide(message, now, release_quarantine)
        if outcome.kind is OutcomeKind.QUARANTINED:
            key = outcome.key or ImportKey(
                ref=ref, message_id=None, content_digest=raw_digest(message.raw)
            )
            self.store.quarantine(key, message.raw, outcome.error or "unknown error", now)
            return self._result(ref, outcome, subject=subject), ()
        assert outcome.commit is not None
        if outcome.suspension is not None:
            if self.suspended is None:
                error = "suspended by the desk, but the desk has no suspended queue"
                key = outcome.key or ImportKey(
                    ref=ref, message_id=None, content_digest=raw_digest(message.raw)
                )
                self.store.quarantine(key, message.raw, error, now)
                held = quarantine_outcome(key, error, outcome.trace)
                return self._result(ref, held, subject=subject), ()
            # Before the commit: a crash in between suspends again on the rerun (idempotent).
            self.suspended.suspend(outcome.suspension)
        if self.guard is not None and outcome.bounce is not None:
            self.guard.record_bounce(outcome.bounce, now)
        try:
            committed = self.store.commit(outcome.commit)
        except CommitRejected as error:
            # The store refused this one message (its ticket vanished meanwhile...): keep it.
            key = outcome.key or ImportKey(
                ref=ref, message_id=None, content_digest=raw_digest(message.raw)
            )
            self.store.quarantine(key, message.raw, f"store refused the commit: {error}", now)
            held = quarantine_outcome(key, f"store refused the commit: {error}", outcome.trace)
            return self._result(ref, held, subject=subject), ()
        except AlreadyImported:
            # Another process committed this position first: the same as a rerun.
            skipped = attrs.evolve(
                outcome,
                kind=OutcomeKind.ALREADY_IMPORTED,
                commit=None,
                trace=(
                    *outcome.trace,
                    TraceStep(step="commit", decision="already imported", detail="by another run"),
                ),
            )
            return self._result(ref, skipped, subject=subject), skipped.mailbox_actions
        events = events_for(outcome.commit, committed)
        ticket = committed.ticket
        result = attrs.evolve(
            self._result(ref, outcome, subject=subject),
            ticket_id=ticket.id if ticket else outcome.commit.ticket_id,
            ticket_number=ticket.number if ticket else self._number(outcome.commit.ticket_id),
            events=events,
        )
        if self.guard is not None and ticket is not None:
            self.guard.record_received(ticket.id, now)
        if events and self.on_events is not None:
            self.on_events(events)
        return result, outcome.mailbox_actions

    def _flush(
        self,
        source: MailSource,
        pending: list[tuple[MessageRef, tuple[MailboxAction, ...]]],
        report: ImportReport,
    ) -> None:
        """Make the commits durable, then apply the mailbox actions that follow them."""
        self.store.sync()
        batch = list(pending)
        pending.clear()
        for ref, actions in batch:
            try:
                source.apply(ref, actions)
            except HelpmailError as error:
                report.action_errors.append((ref, str(error)))

    def process_raw(
        self,
        raw: bytes,
        *,
        ref: MessageRef | None = None,
        arrival: dt.datetime | None = None,
    ) -> MessageResult:
        """Import one raw mail (e.g. piped from an MTA); ``ref`` defaults to its digest."""
        ref = ref or MessageRef(source="raw", folder="", uid=raw_digest(raw))
        return self.process_one(
            SourceMessage(ref=ref, raw=raw, internal_date=arrival, size=len(raw))
        )

    def reprocess_quarantined(self, ids: Iterable[str] | None = None) -> ImportReport:
        """Run quarantined messages through the pipeline again (after a fix or a config change).

        A message that now succeeds is committed and removed from the quarantine in the same
        transaction; one that fails again stays, with the new error. No mailbox actions are
        applied (the source is not at hand): the next import run skips the message as imported
        and applies them then.
        """
        wanted = set(ids) if ids is not None else None
        report = ImportReport()
        for entry in list(self.store.quarantined()):
            if wanted is not None and entry.id not in wanted:
                continue
            message = SourceMessage(ref=entry.key.ref, raw=entry.raw, size=len(entry.raw))
            report.add(self.process_one(message, release_quarantine=entry.id))
        return report

    def explain(self, raw: bytes, *, use_store: bool = True) -> Outcome:
        """The decision for one raw mail with this desk's settings (facts read from the store
        unless ``use_store`` is false); nothing is written."""
        return explain(
            raw,
            settings=self.settings,
            store=self.store if use_store else None,
            now=self.clock.now(),
            classify=self.classify,
            parse_bounce=self.parse_bounce,
            extract_reply=self.extract_reply,
            rules=self.rules,
            desk=self.desk,
        )

    # -- helpers -----------------------------------------------------------------------------
    def _decide(
        self, message: SourceMessage, now: dt.datetime, release: str | None
    ) -> tuple[Outcome, str]:
        settings = self.settings
        raw = message.raw
        if len(raw) > settings.max_message_size:
            key = ImportKey(ref=message.ref, message_id=None, content_digest=raw_digest(raw))
            error = (
                f"message of {len(raw)} bytes exceeds max_message_size {settings.max_message_size}"
            )
            return quarantine_outcome(key, error), ""
        subject = ""
        try:
            mail = parse_mail(raw)
            subject = mail.subject
            analysis = analyse(
                mail,
                settings,
                ref=message.ref,
                classify=self.classify,
                parse_bounce=self.parse_bounce,
                rules=self.rules,
            )
            facts = gather_facts(self.store, analysis.lookups)
            if self.desk is not None and analysis.kind not in (*REPORT_KINDS, "own_loop"):
                # Only for mail the desk steps will look at (a checker may ask a server).
                facts = attrs.evolve(facts, spam=self._spam(mail, message))
            outcome = decide(
                analysis,
                facts,
                settings,
                now,
                arrival=message.internal_date,
                extract_reply=self.extract_reply,
                rules=self.rules,
                release_quarantine=release,
                desk=self.desk,
            )
        except HelpmailError as error:
            if isinstance(error, StoreError | SourceError):
                raise
            return self._quarantine(message, error), subject
        except Exception as error:
            return self._quarantine(message, error), subject
        return outcome, subject

    def _spam(self, mail: InboundMail, message: SourceMessage) -> SpamVerdict:
        """The spam verdict: the plugged-in checker, else the trusted headers (``desk.spam``);
        both see the message's IMAP flags (``$Junk``, ``$NotJunk``)."""
        from helpmail.spam import ImapFacts, read_spam_verdict

        assert self.desk is not None
        imap = ImapFacts(flags=message.flags) if message.flags else None
        if self.spam_checker is not None:
            return self.spam_checker.check(mail, imap)
        return read_spam_verdict(mail, self.desk.spam, imap)

    @staticmethod
    def _quarantine(message: SourceMessage, error: BaseException) -> Outcome:
        key = ImportKey(ref=message.ref, message_id=None, content_digest=raw_digest(message.raw))
        return quarantine_outcome(key, _error_text(error))

    def _number(self, ticket_id: str | None) -> str | None:
        if ticket_id is None:
            return None
        ticket = self.store.get_ticket(ticket_id)
        return ticket.number if ticket is not None else None

    def _result(self, ref: MessageRef, outcome: Outcome, *, subject: str) -> MessageResult:
        last = outcome.trace[-1] if outcome.trace else None
        ticket_id = outcome.ticket.id if outcome.ticket is not None else None
        number = outcome.ticket.number if outcome.ticket is not None else None
        if ticket_id is None and outcome.commit is not None:
            ticket_id = outcome.commit.ticket_id
        return MessageResult(
            ref=ref,
            kind=outcome.kind,
            subject=subject,
            ticket_id=ticket_id,
            ticket_number=number,
            detail=last.detail if last is not None else "",
            error=outcome.error,
            trace=outcome.trace,
            mail_kind=outcome.mail_kind,
        )
