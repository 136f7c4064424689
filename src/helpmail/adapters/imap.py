"""The IMAP mail source (imapclient): batched, UID-based, crash-safe, with IDLE.

The rules this module keeps:

* **UIDs, never sequence numbers.** Messages are searched and fetched by UID (RFC 3501 §2.3.1.1)
  and named by (mailbox, folder, UIDVALIDITY, UID) in :class:`~helpmail.ports.MessageRef`.
  osTicket's sequence-number fetcher skips every other message (#6979); UIDs cannot shift.
* **Batched reads.** One ``UID FETCH`` of sizes per 1,000 messages, then flags, dates and
  ``BODY.PEEK[]`` (which does not set ``\\Seen``, RFC 3501 §6.4.5) for up to ``batch_size``
  messages per round trip, instead of one round trip per message. The next batch is asked for
  before the current one is handed out (pipelining, RFC 3501 §5.5), and its answer is read in
  full before any other command goes out. The answers are read by this module's own
  line/literal reader, not imaplib's response loop.
* **Commit, then flag.** Nothing is changed on the server while reading. :meth:`ImapSource.apply`
  is called by the service only after the store has committed the import; a crash in between
  leaves the message in place and the rerun finds it already imported.
* **UIDVALIDITY.** When the server reports another UIDVALIDITY the folder is read again from the
  start and the new value is reported in every ``MessageRef``; :meth:`ImapSource.apply` refuses to
  act on a ref whose UIDVALIDITY is no longer the folder's (its UID may name another message now).
* **Oversized mail** (``max_message_size``) is not downloaded: it is listed in
  :attr:`ImapSource.skipped` with its reason, logged, and the watermark moves past it, so it is not
  retried on every run.
* **Errors** from imapclient, imaplib, ``ssl`` and sockets become :class:`SourceError`. Dropped
  connections are re-opened with exponential backoff and the scan resumes after the last message
  handled. Credentials never appear in logs, reprs or error messages.
* **IDLE** (RFC 2177) for near-real-time pickup, re-issued well within 29 minutes, with a polling
  fallback; imapclient reports a dead connection during IDLE only as an early empty answer (or a
  ``BYE``), and both are treated as a lost connection.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import re
import socket
import ssl
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

import attrs
import imapclient
from imapclient import exceptions as imap_errors

from helpmail.errors import SourceError
from helpmail.ports import (
    Clock,
    MailboxAction,
    MailboxActionKind,
    MessageRef,
    SourceMessage,
    SystemClock,
)
from helpmail.scanner.settings import MailboxSettings, OAuth2Auth, PasswordAuth, Security
from helpmail.scanner.state import (
    CheckRecord,
    FolderState,
    InMemoryScanState,
    ScanState,
    advance,
    backoff_delays,
    batches,
    plan_folder_scan,
)

if TYPE_CHECKING:
    import datetime as dt

log = logging.getLogger("helpmail.imap")

T = TypeVar("T")

#: UIDs per metadata FETCH (keeps the command line well under Dovecot's 64 KiB limit)
META_CHUNK = 1000
#: longest single IDLE before it is re-issued (RFC 2177 §3: clients re-issue at least every 29 min)
MAX_IDLE = 25 * 60.0
#: longest IDLE round; each round starts with a NOOP (see ImapSource._idle)
IDLE_ROUND = 10.0
#: how often a wait checks its stop flag (a local poll timeout: no round trip to the server)
SLICE = 1.0
SEEN = b"\\Seen"
#: what the batched body fetch asks for (sizes come from the metadata fetch before it)
BODY_ITEMS = "FLAGS INTERNALDATE BODY.PEEK[]"
DELETED = b"\\Deleted"


@attrs.frozen(kw_only=True)
class SkippedMessage:
    """A message the scanner did not download, with the reason (``too big``)."""

    ref: MessageRef
    size: int
    reason: str


class _Dropped(Exception):
    """Internal: the connection broke; reconnect and resume."""


class _Resync(Exception):
    """Internal: UIDVALIDITY changed while scanning; restart the folder."""


def _transient(error: BaseException) -> bool:
    """Whether ``error`` means "the connection broke" (retry) rather than "this cannot work"."""
    if isinstance(error, ssl.SSLCertVerificationError | imap_errors.LoginError):
        return False
    return isinstance(error, imap_errors.IMAPClientAbortError | OSError | EOFError | socket.timeout)


@attrs.define
class ScanStats:
    """Counters of the last :meth:`ImapSource.messages` run."""

    fetched: int = 0
    fetch_round_trips: int = 0
    skipped: int = 0
    reconnects: int = 0


class ImapSource:
    """A :class:`helpmail.ports.MailSource` reading the folders of one IMAP mailbox.

    ``state`` keeps folder watermarks and check times between runs (in memory by default; use
    :class:`helpmail.adapters.sqlite_scanner.SQLiteScanState` to keep them in a file).
    ``connect_attempts`` bounds the reconnects per operation, with delays from
    ``backoff_delays(backoff_initial)``; ``sleep`` and ``clock`` are injectable for tests.
    ``pipeline`` (on by default) sends the next batch's FETCH before the current batch is
    handed out, so the server prepares it meanwhile (RFC 3501 §5.5); its answer is read in full
    before any other command is sent on the connection.
    """

    def __init__(
        self,
        settings: MailboxSettings,
        *,
        state: ScanState | None = None,
        clock: Clock | None = None,
        connect_attempts: int = 5,
        backoff_initial: float = 0.5,
        backoff_max: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
        pipeline: bool = True,
    ) -> None:
        self.settings = settings
        self.pipeline = pipeline
        #: the next batch's FETCH, sent before the current batch is handed out (see _fetch_batch)
        self._prefetch: _Prefetch | None = None
        #: a FETCH answer carried news of the mailbox (see _fetch_batch)
        self._changes_heard = False
        #: folder -> (UIDVALIDITY, UID) of the last message handed out (see checkpoint)
        self._last_out: dict[str, tuple[int, int]] = {}
        self.state: ScanState = state if state is not None else InMemoryScanState()
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.connect_attempts = max(1, connect_attempts)
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self._sleep = sleep
        self._client: Any = None
        self._selected: str | None = None
        self._uidvalidity: dict[str, int] = {}
        self._progress: dict[str, FolderState] = {}
        #: folder -> (UIDVALIDITY, UIDs) whose \Seen is set with the next flush (one STORE)
        self._pending_seen: dict[str, tuple[int, list[int]]] = {}
        #: folder -> UIDs whose actions failed: the saved watermark stays below them
        self._held: dict[str, set[int]] = {}
        self.skipped: list[SkippedMessage] = []
        self.resyncs: list[str] = []
        self.stats = ScanStats()

    # --- identity ---------------------------------------------------------------------------

    @property
    def name(self) -> str:
        """``imap://user@host:port`` (stable; used in message keys)."""
        return self.settings.source_name

    def __repr__(self) -> str:
        return f"ImapSource({self.settings.describe()!r})"

    def last_successful_check(self) -> CheckRecord | None:
        """When this mailbox was last scanned completely without error."""
        return self.state.last_successful_check(self.name)

    # --- errors -----------------------------------------------------------------------------

    def _scrub(self, text: str) -> str:
        """Remove the credentials from ``text`` (server messages may echo what they got)."""
        auth = self.settings.auth
        secrets: list[str] = []
        if isinstance(auth, PasswordAuth):
            secrets.append(auth.password.reveal().decode("utf-8", "replace"))
        for secret in secrets:
            if secret:
                text = text.replace(secret, "***")
        return text

    def _error(self, doing: str, error: BaseException) -> SourceError:
        where = f"{self.settings.name} ({self.settings.host}:{self.settings.port})"
        if isinstance(error, ssl.SSLCertVerificationError):
            detail = error.verify_message or str(error)
            text = f"{where}: TLS certificate not accepted while {doing}: {detail}"
        elif isinstance(error, imap_errors.LoginError):
            text = f"{where}: login as {self.settings.user!r} failed: {_text(error)}"
        else:
            text = f"{where}: {doing} failed: {type(error).__name__}: {_text(error)}"
        return SourceError(self._scrub(text))

    def _call(self, doing: str, operation: Callable[[], T]) -> T:
        """Run one IMAP operation; a broken connection raises ``_Dropped``, anything else
        a :class:`SourceError`."""
        try:
            return operation()
        except (_Dropped, _Resync, SourceError):
            raise
        except Exception as error:
            if _transient(error):
                detail = self._scrub(_text(error))
                log.warning("%s: connection lost while %s: %s", self.name, doing, detail)
                raise _Dropped(f"{doing}: {detail}") from None
            raise self._error(doing, error) from None

    # --- connection -------------------------------------------------------------------------

    def _ssl_context(self) -> ssl.SSLContext:
        cafile = str(self.settings.ca_file) if self.settings.ca_file else None
        try:
            context = ssl.create_default_context(cafile=cafile)
        except (OSError, ssl.SSLError) as error:
            raise SourceError(
                f"{self.settings.name}: cannot load CA file {cafile}: {_text(error)}"
            ) from None
        if not self.settings.verify_certificate:
            log.warning("%s: TLS certificate verification is turned OFF", self.name)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def _open(self) -> Any:
        settings = self.settings
        secure = settings.security is not Security.PLAIN
        context = self._ssl_context() if secure else None
        client = imapclient.IMAPClient(
            settings.host,
            port=settings.port,
            ssl=settings.security is Security.TLS,
            ssl_context=context,
            timeout=settings.timeout,
        )
        try:
            if settings.security is Security.STARTTLS:
                # RFC 3501 §6.2.1; a server without STARTTLS makes this fail: no silent
                # fallback to plaintext (django-helpdesk's bug, prior-art §1b).
                client.starttls(context)
            auth = settings.auth
            if isinstance(auth, OAuth2Auth):
                client.oauth2_login(auth.user, auth.token_provider())
            else:
                client.login(auth.user, auth.password.reveal().decode("utf-8"))
            client.normalise_times = False
        except BaseException:
            _quietly_close(client)
            raise
        return client

    def _connection(self) -> Any:
        """The open connection, (re)connecting with backoff when there is none."""
        if self._client is not None:
            if self._prefetch is not None and not self._prefetch.done:
                self._settle()
            return self._client
        delays = backoff_delays(self.backoff_initial, maximum=self.backoff_max)
        last: BaseException | None = None
        for attempt in range(self.connect_attempts):
            if attempt:
                delay = next(delays)
                log.info("%s: reconnecting in %.1f s (attempt %d)", self.name, delay, attempt + 1)
                self._sleep(delay)
            try:
                self._client = self._open()
            except Exception as error:
                if not _transient(error):
                    raise self._error("connecting", error) from None
                last = error
                continue
            self._selected = None
            return self._client
        assert last is not None
        raise self._error(f"connecting ({self.connect_attempts} attempts)", last)

    def _settle(self) -> None:
        """Read the outstanding prefetched FETCH answer in full (kept for its batch), so the
        connection is free for another command."""
        pending = self._prefetch
        if pending is None or pending.done:
            return
        try:
            self._call(
                f"fetching {len(pending.uids)} messages",
                partial(read_fetch_answer, pending.client._imap, pending.tag, pending.parser),
            )
        except BaseException:
            self._prefetch = None
            raise
        pending.done = True

    def _drop(self) -> None:
        self._prefetch = None
        client, self._client, self._selected = self._client, None, None
        if client is not None:
            self.stats.reconnects += 1
            _quietly_close(client)

    def close(self) -> None:
        """Set the pending flags, save the scan progress, log out and close the connection."""
        self._persist_all()
        try:
            self._settle()
        except (_Dropped, SourceError):
            self._drop()
        self._prefetch = None
        client, self._client, self._selected = self._client, None, None
        if client is not None:
            try:
                client.logout()
            except Exception:
                _quietly_close(client)

    def __enter__(self) -> ImapSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _select(self, folder: str) -> int:
        client = self._connection()
        info = self._call(f"selecting {folder!r}", lambda: client.select_folder(folder))
        uidvalidity = int(info[b"UIDVALIDITY"])
        self._uidvalidity[folder] = uidvalidity
        self._selected = folder
        return uidvalidity

    # --- reading ----------------------------------------------------------------------------

    def messages(self) -> Iterator[SourceMessage]:
        """Every new message of every folder, oldest (lowest UID) first, streamed in batches.

        A complete pass records a successful check in the scan state; a failure records the error
        and raises :class:`SourceError`.
        """
        self._persist_all()  # the previous scan's consumer is done with its messages
        self._changes_heard = False  # this scan's SEARCH sees everything announced so far
        self._last_out.clear()
        self.stats = ScanStats()
        self.skipped = []
        try:
            for folder in self.settings.folders:
                yield from self._scan_with_retry(folder)
        except SourceError as error:
            self.state.record_check(
                self.name,
                CheckRecord(
                    at=self.clock.now(),
                    ok=False,
                    error=str(error),
                    messages=self.stats.fetched,
                    skipped=self.stats.skipped,
                ),
            )
            raise
        self.state.record_check(
            self.name,
            CheckRecord(
                at=self.clock.now(), messages=self.stats.fetched, skipped=self.stats.skipped
            ),
        )

    def _scan_with_retry(self, folder: str) -> Iterator[SourceMessage]:
        drops = 0
        while True:
            try:
                yield from self._scan_folder(folder)
                return
            except _Dropped as error:
                self._drop()
                drops += 1
                if drops >= self.connect_attempts:
                    raise SourceError(
                        f"{self.settings.name}: connection kept dropping while reading "
                        f"{folder!r}: {error}"
                    ) from None
            except _Resync:
                continue

    def _folder_state(self, folder: str) -> FolderState | None:
        if folder in self._progress:
            return self._progress[folder]
        return self.state.folder_state(self.name, folder)

    def _flush(self, folder: str | None = None) -> None:
        """Send the deferred ``\\Seen`` flags (of ``folder``, or all) in one STORE per folder."""
        for name in [folder] if folder is not None else list(self._pending_seen):
            pending = self._pending_seen.get(name)
            if not pending:
                continue
            uidvalidity, uids = pending
            client = self._connection()
            if self._selected != name:
                self._select(name)
            if self._uidvalidity.get(name) == uidvalidity:
                self._call("setting \\Seen", partial(client.add_flags, uids, [SEEN], silent=True))
            else:
                log.warning("%s/%s: UIDVALIDITY changed; \\Seen not set", self.name, name)
            del self._pending_seen[name]

    def _persist(self, folder: str) -> None:
        """Send the folder's pending flags, then save its watermark in the scan state.

        Flags first: a saved watermark never passes a message whose action is still pending.
        The watermark is saved between scans (when the next scan starts, before waiting, on
        close) and when the consumer says everything handed out is done (:meth:`checkpoint`),
        never otherwise in the middle of one: a consumer may apply a scan's actions in batches
        after it has moved on (the service does, after a durability sync), and a crash must make
        the next run read those messages again. It also stays below any message whose actions
        failed, so they are tried again.
        """
        self._flush(folder)
        progress = self._progress.get(folder)
        if progress is None:
            return
        held = self._held.get(folder)
        if held:
            progress = FolderState(
                uidvalidity=progress.uidvalidity,
                last_uid=min(progress.last_uid, min(held) - 1),
            )
        self.state.save_folder_state(self.name, folder, progress)

    def _persist_all(self) -> None:
        for folder in list(self._progress):
            try:
                try:
                    self._persist(folder)
                except _Dropped:
                    self._drop()
                    self._persist(folder)
            except (_Dropped, SourceError) as error:
                log.warning(
                    "%s/%s: progress not saved (the next scan reads these messages again and "
                    "the store recognises them): %s",
                    self.name,
                    folder,
                    error,
                )

    def _handled(self, folder: str, uidvalidity: int | None, uid: int) -> None:
        if uidvalidity is None or self._uidvalidity.get(folder, uidvalidity) != uidvalidity:
            return
        self._progress[folder] = advance(self._progress.get(folder), uidvalidity, uid)

    def _scan_folder(self, folder: str) -> Iterator[SourceMessage]:
        uidvalidity = self._select(folder)
        client = self._client
        scan = plan_folder_scan(self._folder_state(folder), uidvalidity, self.settings.scan_mode)
        if scan.resync:
            log.warning("%s/%s: %s", self.name, folder, scan.reason)
            self.resyncs.append(f"{folder}: {scan.reason}")
            self._held.pop(folder, None)  # those UIDs named messages of the old numbering
        if folder not in self._progress or scan.resync:
            self._progress[folder] = FolderState(
                uidvalidity=uidvalidity, last_uid=scan.first_uid - 1
            )
        criteria = scan.search_criteria()
        uids = scan.wanted(self._call("searching", lambda: client.search(criteria)))
        for start in range(0, len(uids), META_CHUNK):
            chunk = uids[start : start + META_CHUNK]
            meta = self._call("fetching sizes", partial(self._fetch_sizes, client, chunk))
            self.stats.fetch_round_trips += 1
            take: list[int] = []
            sizes: dict[int, int] = {}
            for uid in chunk:
                item = meta.get(uid)
                if item is None:  # expunged meanwhile
                    continue
                size = int(item.get(b"RFC822.SIZE", 0))
                sizes[uid] = size
                if size > self.settings.max_message_size:
                    self._skip(folder, uidvalidity, uid, size)
                    continue
                take.append(uid)
            planned = list(
                batches(take, sizes, self.settings.batch_size, self.settings.batch_bytes)
            )
            for n, batch in enumerate(planned):
                following = planned[n + 1] if n + 1 < len(planned) else None
                yield from self._fetch_batch(folder, uidvalidity, batch, sizes, following)

    def _fetch_sizes(self, client: Any, uids: Sequence[int]) -> dict[int, dict[bytes, Any]]:
        parser = FetchParser()
        sizes = fetch(client, uids, "RFC822.SIZE", parser)
        self._changes_heard = self._changes_heard or parser.changes
        return sizes

    def _skip(self, folder: str, uidvalidity: int, uid: int, size: int) -> None:
        ref = MessageRef(source=self.name, folder=folder, uid=str(uid), uidvalidity=uidvalidity)
        reason = (
            f"too big: {size} bytes is over max_message_size "
            f"{self.settings.max_message_size}; not downloaded, not retried"
        )
        log.warning("%s: skipped %s: %s", self.name, ref, reason)
        self.skipped.append(SkippedMessage(ref=ref, size=size, reason=reason))
        self.stats.skipped += 1
        self._handled(folder, uidvalidity, uid)

    def _fetch_batch(
        self,
        folder: str,
        uidvalidity: int,
        batch: Sequence[int],
        sizes: Mapping[int, int],
        following: Sequence[int] | None = None,
    ) -> Iterator[SourceMessage]:
        # apply() may have selected another folder in between, or the connection was re-opened
        if (self._selected != folder or self._client is None) and self._select(
            folder
        ) != uidvalidity:
            raise _Resync
        client = self._client
        pending = self._prefetch
        if pending is None or not (
            pending.client is client and pending.folder == folder and pending.uids == tuple(batch)
        ):
            self._settle()  # another batch's answer (normally read by _select): off the wire
            self._prefetch = self._send_batch(client, folder, batch)
        self._settle()
        pending, self._prefetch = self._prefetch, None
        assert pending is not None
        assert pending.done
        self.stats.fetch_round_trips += 1
        # A server announces new mail once; one that does so in the middle of this answer has
        # told us, not the NOOP that starts the next IDLE, so the next wait must not sleep.
        self._changes_heard = self._changes_heard or pending.parser.changes
        # before the next FETCH goes out: an unreadable answer is fetched again through imapclient
        data = self._call(
            f"fetching {len(batch)} messages",
            partial(fetch_result, client, batch, BODY_ITEMS, pending.parser),
        )
        if following and self.pipeline:
            # the server prepares the next batch while this one is handed out and imported
            self._prefetch = self._send_batch(client, folder, following)
        for uid in batch:
            item = data.get(uid)
            if item is None:  # expunged by someone else meanwhile
                self._handled(folder, uidvalidity, uid)
                continue
            raw = bytes(item.get(b"BODY[]") or b"")
            internal: dt.datetime | None = item.get(b"INTERNALDATE")
            message = SourceMessage(
                ref=MessageRef(
                    source=self.name, folder=folder, uid=str(uid), uidvalidity=uidvalidity
                ),
                raw=raw,
                flags=frozenset(_flag(f) for f in item.get(b"FLAGS", ())),
                internal_date=internal,
                size=sizes.get(uid, len(raw)),
            )
            self.stats.fetched += 1
            self._last_out[folder] = (uidvalidity, uid)
            yield message
            # the consumer asked for the next message: it is done with this one
            self._handled(folder, uidvalidity, uid)

    def _send_batch(self, client: Any, folder: str, uids: Sequence[int]) -> _Prefetch:
        """Send the body FETCH of ``uids``; its answer is read later (see :class:`_Prefetch`)."""
        tag = self._call(
            f"fetching {len(uids)} messages",
            partial(send_fetch, client._imap, uids, f"UID {BODY_ITEMS}"),
        )
        return _Prefetch(client=client, folder=folder, uids=tuple(uids), tag=tag)

    def checkpoint(self) -> None:
        """Every message handed out so far is done (committed, durable, actions applied): send
        the deferred ``\\Seen`` flags and save each folder's position now, so that a crash
        later in this scan does not read those messages again (:class:`~helpmail.ports.
        Checkpointing`; :meth:`helpmail.service.Desk.import_from` calls it after each batch of
        actions). The position stays below any message whose actions failed."""
        for folder, (uidvalidity, uid) in self._last_out.items():
            self._handled(folder, uidvalidity, uid)
        self._persist_all()

    # --- acting -----------------------------------------------------------------------------

    def apply(self, ref: MessageRef, actions: tuple[MailboxAction, ...]) -> None:
        """Carry out ``actions`` on one message; call only after the store committed its import.

        MOVE uses the MOVE extension (RFC 6851) when the server has it, else COPY + ``\\Deleted``
        + ``UID EXPUNGE`` (RFC 4315; plain EXPUNGE without UIDPLUS). A missing target folder is
        created (``[TRYCREATE]``, RFC 3501 §6.4.7). If the folder's UIDVALIDITY is no longer the
        ref's, nothing is done: the UID may name another message now.
        """
        if ref.source != self.name:
            raise SourceError(f"{ref} does not belong to {self.name}")
        uid = int(ref.uid)
        effective = tuple(a for a in actions if a.kind is not MailboxActionKind.LEAVE)
        pending = self._pending_seen.get(ref.folder)
        if (
            effective
            and ref.uidvalidity is not None
            and all(a.kind is MailboxActionKind.MARK_SEEN for a in effective)
            and (pending is None or pending[0] == ref.uidvalidity)
        ):
            # \Seen alone is deferred and sent for a whole batch in one STORE, before the
            # watermark is saved (so still after the commit, and never lost by a crash: the
            # message is then read again, found imported, and flagged).
            self._pending_seen.setdefault(ref.folder, (ref.uidvalidity, []))[1].append(uid)
            self._handled(ref.folder, ref.uidvalidity, uid)
            if len(self._pending_seen[ref.folder][1]) < self.settings.batch_size:
                return
            effective = ()
        copied: set[str] = set()  # folders this message was copied to: a retry must not copy
        for attempt in range(self.connect_attempts):
            try:
                self._flush(ref.folder)
                if effective:
                    self._apply(ref, uid, effective, copied)
                break
            except _Dropped as error:
                self._drop()
                if attempt + 1 >= self.connect_attempts:
                    self._held.setdefault(ref.folder, set()).add(uid)
                    raise SourceError(
                        f"{self.settings.name}: could not apply actions to {ref}: {error}"
                    ) from None
            except SourceError:
                self._held.setdefault(ref.folder, set()).add(uid)
                raise
        self._held.get(ref.folder, set()).discard(uid)
        self._handled(ref.folder, ref.uidvalidity, uid)

    def _apply(
        self,
        ref: MessageRef,
        uid: int,
        actions: tuple[MailboxAction, ...],
        copied: set[str] | None = None,
    ) -> None:
        folder = ref.folder
        client = self._connection()
        if self._selected != folder:
            self._select(folder)
        current = self._uidvalidity.get(folder)
        if ref.uidvalidity is not None and current != ref.uidvalidity:
            log.warning(
                "%s: not applying %s to %s: UIDVALIDITY is now %s",
                self.name,
                [a.kind.value for a in actions],
                ref,
                current,
            )
            return
        for action in actions:
            kind = action.kind
            if kind is MailboxActionKind.MARK_SEEN:
                self._call("setting \\Seen", lambda: client.add_flags([uid], [SEEN], silent=True))
            elif kind is MailboxActionKind.DELETE:
                self._delete(client, uid)
                return
            elif kind is MailboxActionKind.MOVE:
                assert action.folder is not None
                self._move(client, uid, action.folder, copied)
                return

    def _delete(self, client: Any, uid: int) -> None:
        self._call("setting \\Deleted", lambda: client.add_flags([uid], [DELETED], silent=True))
        if client.has_capability("UIDPLUS"):
            self._call("expunging", lambda: client.uid_expunge([uid]))
            return
        # A plain EXPUNGE removes *every* message flagged \Deleted (RFC 3501 §6.4.3), also
        # those another client only marked and could still undelete. Their flag is lifted for
        # the moment of the EXPUNGE and set again after it. Should the connection drop in
        # between, they are left undeleted: a message that reappears, never one that is lost.
        others = [
            u
            for u in self._call("searching \\Deleted", lambda: client.search(["DELETED"]))
            if u != uid
        ]
        if others:
            self._call(
                "sparing other \\Deleted mail",
                lambda: client.remove_flags(others, [DELETED], silent=True),
            )
        self._call("expunging", client.expunge)
        if others:
            self._call(
                "restoring other \\Deleted flags",
                lambda: client.add_flags(others, [DELETED], silent=True),
            )

    def _move(self, client: Any, uid: int, target: str, copied: set[str] | None = None) -> None:
        done = copied if copied is not None else set()

        def attempt() -> None:
            if client.has_capability("MOVE"):
                self._call(f"moving to {target!r}", lambda: client.move([uid], target))
            else:
                # COPY and the expunge are not atomic: when the connection is lost after a
                # COPY that succeeded, apply() retries on a new connection without copying again
                if target not in done:
                    self._call(f"copying to {target!r}", lambda: client.copy([uid], target))
                    done.add(target)
                self._delete(client, uid)

        try:
            attempt()
        except SourceError as error:
            if "TRYCREATE" not in str(error).upper():
                raise
            log.info("%s: creating folder %r", self.name, target)
            self._call(f"creating {target!r}", lambda: client.create_folder(target))
            attempt()

    # --- waiting ----------------------------------------------------------------------------

    def wait_for_changes(self, timeout: float, *, stop: Callable[[], bool] | None = None) -> bool:
        """Block until the first folder changes (IDLE) or ``timeout`` seconds pass.

        Returns ``True`` when something arrived (or the connection was lost and re-opened, so a
        scan should look), ``False`` on a quiet time-out. Without IDLE (settings or server) it
        sleeps ``timeout`` and returns ``True`` (polling). ``stop`` is checked about once a second
        (``helpmail poll`` passes its shutdown flag); when it returns true, waiting ends at once.
        """
        timeout = min(timeout, MAX_IDLE)
        should_stop = stop or (lambda: False)
        self._persist_all()
        if self._changes_heard:  # announced during the last scan, after its SEARCH
            self._changes_heard = False
            return True
        try:
            client = self._connection()
            if not (self.settings.idle and client.has_capability("IDLE")):
                if stop is None:
                    self._sleep(timeout)
                    return True
                deadline = time.monotonic() + timeout
                while not stop():
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._sleep(min(remaining, SLICE))
                return True
            return self._idle(self.settings.folders[0], timeout, should_stop)
        except _Dropped:
            self._drop()
            if not should_stop():
                self._connection()
            return True

    def _idle(self, folder: str, timeout: float, stop: Callable[[], bool]) -> bool:
        if self._selected != folder:
            self._select(folder)
        client = self._client
        deadline = time.monotonic() + timeout
        while True:
            # A change that lands after the last check but before IDLE starts is not announced
            # by that IDLE (seen with Dovecot 2.3), so every IDLE round starts with a NOOP, which
            # makes the server report what changed (RFC 3501 §6.1.2), and rounds are short.
            _, responses = self._call("checking for changes", client.noop)
            if any(_is_change(r) for r in responses):
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0 or stop():
                return False
            if self._idle_round(client, min(remaining, IDLE_ROUND), stop):
                return True

    def _idle_round(self, client: Any, timeout: float, stop: Callable[[], bool]) -> bool:
        self._call("starting IDLE", client.idle)
        deadline = time.monotonic() + timeout
        changed = False
        dead = False
        try:
            while not stop():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                wait = min(remaining, SLICE)
                started = time.monotonic()
                responses = self._call("waiting in IDLE", partial(client.idle_check, wait))
                waited = time.monotonic() - started
                if any(_is_bye(r) for r in responses):
                    dead = True
                    break
                if not responses:
                    # imapclient returns [] immediately after EOF instead of raising
                    # (mail-servers notes, pitfall 8): early and empty means the server is gone.
                    if waited + 0.25 < wait:
                        dead = True
                        break
                    continue
                if any(_is_change(r) for r in responses):
                    changed = True
                    break
        finally:
            if not dead:
                try:
                    # changes the server sent between the last check and DONE come back here
                    _, late = self._call("ending IDLE", client.idle_done)
                    changed = changed or any(_is_change(r) for r in late)
                except _Dropped:
                    dead = True
        if dead:
            log.warning("%s: connection lost during IDLE; reconnecting", self.name)
            raise _Dropped("connection lost during IDLE")
        return changed


