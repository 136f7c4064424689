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

The policy is pure; its memory is a port, :class:`GuardState`, with an in-memory implementation
here (:class:`MemoryGuardState`) and an SQLite one in :mod:`helpmail.adapters.sqlite_guard`. Both
pass :mod:`helpmail.testing.guard_conformance`. Only automatic mail is guarded: an agent can
still write by hand (with a warning built from :meth:`DeliveryGuard.check`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from enum import StrEnum
from typing import Protocol, runtime_checkable

import attrs

from helpmail.bounces.model import Bounce, BouncedRecipient, BounceKind, BounceReason
from helpmail.bounces.reasons import REASONS
from helpmail.mail.model import address_key


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
    """

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
    """A :class:`GuardState` in memory (tests, replays, a single process)."""

    def __init__(self) -> None:
        self._blocks: dict[str, AddressBlock] = {}
        self._tickets: dict[str, TicketBlock] = {}
        self._mails: list[MailRecord] = []

    def get_block(self, address: str) -> AddressBlock | None:
        return self._blocks.get(address)

    def put_block(self, block: AddressBlock) -> None:
        self._blocks[block.address] = block

    def remove_block(self, address: str) -> bool:
        return self._blocks.pop(address, None) is not None

    def blocks(self) -> Sequence[AddressBlock]:
        return [self._blocks[k] for k in sorted(self._blocks)]

    def get_ticket_block(self, ticket: str) -> TicketBlock | None:
        return self._tickets.get(ticket)

    def put_ticket_block(self, block: TicketBlock) -> None:
        self._tickets[block.ticket] = block

    def add_mail(self, record: MailRecord) -> None:
        self._mails.append(attrs.evolve(record, at=_utc(record.at)))

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
    """The delivery guard: :meth:`check` before every automatic mail, :meth:`record_sent` after
    it, :meth:`record_bounce` for every bounce, :meth:`record_received` for every inbound mail on
    a ticket, :meth:`clear` when an admin fixed an address."""

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
        """
        now = _utc(now)
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
            until = _cap_hold([t for t in times if now - cap.window < t <= now], cap, now)
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
                until = _cap_hold([t for t in times if now - cap.window < t <= now], cap, now)
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
            merged = merge_block(self.state.get_block(key), new, now)
            self.state.put_block(merged)
            stored.append(merged)
        return tuple(stored)

    def record_sent(
        self, recipient: str, ticket: str | None, now: dt.datetime, *, automatic: bool = True
    ) -> TicketBlock | None:
        """Log a mail sent to ``recipient`` on ``ticket``; returns a flood block if this mail
        crossed the threshold."""
        now = _utc(now)
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
