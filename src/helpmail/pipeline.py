"""The inbound pipeline, sans-IO: one parsed mail plus store facts in, an :class:`Outcome` out.

It runs in phases so that it stays pure and every decision can be replayed and explained:

1. :func:`analyse` reads the mail alone: classification (human / bounce / auto-reply / bulk /
   own loop / ...), the bounce report, the ticket-reference candidates, the sender and the
   idempotency key. Its :class:`Analysis` says what must be looked up (:attr:`Analysis.lookups`).
2. The service asks the store those questions and hands back :class:`Facts`.
3. :func:`decide` returns the :class:`Outcome`: the one store commit (new ticket / follow-up /
   bounce attached / only the key), the mailbox actions to apply *after* the commit, and a trace of
   :class:`TraceStep` values explaining every decision.

Rules kept here: automated mail (anything not ``human``) never creates a ticket action that
triggers an automatic mail (it is filed with origin ``automated_mail``, or as a bounce, or dropped);
helpmail's own mail coming back is dropped with a trace entry; attachments are kept by their sniffed
content only; a message is imported at most once (the key travels with the commit); a malformed mail
never crashes the pipeline, its defects are traced.

:func:`decide` runs, in order: dedupe, own loop, ticket reference (then a scanner rule's number
pattern or same-subject match), the desk steps when ``desk`` settings are given
(:func:`helpmail.desk.steps.desk_steps`: own sender, support address, sender, spam, admission;
a rejected mail is ``dropped``, a suspended one ``suspended`` with the
:class:`~helpmail.suspended.Suspension` to keep), the scanner rules' plan, and the import
semantics (new ticket or follow-up). Bounces, complaints and delivery reports skip the desk steps.

The steps built by other parts of helpmail are seams (callables passed in) whose defaults are the
real ones, imported on first use: ``classify`` and ``parse_bounce`` (:mod:`helpmail.bounces`),
``extract_reply`` (:mod:`helpmail.replies`); and an optional ``rules`` hook
(:meth:`helpmail.rules.RuleSet.evaluate`) whose plan may set ticket fields, replace the mailbox
actions or send the mail to the quarantine.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import attrs

from helpmail.mail.model import address_key
from helpmail.message_ids import read_message_id
from helpmail.ports import ImportKey, ImportRecord, MailboxAction, MessageRef, QuarantineRecord
from helpmail.tickets.events import AttachmentRef, Origin
from helpmail.tickets.importing import (
    NOT_FILED,
    AddFollowUp,
    AttachBounce,
    CreateTicket,
    ImportCommit,
    OutcomeKind,
    Party,
    StoreCommand,
    StoredAttachment,
    import_key,
)
from helpmail.tickets.refs import (
    RefCandidates,
    RefEvidence,
    RefFacts,
    SignedRef,
    TicketRef,
    find_candidates,
    resolve,
    resolve_by_rule,
)
from helpmail.tickets.settings import ImportSettings, SubjectMatchPolicy

if TYPE_CHECKING:
    from helpmail.desk.steps import DeskDecision, DeskSettings
    from helpmail.mail.model import Attachment, InboundMail
    from helpmail.ports import MessageRecord, TicketRecord
    from helpmail.spam import SpamVerdict
    from helpmail.suspended import Suspension

#: Mail kinds that report on delivery (filed on the ticket whose mail bounced, never answered);
#: the desk steps (sender, spam, admission) do not apply to them.
REPORT_KINDS = frozenset({"bounce", "complaint", "delivery_report"})


# --------------------------------------------------------------------------------------------
# The seams: what the pipeline needs from classification, bounce parsing and reply extraction.


class ClassificationLike(Protocol):
    """What the pipeline reads from :func:`helpmail.classify`'s result."""

    @property
    def kind(self) -> str: ...

    @property
    def evidence(self) -> Any: ...


class BouncedRecipientLike(Protocol):
    @property
    def address(self) -> str: ...

    @property
    def reason(self) -> str: ...

    @property
    def hard(self) -> bool: ...


class BounceLike(Protocol):
    """What the pipeline reads from :func:`helpmail.parse_bounce`'s result."""

    @property
    def recipients(self) -> Sequence[BouncedRecipientLike]: ...

    @property
    def original_message_id(self) -> str | None: ...


class ReplyLike(Protocol):
    """What the pipeline reads from :func:`helpmail.extract_reply`'s result."""

    @property
    def text(self) -> str: ...

    @property
    def method(self) -> Any: ...


Classify = Callable[["InboundMail"], ClassificationLike]
ParseBounce = Callable[["InboundMail"], BounceLike | None]
ExtractReply = Callable[..., ReplyLike]
RulesHook = Callable[[Any], Any]
"""``RuleInput -> Evaluation`` (for example :meth:`helpmail.rules.RuleSet.evaluate`)."""


