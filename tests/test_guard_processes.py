"""The delivery guard's caps and bounce merges hold across processes sharing one SQLite file.

Several processes (``multiprocessing``, ``spawn``: fresh interpreters, as separate ``helpmail
poll`` runs are) open :class:`~helpmail.adapters.sqlite_guard.SqliteGuardState` on one file,
wait at a barrier, and then all at once admit automatic mails (each at the real clock's time)
or record bounces for one address. :meth:`DeliveryGuard.admit` checks and counts in one
``BEGIN IMMEDIATE`` transaction, so exactly the cap is admitted in total; a bounce is merged into
the stored block in one transaction, so every bounce is counted and the longest block wins.
The thread-based checks of the same rules are in :mod:`helpmail.testing.guard_conformance`.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
from collections.abc import Callable
from pathlib import Path

import pytest

import guard_workers
from helpmail.adapters.sqlite_guard import SqliteGuardState
from helpmail.guard import Direction

#: processes, and attempts (mails or bounces) per process
PROCESSES = 4
ATTEMPTS = 30


def run_processes(target: Callable[..., None], job: guard_workers.Job) -> list[int]:
    """Start :data:`PROCESSES` spawned processes running ``target(job, index, barrier,
    results)``; the number each reports, in process order. A failure in a child fails the test
    with the child's traceback."""
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(PROCESSES)
    results = context.Queue()
    processes = [
        context.Process(target=target, args=(job, index, barrier, results))
        for index in range(PROCESSES)
    ]
    for process in processes:
        process.start()
    try:
        reports = [results.get(timeout=180) for _ in processes]
    finally:
        for process in processes:
            process.join(timeout=60)
            if process.is_alive():  # pragma: no cover - only when a child hangs
                process.kill()
                process.join()
        results.close()
        results.join_thread()
    errors = [error for _, _, error in reports if error]
    assert not errors, errors[0]
    assert all(p.exitcode == 0 for p in processes)
    return [count for _, count, _ in sorted(reports)]


@pytest.mark.parametrize(("race", "cap"), [("address", 40), ("ticket", 10)])
def test_processes_admit_exactly_the_cap(tmp_path: Path, race: str, cap: int) -> None:
    """4 processes x 30 attempts = 120 automatic mails to one address (cap 40 a day) or on one
    ticket (cap 10 in 10 minutes): exactly the cap is admitted, and logged."""
    path = str(tmp_path / "desk.sqlite3")
    SqliteGuardState(path).close()  # the schema exists before the race
    job = guard_workers.Job(path=path, attempts=ATTEMPTS, race=race, cap=cap)
    admitted = run_processes(guard_workers.admit_mails, job)
    assert sum(admitted) == cap
    with SqliteGuardState(path) as state:
        since = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
        if race == "address":
            logged = state.mail_times(since=since, address=guard_workers.ADDRESS)
        else:
            logged = state.mail_times(since=since, ticket=guard_workers.TICKET)
        assert len(logged) == cap
        assert len(state.mail_times(since=since, direction=Direction.OUT)) == cap


@pytest.mark.parametrize("hard_one", [False, True], ids=["soft", "one-hard"])
def test_processes_merge_every_bounce(tmp_path: Path, hard_one: bool) -> None:
    """4 processes x 30 bounces for one address: the block counts 120 bounces and ends at the
    longest end (24 h, ``account_disabled``), or stays until cleared when one bounce was
    ``user_unknown``, whatever order the merges ran in."""
    path = str(tmp_path / "desk.sqlite3")
    SqliteGuardState(path).close()
    job = guard_workers.Job(path=path, attempts=ATTEMPTS, hard_one=hard_one)
    run_processes(guard_workers.merge_bounces, job)
    with SqliteGuardState(path) as state:
        [block] = state.blocks()
    assert block.address == guard_workers.ADDRESS
    assert block.bounces == PROCESSES * ATTEMPTS
    if hard_one:
        assert block.blocked_until is None
    else:
        assert block.blocked_until == guard_workers.BOUNCED_AT + dt.timedelta(hours=24)
