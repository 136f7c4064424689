"""A conformance check for :class:`~helpmail.suspended.SuspendedQueue` implementations.

A host that keeps suspended mail in its own database runs :func:`check_suspended_queue` against
its implementation (the shipped memory and SQLite queues pass it). It checks the rules the rest of
helpmail relies on: adding the same mail twice gives one entry, entries keep their raw bytes and
reason, a decision follows :data:`helpmail.suspended.TRANSITIONS` (same decision again is a
no-op, the opposite one is refused), and listing by state works.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from helpmail.suspended import (
    Decision,
    SuspendedDecisionError,
    SuspendedQueue,
    SuspendedState,
    Suspension,
)

_AT = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)


def _suspension(n: int, *, message_id: str | None = None) -> Suspension:
    return Suspension(
        message_id=message_id if message_id is not None else f"m{n}@sender.example",
        content_digest=f"{n:064x}",
        raw=f"From: s{n}@sender.example\r\nSubject: mail {n}\r\n\r\nbody {n}\r\n".encode(),
        reason="spam",
        detail=f"spamassassin: score {n}",
        sender=f"s{n}@sender.example",
        subject=f"mail {n}",
        support_address="support@desk.example",
        source=f"maildir:/x/INBOX/{n}",
        at=_AT,
    )


def _fail(problem: str) -> None:
    raise AssertionError(f"SuspendedQueue conformance: {problem}")


def check_suspended_queue(make: Callable[[], SuspendedQueue]) -> None:
    """Run every check against a fresh queue from ``make``; ``AssertionError`` on a failure."""
    queue = make()
    try:
        first = queue.suspend(_suspension(1))
        again = queue.suspend(_suspension(1))
        if again.id != first.id:
            _fail("the same mail suspended twice must give one entry")
        if first.raw != _suspension(1).raw or first.reason != "spam":
            _fail("an entry must keep its raw bytes and reason")
        if first.state is not SuspendedState.PENDING:
            _fail("a new entry must be pending")
        no_id = queue.suspend(_suspension(2, message_id=""))
        if no_id.id == first.id:
            _fail("different mails must be different entries")
        got = queue.get(first.id)
        if got is None or got.suspension != first.suspension:
            _fail("get() must return the entry as suspended")
        if queue.get("no-such-entry") is not None:
            _fail("get() of an unknown id must be None")
        accepted = queue.decide(
            first.id, Decision(state=SuspendedState.ACCEPTED, at=_AT, by="agent", note="ticket 1")
        )
        if accepted.state is not SuspendedState.ACCEPTED or accepted.decided_by != "agent":
            _fail("decide(accepted) must record the state and the agent")
        if accepted.decided_at != _AT or accepted.note != "ticket 1":
            _fail("decide() must record the time and the note")
        repeat = queue.decide(first.id, Decision(state=SuspendedState.ACCEPTED, at=_AT, by="x"))
        if repeat.decided_by != "agent":
            _fail("the same decision again must change nothing")
        try:
            queue.decide(first.id, Decision(state=SuspendedState.REJECTED, at=_AT))
        except SuspendedDecisionError:
            pass
        else:
            _fail("rejecting an accepted mail must raise SuspendedDecisionError")
        try:
            queue.decide("no-such-entry", Decision(state=SuspendedState.REJECTED, at=_AT))
        except SuspendedDecisionError:
            pass
        else:
            _fail("deciding on an unknown id must raise SuspendedDecisionError")
        if queue.suspend(_suspension(1)).state is not SuspendedState.ACCEPTED:
            _fail("suspending a decided mail again must return the decided entry unchanged")
        pending = [e.id for e in queue.entries(SuspendedState.PENDING)]
        if pending != [no_id.id]:
            _fail(f"entries(pending) must list only pending entries, got {pending}")
        if [e.id for e in queue.entries()] != [first.id, no_id.id]:
            _fail("entries() must list every entry, oldest first")
    finally:
        queue.close()


__all__ = ["check_suspended_queue"]
