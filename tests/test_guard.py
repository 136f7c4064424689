"""The delivery guard: conformance of both state implementations, and the policy itself."""

from __future__ import annotations

import datetime as dt
from contextlib import closing
from pathlib import Path

import pytest

from helpmail.adapters.sqlite_guard import SqliteGuardState
from helpmail.bounces import BounceReason
from helpmail.bounces.reasons import REASONS
from helpmail.errors import StoreError
from helpmail.guard import (
    Allowed,
    Cap,
    DeliveryGuard,
    GuardSettings,
    GuardState,
    Held,
    HoldReason,
    MailRecord,
    MemoryGuardState,
)
from helpmail.testing.guard_conformance import (
    T0,
    GuardStateConformance,
    bounce,
    run_conformance,
)

HOUR = dt.timedelta(hours=1)
MINUTE = dt.timedelta(minutes=1)


class TestMemoryGuardState(GuardStateConformance):
    def make_state(self) -> GuardState:
        return MemoryGuardState()


class TestSqliteGuardState(GuardStateConformance):
    def make_state(self) -> GuardState:
        return SqliteGuardState(":memory:")


class TestSqliteFileGuardState(GuardStateConformance):
    """The SQLite state in a file, each thread of the concurrency checks on its own connection
    (as another process would be)."""

    @pytest.fixture(autouse=True)
    def _folder(self, tmp_path: Path) -> None:
        self.folder = tmp_path
        self.made = 0

    def make_state(self) -> GuardState:
        self.made += 1
        return SqliteGuardState(self.folder / f"guard{self.made}.db")

    def open_again(self, state: GuardState) -> GuardState:
        assert isinstance(state, SqliteGuardState)
        return SqliteGuardState(state.path)


def test_sqlite_file_state_conformance(tmp_path: Path) -> None:
    paths = iter(range(100))
    run_conformance(lambda: SqliteGuardState(tmp_path / f"guard{next(paths)}.db"))


def test_run_conformance_with_reopen(tmp_path: Path) -> None:
    paths = iter(range(100))

    def reopen(state: GuardState) -> GuardState:
        assert isinstance(state, SqliteGuardState)
        return SqliteGuardState(state.path)

    run_conformance(lambda: SqliteGuardState(tmp_path / f"g{next(paths)}.db"), reopen)


def test_run_conformance_helper() -> None:
    run_conformance(MemoryGuardState)


def test_states_satisfy_the_protocol(tmp_path: Path) -> None:
    assert isinstance(MemoryGuardState(), GuardState)
    with SqliteGuardState(tmp_path / "g.db") as state:
        assert isinstance(state, GuardState)


