"""IMAP benchmark: batched UID FETCH vs one round trip per message, and IDLE pickup latency.

``python -m bench imap [--messages N] [--idle-rounds N]``. Starts a private Dovecot on loopback
(``tests/dovecot.py``, the same recipe as the test suite), puts N mails (default 5,000, ~2 KiB
each) straight into a Maildir, and measures in the same run:

* **fetch**: messages per second read by :class:`helpmail.adapters.imap.ImapSource` (batched
  ``UID FETCH BODY.PEEK[]`` of ``batch_size`` messages) against two loops of one round trip per
  message, measured in the same run over the same TLS:

  - *django-helpdesk's loop*, as its ``imap_sync`` does it: stdlib imaplib, ``SEARCH NOT DELETED``,
    then ``FETCH n (RFC822)`` by sequence number for each message, on unread mail (``RFC822``
    sets ``\\Seen``, so the server writes each message's flags as it goes; the flags are
    cleared before each run);
  - *one UID per round trip* through helpmail's own connection (imapclient, ``BODY.PEEK[]``):
    the same work as the batched source except the batching, so it isolates the round trips;
* **import**: messages per second through :class:`helpmail.service.Desk` (parse, classify,
  commit to a :class:`~helpmail.adapters.memory.MemoryStore`, mark seen) from the batched source
  and from the one-by-one loop, so the share of time the IMAP round trips take is visible;
* **IDLE pickup**: seconds from writing a new mail into the Maildir to the moment it is a ticket
  in the store, with the source waiting in IDLE (Dovecot reports changes after a fixed 0.5 s).

Figures are ratios against the baseline measured in the same run. Results go to
``bench/results/imap.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent / "tests"))

from dovecot import (  # type: ignore[import-not-found,unused-ignore]  # noqa: E402
    PASSWORD,
    Dovecot,
    find_dovecot,
    message,
)
from helpmail.adapters.imap import ImapSource  # noqa: E402
from helpmail.config import Secret  # noqa: E402
from helpmail.ports import MailboxAction, MailboxActionKind, MessageRef, SourceMessage  # noqa: E402
from helpmail.scanner import MailboxSettings, PasswordAuth  # noqa: E402

LEAVE = (MailboxAction(kind=MailboxActionKind.LEAVE),)


def _settings(server: Dovecot, user: str, **kw: Any) -> MailboxSettings:
    kw.setdefault("port", server.imaps_port)
    return MailboxSettings(
        name="bench",
        host=server.host,
        ca_file=server.ca_file,
        auth=PasswordAuth(user=user, password=Secret(origin="bench", value=PASSWORD.encode())),
        max_message_size=10 * 1024 * 1024,
        **kw,
    )


class OneByOneSource:
    """The django-helpdesk way: SEARCH, then one FETCH round trip per message (a MailSource)."""

    def __init__(self, settings: MailboxSettings) -> None:
        self.inner = ImapSource(settings)
        self.round_trips = 0

    @property
    def name(self) -> str:
        return self.inner.name

    def messages(self) -> Iterator[SourceMessage]:
        client = self.inner._connection()
        info = client.select_folder("INBOX")
        validity = int(info[b"UIDVALIDITY"])
        uids = client.search(["NOT", "DELETED"])
        self.round_trips = 1
        for uid in uids:
            data = client.fetch([uid], [b"BODY.PEEK[]", b"FLAGS", b"INTERNALDATE"])[uid]
            self.round_trips += 1
            raw = data[b"BODY[]"]
            yield SourceMessage(
                ref=MessageRef(
                    source=self.name, folder="INBOX", uid=str(uid), uidvalidity=validity
                ),
                raw=raw,
                flags=frozenset(f.decode() for f in data[b"FLAGS"]),
                internal_date=data[b"INTERNALDATE"],
                size=len(raw),
            )

    def apply(self, ref: MessageRef, actions: tuple[MailboxAction, ...]) -> None:
        self.inner.apply(ref, actions)

    def close(self) -> None:
        self.inner.close()


class LatencyProxy:
    """A TCP relay on loopback that delays every chunk by ``delay`` seconds each way.

    Models the round-trip time of a real network (``2 * delay``) without limiting bandwidth:
    each chunk is time-stamped when read and sent when its delay has passed.
    """

    def __init__(self, target_port: int, delay: float) -> None:
        import socket
        import threading

        self.delay = delay
        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self.closed = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        import socket
        import threading

        while not self.closed.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.target_port))
            for a, b in ((client, server), (server, client)):
                a.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, source: Any, sink: Any) -> None:
        import queue
        import threading

        chunks: queue.Queue[tuple[float, bytes]] = queue.Queue()

        def send() -> None:
            while True:
                due, data = chunks.get()
                wait = due - time.perf_counter()
                if wait > 0:
                    time.sleep(wait)
                try:
                    if not data:
                        sink.shutdown(1)
                        return
                    sink.sendall(data)
                except OSError:
                    return

        threading.Thread(target=send, daemon=True).start()
        while True:
            try:
                data = source.recv(65536)
            except OSError:
                data = b""
            chunks.put((time.perf_counter() + self.delay, data))
            if not data:
                return

    def close(self) -> None:
        self.closed.set()
        self.listener.close()


def _django_helpdesk_loop(server: Dovecot, user: str, port: int) -> tuple[float, int]:
    """helpdesk/email.py ``imap_sync``: SEARCH NOT DELETED, then FETCH n (RFC822) per message.

    Runs on unread mail (flags cleared first, outside the timing), as a helpdesk meets new mail.
    Returns (seconds, messages).
    """
    import imaplib
    import ssl

    context = ssl.create_default_context(cafile=str(server.ca_file))
    imap = imaplib.IMAP4_SSL(server.host, port, ssl_context=context)
    try:
        imap.login(user, PASSWORD)
        imap.select("INBOX")
        imap.store("1:*", "-FLAGS.SILENT", "(\\Seen)")
        started = time.perf_counter()
        count = 0
        _, data = imap.search(None, "NOT", "DELETED")
        for number in data[0].split():
            _, fetched = imap.fetch(number, "(RFC822)")
            raw = fetched[0][1]  # type: ignore[index]
            count += bool(raw)
        seconds = time.perf_counter() - started
        imap.logout()
    finally:
        with contextlib.suppress(OSError):
            imap.shutdown()
    return seconds, count


def _timed_fetch(source: Any) -> tuple[float, int, int]:
    """Seconds, messages and bytes of one full read; the connection (TLS handshake and login) is
    opened before the clock starts, as for the django-helpdesk loop: all three contenders are
    timed from the first command after login."""
    inner = getattr(source, "inner", source)
    inner._connection()
    started = time.perf_counter()
    count = 0
    size = 0
    for m in source.messages():
        count += 1
        size += len(m.raw)
    return time.perf_counter() - started, count, size


def _timed_import(source: Any) -> tuple[float, int]:
    from helpmail.adapters.memory import MemoryStore
    from helpmail.service import Desk

    desk = Desk(store=MemoryStore())
    started = time.perf_counter()
    report = desk.import_from(source)
    return time.perf_counter() - started, report.total


def _idle_pickup(server: Dovecot, rounds: int) -> list[float]:
    import threading

    from helpmail.adapters.memory import MemoryStore
    from helpmail.service import Desk

    user = server.new_user("idle")
    desk = Desk(store=MemoryStore())
    latencies = []
    with ImapSource(_settings(server, user)) as source:
        desk.import_from(source)
        for n in range(rounds):
            delivered: list[float] = []

            def deliver(n: int = n, delivered: list[float] = delivered) -> None:
                delivered.append(time.perf_counter())
                server.inject(user, [message(900_000 + n, subject=f"idle {n}")])

            timer = threading.Timer(0.3, deliver)  # arrives while the source sits in IDLE
            timer.start()
            changed = source.wait_for_changes(10)
            report = desk.import_from(source)
            done = time.perf_counter()
            timer.join()
            latencies.append(done - delivered[0])
            assert changed, "IDLE did not report the delivery"
            assert report.total == 1, report.summary()
    return latencies


def _compare(server: Dovecot, user: str, args: argparse.Namespace, port: int) -> dict[str, Any]:
    """Best of ``--repeat`` runs of the batched source and of the two one-by-one loops."""
    rows: dict[str, Any] = {}
    for _ in range(args.repeat):
        seconds, count = _django_helpdesk_loop(server, user, port)
        if "django_helpdesk" not in rows or seconds < rows["django_helpdesk"]["seconds"]:
            rows["django_helpdesk"] = {
                "seconds": seconds,
                "messages": count,
                "round_trips": count + 1,
            }
        with ImapSource(_settings(server, user, batch_size=args.batch_size, port=port)) as src:
            seconds, count, _size = _timed_fetch(src)
            trips = src.stats.fetch_round_trips
        if "batched" not in rows or seconds < rows["batched"]["seconds"]:
            rows["batched"] = {"seconds": seconds, "messages": count, "round_trips": trips}
        one = OneByOneSource(_settings(server, user, port=port))
        seconds, count, _size = _timed_fetch(one)
        one.close()
        if "one_by_one" not in rows or seconds < rows["one_by_one"]["seconds"]:
            rows["one_by_one"] = {
                "seconds": seconds,
                "messages": count,
                "round_trips": one.round_trips,
            }
    for row in rows.values():
        row["per_second"] = row["messages"] / row["seconds"]
    rows["speedup"] = rows["batched"]["per_second"] / rows["django_helpdesk"]["per_second"]
    rows["speedup_vs_one_uid"] = rows["batched"]["per_second"] / rows["one_by_one"]["per_second"]
    return rows


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench imap")
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--idle-rounds", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=2, help="best of N runs per contender")
    parser.add_argument("--rtt-ms", type=float, default=2.0, help="round-trip time of the proxy")
    args = parser.parse_args(argv)
    binary = find_dovecot()
    if binary is None:
        print("dovecot not available: skipped")
        return
    server = Dovecot(binary)
    results: dict[str, Any] = {"messages": args.messages, "batch_size": args.batch_size}
    try:
        server.start()
        user = server.new_user("bench")
        started = time.perf_counter()
        server.inject(user, [message(i, size=1800) for i in range(args.messages)])
        results["inject_seconds"] = round(time.perf_counter() - started, 3)

        with ImapSource(_settings(server, user, batch_size=args.batch_size)) as warm:
            _timed_fetch(warm)  # warm Dovecot's index and the page cache for both contenders
        results["fetch"] = {"loopback": _compare(server, user, args, server.imaps_port)}
        proxy = LatencyProxy(server.imaps_port, args.rtt_ms / 2000)
        try:
            results["fetch"][f"rtt_{args.rtt_ms:g}ms"] = _compare(server, user, args, proxy.port)
        finally:
            proxy.close()

        imported: dict[str, Any] = {}
        with ImapSource(_settings(server, user, batch_size=args.batch_size)) as batched:
            seconds, count = _timed_import(batched)
        imported["batched"] = {"seconds": seconds, "messages": count}
        one = OneByOneSource(_settings(server, user))
        seconds, count = _timed_import(one)
        one.close()
        imported["one_by_one"] = {"seconds": seconds, "messages": count}
        for row in imported.values():
            row["per_second"] = row["messages"] / row["seconds"]
        imported["speedup"] = (
            imported["batched"]["per_second"] / imported["one_by_one"]["per_second"]
        )
        results["import"] = imported

        latencies = _idle_pickup(server, args.idle_rounds)
        results["idle_pickup_seconds"] = {
            "median": statistics.median(latencies),
            "max": max(latencies),
            "all": latencies,
            "dovecot_floor": 0.5,
        }
    finally:
        server.cleanup()

    i, idle = results["import"], results["idle_pickup_seconds"]
    print(f"{args.messages} messages (~2 KiB), batch_size {args.batch_size}, local Dovecot, TLS")
    print(f"{'':44}{'msgs/s':>10}{'seconds':>10}{'round trips':>13}")
    for network, f in results["fetch"].items():
        contenders = (
            ("batched", f["batched"]),
            ("django-helpdesk loop", f["django_helpdesk"]),
            ("one UID per trip", f["one_by_one"]),
        )
        for label, row in contenders:
            name = f"fetch {label} ({network})"
            print(
                f"{name:44}{row['per_second']:10.0f}{row['seconds']:10.2f}{row['round_trips']:13d}"
            )
        print(f"{'  speed-up vs django-helpdesk loop':44}{f['speedup']:10.1f}x")
        print(f"{'  speed-up vs one UID per trip':44}{f['speedup_vs_one_uid']:10.1f}x")
    for label, row in (
        ("import batched", i["batched"]),
        ("import one UID per trip", i["one_by_one"]),
    ):
        print(f"{label:44}{row['per_second']:10.0f}{row['seconds']:10.2f}")
    print(f"{'  speed-up':44}{i['speedup']:10.1f}x")
    print(
        f"IDLE delivery -> ticket: median {idle['median']:.2f} s, max {idle['max']:.2f} s "
        f"(Dovecot's notify floor 0.5 s)"
    )
    out = HERE / "results" / "imap.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