def open_url(
    url: str,
    *,
    env: Mapping[str, str] | None = None,
    state: ScanState | None = None,
    name: str | None = None,
) -> ImapSource:
    """An :class:`ImapSource` for ``imaps://user@host[:port]/FOLDER[?options]``.

    For ``helpmail import imaps://...``: the password comes from ``HELPMAIL_IMAP_PASSWORD`` in
    ``env`` (the process environment by default), never from the URL; see
    :func:`helpmail.scanner.config.parse_imap_url` for the options.
    """
    import os

    from helpmail.scanner.config import parse_imap_url

    settings = parse_imap_url(url, env=env if env is not None else os.environ, name=name)
    return ImapSource(settings, state=state)


def uid_set(uids: Sequence[int]) -> str:
    """A compact IMAP sequence set (RFC 3501 §9 ``sequence-set``): ``1:3,7,9:10``."""
    parts: list[str] = []
    ordered = sorted(set(uids))
    start = prev = None
    for uid in ordered:
        if start is None:
            start = prev = uid
        elif uid == prev + 1:  # type: ignore[operator]
            prev = uid
        else:
            parts.append(f"{start}:{prev}" if start != prev else str(start))
            start = prev = uid
    if start is not None:
        parts.append(f"{start}:{prev}" if start != prev else str(start))
    return ",".join(parts)


