"""The delivery guard: hold back automatic mail that would fail, flood or loop.

The rules this module keeps (DESIGN.md "Bounce reasons and default blocks" and "Loops"):

* **Blocks per address, with their why.** A bounce blocks automatic mail to its recipient for the
  reason's default time (:data:`helpmail.bounces.reasons.REASONS`: unknown user until cleared,
  full mailbox 3 h, ...). A block stores ``blocked_until`` (``None``: until cleared), the reason,
  status, diagnostic and the bounce's Message-ID, so an admin can see why. Delay warnings
  (``delayed``) never block. A hard block is never shortened by a later soft bounce.
* **Floods.** A ticket with more than ``flood_threshold`` mails (in and out, default 100) within
  ``flood_window`` is blocked for ``flood_block`` (12 h).
* **Caps.** Automatic mails per address and per ticket are capped over sliding windows
  (defaults: 40 per address per day, as Znuny's ``PostmasterMaxEmails``; 10 per ticket per
  10 minutes and 30 per hour, in the spirit of Zammad's per-ticket loop protection).
* **Time is an argument.** Every method takes ``now``; expiry is computed from stored times
  only, never from a clock inside, so a replay gives the same answers.
* **Caps hold with several workers.** :meth:`DeliveryGuard.admit` checks and counts an automatic
  mail in one unit of the state (:meth:`GuardState.transaction`), and a bounce is merged into its
  address's block in one unit, so two processes sharing the desk's database cannot both take the
  last slot of a cap, and two bounces merged at once lose no count and never shorten a block.

The policy is pure; its memory is a port, :class:`GuardState`, with an in-memory implementation
here (:class:`MemoryGuardState`, one lock for its threads) and an SQLite one in
:mod:`helpmail.adapters.sqlite_guard` (``BEGIN IMMEDIATE`` transactions, so processes sharing the
file are serialised). Both pass :mod:`helpmail.testing.guard_conformance`. Only automatic mail
is guarded: an agent can still write by hand (with a warning built from
:meth:`DeliveryGuard.check`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import attrs

from helpmail.bounces.model import Bounce, BouncedRecipient, BounceKind, BounceReason
from helpmail.bounces.reasons import REASONS
from helpmail.mail.model import address_key

if TYPE_CHECKING:
    from contextlib import AbstractContextManager


class HoldReason(StrEnum):
    """Why :meth:`DeliveryGuard.check` holds a mail back."""

    ADDRESS_BLOCKED = "address_blocked"
    """The address bounced; see :attr:`Held.block`."""
    TICKET_FLOOD = "ticket_flood"
    """The ticket had more mails than the flood threshold."""
    ADDRESS_CAP = "address_cap"
    """Too many automatic mails to this address in a window."""
    TICKET_CAP = "ticket_cap"
    """Too many automatic mails on this ticket in a window."""


class Direction(StrEnum):
    OUT = "out"
    IN = "in"


@attrs.frozen(kw_only=True)
class Cap:
    """At most ``limit`` automatic mails within any ``window`` (a sliding window)."""

    limit: int
    window: dt.timedelta

    def __str__(self) -> str:
        return f"{self.limit} per {self.window}"


@attrs.frozen(kw_only=True)
class GuardSettings:
    """The guard's knobs. ``block_for`` overrides a reason's default block (``None`` value: until
    cleared); reasons not listed keep DESIGN.md's defaults."""

    address_caps: tuple[Cap, ...] = (Cap(limit=40, window=dt.timedelta(days=1)),)
    #: Caps for the desk's own people (agents, dispatchers, queue addresses): none by default. A
    #: robot outside that opens a ticket per mail must not use up the staff's allowance and so
    #: silence the notices about real customers; loops through a staff mailbox stay bounded by
    #: the ticket caps and the flood block.
    staff_address_caps: tuple[Cap, ...] = ()
    ticket_caps: tuple[Cap, ...] = (
        Cap(limit=10, window=dt.timedelta(minutes=10)),
        Cap(limit=30, window=dt.timedelta(hours=1)),
    )
    flood_threshold: int = 100
    flood_window: dt.timedelta = dt.timedelta(days=1)
    flood_block: dt.timedelta = dt.timedelta(hours=12)
    block_for: Mapping[BounceReason, dt.timedelta | None] = attrs.field(factory=dict)

    def block_duration(self, reason: BounceReason) -> tuple[bool, dt.timedelta | None]:
        """``(blocks, duration)`` for a reason; duration ``None`` means until cleared."""
        policy = REASONS[reason]
        if not policy.blocks:
            return False, None
        if reason in self.block_for:
            return True, self.block_for[reason]
        return True, policy.block_for


