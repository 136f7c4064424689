"""The conformance suite for :class:`helpmail.guard.GuardState` implementations.

Both shipped states (:class:`helpmail.guard.MemoryGuardState`,
:class:`helpmail.adapters.sqlite_guard.SqliteGuardState`) pass it; a host application runs it
against its own. Two ways to use it:

* pytest: subclass :class:`GuardStateConformance` in a test module, name it ``Test...`` and
  implement :meth:`~GuardStateConformance.make_state`::

      from helpmail.testing.guard_conformance import GuardStateConformance

      class TestMyGuardState(GuardStateConformance):
          def make_state(self):
              return MyGuardState(...)

* anything else: ``run_conformance(factory)`` runs every check and raises ``AssertionError`` on
  the first failure.

Each check gets a fresh, empty state. The checks assert behaviour only: blocks round-trip with
every field (an admin must see why), ``None`` means until cleared, expiry is read from stored
times, the mail log filters and orders correctly, and the whole guard (policy on top of the state)
blocks, caps and clears as DESIGN.md says.

The concurrency checks run threads against one stored state: ``transaction()`` must serialise
them (no lost update in a read-modify-write, the last slot of a cap taken once, every bounce
counted). Each thread works through its own handle from
:meth:`~GuardStateConformance.open_again`: by default the state object itself (it must then be
safe to share between threads, as ``helpmail poll`` shares it); a database-backed state should
return a second connection to the same store, which is how a second process sees it. Threads do
not prove that separate processes are serialised: helpmail's own tests run processes against
:class:`~helpmail.adapters.sqlite_guard.SqliteGuardState` (``tests/test_guard_processes.py``);
a host with its own store should do the same.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from typing import TypeVar

import attrs

from helpmail.bounces.model import Bounce, BouncedRecipient, BounceKind, BounceReason
from helpmail.guard import (
    AddressBlock,
    Allowed,
    Cap,
    DeliveryGuard,
    Direction,
    GuardSettings,
    GuardState,
    Held,
    HoldReason,
    MailRecord,
    TicketBlock,
)

T0 = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)
HOUR = dt.timedelta(hours=1)

StateFactory = Callable[[], GuardState]
Reopen = Callable[[GuardState], GuardState]
R = TypeVar("R")

#: threads and rounds of the concurrency checks
THREADS = 4
ROUNDS = 15


def run_threads(count: int, work: Callable[[int], R]) -> list[R]:
    """Run ``work(0) ... work(count - 1)`` in threads started together; their results in order.
    An exception in a thread is raised here (the first one)."""
    barrier = threading.Barrier(count)
    results: dict[int, R] = {}
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[index] = work(index)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    if any(t.is_alive() for t in threads):
        raise AssertionError("a thread of the concurrency check did not finish in 120 s")
    if errors:
        raise errors[0]
    return [results[i] for i in range(count)]


def bounce(
    address: str, reason: BounceReason, *, hard: bool = False, mid: str = "b1@mta"
) -> Bounce:
    """A one-recipient bounce for the checks."""
    return Bounce(
        recipients=(
            BouncedRecipient(
                address=address,
                reason=reason,
                hard=hard,
                status="5.1.1",
                diagnostic="550 5.1.1 no such user",
            ),
        ),
        kind=BounceKind.DELAY if reason is BounceReason.DELAYED else BounceKind.FAILURE,
        message_id=mid,
        original_message_id="orig@desk",
    )


class GuardStateConformance:
    """Behaviour every :class:`~helpmail.guard.GuardState` must show (pytest mix-in).

    States made by :meth:`make_state` are closed after each check when they have a ``close()``
    method (database-backed states hold a connection).
    """

    def make_state(self) -> GuardState:
        raise NotImplementedError("return a fresh, empty GuardState")

    def open_again(self, state: GuardState) -> GuardState:
        """Another handle on the data of ``state``, for one thread of the concurrency checks.

        The default shares ``state`` itself between the threads. Override it to open a second
        connection to the same store (``SqliteGuardState(state.path)``): that is how another
        process sees the data, so the checks then also cover separate handles.
        """
        return state

    def _state(self) -> GuardState:
        state = self.make_state()
        self.__dict__.setdefault("_made", []).append(state)
        return state

    def _handles(self, state: GuardState, count: int) -> list[GuardState]:
        handles = []
        for _ in range(count):
            handle = self.open_again(state)
            if handle is not state:
                self.__dict__.setdefault("_made", []).append(handle)
            handles.append(handle)
        return handles

    def teardown_method(self) -> None:
        """Close every state a check made (pytest calls this after each test method)."""
        for state in self.__dict__.pop("_made", []):
            close = getattr(state, "close", None)
            if callable(close):
                close()

    # -- the port itself ---------------------------------------------------------------------

    def test_block_round_trip(self) -> None:
        state = self._state()
        block = AddressBlock(
            address="bob@example.org",
            reason=BounceReason.MAILBOX_FULL,
            hard=False,
            blocked_at=T0,
            blocked_until=T0 + 3 * HOUR,
            status="5.2.2",
            diagnostic="552 mailbox full",
            bounce_message_id="b@mta",
            original_message_id="o@desk",
            bounces=2,
            alert=False,
        )
        assert state.get_block("bob@example.org") is None
        state.put_block(block)
        got = state.get_block("bob@example.org")
        assert got == block
        assert list(state.blocks()) == [block]

    def test_block_until_cleared_and_replace(self) -> None:
        state = self._state()
        forever = AddressBlock(
            address="a@example.org",
            reason=BounceReason.USER_UNKNOWN,
            hard=True,
            blocked_at=T0,
            blocked_until=None,
            alert=False,
        )
        state.put_block(forever)
        got = state.get_block("a@example.org")
        assert got is not None
        assert got.blocked_until is None
        state.put_block(
            AddressBlock(
                address="a@example.org",
                reason=BounceReason.REJECTED_POLICY,
                hard=False,
                blocked_at=T0,
                blocked_until=T0 + HOUR,
                alert=True,
            )
        )
        got = state.get_block("a@example.org")
        assert got is not None
        assert got.reason is BounceReason.REJECTED_POLICY
        assert got.alert
        assert len(state.blocks()) == 1

    def test_remove_block(self) -> None:
        state = self._state()
        state.put_block(
            AddressBlock(
                address="a@example.org",
                reason=BounceReason.UNKNOWN,
                hard=False,
                blocked_at=T0,
                blocked_until=T0 + HOUR,
            )
        )
        assert state.remove_block("a@example.org") is True
        assert state.remove_block("a@example.org") is False
        assert state.get_block("a@example.org") is None

    def test_blocks_ordered_by_address(self) -> None:
        state = self._state()
        for address in ("c@x.org", "a@x.org", "b@x.org"):
            state.put_block(
                AddressBlock(
                    address=address,
                    reason=BounceReason.TRANSIENT,
                    hard=False,
                    blocked_at=T0,
                    blocked_until=T0 + HOUR,
                )
            )
        assert [b.address for b in state.blocks()] == ["a@x.org", "b@x.org", "c@x.org"]

    def test_ticket_block_round_trip(self) -> None:
        state = self._state()
        assert state.get_ticket_block("T1") is None
        block = TicketBlock(ticket="T1", blocked_at=T0, blocked_until=T0 + 12 * HOUR, mails=101)
        state.put_ticket_block(block)
        assert state.get_ticket_block("T1") == block

    def test_mail_log_filters_and_order(self) -> None:
        state = self._state()
        other_zone = dt.timezone(dt.timedelta(hours=2))
        state.add_mail(MailRecord(ticket="T1", at=T0 + 2 * HOUR, address="a@x.org"))
        state.add_mail(
            MailRecord(ticket="T1", at=(T0 + HOUR).astimezone(other_zone), address="a@x.org")
        )
        state.add_mail(MailRecord(ticket="T2", at=T0, address="b@x.org", automatic=False))
        state.add_mail(
            MailRecord(ticket="T1", at=T0 + 3 * HOUR, direction=Direction.IN, automatic=False)
        )
        times = state.mail_times(since=T0, ticket="T1")
        assert [t.astimezone(dt.UTC) for t in times] == [T0 + HOUR, T0 + 2 * HOUR, T0 + 3 * HOUR]
        assert len(state.mail_times(since=T0, address="a@x.org")) == 2
        assert (
            len(state.mail_times(since=T0 + 90 * dt.timedelta(minutes=1), address="a@x.org")) == 1
        )
        assert len(state.mail_times(since=T0, automatic=True)) == 2
        assert len(state.mail_times(since=T0, direction=Direction.IN)) == 1
        assert (
            len(state.mail_times(since=T0, ticket="T1", direction=Direction.OUT, automatic=True))
            == 2
        )

    def test_remove_mail_forgets_one_equal_record(self) -> None:
        state = self._state()
        record = MailRecord(ticket="T1", at=T0, address="a@x.org")
        state.add_mail(record)
        state.add_mail(record)
        state.add_mail(MailRecord(ticket=None, at=T0, address=None, direction=Direction.IN))
        assert state.remove_mail(attrs.evolve(record, automatic=False)) is False
        assert state.remove_mail(attrs.evolve(record, ticket="T2")) is False
        assert state.remove_mail(record) is True
        assert len(state.mail_times(since=T0, address="a@x.org")) == 1
        assert state.remove_mail(
            MailRecord(ticket=None, at=T0, address=None, direction=Direction.IN)
        )
        assert state.mail_times(since=T0, direction=Direction.IN) == []
        assert state.remove_mail(record) is True
        assert state.remove_mail(record) is False

    def test_transaction_sees_its_own_writes_and_commits(self) -> None:
        state = self._state()
        with state.transaction():
            state.add_mail(MailRecord(ticket="T1", at=T0, address="a@x.org"))
            assert len(state.mail_times(since=T0, ticket="T1")) == 1
            state.put_ticket_block(TicketBlock(ticket="T1", blocked_at=T0, blocked_until=T0))
            assert state.get_ticket_block("T1") is not None
        assert len(state.mail_times(since=T0, ticket="T1")) == 1
        assert state.get_ticket_block("T1") is not None

    def test_transaction_ends_on_exception(self) -> None:
        state = self._state()

        class Boom(Exception):
            pass

        try:
            with state.transaction():
                state.get_block("a@x.org")
                raise Boom
        except Boom:
            pass
        else:  # pragma: no cover - the exception must propagate
            raise AssertionError("the exception inside transaction() did not propagate")
        # the unit ended: this thread and another one can start the next
        with state.transaction():
            state.add_mail(MailRecord(ticket="T1", at=T0, address="a@x.org"))
        [handle] = self._handles(state, 1)
        run_threads(1, lambda _: _write_in_transaction(handle))
        assert len(state.mail_times(since=T0)) == 2

    def test_transactions_serialise_read_modify_write(self) -> None:
        """The lost update: read a count, pause, write count + 1. Inside ``transaction()`` no
        other thread may read in between, so no increment is lost."""
        state = self._state()
        state.put_block(
            AddressBlock(
                address="a@x.org",
                reason=BounceReason.TRANSIENT,
                hard=False,
                blocked_at=T0,
                blocked_until=T0 + HOUR,
                bounces=0,
            )
        )
        handles = self._handles(state, THREADS)

        def work(index: int) -> None:
            handle = handles[index]
            for _ in range(ROUNDS):
                with handle.transaction():
                    block = handle.get_block("a@x.org")
                    assert block is not None
                    time.sleep(0.0005)  # give another thread every chance to step in
                    handle.put_block(attrs.evolve(block, bounces=block.bounces + 1))

        run_threads(THREADS, work)
        block = state.get_block("a@x.org")
        assert block is not None
        assert block.bounces == THREADS * ROUNDS

    def test_prune(self) -> None:
        state = self._state()
        for hours in range(5):
            state.add_mail(MailRecord(ticket="T", at=T0 + hours * HOUR, address="a@x.org"))
        assert state.prune(T0 + 2 * HOUR) == 2
        assert len(state.mail_times(since=T0)) == 3

    # -- the guard on top of the state ---------------------------------------------------------

    def test_guard_blocks_hard_bounce_until_cleared(self) -> None:
        guard = DeliveryGuard(self._state())
        guard.record_bounce(bounce("Bob@Example.ORG", BounceReason.USER_UNKNOWN, hard=True), T0)
        decision = guard.check("bob@example.org", "T1", T0 + 365 * 24 * HOUR)
        assert isinstance(decision, Held)
        assert decision.reason is HoldReason.ADDRESS_BLOCKED
        assert decision.until is None
        assert decision.block is not None
        assert decision.block.bounce_message_id == "b1@mta"
        assert guard.clear("BOB@example.org") is True
        assert isinstance(guard.check("bob@example.org", "T1", T0 + HOUR), Allowed)

    def test_guard_soft_block_expires_from_stored_time(self) -> None:
        guard = DeliveryGuard(self._state())
        guard.record_bounce(bounce("a@example.org", BounceReason.MAILBOX_FULL), T0)
        held = guard.check("a@example.org", None, T0 + 2 * HOUR)
        assert isinstance(held, Held)
        assert held.until == T0 + 3 * HOUR
        assert isinstance(guard.check("a@example.org", None, T0 + 3 * HOUR), Allowed)

    def test_guard_delay_never_blocks(self) -> None:
        guard = DeliveryGuard(self._state())
        assert guard.record_bounce(bounce("a@example.org", BounceReason.DELAYED), T0) == ()
        assert isinstance(guard.check("a@example.org", "T1", T0), Allowed)

    def test_guard_hard_block_survives_soft_bounce(self) -> None:
        guard = DeliveryGuard(self._state())
        guard.record_bounce(bounce("a@example.org", BounceReason.USER_UNKNOWN, hard=True), T0)
        guard.record_bounce(bounce("a@example.org", BounceReason.TRANSIENT, mid="b2@m"), T0 + HOUR)
        block = guard.block_for("a@example.org")
        assert block is not None
        assert block.blocked_until is None
        assert block.bounces == 2

    def test_guard_address_cap(self) -> None:
        settings = GuardSettings(address_caps=(Cap(limit=3, window=24 * HOUR),), ticket_caps=())
        guard = DeliveryGuard(self._state(), settings)
        for minute in range(3):
            moment = T0 + dt.timedelta(minutes=minute)
            assert isinstance(guard.check("a@example.org", f"T{minute}", moment), Allowed)
            guard.record_sent("a@example.org", f"T{minute}", moment)
        held = guard.check("a@example.org", "T9", T0 + HOUR)
        assert isinstance(held, Held)
        assert held.reason is HoldReason.ADDRESS_CAP
        assert held.until == T0 + 24 * HOUR
        assert isinstance(guard.check("a@example.org", "T9", T0 + 24 * HOUR), Allowed)
        guard.record_sent("a@example.org", "T9", T0 + HOUR, automatic=False)  # by hand
        assert isinstance(guard.check("b@example.org", "T9", T0 + HOUR), Allowed)

    def test_guard_ticket_cap_and_flood(self) -> None:
        settings = GuardSettings(
            address_caps=(),
            ticket_caps=(Cap(limit=2, window=HOUR),),
            flood_threshold=5,
            flood_window=24 * HOUR,
            flood_block=12 * HOUR,
        )
        guard = DeliveryGuard(self._state(), settings)
        guard.record_sent("a@example.org", "T1", T0)
        guard.record_sent("b@example.org", "T1", T0)
        held = guard.check("c@example.org", "T1", T0 + dt.timedelta(minutes=5))
        assert isinstance(held, Held)
        assert held.reason is HoldReason.TICKET_CAP
        assert isinstance(guard.check("c@example.org", "T2", T0), Allowed)
        flood = None
        for minute in range(4):
            flood = guard.record_received("T1", T0 + dt.timedelta(minutes=10 + minute))
        assert flood is not None
        assert flood.blocked_until == T0 + dt.timedelta(minutes=13) + 12 * HOUR
        held = guard.check("c@example.org", "T1", T0 + 2 * HOUR)
        assert isinstance(held, Held)
        assert held.reason is HoldReason.TICKET_FLOOD
        assert isinstance(guard.check("c@example.org", "T1", T0 + 13 * HOUR), Allowed)

    def test_guard_admit_counts_and_release_gives_back(self) -> None:
        settings = GuardSettings(address_caps=(Cap(limit=2, window=24 * HOUR),), ticket_caps=())
        guard = DeliveryGuard(self._state(), settings)
        assert isinstance(guard.admit("A@example.org", "T1", T0), Allowed)
        assert isinstance(guard.admit("a@example.org", "T2", T0 + HOUR), Allowed)
        held = guard.admit("a@example.org", "T3", T0 + 2 * HOUR)
        assert isinstance(held, Held)
        assert held.reason is HoldReason.ADDRESS_CAP
        assert held.until == T0 + 24 * HOUR
        assert len(guard.state.mail_times(since=T0, address="a@example.org")) == 2
        assert guard.release("a@example.org", "T2", T0 + HOUR) is True
        assert guard.release("a@example.org", "T2", T0 + HOUR) is False
        assert isinstance(guard.admit("a@example.org", "T3", T0 + 2 * HOUR), Allowed)

    def test_guard_admit_counts_mails_logged_after_now(self) -> None:
        """Another worker whose clock read a moment later may have taken the slot first."""
        settings = GuardSettings(address_caps=(Cap(limit=1, window=24 * HOUR),), ticket_caps=())
        guard = DeliveryGuard(self._state(), settings)
        guard.record_sent("a@example.org", "T1", T0 + dt.timedelta(milliseconds=3))
        assert isinstance(guard.check("a@example.org", "T2", T0), Allowed)  # a question
        held = guard.admit("a@example.org", "T2", T0)
        assert isinstance(held, Held)
        assert held.reason is HoldReason.ADDRESS_CAP

    def test_guard_admit_keeps_caps_across_threads(self) -> None:
        """THREADS threads each try ROUNDS mails to one address on one ticket (with times not in
        the order the threads run): exactly the cap is admitted, for an address cap and for a
        ticket cap."""
        for address_cap, ticket_cap in ((7, 1000), (1000, 5)):
            settings = GuardSettings(
                address_caps=(Cap(limit=address_cap, window=24 * HOUR),),
                ticket_caps=(Cap(limit=ticket_cap, window=24 * HOUR),),
            )
            state = self._state()
            admitted = sum(run_threads(THREADS, self._admitting(state, settings)))
            expected = min(address_cap, ticket_cap)
            assert admitted == expected
            logged = state.mail_times(since=T0, address="same@example.org", automatic=True)
            assert len(logged) == expected

    def _admitting(self, state: GuardState, settings: GuardSettings) -> Callable[[int], int]:
        handles = self._handles(state, THREADS)

        def work(index: int) -> int:
            guard = DeliveryGuard(handles[index], settings)
            admitted = 0
            for attempt in range(ROUNDS):
                moment = T0 + dt.timedelta(milliseconds=attempt * THREADS + THREADS - index)
                if guard.admit("Same@Example.org", "T1", moment):
                    admitted += 1
            return admitted

        return work

    def test_guard_bounce_merges_across_threads(self) -> None:
        """THREADS threads each record ROUNDS bounces for one address: every bounce is counted,
        the block ends at the longest end, and a hard bounce's "until cleared" stays."""
        for hard_one in (False, True):
            state = self._state()
            run_threads(THREADS, self._bouncing(state, hard_one=hard_one))
            block = state.get_block("a@example.org")
            assert block is not None
            assert block.bounces == THREADS * ROUNDS
            assert block.blocked_until == (None if hard_one else T0 + 24 * HOUR)

    def _bouncing(self, state: GuardState, *, hard_one: bool) -> Callable[[int], None]:
        handles = self._handles(state, THREADS)
        cycle = (BounceReason.MAILBOX_FULL, BounceReason.ACCOUNT_DISABLED, BounceReason.TRANSIENT)

        def work(index: int) -> None:
            guard = DeliveryGuard(handles[index])
            for attempt in range(ROUNDS):
                reason = cycle[(index + attempt) % len(cycle)]
                if hard_one and index == 0 and attempt == ROUNDS // 2:
                    reason = BounceReason.USER_UNKNOWN
                mid = f"b{index}.{attempt}@mta"
                guard.record_bounce(bounce("a@example.org", reason, mid=mid), T0)

        return work


def _write_in_transaction(state: GuardState) -> None:
    with state.transaction():
        state.add_mail(MailRecord(ticket="T2", at=T0, address="b@x.org"))


def run_conformance(factory: StateFactory, reopen: Reopen | None = None) -> None:
    """Run every check against states made by ``factory``; ``AssertionError`` on a failure.
    ``reopen`` is :meth:`GuardStateConformance.open_again` (default: share the state)."""

    class _Run(GuardStateConformance):
        def make_state(self) -> GuardState:
            return factory()

        def open_again(self, state: GuardState) -> GuardState:
            return state if reopen is None else reopen(state)

    runner = _Run()
    for name in sorted(dir(runner)):
        if name.startswith("test_"):
            try:
                getattr(runner, name)()
            finally:
                runner.teardown_method()


__all__ = ["GuardStateConformance", "bounce", "run_conformance", "run_threads"]
