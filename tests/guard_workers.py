"""Worker processes for ``tests/test_guard_processes.py``: each opens the delivery guard's SQLite
state on a shared file and admits mails or records bounces, as separate ``helpmail poll`` or
notify processes sharing the desk's database would.

They live in a module of their own because ``multiprocessing`` with the ``spawn`` start method
imports the target function by module name in the child, and pytest's ``importlib`` import mode
gives test modules no importable name (``tests/conftest.py`` puts this folder on ``sys.path``,
and a spawned child inherits the parent's ``sys.path``).
"""

from __future__ import annotations

import datetime as dt
import traceback
from typing import Any

import attrs

from helpmail.adapters.sqlite_guard import SqliteGuardState
from helpmail.bounces.model import BounceReason
from helpmail.guard import Cap, DeliveryGuard, GuardSettings
from helpmail.testing.guard_conformance import bounce

#: every process sends to this address (the address-cap race) ...
ADDRESS = "customer@example.org"
#: ... or on this ticket (the ticket-cap race)
TICKET = "T-shared"
#: the fixed time of the bounce merges, so "the longest block" is known in advance
BOUNCED_AT = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)
#: the soft reasons the bounce workers cycle through (3 h, 24 h, 1 h): the longest is 24 h
SOFT_REASONS = (BounceReason.MAILBOX_FULL, BounceReason.ACCOUNT_DISABLED, BounceReason.TRANSIENT)


@attrs.frozen(kw_only=True)
class Job:
    """What every worker process of one race does (picklable, for ``spawn``)."""

    path: str
    """The SQLite file of the guard state."""
    attempts: int
    """Mails (or bounces) per process."""
    race: str = "address"
    """``address``: every mail to :data:`ADDRESS`; ``ticket``: every mail on :data:`TICKET`."""
    cap: int = 0
    hard_one: bool = False
    """For the bounce merges: process 0's middle bounce is ``user_unknown``."""


def settings_for(race: str, cap: int) -> GuardSettings:
    """``address``: one cap per address per day, no ticket caps; ``ticket``: one cap per ticket
    per 10 minutes, no address caps."""
    if race == "address":
        return GuardSettings(
            address_caps=(Cap(limit=cap, window=dt.timedelta(days=1)),), ticket_caps=()
        )
    return GuardSettings(
        address_caps=(), ticket_caps=(Cap(limit=cap, window=dt.timedelta(minutes=10)),)
    )


def admit_mails(job: Job, index: int, barrier: Any, results: Any) -> None:
    """Try ``job.attempts`` automatic mails through :meth:`DeliveryGuard.admit`, each at the real
    clock's time; put ``(index, admitted, error)`` on ``results``."""
    try:
        with SqliteGuardState(job.path) as state:
            guard = DeliveryGuard(state, settings_for(job.race, job.cap))
            barrier.wait(timeout=60)
            admitted = 0
            for attempt in range(job.attempts):
                now = dt.datetime.now(dt.UTC)
                if job.race == "address":
                    decision = guard.admit(ADDRESS, f"T{index}-{attempt}", now)
                else:
                    decision = guard.admit(f"p{index}.{attempt}@example.org", TICKET, now)
                if decision:
                    admitted += 1
        results.put((index, admitted, None))
    except BaseException:
        results.put((index, 0, traceback.format_exc()))


def check_then_record(job: Job, index: int, barrier: Any, results: Any) -> None:
    """The old way, :meth:`DeliveryGuard.check` then :meth:`DeliveryGuard.record_sent` as two
    steps, to an address (for the figure that shows the race; no test asserts on it)."""
    try:
        with SqliteGuardState(job.path) as state:
            guard = DeliveryGuard(state, settings_for("address", job.cap))
            barrier.wait(timeout=60)
            admitted = 0
            for attempt in range(job.attempts):
                now = dt.datetime.now(dt.UTC)
                if guard.check(ADDRESS, f"T{index}-{attempt}", now):
                    guard.record_sent(ADDRESS, f"T{index}-{attempt}", now)
                    admitted += 1
        results.put((index, admitted, None))
    except BaseException:
        results.put((index, 0, traceback.format_exc()))


def merge_bounces(job: Job, index: int, barrier: Any, results: Any) -> None:
    """Record ``job.attempts`` one-recipient bounces for :data:`ADDRESS` at :data:`BOUNCED_AT`,
    cycling through :data:`SOFT_REASONS`; with ``job.hard_one``, process 0's middle bounce is
    ``user_unknown``. Puts ``(index, attempts, error)`` on ``results``."""
    try:
        with SqliteGuardState(job.path) as state:
            guard = DeliveryGuard(state)
            barrier.wait(timeout=60)
            for attempt in range(job.attempts):
                reason = SOFT_REASONS[(index + attempt) % len(SOFT_REASONS)]
                if job.hard_one and index == 0 and attempt == job.attempts // 2:
                    reason = BounceReason.USER_UNKNOWN
                report = bounce(ADDRESS, reason, mid=f"b{index}.{attempt}@mta")
                guard.record_bounce(report, BOUNCED_AT)
        results.put((index, job.attempts, None))
    except BaseException:
        results.put((index, 0, traceback.format_exc()))