@attrs.frozen(kw_only=True)
class AddressBlock:
    """Automatic mail to ``address`` is held back until ``blocked_until`` (``None``: until
    cleared). Everything an admin needs to see why is kept: the reason, hard/soft, the enhanced
    status and diagnostic, the bounce's own Message-ID and the original mail's, the number of
    bounces seen, and whether an operator should look (``alert``: policy rejections)."""

    address: str
    """The address key (:func:`helpmail.mail.model.address_key`)."""
    reason: BounceReason
    hard: bool
    blocked_at: dt.datetime
    blocked_until: dt.datetime | None
    status: str | None = None
    diagnostic: str | None = None
    bounce_message_id: str | None = None
    original_message_id: str | None = None
    bounces: int = 1
    alert: bool = False

    def active(self, now: dt.datetime) -> bool:
        return self.blocked_until is None or now < self.blocked_until

    def explain(self) -> str:
        until = "until cleared" if self.blocked_until is None else f"until {self.blocked_until}"
        status = f" {self.status}" if self.status else ""
        diag = f": {self.diagnostic[:160]}" if self.diagnostic else ""
        bounce = f" (bounce <{self.bounce_message_id}>)" if self.bounce_message_id else ""
        return f"{self.address} blocked {until}: {self.reason}{status}{diag}{bounce}"


@attrs.frozen(kw_only=True)
class TicketBlock:
    """Automatic mail on ``ticket`` is held back until ``blocked_until`` (a flood)."""

    ticket: str
    blocked_at: dt.datetime
    blocked_until: dt.datetime
    mails: int = 0
    """The number of mails in the flood window when the block was set."""

    def active(self, now: dt.datetime) -> bool:
        return now < self.blocked_until


@attrs.frozen(kw_only=True)
class MailRecord:
    """One mail the guard counts: sent (``out``, to ``address``) or received (``in``) on a
    ticket. ``automatic`` marks mails helpmail sent on its own (caps count only these)."""

    ticket: str | None
    at: dt.datetime
    direction: Direction = Direction.OUT
    address: str | None = None
    automatic: bool = True


@attrs.frozen(kw_only=True)
class Allowed:
    """:meth:`DeliveryGuard.check` lets the mail go."""

    @property
    def held(self) -> bool:
        return False

    def __bool__(self) -> bool:
        return True


@attrs.frozen(kw_only=True)
class Held:
    """:meth:`DeliveryGuard.check` holds the mail back: why, until when (``None``: until
    cleared), a readable ``detail``, and the address block when there is one."""

    reason: HoldReason
    until: dt.datetime | None
    detail: str = ""
    block: AddressBlock | None = None

    @property
    def held(self) -> bool:
        return True

    def __bool__(self) -> bool:
        return False


Decision = Allowed | Held


