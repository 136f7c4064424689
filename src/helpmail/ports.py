"""The Protocols a host application implements (or takes from :mod:`helpmail.adapters`).

helpmail's domain never does I/O; the service layer (:mod:`helpmail.service`) talks to the world
only through these ports. Every shipped adapter is one implementation; a host app can bring its own
(its ticket database, its mail transport) and check it with the conformance suites in
:mod:`helpmail.testing`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from enum import StrEnum
from typing import Protocol, runtime_checkable

import attrs


class Clock(Protocol):
    """Where "now" comes from (a fake clock in tests and replays)."""

    def now(self) -> dt.datetime:
        """The current time, timezone-aware."""
        ...


@attrs.frozen(kw_only=True)
class SystemClock:
    """The real clock (UTC)."""

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)


@attrs.frozen(kw_only=True)
class MessageRef:
    """Where one message lives in its source, stable across runs.

    ``source`` names the mailbox (``imap://user@host``, ``maildir:/path``, ``mbox:/path``),
    ``folder`` the folder, ``uidvalidity`` the IMAP UIDVALIDITY (``None`` for files) and ``uid`` the
    IMAP UID or the Maildir/mbox key. (source, folder, uidvalidity, uid) names a message exactly
    once (RFC 3501 §2.3.1.1).
    """

    source: str
    folder: str
    uid: str
    uidvalidity: int | None = None

    def __str__(self) -> str:
        validity = f";UIDVALIDITY={self.uidvalidity}" if self.uidvalidity is not None else ""
        return f"{self.source}/{self.folder}{validity}/{self.uid}"


@attrs.frozen(kw_only=True)
class SourceMessage:
    """One message read from a source: its place, bytes and server-side state."""

    ref: MessageRef
    raw: bytes = attrs.field(repr=False)
    flags: frozenset[str] = frozenset()
    internal_date: dt.datetime | None = None
    size: int = 0


class MailboxActionKind(StrEnum):
    """What to do with a message on its server once the store has committed its import."""

    LEAVE = "leave"
    MARK_SEEN = "mark_seen"
    MOVE = "move"
    DELETE = "delete"


@attrs.frozen(kw_only=True)
class MailboxAction:
    """One mailbox action; ``folder`` is the target of ``move``."""

    kind: MailboxActionKind
    folder: str | None = None


@runtime_checkable
class MailSource(Protocol):
    """A mailbox to read from: Maildir, mbox, IMAP, or a host's own.

    ``messages()`` streams (it must not load the whole mailbox); ``apply()`` is called only after
    the store has committed the import of that message, so a crash between the two leaves the
    message in place and the next run finds it already imported (idempotent import).
    """

    @property
    def name(self) -> str:
        """A stable name used in message keys (``MessageRef.source``)."""
        ...

    def messages(self) -> Iterator[SourceMessage]:
        """The messages to consider, oldest first, streamed."""
        ...

    def apply(self, ref: MessageRef, actions: tuple[MailboxAction, ...]) -> None:
        """Carry out mailbox actions for one message (after the store committed)."""
        ...

    def close(self) -> None:
        """Release connections and locks."""
        ...