_ATOM = re.compile(
    rb"UID (?P<uid>\d+)|RFC822\.SIZE (?P<size>\d+)|FLAGS \((?P<flags>[^)]*)\)"
    rb'|INTERNALDATE "(?P<date>[^"]*)"|BODY\[\] (?:\{(?P<literal>\d+)\}$|(?P<empty>NIL|""))'
)
#: the answer to :data:`BODY_ITEMS` as servers usually give it: items in the order asked
_BODY_RESPONSE = re.compile(
    rb'\* \d+ FETCH \(UID (\d+) FLAGS \(([^)]*)\) INTERNALDATE "([^"]*)" BODY\[\] \{(\d+)\}\Z'
)
_MONTHS = {
    name: number
    for number, name in enumerate(
        b"jan feb mar apr may jun jul aug sep oct nov dec".split(),
        start=1,
    )
}


def internal_date(value: bytes) -> dt.datetime | None:
    """An IMAP ``INTERNALDATE`` as an aware datetime in the server's offset; ``None`` if invalid.

    The fixed RFC 3501 form (``date-day-fixed``: always 26 characters) is read directly, by
    position (imapclient's general date parser costs more than the rest of a message's
    handling); other forms go to imapclient's parser. A date that cannot be read leaves the
    message without an arrival time; it never stops the scan.
    """
    import datetime as dt

    try:
        if (
            len(value) == 26
            and value[2:3] == value[6:7] == b"-"
            and value[11:12] == value[20:21] == b" "
            and value[21:22] in (b"+", b"-")
        ):
            month = _MONTHS.get(value[3:6].lower())
            if month is not None:
                return dt.datetime(
                    int(value[7:11]),
                    month,
                    int(value[0:2]),
                    int(value[12:14]),
                    int(value[15:17]),
                    int(value[18:20]),
                    tzinfo=_zone(value[21:26]),
                )
        from imapclient.datetime_util import parse_to_datetime

        parsed: dt.datetime = parse_to_datetime(value, normalise=False)
        return parsed
    except (ValueError, TypeError, OverflowError):
        log.warning("unreadable INTERNALDATE %r: the message gets no arrival time", value)
        return None