@runtime_checkable
class GuardState(Protocol):
    """Where the guard keeps its memory (blocks and a log of mails). Addresses arrive as keys
    (:func:`helpmail.mail.model.address_key`); times are timezone-aware.

    Implementations: :class:`MemoryGuardState`, :class:`helpmail.adapters.sqlite_guard.
    SqliteGuardState`, or a host's own, checked with :mod:`helpmail.testing.guard_conformance`.
    One state object may be used by several threads at once (``helpmail poll`` shares one
    between its mailbox workers), and several state objects, in several processes, may share one
    store (two ``helpmail poll`` runs on one desk database).
    """

    def transaction(self) -> AbstractContextManager[None]:
        """A unit of work: ``with state.transaction(): ...`` runs its reads and writes of this
        state as one step, serialised with every other transaction on the same stored data.

        What it must guarantee:

        * **Isolation.** While a transaction runs, no other transaction on the same data - on
          this object from another thread, or on another object or process sharing the store -
          reads or writes in between: two transactions behave as if one ran after the other. (A
          database takes its write lock at the start, SQLite's ``BEGIN IMMEDIATE``, and waits
          a while for a busy lock rather than failing at once; memory takes a lock.) This is
          what lets :meth:`DeliveryGuard.admit` count the last slot of a cap only once and
          :meth:`DeliveryGuard.record_bounce` merge two bounces without losing one.
        * **Durability on normal exit.** Writes made inside are visible inside, and to everyone
          once the block ends normally.
        * **An exception ends it.** The exception propagates and the unit ends (its lock is
          released). A database discards the unit's writes; the guard makes every decision
          before its first write, so a store that cannot roll back loses nothing that matters.

        The guard never nests transactions, never calls out (no mail is sent inside one) and
        keeps them short: other workers wait while one runs.
        """
        ...

    def get_block(self, address: str) -> AddressBlock | None:
        """The block stored for ``address`` (active or expired), or ``None``."""
        ...

    def put_block(self, block: AddressBlock) -> None:
        """Store ``block``, replacing any block for the same address."""
        ...

    def remove_block(self, address: str) -> bool:
        """Remove the block for ``address``; ``True`` when there was one."""
        ...

    def blocks(self) -> Sequence[AddressBlock]:
        """Every stored address block, ordered by address."""
        ...

    def get_ticket_block(self, ticket: str) -> TicketBlock | None: ...

    def put_ticket_block(self, block: TicketBlock) -> None: ...

    def add_mail(self, record: MailRecord) -> None:
        """Log one mail."""
        ...

    def remove_mail(self, record: MailRecord) -> bool:
        """Forget one logged mail equal to ``record`` (same ticket, time, direction, address and
        ``automatic``); ``True`` when there was one. :meth:`DeliveryGuard.release` uses it to
        give back a slot whose mail was not sent."""
        ...

    def mail_times(
        self,
        *,
        since: dt.datetime,
        address: str | None = None,
        ticket: str | None = None,
        direction: Direction | None = None,
        automatic: bool | None = None,
    ) -> Sequence[dt.datetime]:
        """Times of logged mails at or after ``since`` matching every given filter, oldest first."""
        ...

    def prune(self, before: dt.datetime) -> int:
        """Forget logged mails older than ``before``; the number forgotten."""
        ...


def _utc(moment: dt.datetime) -> dt.datetime:
    if moment.tzinfo is None:
        raise ValueError("the delivery guard needs timezone-aware times")
    return moment.astimezone(dt.UTC)


class MemoryGuardState:
    """A :class:`GuardState` in memory (tests, replays, a single process).

    One re-entrant lock guards every method; :meth:`transaction` holds it for the whole unit, so
    threads sharing the object are serialised. It cannot roll back: a unit that raises keeps
    the writes it made before the exception (the guard writes only after deciding).
    """

    def __init__(self) -> None:
        self._blocks: dict[str, AddressBlock] = {}
        self._tickets: dict[str, TicketBlock] = {}
        self._mails: list[MailRecord] = []
        self._lock = threading.RLock()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        with self._lock:
            yield

    def get_block(self, address: str) -> AddressBlock | None:
        with self._lock:
            return self._blocks.get(address)

    def put_block(self, block: AddressBlock) -> None:
        with self._lock:
            self._blocks[block.address] = block

    def remove_block(self, address: str) -> bool:
        with self._lock:
            return self._blocks.pop(address, None) is not None

    def blocks(self) -> Sequence[AddressBlock]:
        with self._lock:
            return [self._blocks[k] for k in sorted(self._blocks)]

    def get_ticket_block(self, ticket: str) -> TicketBlock | None:
        with self._lock:
            return self._tickets.get(ticket)

    def put_ticket_block(self, block: TicketBlock) -> None:
        with self._lock:
            self._tickets[block.ticket] = block

    def add_mail(self, record: MailRecord) -> None:
        record = attrs.evolve(record, at=_utc(record.at))
        with self._lock:
            self._mails.append(record)

    def remove_mail(self, record: MailRecord) -> bool:
        record = attrs.evolve(record, at=_utc(record.at))
        with self._lock:
            for index in range(len(self._mails) - 1, -1, -1):
                if self._mails[index] == record:
                    del self._mails[index]
                    return True
        return False

    def mail_times(
        self,
        *,
        since: dt.datetime,
        address: str | None = None,
        ticket: str | None = None,
        direction: Direction | None = None,
        automatic: bool | None = None,
    ) -> Sequence[dt.datetime]:
        since = _utc(since)
        with self._lock:
            return sorted(
                m.at
                for m in self._mails
                if m.at >= since
                and (address is None or m.address == address)
                and (ticket is None or m.ticket == ticket)
                and (direction is None or m.direction == direction)
                and (automatic is None or m.automatic == automatic)
            )

    def prune(self, before: dt.datetime) -> int:
        before = _utc(before)
        with self._lock:
            kept = [m for m in self._mails if m.at >= before]
            dropped = len(self._mails) - len(kept)
            self._mails = kept
        return dropped