def default_classify(mail: InboundMail) -> ClassificationLike:
    """:func:`helpmail.bounces.classify` without desk settings (see :func:`classifier_for`)."""
    return classifier_for(ImportSettings())(mail)


@functools.lru_cache(maxsize=16)
def classifier_for(settings: ImportSettings) -> Classify:
    """:func:`helpmail.bounces.classify` told about the desk: its signing keys, own addresses
    and Message-ID domains (so the desk's own mail is recognised as ``own_loop``)."""
    from helpmail.bounces import ClassifySettings, classify

    desk = ClassifySettings(
        keys=settings.signing_keys,
        own_domains=settings.message_id_domains,
        system_addresses=frozenset(settings.own_addresses),
    )

    def classify_for_desk(mail: InboundMail) -> ClassificationLike:
        return classify(mail, desk)

    return classify_for_desk


def default_parse_bounce(mail: InboundMail) -> BounceLike | None:
    """:func:`helpmail.parse_bounce`."""
    from helpmail.bounces import parse_bounce

    return parse_bounce(mail)


def default_extract_reply(
    source: InboundMail, *, html: str | None = None, parent: str | None = None
) -> ReplyLike:
    """:func:`helpmail.extract_reply`."""
    from helpmail.replies import extract_reply

    return extract_reply(source, html=html, parent=parent)


# --------------------------------------------------------------------------------------------
# Values


@attrs.frozen(kw_only=True)
class TraceStep:
    """One decision of the pipeline: the step, what was decided, and why (one line)."""

    step: str
    decision: str
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.step}: {self.decision}" + (f" — {self.detail}" if self.detail else "")


@attrs.frozen(kw_only=True)
class Lookups:
    """The questions :func:`analyse` asks the store (answered as :class:`Facts`)."""

    key: ImportKey
    ticket_keys: tuple[str, ...] = ()
    """Ticket ids (or numbers) named by signed Message-IDs."""
    ticket_numbers: tuple[str, ...] = ()
    """Ticket numbers named by subject tags."""
    message_ids: tuple[str, ...] = ()
    """Message-IDs to find among stored messages (thread ids, a bounce's original id)."""
    sender_key: str | None = None
    subject: str | None = None
    """A normalised subject to find tickets by (a scanner rule matches by subject)."""


@attrs.frozen(kw_only=True)
class Analysis:
    """Everything :func:`analyse` read from the mail (no store involved)."""

    mail: InboundMail
    ref: MessageRef
    key: ImportKey
    kind: str
    classification: ClassificationLike
    own_loop: str | None
    bounce: BounceLike | None
    candidates: RefCandidates
    lookups: Lookups
    trace: tuple[TraceStep, ...]
    rules: Any = attrs.field(default=None, repr=False, eq=False)
    """The scanner rules' evaluation for the mail with no ticket matched yet (``None`` without
    rules): its ticket action may ask for a lookup by number pattern or by subject."""
    rule_number: str | None = None
    """The ticket number the rules' ``number_pattern`` found in the subject."""


@attrs.frozen(kw_only=True)
class Facts:
    """What the store knows that matters for one mail (all empty for ``explain`` without store).

    ``already_imported``/``quarantined`` are about the source position, ``same_mail`` the first
    import of the same mail (Message-ID + content digest) from any position; ``tickets`` maps
    ticket ids, ``by_number`` ticket numbers; ``messages`` stored messages by Message-ID (their
    tickets are in ``tickets``); ``sender_contact`` the contact owning the sender's address (any
    of the contact's addresses). ``spam`` is the verdict the service computed (a plugged-in
    :class:`~helpmail.spam.SpamChecker`, or the trusted headers plus IMAP flags); ``None``: the
    desk steps read the trusted headers themselves. ``subject_tickets`` are the open tickets with
    the mail's normalised subject (asked only when a scanner rule matches by subject).
    """

    already_imported: ImportRecord | None = None
    quarantined: QuarantineRecord | None = None
    same_mail: ImportRecord | None = None
    tickets: Mapping[str, TicketRecord] = attrs.field(factory=dict)
    by_number: Mapping[str, TicketRecord] = attrs.field(factory=dict)
    messages: Mapping[str, MessageRecord] = attrs.field(factory=dict)
    sender_contact: str | None = None
    spam: SpamVerdict | None = None
    subject_tickets: tuple[TicketRecord, ...] = ()