_ZONES: dict[bytes, dt.tzinfo] = {}


def _zone(offset: bytes) -> dt.tzinfo:
    """The fixed-offset zone of ``+HHMM`` / ``-HHMM`` (one object per offset, reused)."""
    zone = _ZONES.get(offset)
    if zone is None:
        import datetime as dt

        if not (offset[1:].isdigit() and len(offset) == 5):
            raise ValueError(f"bad zone {offset!r}")
        delta = dt.timedelta(hours=int(offset[1:3]), minutes=int(offset[3:5]))
        zone = dt.timezone(-delta if offset[:1] == b"-" else delta)
        if len(_ZONES) < 256:
            _ZONES[offset] = zone
    return zone


class FetchParser:
    """Reads untagged FETCH data, response by response, into imapclient's result shape, fast.

    imapclient's general response parser runs character by character and costs about half a
    millisecond per message, more than a whole round trip on a LAN; the few items helpmail asks
    for (UID, RFC822.SIZE, FLAGS, INTERNALDATE, BODY[] as a literal) are read here with one
    regular expression per response line (RFC 3501 §7.4.2). Items come in imaplib's data shape:
    a line, or ``(line, literal)`` for a line that ends in a literal. Several responses for one
    UID (an unsolicited flag update beside the fetched data) are merged. :attr:`unknown` is set
    when the data has a shape this reader does not know, so the caller can fall back to
    imapclient.
    """

    def __init__(self) -> None:
        self.result: dict[int, dict[bytes, Any]] = {}
        self.unknown = False
        #: the server announced new or removed messages (EXISTS, RECENT, EXPUNGE) meanwhile
        self.changes = False
        self._current: dict[bytes, Any] = {}
        self._after_literal = False

    def feed(self, item: object) -> None:
        """Read one item: a response line, or a line with its literal. Never raises."""
        try:
            self._feed(item)
        except Exception:  # a shape nobody planned for: the caller asks imapclient instead
            log.exception("unexpected FETCH data; falling back to imapclient's parser")
            self.unknown = True

    def _feed(self, item: object) -> None:
        body: bytes | None = None
        if isinstance(item, tuple) and len(item) == 2:
            text, body = item
            if not isinstance(text, bytes) or not isinstance(body, bytes):
                self.unknown = True
                return
        elif isinstance(item, bytes):
            text = item
        else:
            self.unknown = True
            return
        if body is not None and not self._after_literal:
            fast = _BODY_RESPONSE.match(text)
            if fast is not None and len(body) == int(fast.group(4)):
                # the usual answer to helpmail's body fetch, in the order asked: one match
                uid, flags, date, _ = fast.groups()
                current: dict[bytes, Any] = {
                    b"FLAGS": tuple(flags.split()),
                    b"INTERNALDATE": internal_date(date),
                    b"BODY[]": body,
                }
                known = self.result.get(int(uid))
                if known is not None:
                    known.update(current)
                    current = known
                self.result[int(uid)] = self._current = current
                self._after_literal = True
                return
        if self._after_literal and text == b")":  # the usual end of a response after a literal
            self._after_literal = False
            return
        # a response continues after a literal with " ..." or ")"; anything else starts anew
        if not (self._after_literal and text[:1] in (b")", b" ")):
            self._current = {}
        self._after_literal = body is not None
        current = self._current
        for match in _ATOM.finditer(text):
            kind = match.lastgroup
            value = match.group(kind or 0)
            if kind == "uid":
                known = self.result.get(int(value))
                if known is not None and known is not current:
                    known.update(current)
                    self._current = current = known
                self.result[int(value)] = current
            elif kind == "size":
                current[b"RFC822.SIZE"] = int(value)
            elif kind == "flags":
                current[b"FLAGS"] = tuple(value.split())
            elif kind == "date":
                current[b"INTERNALDATE"] = internal_date(value)
            elif kind == "literal":
                if body is None or len(body) != int(value):
                    self.unknown = True
                    return
                current[b"BODY[]"] = body
            elif kind == "empty":
                current[b"BODY[]"] = b""


