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
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

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

    def _state(self) -> GuardState:
        state = self.make_state()
        self.__dict__.setdefault("_made", []).append(state)
        return state

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


def run_conformance(factory: StateFactory) -> None:
    """Run every check against states made by ``factory``; ``AssertionError`` on a failure."""

    class _Run(GuardStateConformance):
        def make_state(self) -> GuardState:
            return factory()

    runner = _Run()
    for name in sorted(dir(runner)):
        if name.startswith("test_"):
            try:
                getattr(runner, name)()
            finally:
                runner.teardown_method()


__all__ = ["GuardStateConformance", "bounce", "run_conformance"]