def _cap_hold(times: Sequence[dt.datetime], cap: Cap, now: dt.datetime) -> dt.datetime | None:
    """When ``times`` (oldest first, all within ``cap.window`` before ``now``) already hold
    ``cap.limit`` mails, the moment the oldest counted one leaves the window; else ``None``."""
    if cap.limit <= 0:
        return now + cap.window
    if len(times) < cap.limit:
        return None
    return times[-cap.limit] + cap.window


def _in_window(
    times: Sequence[dt.datetime], cap: Cap, now: dt.datetime, *, later: bool
) -> list[dt.datetime]:
    """The times a cap counts at ``now``: within its window before ``now`` and, with ``later``,
    also those after ``now``."""
    start = now - cap.window
    return [t for t in times if start < t and (later or t <= now)]


def merge_block(old: AddressBlock | None, new: AddressBlock, now: dt.datetime) -> AddressBlock:
    """Combine a stored block with a new one: a block until cleared stays until cleared (a hard
    failure is not forgotten because the next bounce is soft), otherwise the later end wins; the
    newest bounce's details are kept and the bounce count adds up."""
    if old is None or not old.active(now):
        return new if old is None else attrs.evolve(new, bounces=old.bounces + 1)
    if old.blocked_until is None and new.blocked_until is not None:
        return attrs.evolve(old, bounces=old.bounces + 1)
    until: dt.datetime | None
    if new.blocked_until is None or old.blocked_until is None:
        until = None
    else:
        until = max(old.blocked_until, new.blocked_until)
    return attrs.evolve(new, blocked_until=until, bounces=old.bounces + 1)