@attrs.define(kw_only=True)
class _Prefetch:
    """A batch's ``UID FETCH`` that was sent and whose answer is (being) read into ``parser``."""

    client: Any
    folder: str
    uids: tuple[int, ...]
    tag: bytes
    parser: FetchParser = attrs.Factory(FetchParser)
    done: bool = False


def parse_fetch(data: Sequence[object]) -> dict[int, dict[bytes, Any]] | None:
    """Read untagged FETCH data (see :class:`FetchParser`); ``None`` for an unknown shape."""
    parser = FetchParser()
    for item in data:
        parser.feed(item)
    return None if parser.unknown else parser.result


_LITERAL = re.compile(rb"\{(\d+)\}\r?\n?\Z")
_FETCH_LINE = re.compile(rb"\* \d+ FETCH ")
_TAGS = itertools.count(1)
_MAILBOX_CHANGE = re.compile(rb"\* \d+ (?:EXISTS|RECENT|EXPUNGE)\b", re.IGNORECASE)


def send_fetch(imap: Any, uids: Sequence[int], items: str) -> bytes:
    """Send ``UID FETCH uids (items)`` on the imaplib connection ``imap``; returns its tag.

    The tag (``HM`` and a counter) never equals one of imaplib's (four letters and a number).
    The answer must be read with :func:`read_fetch_answer` before imaplib sends anything else.
    """
    tag = b"HM%d" % next(_TAGS)
    imap.send(b"%s UID FETCH %s (%s)\r\n" % (tag, uid_set(uids).encode(), items.encode()))
    return tag


