"""``helpmail poll --config FILE``: scan the configured IMAP mailboxes continuously.

Each active IMAP mailbox gets a worker thread that imports new mail (through
:class:`helpmail.service.Desk`, so every message is committed before it is flagged, moved or
deleted) and then waits with IDLE (RFC 2177) for the next change, or polls every
``poll_interval`` seconds where IDLE is not available. A lost connection is re-opened with
exponential backoff; a mailbox that keeps failing backs off up to five minutes and is retried,
never given up on, and its last successful check stays visible.

The automatic mails of each ticket event go out through the ``[smtp]`` section, or into a Maildir
with ``--outbox DIR``; ``--no-mail`` turns them off (see :mod:`helpmail.cli._notices`). Each
worker has its own notifier and sender (an SMTP connection is not shared between threads); they
all admit their mails through the one delivery guard, whose caps hold across threads. Each mail
sent is logged at INFO (``-v`` shows it), each failure at WARNING.

SIGTERM and SIGINT stop the workers cleanly: a scan in progress finishes the message it is on
(commit and flag), waiting ends within about a second, and every connection logs out. Exit
status 0 after a clean shutdown, 2 for a configuration problem.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import attrs

from helpmail.cli._common import SourceWrapper
from helpmail.config import Config, MailboxConfig, MailboxKind, load_config
from helpmail.errors import ConfigError, HelpmailError
from helpmail.scanner.settings import MailboxSettings
from helpmail.scanner.state import ScanState, backoff_delays

if TYPE_CHECKING:
    from helpmail.adapters.sqlite_scanner import SQLiteScanState
    from helpmail.cli._notices import MailNotices, MailRoute

HELP = "scan the configured IMAP mailboxes continuously (IDLE), until SIGTERM"

log = logging.getLogger("helpmail.poll")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", required=True, type=Path, metavar="FILE", help="the TOML configuration"
    )
    parser.add_argument(
        "--db", type=Path, metavar="PATH", help="the SQLite database (default: [database] path)"
    )
    parser.add_argument(
        "--mailbox", action="append", metavar="NAME", help="only this mailbox (repeatable)"
    )
    parser.add_argument("--once", action="store_true", help="scan every mailbox once and exit")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every step")
    from helpmail.cli.import_ import add_mail_arguments

    add_mail_arguments(parser)


def imap_mailboxes(config: Config, only: Sequence[str] | None = None) -> list[MailboxSettings]:
    """The active IMAP mailboxes of ``config`` as :class:`MailboxSettings`.

    Accepts both forms the ``mailboxes`` section can produce: the scanner's own
    :class:`MailboxSettings` and the shared :class:`helpmail.config.MailboxConfig`.
    """
    from helpmail.scanner.config import settings_from_config

    raw: Sequence[object] = config.mailboxes
    section = config.section("mailboxes")
    if isinstance(section, tuple) and section:
        raw = section
    found: list[MailboxSettings] = []
    for mailbox in raw:
        if isinstance(mailbox, MailboxSettings):
            settings = mailbox
        elif isinstance(mailbox, MailboxConfig) and mailbox.kind is MailboxKind.IMAP:
            settings = settings_from_config(mailbox)
        else:
            continue
        if only and settings.name not in only:
            continue
        if settings.active:
            found.append(settings)
    if only:
        missing = set(only) - {s.name for s in found}
        if missing:
            raise ConfigError("--mailbox", f"no active IMAP mailbox named {sorted(missing)[0]!r}")
    return found


def _scan_state(path: Path) -> SQLiteScanState:
    from helpmail.adapters.sqlite_scanner import SQLiteScanState

    return SQLiteScanState(path)


def _say(line: str) -> None:
    """Print one line at once (stdout is block-buffered under a service manager)."""
    print(line, flush=True)


@attrs.define
class Worker:
    """Scans one mailbox until ``stop`` is set (runs in its own thread)."""

    settings: MailboxSettings
    desk: Any
    state: ScanState
    stop: threading.Event
    lock: threading.Lock
    once: bool = False
    output: Callable[[str], None] = attrs.field(factory=lambda: _say)
    errors: int = 0
    #: this worker's automatic mails (its own notifier and sender); ``None``: none are sent
    notices: MailNotices | None = None

    def run(self) -> None:
        from helpmail.adapters.imap import ImapSource

        # few quick reconnects per scan; the worker itself backs off up to five minutes
        source = ImapSource(self.settings, state=self.state, connect_attempts=3)
        delays = backoff_delays(1.0, maximum=300.0)
        try:
            while not self.stop.is_set():
                try:
                    self.scan(source)
                    delays = backoff_delays(1.0, maximum=300.0)
                    if self.once:
                        return
                    source.wait_for_changes(self.settings.poll_interval, stop=self.stop.is_set)
                except Exception as error:  # a worker never dies: it reports and backs off
                    self.errors += 1
                    if isinstance(error, HelpmailError):
                        self.output(f"{self.settings.name}: error: {error}")
                    else:
                        log.exception("%s: unexpected error", self.settings.name)
                        self.output(f"{self.settings.name}: unexpected error: {error!r}")
                    if self.once:
                        return
                    self.stop.wait(next(delays))
        finally:
            source.close()

    def scan(self, source: Any) -> None:
        notices = self.notices
        wrapped: Any = StopAware(source, self.stop.is_set)
        before = (notices.sent_total, notices.held_total) if notices is not None else (0, 0)

        def drain(done: int, result: object) -> None:
            del done, result
            if notices is not None:
                notices.drain()  # after every message: memory stays flat, every mail logged

        try:
            with self.lock:  # one import at a time: the store sees one writer
                report = self.desk.import_from(
                    notices.source(wrapped) if notices is not None else wrapped,
                    keep=0,
                    progress=drain if notices is not None else None,
                )
        finally:
            if notices is not None:
                notices.drain()
                # no SMTP connection is held open while waiting for new mail
                close = getattr(notices.notifier.sender, "close", None)
                if callable(close):
                    close()
        for skipped in source.skipped:
            self.output(f"{self.settings.name}: skipped {skipped.ref}: {skipped.reason}")
        for reason in source.resyncs:
            self.output(f"{self.settings.name}: resync: {reason}")
        source.resyncs.clear()
        for ref, problem in report.action_errors:
            self.output(f"{self.settings.name}: action on {ref} failed (retried later): {problem}")
        if report.total:
            self.output(f"{self.settings.name}: {report.summary()}")
            if notices is not None:
                sent = notices.sent_total - before[0]
                held = notices.held_total - before[1]
                self.output(
                    f"{self.settings.name}: {sent} automatic mails sent ({held} held/failed)"
                )


class StopAware(SourceWrapper):
    """A :class:`~helpmail.ports.MailSource` wrapper whose scan ends after the message in hand
    once ``stop()`` is true (so SIGTERM never cuts a message between commit and flag)."""

    def __init__(self, inner: Any, stop: Callable[[], bool]) -> None:
        super().__init__(inner)
        self.stop = stop

    def messages(self) -> Iterator[Any]:
        for message in self.inner.messages():
            yield message
            if self.stop():
                return


def build_workers(
    config: Config,
    *,
    db: Path | None,
    only: Sequence[str] | None,
    stop: threading.Event,
    once: bool,
    output: Callable[[str], None] = _say,
    resources: contextlib.ExitStack | None = None,
    route: MailRoute | None = None,
) -> list[Worker]:
    """One :class:`Worker` per active IMAP mailbox, sharing one store and one Desk per mailbox.

    The tickets, the scan state, the delivery guard's blocks (so a bounce blocks its address
    across runs) and the suspended queue live in the database (``db`` or ``[database] path``);
    rules come from the ``[[rules]]`` section, the desk steps from the desk sections, each
    mailbox's ``after_import`` from its settings. ``resources`` closes the guard state, the scan
    states, the suspended queue and the mail senders (the store is closed through
    ``workers[0].desk.store``). ``route`` says where the automatic mails go (default: the
    ``[smtp]`` section, else none); each worker gets its own notifier and sender, all admitting
    through the Desk's one delivery guard.
    """
    from helpmail.adapters.sqlite import SqliteStore
    from helpmail.cli._common import (
        database_path,
        delivery_guard,
        desk_options,
        mailbox_settings,
        rules_hook,
    )
    from helpmail.cli._notices import mail_route
    from helpmail.service import Desk

    if route is None:
        route = mail_route(config, outbox=None, no_mail=False)
    mailboxes = imap_mailboxes(config, only)
    if not mailboxes:
        raise ConfigError("mailboxes", "no active IMAP mailbox to poll")
    path = database_path(db, config)
    stack = resources if resources is not None else contextlib.ExitStack()
    store = SqliteStore(path)
    hook = rules_hook(config)
    guard = delivery_guard(path, stack)
    options = desk_options(config, path, stack)
    lock = threading.Lock()
    workers = []
    for settings in mailboxes:
        notices = route.notices(config, guard, stack)
        desk = Desk(
            store=store,
            settings=mailbox_settings(config, settings),
            rules=hook,
            on_events=notices,
            guard=guard,
            **options,
        )
        workers.append(
            Worker(
                settings=settings,
                desk=desk,
                state=stack.enter_context(contextlib.closing(_scan_state(path))),
                stop=stop,
                lock=lock,
                once=once,
                output=output,
                notices=notices,
            )
        )
    return workers


def _show_last_checks(workers: Sequence[Worker], output: Callable[[str], None]) -> None:
    for worker in workers:
        name = worker.settings.source_name
        last = worker.state.last_successful_check(name)
        when = last.at.isoformat(timespec="seconds") if last else "never"
        output(f"{worker.settings.describe()}; last successful check: {when}")


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
        stream=sys.stderr,
    )
    from helpmail.cli._notices import MailRouteKind, mail_route

    config = load_config(args.config)
    route = mail_route(config, outbox=args.outbox, no_mail=args.no_mail)
    stop = threading.Event()
    with contextlib.ExitStack() as resources:
        workers = build_workers(
            config,
            db=args.db,
            only=args.mailbox,
            stop=stop,
            once=args.once,
            resources=resources,
            route=route,
        )
        if route.kind is MailRouteKind.UNCONFIGURED:
            print(route.describe(), file=sys.stderr, flush=True)
        else:
            log.info("%s", route.describe())
        return _poll(workers, stop, once=args.once)


def _poll(workers: Sequence[Worker], stop: threading.Event, *, once: bool) -> int:
    _show_last_checks(workers, _say)

    def request_stop(signum: int, frame: FrameType | None) -> None:
        del frame
        print(f"helpmail poll: {signal.Signals(signum).name}: stopping", file=sys.stderr)
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    threads = [
        threading.Thread(target=w.run, name=f"poll-{w.settings.name}", daemon=True) for w in workers
    ]
    try:
        for thread in threads:
            thread.start()
        while any(t.is_alive() for t in threads):
            for thread in threads:
                thread.join(timeout=0.5)
    finally:
        stop.set()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for thread in threads:
            thread.join(timeout=30)
        close = getattr(workers[0].desk.store, "close", None)
        if close is not None:
            close()
    print("helpmail poll: stopped", file=sys.stderr)
    return 1 if once and any(w.errors for w in workers) else 0