@attrs.frozen(kw_only=True)
class Outcome:
    """What to do with one message, and why.

    ``commit`` is the store write (``None`` for skips and the quarantine); ``mailbox_actions``
    are applied to the source only after the commit; ``ticket`` is the known ticket a follow-up or
    bounce goes to (``None`` for a new ticket: the store allocates it); ``error`` is the reason for
    the quarantine. ``kind`` is the line of the import report. ``suspension`` is what to put in
    the suspended queue for a ``suspended`` outcome (the service does, before the commit).
    """

    kind: OutcomeKind
    key: ImportKey | None
    commit: ImportCommit | None = None
    mailbox_actions: tuple[MailboxAction, ...] = ()
    trace: tuple[TraceStep, ...] = ()
    ticket: TicketRecord | None = None
    error: str | None = None
    mail_kind: str | None = None
    bounce: BounceLike | None = attrs.field(default=None, repr=False, eq=False)
    """The parsed bounce report, when the mail is a bounce (the delivery guard records it)."""
    suspension: Suspension | None = attrs.field(default=None, repr=False, eq=False)

    @property
    def command(self) -> StoreCommand | None:
        return self.commit.command if self.commit is not None else None

    def render(self) -> str:
        """The trace as readable lines (what ``helpmail explain`` prints)."""
        lines = [f"outcome: {self.kind.value}"]
        lines.extend(f"  {step}" for step in self.trace)
        if self.mailbox_actions:
            acts = ", ".join(
                a.kind.value + (f" {a.folder}" if a.folder else "") for a in self.mailbox_actions
            )
            lines.append(f"  mailbox: {acts} (after commit)")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready form (``helpmail explain --json``)."""
        command = self.command
        cmd: dict[str, object] | None = None
        if command is not None:
            cmd = {"type": type(command).__name__}
            for field in attrs.fields(type(command)):
                value = getattr(command, field.name)
                if field.name == "attachments":
                    value = [
                        {"filename": a.ref.filename, "type": a.ref.media_type, "size": a.ref.size}
                        for a in value
                    ]
                elif isinstance(value, Party):
                    value = attrs.asdict(value)
                elif isinstance(value, dt.datetime):
                    value = value.isoformat()
                elif isinstance(value, tuple):
                    value = [list(v) if isinstance(v, tuple) else v for v in value]
                cmd[field.name] = value
        out: dict[str, object] = {
            "outcome": self.kind.value,
            "mail_kind": self.mail_kind,
            "ticket": None if self.ticket is None else self.ticket.number,
            "error": self.error,
            "command": cmd,
            "mailbox_actions": [
                {"kind": a.kind.value, "folder": a.folder} for a in self.mailbox_actions
            ],
            "trace": [
                {"step": s.step, "decision": s.decision, "detail": s.detail} for s in self.trace
            ],
        }
        if self.suspension is not None:
            out["suspension"] = {
                "reason": self.suspension.reason,
                "detail": self.suspension.detail,
                "support_address": self.suspension.support_address,
            }
        return out


# --------------------------------------------------------------------------------------------
# Phase 0: the position checks (before parsing: a rerun skips imported mail cheaply)


def position_outcome(
    ref: MessageRef,
    *,
    imported: ImportRecord | None,
    quarantined: QuarantineRecord | None,
    settings: ImportSettings,
) -> Outcome | None:
    """The outcome for a position already seen, or ``None`` when it must be processed.

    An imported position is skipped, but its mailbox actions are applied again: a crash may have
    happened between the commit and the flagging. A quarantined one is skipped and left alone.
    """
    if imported is not None:
        where = f" on ticket {imported.ticket_id}" if imported.ticket_id else ""
        return Outcome(
            kind=OutcomeKind.ALREADY_IMPORTED,
            key=imported.key,
            mailbox_actions=settings.after_import,
            trace=(
                TraceStep(
                    step="dedupe",
                    decision="already imported",
                    detail=f"{ref} was imported ({imported.outcome}{where}); "
                    "mailbox actions redone",
                ),
            ),
        )
    if quarantined is not None:
        return Outcome(
            kind=OutcomeKind.SKIPPED_QUARANTINED,
            key=quarantined.key,
            error=quarantined.error,
            trace=(
                TraceStep(
                    step="dedupe",
                    decision="in quarantine",
                    detail=f"quarantine entry {quarantined.id}: {quarantined.error}; not retried",
                ),
            ),
        )
    return None


def quarantine_outcome(key: ImportKey, error: str, trace: Sequence[TraceStep] = ()) -> Outcome:
    """The outcome for a message that cannot be processed (kept with its error, left in place)."""
    return Outcome(
        kind=OutcomeKind.QUARANTINED,
        key=key,
        error=error,
        trace=(*trace, TraceStep(step="quarantine", decision="quarantined", detail=error)),
    )


# --------------------------------------------------------------------------------------------
# Phase 1: analyse the mail alone


def _explain_classification(result: ClassificationLike) -> str:
    explain = getattr(result, "explain", None)
    if callable(explain):
        return str(explain())
    evidence = result.evidence
    if isinstance(evidence, tuple | list):
        return "; ".join(str(e) for e in evidence) or "no sign of automated mail"
    return str(evidence)


def _own_loop(mail: InboundMail, settings: ImportSettings) -> str | None:
    if mail.message_id and settings.signing_keys:
        signed = read_message_id(mail.message_id, settings.signing_keys)
        if signed is not None:
            return f"Message-ID <{mail.message_id}> is helpmail's own (signature verifies)"
    author = mail.from_address
    if author is not None and settings.own_addresses:
        own = {address_key(a) for a in settings.own_addresses}
        if author.key in own:
            return f"From {author.addr_spec} is one of the desk's own addresses"
    return None


def analyse(
    mail: InboundMail,
    settings: ImportSettings,
    *,
    ref: MessageRef,
    classify: Classify | None = None,
    parse_bounce: ParseBounce | None = None,
    rules: RulesHook | None = None,
) -> Analysis:
    """Read ``mail`` alone: classification, bounce, reference candidates, sender, key.

    With ``rules`` the scanner rules are evaluated once for the mail as a new conversation, so that
    the lookups their ticket action needs (a ticket number found by ``number_pattern``, tickets
    with the same subject) are asked together with the others.
    """
    trace: list[TraceStep] = []
    if mail.defects:
        shown = "; ".join(str(d) for d in mail.defects[:5])
        more = f" (+{len(mail.defects) - 5} more)" if len(mail.defects) > 5 else ""
        trace.append(
            TraceStep(step="parse", decision=f"{len(mail.defects)} defect(s)", detail=shown + more)
        )
    else:
        trace.append(TraceStep(step="parse", decision="clean"))
    key = import_key(ref, mail)
    classification = (classify or classifier_for(settings))(mail)
    kind = str(classification.kind)
    own = _own_loop(mail, settings)
    if own is not None:
        kind = "own_loop"
    trace.append(
        TraceStep(
            step="classify",
            decision=kind,
            detail=own if own is not None else _explain_classification(classification),
        )
    )
    bounce: BounceLike | None = None
    if kind in REPORT_KINDS:
        bounce = (parse_bounce or default_parse_bounce)(mail)
        if bounce is not None:
            who = ", ".join(f"{r.address} ({r.reason})" for r in bounce.recipients) or "none"
            trace.append(
                TraceStep(
                    step="bounce",
                    decision="parsed",
                    detail=f"recipients: {who}; original Message-ID: "
                    f"{bounce.original_message_id or 'not found'}",
                )
            )
        elif kind == "bounce":
            trace.append(TraceStep(step="bounce", decision="no report could be read"))
    candidates = find_candidates(mail, tag=settings.ticket_tag, signing_keys=settings.signing_keys)
    if bounce is not None and bounce.original_message_id and settings.signing_keys:
        signed = read_message_id(bounce.original_message_id, settings.signing_keys)
        if signed is not None:
            first = SignedRef(message_id=bounce.original_message_id, signed=signed)
            candidates = attrs.evolve(candidates, signed=(first, *candidates.signed))
    message_ids = list(candidates.thread_ids)
    if bounce is not None and bounce.original_message_id:
        message_ids.insert(0, bounce.original_message_id)
    author = mail.from_address or mail.sender
    evaluation: Any = None
    rule_number: str | None = None
    subject: str | None = None
    numbers = candidates.tag_numbers
    if rules is not None:
        evaluation = _evaluate_rules(rules, mail, analysis_ref=ref, kind=kind, ticket=None)
        action = evaluation.plan.ticket
        if action is not None and kind not in REPORT_KINDS:
            rule_number = action.find_number(mail.subject)
            if rule_number is not None and rule_number not in numbers:
                numbers = (*numbers, rule_number)
            if "subject" in action.match_by:
                from helpmail.tickets.refs import normalise_subject

                subject = normalise_subject(mail.subject) or None
    lookups = Lookups(
        key=key,
        ticket_keys=candidates.ticket_keys,
        ticket_numbers=numbers,
        message_ids=tuple(dict.fromkeys(message_ids)),
        sender_key=author.key if author is not None and author.addr_spec else None,
        subject=subject,
    )
    return Analysis(
        mail=mail,
        ref=ref,
        key=key,
        kind=kind,
        classification=classification,
        own_loop=own,
        bounce=bounce,
        candidates=candidates,
        lookups=lookups,
        trace=tuple(trace),
        rules=evaluation,
        rule_number=rule_number,
    )


def _evaluate_rules(
    rules: RulesHook, mail: InboundMail, *, analysis_ref: MessageRef, kind: str, ticket: str | None
) -> Any:
    from helpmail.rules.conditions import RuleInput

    return rules(
        RuleInput(mail=mail, folder=analysis_ref.folder, classification=kind, ticket=ticket)
    )


# --------------------------------------------------------------------------------------------
# Phase 3: decide


def _attachments(
    mail: InboundMail, settings: ImportSettings, trace: list[TraceStep]
) -> tuple[StoredAttachment, ...]:
    policy = settings.attachments
    kept: list[StoredAttachment] = []
    seen: set[str] = set()
    for attachment in mail.attachments:
        label = _attachment_label(attachment)
        refused = _refusal(attachment, policy.allowed_types, policy.max_size, policy.keep_inline)
        if refused is not None:
            trace.append(
                TraceStep(step="attachment", decision="refused", detail=f"{label}: {refused}")
            )
            continue
        if attachment.sha256 in seen:
            trace.append(
                TraceStep(step="attachment", decision="kept once", detail=f"{label}: repeat")
            )
            continue
        seen.add(attachment.sha256)
        media_type = attachment.sniffed_type or attachment.declared_type
        trace.append(
            TraceStep(
                step="attachment", decision="kept", detail=f"{label}: content is {media_type}"
            )
        )
        kept.append(
            StoredAttachment(
                ref=AttachmentRef(
                    filename=attachment.filename,
                    media_type=media_type,
                    size=attachment.size,
                    sha256=attachment.sha256,
                ),
                payload=attachment.payload,
                inline=attachment.inline,
            )
        )
    return tuple(kept)


def _attachment_label(attachment: Attachment) -> str:
    name = attachment.filename or "(no name)"
    return f"{name!r} declared {attachment.declared_type}, {attachment.size} bytes"


def _refusal(
    attachment: Attachment,
    allowed: frozenset[str] | None,
    max_size: int | None,
    keep_inline: bool,
) -> str | None:
    if attachment.inline and not keep_inline:
        return "inline parts are not kept"
    if allowed is not None and attachment.sniffed_type not in allowed:
        found = attachment.sniffed_type or "unknown content"
        return f"content is {found}, not an allowed type"
    if max_size is not None and attachment.size > max_size:
        return f"larger than {max_size} bytes"
    return None


def _party(
    analysis: Analysis,
    facts: Facts,
    settings: ImportSettings,
    trace: list[TraceStep],
    *,
    ticket: TicketRecord | None = None,
) -> Party:
    mail = analysis.mail
    author = mail.from_address or mail.sender
    if author is None or not author.addr_spec:
        trace.append(
            TraceStep(
                step="sender",
                decision="default contact",
                detail=f"no sender address; filed under {settings.default_contact}",
            )
        )
        return Party(contact=settings.default_contact, address=None)
    spec = author.addr_spec
    if (
        ticket is not None
        and ticket.reporter
        and ticket.reporter_address
        and address_key(ticket.reporter_address) == author.key
    ):
        trace.append(
            TraceStep(step="sender", decision="reporter", detail=f"{spec} reported the ticket")
        )
        return Party(contact=ticket.reporter, address=spec, name=author.name)
    if facts.sender_contact is not None:
        trace.append(
            TraceStep(
                step="sender", decision="known contact", detail=f"{spec} is {facts.sender_contact}"
            )
        )
        return Party(contact=facts.sender_contact, address=spec, name=author.name)
    if settings.unknown_sender.value == "create_contact":
        # A malformed address never becomes a contact (syntax only: email-validator, no DNS).
        from helpmail.desk.matching import check_addr_spec

        check = check_addr_spec(spec)
        if check.valid:
            trace.append(
                TraceStep(
                    step="sender", decision="new contact", detail=f"{spec} is unknown; new contact"
                )
            )
            return Party(contact=None, address=spec, name=author.name, create_contact=True)
        why = f"not a valid address ({check.problem})"
    else:
        why = "unknown"
    trace.append(
        TraceStep(
            step="sender",
            decision="default contact",
            detail=f"{spec} is {why}; filed under {settings.default_contact}",
        )
    )
    return Party(contact=settings.default_contact, address=spec, name=author.name)


def _ref_facts(facts: Facts) -> RefFacts:
    return RefFacts(
        tickets=facts.tickets,
        by_number=facts.by_number,
        messages=facts.messages,
        sender_is_contact=facts.sender_contact is not None,
        sender_contact=facts.sender_contact,
    )


def _ref_step(ref: TicketRef) -> list[TraceStep]:
    steps = [
        TraceStep(
            step="ticket_ref",
            decision=ref.evidence.value if ref.evidence is not None else "none",
            detail=ref.detail,
        )
    ]
    steps.extend(TraceStep(step="ticket_ref", decision="not followed", detail=n) for n in ref.notes)
    return steps


def _participants(mail: InboundMail, settings: ImportSettings) -> tuple[str, ...]:
    own = {address_key(a) for a in settings.own_addresses}
    keys: dict[str, None] = {}
    author = mail.from_address or mail.sender
    if author is not None and author.addr_spec:
        keys[author.key] = None
    for address in (*mail.to, *mail.cc):
        if address.addr_spec and "@" in address.addr_spec and address.key not in own:
            keys.setdefault(address.key, None)
    return tuple(keys)


def _support_address(mail: InboundMail, settings: ImportSettings) -> str | None:
    own = {address_key(a): a for a in settings.own_addresses}
    for address in mail.recipients():
        if address.key in own:
            return own[address.key]
    return None


def _rule_contact(party: Party, facts: Facts, trace: list[TraceStep]) -> Party:
    """A scanner rule's ``create_contact`` action: the sender becomes a contact if it is none yet
    (the store creates it in the same commit and files the mail under it, which links it to the
    ticket); a known sender stays as it is. A malformed address never becomes a contact."""
    from helpmail.desk.matching import check_addr_spec

    if facts.sender_contact is not None or party.create_contact:
        why = "exists" if facts.sender_contact is not None else "is created"
        trace.append(TraceStep(step="contact", decision="kept", detail=f"the contact {why}"))
        return party
    if not party.address or not check_addr_spec(party.address).valid:
        trace.append(
            TraceStep(
                step="contact",
                decision="not created",
                detail=f"{party.address or 'no address'} is not a valid address",
            )
        )
        return party
    trace.append(
        TraceStep(
            step="contact",
            decision="created",
            detail=f"rule: {party.address} becomes a contact, linked to the ticket",
        )
    )
    return Party(contact=None, address=party.address, name=party.name, create_contact=True)


def _desk_steps(
    analysis: Analysis, facts: Facts, desk: DeskSettings, *, opens_ticket: bool
) -> DeskDecision:
    from helpmail.desk.review import SUSPENDED_SOURCE
    from helpmail.desk.steps import desk_steps

    return desk_steps(
        analysis.mail,
        desk,
        sender_contact=facts.sender_contact,
        opens_ticket=opens_ticket,
        spam=facts.spam,
        accepted_by_agent=analysis.ref.source == SUSPENDED_SOURCE,
    )


def _desk_informant(steps: DeskDecision, ticket: TicketRecord, trace: list[TraceStep]) -> Party:
    """The writer of a follow-up under the desk's contact rules: any address of the reporter's
    contact is the reporter (:func:`helpmail.contacts.follow_up_sender`)."""
    from helpmail.contacts import FollowUpSenderKind, TicketParties, follow_up_sender
    from helpmail.desk.trace import trace_step

    party = steps.party()
    if steps.sender is None:
        return party
    relation = follow_up_sender(steps.sender, TicketParties.of_ticket(ticket))
    trace.append(trace_step(relation))
    if relation.kind in (FollowUpSenderKind.REPORTER, FollowUpSenderKind.REPORTER_OTHER_ADDRESS):
        return Party(
            contact=ticket.reporter or party.contact, address=party.address, name=party.name
        )
    return party


def decide(
    analysis: Analysis,
    facts: Facts,
    settings: ImportSettings,
    now: dt.datetime,
    *,
    arrival: dt.datetime | None = None,
    extract_reply: ExtractReply | None = None,
    rules: RulesHook | None = None,
    release_quarantine: str | None = None,
    desk: DeskSettings | None = None,
) -> Outcome:
    """Decide what ``analysis.mail`` becomes, given what the store knows (``facts``).

    ``now`` is the import time; ``arrival`` the time the mail reached the mailbox (the reported
    time of a new ticket; falls back to the Date header, then ``now``). ``rules`` is the scanner
    rules hook (``RuleInput -> Evaluation``); its plan may quarantine the mail, set ticket fields
    and replace the mailbox actions. ``release_quarantine`` names the quarantine entry this run
    reprocesses (removed in the same commit). ``desk`` turns on the desk steps
    (:func:`helpmail.desk.steps.desk_steps`: support address, sender, spam, admission) after the
    ticket reference; without it the pipeline behaves as before they existed.
    """
    mail = analysis.mail
    key = analysis.key
    trace = list(analysis.trace)
    kind = analysis.kind
    after = settings.after_import

    def finish(
        outcome: OutcomeKind,
        command: StoreCommand | None = None,
        *,
        ticket: TicketRecord | None = None,
        ticket_id: str | None = None,
        actions: tuple[MailboxAction, ...] = after,
    ) -> Outcome:
        commit = ImportCommit(
            key=key,
            outcome=outcome,
            command=command,
            ticket_id=ticket_id if ticket_id is not None else (ticket.id if ticket else None),
            at=now,
            release_quarantine=release_quarantine,
        )
        return Outcome(
            kind=outcome,
            key=key,
            commit=commit,
            mailbox_actions=actions,
            trace=tuple(trace),
            ticket=ticket,
            mail_kind=kind,
            bounce=analysis.bounce,
        )

    # Position already seen (normally handled before parsing, see position_outcome).
    early = position_outcome(
        analysis.ref, imported=facts.already_imported, quarantined=None, settings=settings
    )
    if early is not None:
        return attrs.evolve(early, trace=(*trace, *early.trace), mail_kind=kind)

    # The same mail from another position: one ticket, this copy recorded as a duplicate.
    same = facts.same_mail
    if same is not None and same.outcome in NOT_FILED:
        same = None  # a suspension record does not stand for the mail (stores skip it too)
    if same is not None and same.key.ref != key.ref:
        by = "Message-ID and content digest" if key.message_id else "content digest (no Message-ID)"
        where = f" on ticket {same.ticket_id}" if same.ticket_id else ""
        trace.append(
            TraceStep(
                step="dedupe",
                decision="duplicate",
                detail=f"same {by} as {same.key.ref} ({same.outcome}{where}); recorded, not filed",
            )
        )
        return finish(OutcomeKind.DUPLICATE, ticket_id=same.ticket_id)
    if key.message_id:
        detail = f"Message-ID <{key.message_id}> with this content not seen before"
    else:
        detail = "no Message-ID; content digest not seen before"
    trace.append(TraceStep(step="dedupe", decision="new", detail=detail))

    # helpmail's own mail coming back: dropped, recorded so a rerun skips it.
    if kind == "own_loop":
        trace.append(TraceStep(step="action", decision="dropped", detail="own mail (loop)"))
        return finish(OutcomeKind.DROPPED)

    automated = kind != "human"
    sender_key = analysis.lookups.sender_key
    policy = settings.subject_match
    if kind in REPORT_KINDS:
        # Bounces never come from someone on the ticket: the returned subject's tag is evidence.
        policy = SubjectMatchPolicy.ACCEPT
    ref_facts = _ref_facts(facts)
    ticket_ref = resolve(analysis.candidates, ref_facts, sender_key=sender_key, policy=policy)
    bounce = analysis.bounce
    if bounce is not None and bounce.original_message_id:
        original = facts.messages.get(bounce.original_message_id)
        if original is not None and original.ticket_id in facts.tickets:
            bounced = facts.tickets[original.ticket_id]
            ticket_ref = TicketRef(
                ticket=bounced,
                evidence=RefEvidence.BOUNCED_MESSAGE_ID,
                detail=f"ticket {bounced.number}: the bounced mail <{bounce.original_message_id}>"
                f" is stored on it",
                parent=original,
            )
    trace.extend(_ref_step(ticket_ref))
    ticket: TicketRecord | None = ticket_ref.ticket
    if ticket is None and kind not in REPORT_KINDS and analysis.rules is not None:
        # A scanner rule's ticket action: the number pattern, then the same subject.
        action = analysis.rules.plan.ticket
        if action is not None and (analysis.rule_number or analysis.lookups.subject):
            by_rule = resolve_by_rule(
                number=analysis.rule_number,
                subject=analysis.lookups.subject,
                facts=ref_facts,
                subject_tickets=facts.subject_tickets,
                sender_key=sender_key,
                policy=settings.subject_match,
            )
            trace.extend(_ref_step(by_rule))
            if by_rule.ticket is not None:
                ticket_ref = by_rule
                ticket = by_rule.ticket

    # The desk steps: own sender, support address, sender, spam, admission.
    steps: DeskDecision | None = None
    if desk is not None and kind not in REPORT_KINDS:
        steps = _desk_steps(analysis, facts, desk, opens_ticket=ticket is None)
        trace.extend(steps.trace())
        action = steps.action.value
        if action == "reject":
            why = (
                "own support address: never customer mail"
                if steps.own is not None
                else f"rejected ({steps.admission.reason if steps.admission else 'admission'})"
                "; recorded, never answered"
            )
            trace.append(TraceStep(step="action", decision="dropped", detail=why))
            return finish(OutcomeKind.DROPPED, actions=after)
        if action == "suspend":
            from helpmail.suspended import suspension_for

            assert steps.admission is not None
            support = steps.routing.support if steps.routing is not None else None
            suspension = suspension_for(
                mail,
                steps.admission,
                at=now,
                ref=analysis.ref,
                support_address=support.address if support is not None else None,
            )
            trace.append(
                TraceStep(
                    step="action",
                    decision="suspended",
                    detail=f"{steps.admission.reason}: held for an agent; never answered",
                )
            )
            return attrs.evolve(finish(OutcomeKind.SUSPENDED, actions=after), suspension=suspension)

    # Scanner rules (a seam: the rules engine plans, the pipeline applies).
    fields: tuple[tuple[str, str], ...] = ()
    create_contact: Any = None
    if rules is not None:
        if ticket is None and analysis.rules is not None:
            evaluation = analysis.rules  # the same input: evaluated once, in analyse
        else:
            evaluation = _evaluate_rules(
                rules,
                mail,
                analysis_ref=analysis.ref,
                kind=kind,
                ticket=ticket.number if ticket is not None else None,
            )
        plan = evaluation.plan
        rendered = evaluation.trace.render().replace("\n", "; ")
        trace.append(
            TraceStep(
                step="rules",
                decision=", ".join(plan.matched_rules) or "no rule matched",
                detail=rendered,
            )
        )
        if plan.quarantine is not None:
            return quarantine_outcome(key, f"rules: {plan.quarantine.describe()}", trace)
        fields = tuple(plan.fields().items())
        create_contact = plan.contact
        planned = plan.mailbox_actions()
        if planned:
            after = tuple(planned)

    if kind in REPORT_KINDS:
        if ticket is None or kind == "delivery_report":
            why = "tied to no ticket" if ticket is None else "a delivery report needs no action"
            trace.append(TraceStep(step="action", decision="dropped", detail=f"{kind}: {why}"))
            return finish(OutcomeKind.DROPPED, ticket=ticket, actions=after)
        addresses: tuple[str, ...] = ()
        reason = "complaint" if kind == "complaint" else "unknown"
        if bounce is not None:
            addresses = tuple(r.address for r in bounce.recipients)
            if bounce.recipients and kind == "bounce":
                reason = str(bounce.recipients[0].reason)
        author = mail.from_address
        command: StoreCommand = AttachBounce(
            ticket_id=ticket.id,
            at=now,
            addresses=addresses,
            reason=reason,
            message_id=mail.message_id,
            text=mail.text[:4000],
            sender=author.addr_spec if author else None,
            hard=bool(bounce is not None and any(r.hard for r in bounce.recipients)),
            original_message_id=bounce.original_message_id if bounce is not None else None,
        )
        trace.append(
            TraceStep(
                step="action",
                decision="bounce attached",
                detail=f"ticket {ticket.number}: {', '.join(addresses) or 'no recipient'}"
                f" ({reason}); never answered",
            )
        )
        return finish(OutcomeKind.BOUNCE_ATTACHED, command, ticket=ticket, actions=after)

    origin = Origin.AUTOMATED_MAIL if automated else Origin.CUSTOMER
    if ticket is not None:
        if steps is not None:
            informant = _desk_informant(steps, ticket, trace)
        else:
            informant = _party(analysis, facts, settings, trace, ticket=ticket)
        if create_contact is not None:
            informant = _rule_contact(informant, facts, trace)
        parent = ticket_ref.parent
        parent_text = parent.text if parent is not None and parent.kind == "outbound" else None
        reply = (extract_reply or default_extract_reply)(mail, html=mail.html, parent=parent_text)
        text = reply.text
        method = str(getattr(reply.method, "value", reply.method))
        trace.append(
            TraceStep(
                step="reply",
                decision=method,
                detail=f"{len(text)} of {len(mail.text)} characters kept"
                + (" (parent text known)" if parent_text is not None else ""),
            )
        )
        new_status = None if automated else settings.follow_up_status
        command = AddFollowUp(
            ticket_id=ticket.id,
            text=text,
            informant=informant,
            at=arrival or mail.date or now,
            new_status=new_status,
            message_id=mail.message_id,
            reply_method=method,
            origin=origin,
            attachments=_attachments(mail, settings, trace),
            fields=fields,
        )
        extra = " as automated mail (no automatic answer, status unchanged)" if automated else ""
        status = f"; status -> {new_status}" if new_status else ""
        trace.append(
            TraceStep(
                step="action",
                decision="follow-up",
                detail=f"ticket {ticket.number}{extra}{status}",
            )
        )
        return finish(OutcomeKind.FOLLOW_UP, command, ticket=ticket, actions=after)

    if automated and kind not in settings.ticket_for_unmatched:
        trace.append(
            TraceStep(
                step="action",
                decision="dropped",
                detail=f"{kind} mail tied to no ticket; recorded, no ticket opened",
            )
        )
        return finish(OutcomeKind.DROPPED, actions=after)

    queue = settings.queue
    support_address = _support_address(mail, settings)
    if steps is not None:
        # The sender step already traced who this is.
        reporter = steps.party()
        support = steps.routing.support if steps.routing is not None else None
        if support is not None:
            queue = support.queue or settings.queue
            support_address = support.address
        fields = (*fields, *(f for f in steps.ticket_fields() if f[0] not in dict(fields)))
    else:
        reporter = _party(analysis, facts, settings, trace)
    if create_contact is not None:
        reporter = _rule_contact(reporter, facts, trace)
    reported_at = arrival or mail.date or now
    # A ticket tag in the subject belongs to another ticket (or to none we know): the new
    # ticket's mails carry their own tag, so the title keeps only the words.
    untagged = settings.ticket_tag.regex().sub(" ", mail.subject)
    title = " ".join(untagged.split()) or settings.untitled
    command = CreateTicket(
        title=title,
        text=mail.text,
        status=settings.status,
        reporter=reporter,
        created_by=settings.default_employee,
        reported_at=reported_at,
        queue=queue,
        manager=settings.manager,
        assignee=settings.assignee,
        origin=origin,
        message_id=mail.message_id,
        attachments=_attachments(mail, settings, trace),
        participants=_participants(mail, settings),
        support_address=support_address,
        history=settings.history_text,
        fields=fields,
        number_format=settings.number_format,
    )
    extra = " as automated mail (no automatic answer)" if automated else ""
    trace.append(
        TraceStep(
            step="action",
            decision="new ticket",
            detail=f"{title!r}, status {settings.status!r}, created by "
            f"{settings.default_employee}{extra}",
        )
    )
    return finish(OutcomeKind.CREATED, command, actions=after)
