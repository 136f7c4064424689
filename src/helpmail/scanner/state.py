"""Scan state: per-folder UID watermarks, UIDVALIDITY handling and the last successful check.

The rules this module keeps (all pure functions over small values, plus the state port):

* A message is named by (mailbox, folder, UIDVALIDITY, UID). RFC 3501 §2.3.1.1: UIDs are strictly
  ascending within a folder, and "if unique identifiers from an earlier session fail to persist
  in this session, the unique identifier validity value MUST be greater than the one used in the
  earlier session". So the watermark (the highest UID handled) is only meaningful together with
  the UIDVALIDITY it was taken under; when the server reports another UIDVALIDITY the folder is
  scanned again from the start (:func:`plan_folder_scan`). That rescan imports nothing twice:
  the store recognises each message by Message-ID and body digest.
* The watermark moves only past messages the consumer has finished with (imported and committed,
  quarantined, or skipped with a reason), so a crash re-reads, never loses.
* Reconnects back off exponentially with a cap (:func:`backoff_delays`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Protocol

import attrs

from helpmail.scanner.settings import ScanMode


@attrs.frozen(kw_only=True)
class FolderState:
    """What a previous scan of one folder left: its UIDVALIDITY and the highest UID handled."""

    uidvalidity: int
    last_uid: int = 0


@attrs.frozen(kw_only=True)
class CheckRecord:
    """The outcome of the last complete scan of a mailbox (shown by ``helpmail poll``/``check``)."""

    at: dt.datetime
    ok: bool = True
    error: str | None = None
    messages: int = 0
    skipped: int = 0


@attrs.frozen(kw_only=True)
class FolderScan:
    """What to search for in one folder: UIDs from ``first_uid`` on, all or only unseen ones.

    ``resync`` is true when the UIDVALIDITY changed (or the folder was never scanned with this
    UIDVALIDITY before after a change), ``reason`` says so in words for logs and traces.
    """

    uidvalidity: int
    first_uid: int
    unseen_only: bool
    resync: bool = False
    reason: str = ""

    def search_criteria(self) -> list[str]:
        """IMAP SEARCH keys (RFC 3501 §6.4.4) for this scan, used with ``UID SEARCH``."""
        criteria = ["UID", f"{self.first_uid}:*"]
        if self.unseen_only:
            criteria.insert(0, "UNSEEN")
        return criteria

    def wanted(self, uids: list[int]) -> list[int]:
        """The UIDs from a SEARCH result this scan takes, ascending.

        ``n:*`` always includes the highest UID even when it is below ``n`` (RFC 3501 §6.4.8:
        "*" is the largest number in use), so the result is filtered again.
        """
        return sorted(uid for uid in set(uids) if uid >= self.first_uid)


def plan_folder_scan(saved: FolderState | None, uidvalidity: int, mode: ScanMode) -> FolderScan:
    """Decide where the scan of a folder starts, given what was saved and what the server says."""
    unseen = mode is ScanMode.UNSEEN
    if saved is None:
        return FolderScan(uidvalidity=uidvalidity, first_uid=1, unseen_only=unseen)
    if saved.uidvalidity != uidvalidity:
        return FolderScan(
            uidvalidity=uidvalidity,
            first_uid=1,
            unseen_only=unseen,
            resync=True,
            reason=(
                f"UIDVALIDITY changed from {saved.uidvalidity} to {uidvalidity}: the UIDs saved "
                "before name other messages now, so the folder is read again from the start "
                "(messages already imported are recognised by Message-ID and digest)"
            ),
        )
    return FolderScan(uidvalidity=uidvalidity, first_uid=saved.last_uid + 1, unseen_only=unseen)


def advance(state: FolderState | None, uidvalidity: int, uid: int) -> FolderState:
    """The folder state after the message ``uid`` was handled (never moves backwards)."""
    if state is None or state.uidvalidity != uidvalidity:
        return FolderState(uidvalidity=uidvalidity, last_uid=uid)
    return FolderState(uidvalidity=uidvalidity, last_uid=max(state.last_uid, uid))


def batches(
    uids: list[int], sizes: dict[int, int], max_count: int, max_bytes: int
) -> Iterator[list[int]]:
    """Cut ``uids`` into FETCH batches of at most ``max_count`` messages and about ``max_bytes``.

    A message bigger than ``max_bytes`` on its own gets a batch of its own.
    """
    batch: list[int] = []
    total = 0
    for uid in uids:
        size = sizes.get(uid, 0)
        if batch and (len(batch) >= max_count or total + size > max_bytes):
            yield batch
            batch, total = [], 0
        batch.append(uid)
        total += size
    if batch:
        yield batch


def backoff_delays(
    initial: float = 0.5, factor: float = 2.0, maximum: float = 300.0
) -> Iterator[float]:
    """Delays between reconnect attempts: ``initial``, times ``factor`` each time, capped."""
    delay = initial
    while True:
        yield delay
        delay = min(delay * factor, maximum)


class ScanState(Protocol):
    """Where scan state is kept: folder watermarks and the last check of each mailbox.

    :class:`InMemoryScanState` and :class:`helpmail.adapters.sqlite_scanner.SQLiteScanState`
    implement it; a host application can keep it in its own database.
    """

    def folder_state(self, mailbox: str, folder: str) -> FolderState | None:
        """The saved state of ``folder`` in ``mailbox`` (``None``: never scanned)."""
        ...

    def save_folder_state(self, mailbox: str, folder: str, state: FolderState) -> None:
        """Save the state of ``folder`` (replaces what was saved)."""
        ...

    def record_check(self, mailbox: str, record: CheckRecord) -> None:
        """Record the outcome of a scan of ``mailbox``."""
        ...

    def last_check(self, mailbox: str) -> CheckRecord | None:
        """The last recorded scan of ``mailbox``."""
        ...

    def last_successful_check(self, mailbox: str) -> CheckRecord | None:
        """The last scan of ``mailbox`` that completed without error."""
        ...


@attrs.define
class InMemoryScanState:
    """A :class:`ScanState` kept in memory (tests, one-off imports)."""

    folders: dict[tuple[str, str], FolderState] = attrs.field(factory=dict)
    checks: dict[str, CheckRecord] = attrs.field(factory=dict)
    good_checks: dict[str, CheckRecord] = attrs.field(factory=dict)

    def folder_state(self, mailbox: str, folder: str) -> FolderState | None:
        return self.folders.get((mailbox, folder))

    def save_folder_state(self, mailbox: str, folder: str, state: FolderState) -> None:
        self.folders[(mailbox, folder)] = state

    def record_check(self, mailbox: str, record: CheckRecord) -> None:
        self.checks[mailbox] = record
        if record.ok:
            self.good_checks[mailbox] = record

    def last_check(self, mailbox: str) -> CheckRecord | None:
        return self.checks.get(mailbox)

    def last_successful_check(self, mailbox: str) -> CheckRecord | None:
        return self.good_checks.get(mailbox)
