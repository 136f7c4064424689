"""Accepting and rejecting suspended mail: the agent's side of the suspended queue.

This is service-layer code: it talks to the :class:`~helpmail.suspended.SuspendedQueue` port and
to an *importer* (the desk's import of one raw mail, :class:`Importer`), and keeps the order that
makes a decision safe to retry:

* **accept** = import first, then mark accepted. The mail is imported under a position of its own,
  :func:`accepted_ref` (``suspended:/accepted/<id>``), so the store's idempotency applies as to
  any import: a second accept, or a rerun after a crash between the import and the marking, finds
  the position already imported and only marks the entry. Accepting twice imports once.
* **reject** = mark rejected, with a trace line. Nothing is imported, nothing is sent.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Protocol

import attrs

from helpmail.ports import MessageRef
from helpmail.suspended import (
    Decision,
    SuspendedDecisionError,
    SuspendedMail,
    SuspendedQueue,
    SuspendedState,
    plan_decision,
)

if TYPE_CHECKING:
    from helpmail.service import Desk

#: ``MessageRef.source`` of mail imported from the suspended queue.
SUSPENDED_SOURCE = "suspended:"


def accepted_ref(entry: SuspendedMail) -> MessageRef:
    """The source position an accepted mail is imported under (stable per entry)."""
    return MessageRef(source=SUSPENDED_SOURCE, folder="accepted", uid=entry.id)


class Importer(Protocol):
    """The desk's import of one accepted mail (the service provides it).

    It must import ``entry.raw`` at position ``ref`` through the normal pipeline with admission
    skipped (``accepted_by_agent=True``), idempotently: a position already imported is not
    imported again. It returns a readable line of what became of the mail (``"created ticket
    42"``, ``"already imported"``).
    """

    def __call__(self, entry: SuspendedMail, ref: MessageRef) -> str: ...


def desk_importer(desk: Desk) -> Importer:
    """The :class:`Importer` for a :class:`helpmail.service.Desk`: ``Desk.process_raw`` at the
    accepted position (the desk's store skips a position it has already imported)."""

    def run(entry: SuspendedMail, ref: MessageRef) -> str:
        result = desk.process_raw(entry.raw, ref=ref, arrival=entry.suspension.at)
        return result.line()

    return run


@attrs.frozen(kw_only=True)
class ReviewResult:
    """What an accept or reject did (one trace entry, step ``suspended_queue``)."""

    entry: SuspendedMail
    changed: bool
    detail: str

    step = "suspended_queue"

    @property
    def decision(self) -> str:
        return self.entry.state.value


def _entry(queue: SuspendedQueue, suspended_id: str) -> SuspendedMail:
    entry = queue.get(suspended_id)
    if entry is None:
        raise SuspendedDecisionError(f"no suspended mail {suspended_id!r}")
    return entry


def accept(
    queue: SuspendedQueue,
    suspended_id: str,
    *,
    importer: Importer,
    now: dt.datetime,
    by: str | None = None,
) -> ReviewResult:
    """Accept a suspended mail: import it through the desk, then mark it accepted."""
    entry = _entry(queue, suspended_id)
    if not plan_decision(entry, SuspendedState.ACCEPTED).changes:
        return ReviewResult(
            entry=entry, changed=False, detail=f"{entry.id} was already accepted ({entry.note})"
        )
    outcome = importer(entry, accepted_ref(entry))
    decided = queue.decide(
        entry.id, Decision(state=SuspendedState.ACCEPTED, at=now, by=by, note=outcome)
    )
    who = f" by {by}" if by else ""
    return ReviewResult(entry=decided, changed=True, detail=f"{entry.id} accepted{who}: {outcome}")


def reject(
    queue: SuspendedQueue,
    suspended_id: str,
    *,
    now: dt.datetime,
    by: str | None = None,
    note: str = "",
) -> ReviewResult:
    """Reject a suspended mail: it is dropped; no reply is ever sent."""
    entry = _entry(queue, suspended_id)
    if not plan_decision(entry, SuspendedState.REJECTED).changes:
        return ReviewResult(entry=entry, changed=False, detail=f"{entry.id} was already rejected")
    decided = queue.decide(
        entry.id,
        Decision(state=SuspendedState.REJECTED, at=now, by=by, note=note or "rejected by agent"),
    )
    who = f" by {by}" if by else ""
    return ReviewResult(
        entry=decided,
        changed=True,
        detail=f"{entry.id} rejected{who}: dropped, never replied ({entry.reason})",
    )


__all__ = [
    "SUSPENDED_SOURCE",
    "Importer",
    "ReviewResult",
    "accept",
    "accepted_ref",
    "desk_importer",
    "reject",
]