def read_fetch(imap: Any, uids: Sequence[int], items: str, parser: FetchParser) -> None:
    """Send ``UID FETCH uids (items)`` on the imaplib connection ``imap`` and read its answer."""
    read_fetch_answer(imap, send_fetch(imap, uids, items), parser)


def read_fetch_answer(imap: Any, tag: bytes, parser: FetchParser) -> None:
    """Read the answer to the ``UID FETCH`` sent with ``tag``, up to its tagged completion.

    Each FETCH response goes to ``parser`` as soon as it is read, so parsing overlaps the
    server's work on the next messages. imaplib reads every response line through several
    layers (tag and status regexes, untagged-response bookkeeping, debug hooks), which costs
    more per message than Dovecot needs to send it; this reads lines and literals straight from
    the connection's buffered stream (RFC 3501 §4.3, §7.4.2). Other untagged responses
    (``EXISTS``, ``EXPUNGE``, ``OK``) are read and dropped: nothing here depends on them, and the
    IDLE wait starts with a NOOP that reports what changed. A lost connection raises
    ``imaplib.IMAP4.abort``, a refusal ``imaplib.IMAP4.error``, as imaplib does.
    """
    import imaplib

    in_fetch = False  # the line continues a FETCH response after a literal
    while True:
        line = imap.readline()
        if not line:
            raise imaplib.IMAP4.abort("socket error: EOF")
        continues, in_fetch = in_fetch, False
        literal = _LITERAL.search(line)
        if literal is not None:
            size = int(literal.group(1))
            body = imap.read(size)
            if len(body) != size:
                raise imaplib.IMAP4.abort("socket error: EOF inside a literal")
            if continues or _FETCH_LINE.match(line):
                parser.feed((line.rstrip(b"\r\n"), body))
                in_fetch = True
            continue
        text = line.rstrip(b"\r\n")
        if continues or _FETCH_LINE.match(text):
            parser.feed(text)
        elif text.startswith(tag + b" "):
            status, _, detail = text[len(tag) + 1 :].partition(b" ")
            if status.upper() != b"OK":
                raise imaplib.IMAP4.error(f"UID FETCH {_decode(status)}: {_decode(detail)}")
            return
        elif text[:5].upper() == b"* BYE":
            raise imaplib.IMAP4.abort(_decode(text[2:]))
        elif _MAILBOX_CHANGE.match(text):
            parser.changes = True  # said once: whoever waits for changes must hear it from us
        elif text.startswith(b"+"):
            raise imaplib.IMAP4.error(f"unexpected continuation request: {_decode(text)}")


