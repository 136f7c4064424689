"""The ports the notification policy reads: people, queues, the delivery guard, a mail sender.

A host application implements :class:`Directory` over its own user and queue tables (or uses
:class:`StaticDirectory`, which the CLI builds from the ``[notify]`` config section). The delivery
guard (:mod:`helpmail.guard`) is used only through :class:`DeliveryGuardLike` (and, to count what
is sent, :class:`MailAdmitter` or :class:`SentRecorder`), so the policy does not depend on its
internals: any ``check()`` or ``admit()`` result with a non-``None`` ``reason`` is a hold.
:class:`MailSender` is the transport port the SMTP and outbox adapters implement.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import attrs

if TYPE_CHECKING:
    from email.message import EmailMessage


@attrs.frozen(kw_only=True)
class Person:
    """A person the desk knows: an agent, a dispatcher, a manager or a customer.

    ``address`` may be ``None`` (a person without mail); ``language`` is an ISO 639-1 code
    (``en``, ``de``, ``nl``) or ``None`` for the desk default; ``dispatcher`` marks dispatcher
    rights.
    """

    id: str
    name: str = ""
    address: str | None = None
    language: str | None = None
    dispatcher: bool = False


@attrs.frozen(kw_only=True)
class Queue:
    """A resource (queue) that holds tickets: its own address, or its members' addresses."""

    id: str
    name: str = ""
    address: str | None = None
    members: tuple[str, ...] = ()


class Directory(Protocol):
    """Who is who: people and queues by id, and the users with dispatcher rights."""

    def person(self, person_id: str) -> Person | None:
        """The person with this id, or ``None`` when unknown."""
        ...

    def queue(self, queue_id: str) -> Queue | None:
        """The queue with this id, or ``None`` when unknown."""
        ...

    def dispatchers(self) -> Sequence[Person]:
        """All users with dispatcher rights, in a stable order."""
        ...


@attrs.frozen(kw_only=True)
class StaticDirectory:
    """A :class:`Directory` held in memory (config files, tests, the benchmark)."""

    people: Mapping[str, Person] = attrs.field(factory=dict)
    queues: Mapping[str, Queue] = attrs.field(factory=dict)

    @classmethod
    def of(cls, people: Sequence[Person] = (), queues: Sequence[Queue] = ()) -> StaticDirectory:
        """Build from lists of people and queues."""
        return cls(people={p.id: p for p in people}, queues={q.id: q for q in queues})

    def person(self, person_id: str) -> Person | None:
        return self.people.get(person_id)

    def queue(self, queue_id: str) -> Queue | None:
        return self.queues.get(queue_id)

    def dispatchers(self) -> Sequence[Person]:
        return [p for p in self.people.values() if p.dispatcher]


@runtime_checkable
class HeldLike(Protocol):
    """What a guard's "held" answer looks like: a reason and, for timed blocks, an end."""

    @property
    def reason(self) -> object: ...

    @property
    def until(self) -> dt.datetime | None: ...


class DeliveryGuardLike(Protocol):
    """The delivery guard as the notification policy uses it (``helpmail.guard`` fits).

    ``check`` answers for one recipient address on one ticket (the ticket id) at ``now``;
    ``staff`` is true for agents, dispatchers and queue addresses (they have their own caps). An
    answer with a non-``None`` ``reason`` attribute means *held* (bounce block, cap); anything
    else means allowed.
    """

    def check(
        self, recipient: str, ticket: str, now: dt.datetime, *, staff: bool = False
    ) -> object:
        """Allowed, or held with ``reason`` and ``until``; ``staff`` for the desk's own people."""
        ...


@runtime_checkable
class SentRecorder(Protocol):
    """A guard that counts sent mails for its caps (``helpmail.guard.DeliveryGuard`` is one)."""

    def record_sent(self, recipient: str, ticket: str, now: dt.datetime) -> object:
        """Log one automatic mail to ``recipient`` about ``ticket``."""
        ...


@runtime_checkable
class MailAdmitter(Protocol):
    """A guard that checks and counts an automatic mail in one atomic step, so several workers
    sharing its state never send more than a cap allows (``helpmail.guard.DeliveryGuard`` is
    one). The notifier admits each mail right before sending it and releases the slot of a mail
    that was not sent."""

    def admit(
        self, recipient: str, ticket: str, now: dt.datetime, *, staff: bool = False
    ) -> object:
        """Allowed (and counted), or held with ``reason`` and ``until``, as ``check`` answers."""
        ...

    def release(self, recipient: str, ticket: str, now: dt.datetime) -> object:
        """Give back the slot of an admitted mail that was not sent."""
        ...


@attrs.frozen(kw_only=True)
class OutgoingMail:
    """A composed mail and its SMTP envelope (RFC 5321 §3.3: MAIL FROM and RCPT TO).

    ``envelope_from`` is the return path that receives bounces (VERP or dedicated bounce address,
    or the From address); ``envelope_to`` the addresses to deliver to.
    """

    message: EmailMessage
    envelope_from: str
    envelope_to: tuple[str, ...]

    @property
    def message_id(self) -> str:
        """The Message-ID header (with angle brackets)."""
        return str(self.message["Message-ID"] or "")


@attrs.frozen(kw_only=True)
class SendReceipt:
    """What a sender did: the accepted recipients and the refused ones with (code, reply)."""

    accepted: tuple[str, ...]
    refused: Mapping[str, tuple[int, str]] = attrs.field(factory=dict)


class MailSender(Protocol):
    """The transport port: hand one composed mail to a server or an outbox.

    Raises :class:`helpmail.errors.SendError` when nothing was delivered; a partial refusal is
    returned in the receipt.
    """

    def send(self, mail: OutgoingMail) -> SendReceipt:
        """Send one mail."""
        ...
