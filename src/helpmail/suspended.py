"""The suspended queue: mail held back for an agent to accept or reject.

A mail the admission step suspends (blocked sender with strength ``suspend``, spam between the two
thresholds, a sender the desk policy does not let open tickets, an unusable sender address) is
kept here with its raw bytes and the reason, never lost and never answered. An agent then decides:

* **accept**: the mail is imported as a normal mail through the desk, with the same idempotency
  rules as any import (its import key is the key of the position it was read from, so accepting
  twice, or accepting after a crash half-way, imports it once). Admission is skipped for it: an
  agent has looked.
* **reject**: the mail is dropped with a trace entry. No reply is ever sent: a reply to spam or to
  a blocked sender confirms the address and can start a loop.

A decision is final. The transitions are a table (:data:`TRANSITIONS`): ``pending`` to
``accepted`` or ``rejected``; repeating the same decision is a no-op (so a retried command is
safe); the opposite decision after the fact is an error.

An entry is identified by the mail (Message-ID and content digest, the same pair the import uses
to recognise copies of one mail), so the two copies of a suspended mail sent to two support
addresses are one entry, and a rerun over the same mailbox does not suspend it twice.

:class:`SuspendedQueue` is the port; :class:`MemorySuspendedQueue` is the in-memory implementation
and :class:`helpmail.adapters.sqlite_suspended.SqliteSuspendedQueue` the SQLite one.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Sequence
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

import attrs

from helpmail.errors import HelpmailError

if TYPE_CHECKING:
    from helpmail.admission import Admission
    from helpmail.mail.model import InboundMail
    from helpmail.ports import MessageRef


class SuspendedState(StrEnum):
    """Where a suspended mail stands."""

    PENDING = "pending"
    ACCEPTED = "accepted"
    REJECTED = "rejected"


class SuspendedDecisionError(HelpmailError):
    """An accept or reject that the entry's state does not allow (or an unknown entry)."""


#: (state now, decision) -> state after. Missing pairs are refused. Same decision twice: no-op.
TRANSITIONS: dict[tuple[SuspendedState, SuspendedState], SuspendedState] = {
    (SuspendedState.PENDING, SuspendedState.ACCEPTED): SuspendedState.ACCEPTED,
    (SuspendedState.PENDING, SuspendedState.REJECTED): SuspendedState.REJECTED,
    (SuspendedState.ACCEPTED, SuspendedState.ACCEPTED): SuspendedState.ACCEPTED,
    (SuspendedState.REJECTED, SuspendedState.REJECTED): SuspendedState.REJECTED,
}


@attrs.frozen(kw_only=True)
class Suspension:
    """A mail to put in the suspended queue (what the pipeline's ``suspend`` outcome carries).

    ``reason`` is the admission check that suspended it (``blocklist``, ``spam``, ``policy``,
    ``sender``) and ``detail`` its readable explanation. ``source`` is the position it was read
    from (``str(MessageRef)``), kept so accepting it imports under the same key.
    """

    message_id: str | None
    content_digest: str
    raw: bytes = attrs.field(repr=False)
    reason: str
    detail: str
    sender: str | None = None
    subject: str = ""
    support_address: str | None = None
    source: str | None = None
    at: dt.datetime


@attrs.frozen(kw_only=True)
class SuspendedMail:
    """One entry of the suspended queue."""

    id: str
    suspension: Suspension
    state: SuspendedState = SuspendedState.PENDING
    decided_at: dt.datetime | None = None
    decided_by: str | None = None
    note: str = ""

    @property
    def raw(self) -> bytes:
        return self.suspension.raw

    @property
    def reason(self) -> str:
        return self.suspension.reason

    def line(self) -> str:
        """One line for listings: id, state, reason, sender, subject."""
        s = self.suspension
        return (
            f"{self.id}  {self.state.value:<8}  {s.reason:<9}  {s.sender or '(no sender)'}  "
            f"{s.subject!r}  — {s.detail}"
        )


@attrs.frozen(kw_only=True)
class Decision:
    """An agent's decision on one entry."""

    state: SuspendedState
    at: dt.datetime
    by: str | None = None
    note: str = ""


@attrs.frozen(kw_only=True)
class Transition:
    """What a decision does to an entry: the state after, and whether anything changes."""

    before: SuspendedState
    after: SuspendedState

    @property
    def changes(self) -> bool:
        return self.before is not self.after