def fetch(
    client: Any, uids: Sequence[int], items: str, parser: FetchParser | None = None
) -> dict[int, dict[bytes, Any]]:
    """``UID FETCH uids (UID items)`` in one round trip, in imapclient's result shape.

    A fetched message whose answer this module cannot read (``BODY[]`` asked for and missing)
    is fetched again through imapclient's full parser, never dropped: only a UID the server
    does not answer for at all counts as expunged.
    """
    if not uids:
        return {}
    parser = parser if parser is not None else FetchParser()
    read_fetch(client._imap, uids, f"UID {items}", parser)
    return fetch_result(client, uids, items, parser)


def fetch_result(
    client: Any, uids: Sequence[int], items: str, parser: FetchParser
) -> dict[int, dict[bytes, Any]]:
    """The messages ``parser`` read; those it could not read are fetched through imapclient."""
    parsed = None if parser.unknown else parser.result
    wanted = set(uids)
    if parsed is None:
        unread = sorted(wanted)
    elif "BODY" in items:
        unread = [u for u, got in parsed.items() if u in wanted and b"BODY[]" not in got]
    else:
        unread = []
    if unread:  # an unusual response: imapclient's full parser reads those
        full: dict[int, dict[bytes, Any]] = client.fetch(
            unread, [i.encode() for i in items.split()]
        )
        parsed = {**(parsed or {}), **full}
    return parsed or {}


def _decode(text: bytes) -> str:
    return text.decode("utf-8", "replace")


_CHANGES = {b"EXISTS", b"RECENT", b"EXPUNGE", b"FETCH"}


def _is_change(response: object) -> bool:
    return isinstance(response, tuple) and len(response) >= 2 and response[1] in _CHANGES


def _is_bye(response: object) -> bool:
    return isinstance(response, tuple) and bool(response) and response[0] == b"BYE"


def _flag(flag: object) -> str:
    return flag.decode("ascii", "replace") if isinstance(flag, bytes) else str(flag)


def _text(error: BaseException) -> str:
    parts = []
    for arg in error.args:
        parts.append(arg.decode("utf-8", "replace") if isinstance(arg, bytes) else str(arg))
    return "; ".join(parts) or type(error).__name__


def _quietly_close(client: Any) -> None:
    with contextlib.suppress(Exception):
        client.shutdown()