class DeliveryGuard:
    """The delivery guard: :meth:`admit` before every automatic mail (it checks and counts the
    mail in one step; :meth:`release` if the mail then could not be sent), or :meth:`check`
    before and :meth:`record_sent` after it in a single worker; :meth:`record_bounce` for every
    bounce, :meth:`record_received` for every inbound mail on a ticket, :meth:`clear` when an
    admin fixed an address."""

    def __init__(self, state: GuardState | None = None, settings: GuardSettings | None = None):
        self.state: GuardState = state if state is not None else MemoryGuardState()
        self.settings = settings or GuardSettings()

    # -- questions ------------------------------------------------------------------------------

    def check(
        self, recipient: str, ticket: str | None, now: dt.datetime, *, staff: bool = False
    ) -> Decision:
        """May helpmail send an automatic mail about ``ticket`` to ``recipient`` at ``now``?

        ``staff`` marks one of the desk's own people: address blocks, the ticket caps and the
        flood block apply as to anyone, the per-address caps are ``staff_address_caps``.

        A question only: nothing is recorded, so between this answer and :meth:`record_sent`
        another worker may take the last slot of a cap. To send, use :meth:`admit`.
        """
        return self._decide(recipient, ticket, _utc(now), staff=staff, later=False)

    def admit(
        self, recipient: str, ticket: str | None, now: dt.datetime, *, staff: bool = False
    ) -> Decision:
        """Check an automatic mail as :meth:`check` does and, when it is allowed, count it as
        sent at ``now`` (as :meth:`record_sent` does), in one transaction of the state.

        Call it right before sending; if the mail then is not sent (the transport failed or
        refused the recipient), give the slot back with :meth:`release`. Several threads or
        processes admitting mail through states that share one store never admit more than a
        cap allows: the check and the count are one step (:meth:`GuardState.transaction`).

        The caps also count mails logged with a time after ``now``: another worker whose clock
        read a moment later may have taken a slot first; :meth:`check` leaves them out, as a
        question about the past should.
        """
        now = _utc(now)
        with self.state.transaction():
            decision = self._decide(recipient, ticket, now, staff=staff, later=True)
            if decision:
                self._log_sent(recipient, ticket, now, automatic=True)
        return decision

    def release(self, recipient: str, ticket: str | None, now: dt.datetime) -> bool:
        """Give back the slot :meth:`admit` took for a mail that was not sent (same
        ``recipient``, ``ticket`` and ``now``); ``True`` when it was found. A flood block the
        admitted mail set stays."""
        return self.state.remove_mail(
            MailRecord(
                ticket=ticket,
                at=_utc(now),
                direction=Direction.OUT,
                address=address_key(recipient),
                automatic=True,
            )
        )

    def _decide(
        self, recipient: str, ticket: str | None, now: dt.datetime, *, staff: bool, later: bool
    ) -> Decision:
        """The answer of :meth:`check` (``later=False``: mails logged after ``now`` do not
        count) or :meth:`admit` (``later=True``: they do)."""
        key = address_key(recipient)
        block = self.state.get_block(key)
        if block is not None and block.active(now):
            return Held(
                reason=HoldReason.ADDRESS_BLOCKED,
                until=block.blocked_until,
                detail=block.explain(),
                block=block,
            )
        if ticket is not None:
            flood = self.state.get_ticket_block(ticket)
            if flood is not None and flood.active(now):
                return Held(
                    reason=HoldReason.TICKET_FLOOD,
                    until=flood.blocked_until,
                    detail=f"ticket {ticket} had {flood.mails} mails within "
                    f"{self.settings.flood_window}; blocked until {flood.blocked_until}",
                )
        address_caps = self.settings.staff_address_caps if staff else self.settings.address_caps
        for cap in address_caps:
            times = self.state.mail_times(
                since=now - cap.window, address=key, direction=Direction.OUT, automatic=True
            )
            until = _cap_hold(_in_window(times, cap, now, later=later), cap, now)
            if until is not None:
                return Held(
                    reason=HoldReason.ADDRESS_CAP,
                    until=until,
                    detail=f"{key} already got {len(times)} automatic mails (cap {cap})",
                )
        if ticket is not None:
            for cap in self.settings.ticket_caps:
                times = self.state.mail_times(
                    since=now - cap.window, ticket=ticket, direction=Direction.OUT, automatic=True
                )
                until = _cap_hold(_in_window(times, cap, now, later=later), cap, now)
                if until is not None:
                    return Held(
                        reason=HoldReason.TICKET_CAP,
                        until=until,
                        detail=f"ticket {ticket} already sent {len(times)} automatic mails "
                        f"(cap {cap})",
                    )
        return Allowed()

    def block_for(self, recipient: str) -> AddressBlock | None:
        """The stored block of an address (maybe expired), for admin views."""
        return self.state.get_block(address_key(recipient))

    def blocks(self, now: dt.datetime | None = None) -> Sequence[AddressBlock]:
        """Stored blocks; with ``now``, only those still active."""
        found = self.state.blocks()
        if now is None:
            return found
        moment = _utc(now)
        return [b for b in found if b.active(moment)]

    # -- records --------------------------------------------------------------------------------

    def record_bounce(
        self, bounce: Bounce, now: dt.datetime, *, fallback_recipient: str | None = None
    ) -> tuple[AddressBlock, ...]:
        """Block the bounce's recipients as their reasons say; returns the blocks now stored.

        Delay warnings block nothing (RFC 3464 §2.3.3 ``delayed``: the MTA still tries). A
        failure that names no readable recipient blocks ``fallback_recipient`` as ``unknown``
        (3 h): the pipeline passes the recipient named by the verified signed Message-ID of the
        original (:func:`helpmail.message_ids.read_message_id` on
        :attr:`~helpmail.bounces.Bounce.original_message_id`).
        """
        now = _utc(now)
        stored: list[AddressBlock] = []
        recipients = bounce.recipients
        if not recipients and fallback_recipient and bounce.kind is BounceKind.FAILURE:
            recipients = (
                BouncedRecipient(
                    address=fallback_recipient,
                    reason=BounceReason.UNKNOWN,
                    hard=False,
                    diagnostic="a bounce that names no readable recipient",
                    source="fallback",
                ),
            )
        for recipient in recipients:
            blocks, duration = self.settings.block_duration(recipient.reason)
            if not blocks:
                continue
            key = address_key(recipient.original_recipient or recipient.address)
            new = AddressBlock(
                address=key,
                reason=recipient.reason,
                hard=recipient.hard,
                blocked_at=now,
                blocked_until=None if duration is None else now + duration,
                status=recipient.status,
                diagnostic=recipient.diagnostic,
                bounce_message_id=bounce.message_id,
                original_message_id=bounce.original_message_id,
                alert=REASONS[recipient.reason].alert,
            )
            # One unit: two workers merging bounces for one address at once lose no count and
            # never shorten a block (a read-merge-write outside a transaction could do both).
            with self.state.transaction():
                merged = merge_block(self.state.get_block(key), new, now)
                self.state.put_block(merged)
            stored.append(merged)
        return tuple(stored)

    def record_sent(
        self, recipient: str, ticket: str | None, now: dt.datetime, *, automatic: bool = True
    ) -> TicketBlock | None:
        """Log a mail sent to ``recipient`` on ``ticket``; returns a flood block if this mail
        crossed the threshold. (An automatic mail sent after :meth:`admit` is already logged.)"""
        now = _utc(now)
        with self.state.transaction():
            return self._log_sent(recipient, ticket, now, automatic=automatic)

    def _log_sent(
        self, recipient: str, ticket: str | None, now: dt.datetime, *, automatic: bool
    ) -> TicketBlock | None:
        self.state.add_mail(
            MailRecord(
                ticket=ticket,
                at=now,
                direction=Direction.OUT,
                address=address_key(recipient),
                automatic=automatic,
            )
        )
        return self._flood(ticket, now)

    def record_received(self, ticket: str | None, now: dt.datetime) -> TicketBlock | None:
        """Log an inbound mail on ``ticket`` (any kind: loops are made of both directions)."""
        now = _utc(now)
        with self.state.transaction():
            self.state.add_mail(
                MailRecord(ticket=ticket, at=now, direction=Direction.IN, automatic=False)
            )
            return self._flood(ticket, now)

    def clear(self, address: str) -> bool:
        """Lift the block of ``address`` (an admin fixed it); ``True`` when there was one."""
        return self.state.remove_block(address_key(address))

    def prune(self, now: dt.datetime) -> int:
        """Forget logged mails no window looks at any more."""
        windows = [c.window for c in (*self.settings.address_caps, *self.settings.ticket_caps)]
        longest = max([self.settings.flood_window, *windows])
        return self.state.prune(_utc(now) - longest)

    def _flood(self, ticket: str | None, now: dt.datetime) -> TicketBlock | None:
        if ticket is None:
            return None
        current = self.state.get_ticket_block(ticket)
        if current is not None and current.active(now):
            return None
        since = now - self.settings.flood_window
        if current is not None and current.blocked_until > since:
            since = current.blocked_until  # count afresh after a flood block ended
        count = len(self.state.mail_times(since=since, ticket=ticket))
        if count <= self.settings.flood_threshold:
            return None
        block = TicketBlock(
            ticket=ticket,
            blocked_at=now,
            blocked_until=now + self.settings.flood_block,
            mails=count,
        )
        self.state.put_ticket_block(block)
        return block


def blocks_from(bounces: Iterable[tuple[Bounce, dt.datetime]]) -> Sequence[AddressBlock]:
    """The blocks a sequence of ``(bounce, time)`` leaves behind (a replay in memory)."""
    guard = DeliveryGuard()
    for bounce, at in bounces:
        guard.record_bounce(bounce, at)
    return guard.blocks()


__all__ = [
    "AddressBlock",
    "Allowed",
    "Cap",
    "Decision",
    "DeliveryGuard",
    "Direction",
    "GuardSettings",
    "GuardState",
    "Held",
    "HoldReason",
    "MailRecord",
    "MemoryGuardState",
    "TicketBlock",
    "blocks_from",
    "merge_block",
]