def test_sqlite_state_survives_reopen_and_shares_a_file(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "desk.db"
    with closing(sqlite3.connect(path)) as other, other:  # another component's table, same file
        other.execute("CREATE TABLE tickets (id INTEGER PRIMARY KEY, title TEXT)")
        other.execute("INSERT INTO tickets (title) VALUES ('hello')")
    with SqliteGuardState(path) as state:
        guard = DeliveryGuard(state)
        guard.record_bounce(bounce("a@example.org", BounceReason.USER_UNKNOWN, hard=True), T0)
    with SqliteGuardState(path) as state:
        held = DeliveryGuard(state).check("a@example.org", "T1", T0 + 1000 * HOUR)
    assert isinstance(held, Held)
    assert held.until is None
    with closing(sqlite3.connect(path)) as other:
        assert other.execute("SELECT title FROM tickets").fetchall() == [("hello",)]
        tables = {r[0] for r in other.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert {"guard_schema", "guard_block", "guard_ticket", "guard_mail"} <= tables
        assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def _log_twice_then_fail(state: SqliteGuardState) -> None:
    with state.transaction():
        state.add_mail(MailRecord(ticket="T1", at=T0, address="a@example.org"))
        with state.transaction():  # an inner unit joins the outer one
            state.add_mail(MailRecord(ticket="T1", at=T0, address="a@example.org"))
        raise KeyError("boom")


def test_sqlite_transaction_rolls_back_on_exception(tmp_path: Path) -> None:
    with SqliteGuardState(tmp_path / "g.db") as state:
        with pytest.raises(KeyError):
            _log_twice_then_fail(state)
        assert state.mail_times(since=T0) == []
        with state.transaction():
            state.add_mail(MailRecord(ticket="T1", at=T0, address="a@example.org"))
        assert len(state.mail_times(since=T0)) == 1


def test_sqlite_waits_for_another_process_lock_then_gives_up(tmp_path: Path) -> None:
    """Another connection holds the write lock (as another process in its transaction would):
    admit waits for the busy timeout and then fails with StoreError, nothing half-done."""
    import sqlite3
    import time

    path = tmp_path / "desk.db"
    with SqliteGuardState(path, busy_timeout=0.2) as state:
        guard = DeliveryGuard(state)
        with closing(sqlite3.connect(path, isolation_level=None)) as other:
            other.execute("BEGIN IMMEDIATE")
            started = time.monotonic()
            with pytest.raises(StoreError, match="cannot start a guard transaction"):
                guard.admit("a@example.org", "T1", T0)
            assert time.monotonic() - started >= 0.15
            other.execute("ROLLBACK")
        assert isinstance(guard.admit("a@example.org", "T1", T0), Allowed)
        assert len(state.mail_times(since=T0)) == 1


def test_sqlite_newer_schema_is_refused(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "g.db"
    SqliteGuardState(path).close()
    with closing(sqlite3.connect(path)) as db, db:
        db.execute("UPDATE guard_schema SET version = 99")
    with pytest.raises(StoreError, match="schema version 99"):
        SqliteGuardState(path)


def test_naive_times_are_refused() -> None:
    guard = DeliveryGuard()
    with pytest.raises(ValueError, match="timezone-aware"):
        guard.check("a@example.org", None, dt.datetime(2026, 1, 1))


@pytest.mark.parametrize("reason", list(BounceReason))
def test_default_block_per_reason(reason: BounceReason) -> None:
    guard = DeliveryGuard()
    guard.record_bounce(bounce("a@example.org", reason, hard=REASONS[reason].hard), T0)
    policy = REASONS[reason]
    decision = guard.check("a@example.org", None, T0)
    if not policy.blocks:
        assert isinstance(decision, Allowed)
        return
    assert isinstance(decision, Held)
    if policy.block_for is None:
        assert decision.until is None
    else:
        assert decision.until == T0 + policy.block_for
        assert isinstance(guard.check("a@example.org", None, T0 + policy.block_for), Allowed)


def test_design_table_durations() -> None:
    hours = {
        r: (p.block_for.total_seconds() / 3600 if p.block_for else None) for r, p in REASONS.items()
    }
    assert hours[BounceReason.USER_UNKNOWN] is None
    assert REASONS[BounceReason.USER_UNKNOWN].hard
    assert hours[BounceReason.DOMAIN_UNKNOWN] is None
    assert hours[BounceReason.MAILBOX_FULL] == 3
    assert hours[BounceReason.RELAY_DENIED] == 3
    assert hours[BounceReason.ACCOUNT_DISABLED] == 24
    assert hours[BounceReason.TRANSIENT] == 1
    assert hours[BounceReason.SUPPRESSED] == 24
    assert not REASONS[BounceReason.DELAYED].blocks
    assert REASONS[BounceReason.REJECTED_POLICY].alert


def test_block_override_and_explain() -> None:
    settings = GuardSettings(block_for={BounceReason.MAILBOX_FULL: 6 * HOUR})
    guard = DeliveryGuard(settings=settings)
    (block,) = guard.record_bounce(bounce("a@example.org", BounceReason.MAILBOX_FULL), T0)
    assert block.blocked_until == T0 + 6 * HOUR
    text = block.explain()
    assert "mailbox_full" in text
    assert "b1@mta" in text
    assert "5.1.1" in text
    assert [b.address for b in guard.blocks(T0)] == ["a@example.org"]
    assert guard.blocks(T0 + 7 * HOUR) == []


def test_soft_blocks_extend_and_count() -> None:
    guard = DeliveryGuard()
    guard.record_bounce(bounce("a@example.org", BounceReason.MAILBOX_FULL), T0)
    guard.record_bounce(bounce("a@example.org", BounceReason.TRANSIENT, mid="b2@m"), T0 + HOUR)
    block = guard.block_for("a@example.org")
    assert block is not None
    assert block.blocked_until == T0 + 3 * HOUR  # the later end wins
    assert block.bounces == 2
    assert block.bounce_message_id == "b2@m"


def test_held_matches_notify_protocol() -> None:
    from helpmail.notify.ports import HeldLike

    guard = DeliveryGuard()
    guard.record_bounce(bounce("a@example.org", BounceReason.USER_UNKNOWN, hard=True), T0)
    assert isinstance(guard.check("a@example.org", "T", T0), HeldLike)
    assert not isinstance(guard.check("b@example.org", "T", T0), HeldLike)
    held = guard.check("a@example.org", "T", T0)
    assert isinstance(held, Held)
    assert held.reason == HoldReason.ADDRESS_BLOCKED
    assert not held


def test_prune_keeps_what_windows_need() -> None:
    guard = DeliveryGuard()
    for day in range(5):
        guard.record_sent("a@example.org", "T", T0 + day * 24 * HOUR)
    assert guard.prune(T0 + 4 * 24 * HOUR) == 3


def test_unreadable_bounce_blocks_the_fallback_recipient() -> None:
    from helpmail.bounces import Bounce, BounceKind

    guard = DeliveryGuard()
    empty = Bounce(recipients=(), kind=BounceKind.FAILURE, message_id="b@m")
    assert guard.record_bounce(empty, T0) == ()
    (block,) = guard.record_bounce(empty, T0, fallback_recipient="Bob@Example.org")
    assert (block.address, block.reason, block.blocked_until) == (
        "bob@example.org",
        BounceReason.UNKNOWN,
        T0 + 3 * HOUR,
    )
    delay = Bounce(recipients=(), kind=BounceKind.DELAY)
    assert guard.record_bounce(delay, T0, fallback_recipient="carol@example.org") == ()


def test_staff_have_their_own_address_caps_but_not_their_own_blocks() -> None:
    # a flood from outside must not use up an agent's allowance (no staff caps by default) ...
    guard = DeliveryGuard()
    for minute in range(60):
        at = T0 + dt.timedelta(minutes=minute * 20)
        guard.record_sent("agent@desk.example", f"T{minute}", at)
    later = T0 + 20 * HOUR
    assert isinstance(guard.check("agent@desk.example", "T99", later, staff=True), Allowed)
    held = guard.check("agent@desk.example", "T99", later)
    assert isinstance(held, Held)
    assert held.reason is HoldReason.ADDRESS_CAP
    # ... while the ticket caps and bounce blocks hold for staff as for anyone
    for second in range(10):
        guard.record_sent("agent@desk.example", "T1", later + dt.timedelta(seconds=second))
    ticket_held = guard.check("agent@desk.example", "T1", later + MINUTE, staff=True)
    assert isinstance(ticket_held, Held)
    assert ticket_held.reason is HoldReason.TICKET_CAP
    guard.record_bounce(bounce("agent@desk.example", BounceReason.USER_UNKNOWN, hard=True), later)
    blocked = guard.check("agent@desk.example", "T2", later + MINUTE, staff=True)
    assert isinstance(blocked, Held)
    assert blocked.reason is HoldReason.ADDRESS_BLOCKED
    # a desk can still cap its staff
    capped = DeliveryGuard(settings=GuardSettings(staff_address_caps=(Cap(limit=5, window=HOUR),)))
    for second in range(5):
        capped.record_sent("agent@desk.example", f"S{second}", T0 + dt.timedelta(seconds=second))
    assert isinstance(capped.check("agent@desk.example", "S9", T0 + MINUTE, staff=True), Held)