def plan_decision(entry: SuspendedMail, decision: SuspendedState) -> Transition:
    """The transition ``decision`` makes on ``entry``; :class:`SuspendedDecisionError` if none."""
    after = TRANSITIONS.get((entry.state, decision))
    if after is None:
        raise SuspendedDecisionError(
            f"suspended mail {entry.id} is already {entry.state.value}; cannot {verb(decision)} it"
        )
    return Transition(before=entry.state, after=after)


def verb(state: SuspendedState) -> str:
    return {
        SuspendedState.ACCEPTED: "accept",
        SuspendedState.REJECTED: "reject",
        SuspendedState.PENDING: "suspend",
    }[state]


def suspension_for(
    mail: InboundMail,
    admission: Admission,
    *,
    at: dt.datetime,
    ref: MessageRef | None = None,
    support_address: str | None = None,
) -> Suspension:
    """The :class:`Suspension` for a mail the admission step suspended."""
    from helpmail.tickets.importing import content_digest

    author = mail.from_address or mail.sender
    return Suspension(
        message_id=mail.message_id,
        content_digest=content_digest(mail),
        raw=mail.raw,
        reason=admission.reason,
        detail=admission.detail,
        sender=author.addr_spec if author is not None else None,
        subject=mail.subject,
        support_address=support_address,
        source=str(ref) if ref is not None else None,
        at=at,
    )


class SuspendedQueue(Protocol):
    """The port: where suspended mail is kept until an agent decides.

    Run :func:`helpmail.desk.conformance.check_suspended_queue` against an implementation.
    """

    def suspend(self, suspension: Suspension) -> SuspendedMail:
        """Add a mail; if the same mail (Message-ID and content digest) is already in the queue,
        return that entry unchanged (idempotent)."""
        ...

    def get(self, suspended_id: str) -> SuspendedMail | None:
        """One entry by id."""
        ...

    def entries(self, state: SuspendedState | None = None) -> Sequence[SuspendedMail]:
        """Entries (in one state, or all), oldest first."""
        ...

    def decide(self, suspended_id: str, decision: Decision) -> SuspendedMail:
        """Apply an agent's decision atomically (compare-and-set on the state, per
        :data:`TRANSITIONS`); raise :class:`SuspendedDecisionError` when it is not allowed or the
        entry does not exist. Returns the entry after the decision."""
        ...

    def close(self) -> None:
        """Release resources."""
        ...


class MemorySuspendedQueue:
    """An in-memory :class:`SuspendedQueue` (tests, ``helpmail explain``, small hosts)."""

    def __init__(self) -> None:
        self._entries: dict[str, SuspendedMail] = {}
        self._by_mail: dict[tuple[str | None, str], str] = {}
        self._ids = itertools.count(1)

    def suspend(self, suspension: Suspension) -> SuspendedMail:
        mail_key = (suspension.message_id, suspension.content_digest)
        existing = self._by_mail.get(mail_key)
        if existing is not None:
            return self._entries[existing]
        entry = SuspendedMail(id=f"s{next(self._ids)}", suspension=suspension)
        self._entries[entry.id] = entry
        self._by_mail[mail_key] = entry.id
        return entry

    def get(self, suspended_id: str) -> SuspendedMail | None:
        return self._entries.get(suspended_id)

    def entries(self, state: SuspendedState | None = None) -> Sequence[SuspendedMail]:
        return [e for e in self._entries.values() if state is None or e.state is state]

    def decide(self, suspended_id: str, decision: Decision) -> SuspendedMail:
        entry = self._entries.get(suspended_id)
        if entry is None:
            raise SuspendedDecisionError(f"no suspended mail {suspended_id!r}")
        if not plan_decision(entry, decision.state).changes:
            return entry
        entry = attrs.evolve(
            entry,
            state=decision.state,
            decided_at=decision.at,
            decided_by=decision.by,
            note=decision.note,
        )
        self._entries[suspended_id] = entry
        return entry

    def close(self) -> None:
        pass


__all__ = [
    "TRANSITIONS",
    "Decision",
    "MemorySuspendedQueue",
    "SuspendedDecisionError",
    "SuspendedMail",
    "SuspendedQueue",
    "SuspendedState",
    "Suspension",
    "Transition",
    "plan_decision",
    "suspension_for",
    "verb",
]
