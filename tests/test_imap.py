"""The IMAP source against a real Dovecot: TLS, scan modes, actions, UIDVALIDITY, IDLE, drops.

One Dovecot serves the whole module (``dovecot`` fixture in ``tests/dovecot.py``); every test uses
its own ``t-*`` user and so its own empty mailbox.
"""

from __future__ import annotations

import logging
import os
import signal
import sqlite3
import ssl
import subprocess
import sys
import textwrap
import threading
import time
from contextlib import closing
from pathlib import Path

import imapclient
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dovecot import PASSWORD, Dovecot, dovecot, message
from dovecot import imap_settings as settings
from dovecot import imap_source as source
from helpmail.adapters.imap import ImapSource, open_url, parse_fetch, uid_set
from helpmail.adapters.sqlite_scanner import SQLiteScanState
from helpmail.config import Secret
from helpmail.errors import SourceError
from helpmail.ports import MailboxAction, MailboxActionKind, MailSource, MessageRef
from helpmail.scanner import (
    InMemoryScanState,
    OAuth2Auth,
    PasswordAuth,
    ScanMode,
    Security,
)
from helpmail.tickets.importing import OutcomeKind

__all__ = ["dovecot"]  # the fixture, imported from tests/dovecot.py

pytestmark = pytest.mark.dovecot

SEEN = MailboxAction(kind=MailboxActionKind.MARK_SEEN)
LEAVE = MailboxAction(kind=MailboxActionKind.LEAVE)


def look(server: Dovecot, user: str, folder: str = "INBOX") -> dict[int, set[bytes]]:
    """UID -> flags of every message in ``folder``, read with a separate client."""
    context = ssl.create_default_context(cafile=str(server.ca_file))
    with imapclient.IMAPClient(server.host, port=server.imaps_port, ssl_context=context) as c:
        c.login(user, PASSWORD)
        c.select_folder(folder, readonly=True)
        found = c.fetch(c.search(["ALL"]), ["FLAGS"])
        return {uid: set(data[b"FLAGS"]) - {b"\\Recent"} for uid, data in found.items()}


def subjects(src: ImapSource, actions: tuple[MailboxAction, ...] = (LEAVE,)) -> list[str]:
    out = []
    for m in src.messages():
        out.append(m.raw.split(b"Subject: ", 1)[1].split(b"\r\n", 1)[0].decode())
        src.apply(m.ref, actions)
    return out


# --- the fast FETCH reader (no server) ---------------------------------------------------------


@given(st.lists(st.integers(min_value=1, max_value=300), max_size=60))
def test_uid_set_is_compact_and_exact(uids: list[int]) -> None:
    text = uid_set(uids)
    expanded: set[int] = set()
    for part in filter(None, text.split(",")):
        low, _, high = part.partition(":")
        expanded.update(range(int(low), int(high or low) + 1))
    assert expanded == set(uids)
    assert text.count(",") < max(1, len(set(uids)))


def test_parse_fetch_reads_literals_flags_dates_and_unsolicited_lines() -> None:
    data = [
        (
            b"1 (UID 7 RFC822.SIZE 5 FLAGS (\\Seen $Label) "
            b'INTERNALDATE "23-Nov-2026 09:01:50 +0100" BODY[] {5}',
            b"hello",
        ),
        b")",
        b"2 (FLAGS (\\Deleted) UID 8)",  # an unsolicited flag update
        (b"3 (UID 9 BODY[] {3}", b"abc"),
        b" FLAGS ())",
    ]
    parsed = parse_fetch(data)
    assert parsed is not None
    assert parsed[7][b"BODY[]"] == b"hello"
    assert parsed[7][b"FLAGS"] == (b"\\Seen", b"$Label")
    assert parsed[7][b"RFC822.SIZE"] == 5
    assert parsed[7][b"INTERNALDATE"].utcoffset().total_seconds() == 3600
    assert parsed[8] == {b"FLAGS": (b"\\Deleted",)}
    assert parsed[9] == {b"BODY[]": b"abc", b"FLAGS": ()}
    assert parse_fetch([(b"1 (UID 1 BODY[] {9}", b"short")]) is None  # truncated literal


# --- connecting -----------------------------------------------------------------------------------


def test_implicit_tls_with_verified_ca(dovecot: Dovecot) -> None:
    user = dovecot.new_user()
    dovecot.inject(user, [message(1), message(2)])
    with source(dovecot, user) as src:
        assert isinstance(src, MailSource)
        got = list(src.messages())
    assert [m.ref.uid for m in got] == ["1", "2"]
    assert got[0].raw.startswith(b"From: alice@example.org\r\n")
    assert got[0].internal_date is not None
    assert got[0].internal_date.tzinfo is not None
    assert got[0].size == len(got[0].raw)
    assert got[0].ref.uidvalidity is not None


def test_starttls_with_verified_ca(dovecot: Dovecot) -> None:
    user = dovecot.new_user()
    dovecot.inject(user, [message(1)])
    with source(dovecot, user, security=Security.STARTTLS) as src:
        assert len(list(src.messages())) == 1
        assert src._client._imap.sock.version().startswith("TLS")


@pytest.mark.parametrize("security", [Security.TLS, Security.STARTTLS])
def test_wrong_ca_is_refused(dovecot: Dovecot, security: Security) -> None:
    user = dovecot.new_user()
    src = source(dovecot, user, security=security, ca_file=dovecot.wrong_ca_file)
    with pytest.raises(SourceError, match="certificate not accepted"):
        list(src.messages())
    assert src.state.last_check(src.name) is not None
    assert src.state.last_successful_check(src.name) is None


def test_wrong_host_name_is_refused(dovecot: Dovecot) -> None:
    # "127.1" reaches 127.0.0.1 but is not a name in the certificate (SAN: localhost, 127.0.0.x)
    src = source(dovecot, dovecot.new_user(), host="127.1")
    with pytest.raises(SourceError, match=r"certificate not accepted.*(mismatch|match)"):
        list(src.messages())


def test_plaintext_only_when_allowed_and_verification_off_only_when_asked(
    dovecot: Dovecot, caplog: pytest.LogCaptureFixture
) -> None:
    user = dovecot.new_user()
    dovecot.inject(user, [message(1)])
    with source(dovecot, user, security=Security.PLAIN, allow_plaintext=True) as src:
        assert subjects(src) == ["message 1"]
        assert not hasattr(src._client._imap.sock, "version")  # really no TLS
    with source(dovecot, user, ca_file=dovecot.wrong_ca_file, verify_certificate=False) as src:
        assert subjects(src) == ["message 1"]  # connected despite the wrong CA: explicit opt-out
    assert "verification is turned OFF" in caplog.text


def test_xoauth2_asks_the_token_provider_at_every_login(dovecot: Dovecot) -> None:
    # Dovecot's XOAUTH2 mechanism checks the token with the passdb (here: the t-* password).
    user = dovecot.new_user()
    dovecot.inject(user, [message(1)])
    tokens = [PASSWORD, PASSWORD]
    auth = OAuth2Auth(user=user, token_provider=tokens.pop)
    with source(dovecot, user, auth=auth) as src:
        assert subjects(src) == ["message 1"]
        dovecot.kick(user)
        dovecot.inject(user, [message(2)])
        assert subjects(src) == ["message 2"]  # re-login with a fresh token
    assert tokens == []
    wrong = OAuth2Auth(user=user, token_provider=lambda: "expired-token-123")
    with pytest.raises(SourceError, match="login as") as info:
        list(source(dovecot, user, auth=wrong).messages())
    assert "expired-token-123" not in str(info.value)


def test_credentials_never_in_errors_reprs_or_logs(
    dovecot: Dovecot, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "Wr0ng-Secret-Passw0rd"
    caplog.set_level(logging.DEBUG)
    auth = PasswordAuth(
        user=dovecot.new_user(), password=Secret(origin="test", value=secret.encode())
    )
    src = source(dovecot, auth.user, auth=auth)
    with pytest.raises(SourceError) as info:
        list(src.messages())
    assert "login as" in str(info.value)
    check = src.state.last_check(src.name)
    for text in (str(info.value), repr(src), repr(src.settings), caplog.text, repr(check)):
        assert secret not in text


def test_open_url_for_helpmail_import(dovecot: Dovecot) -> None:
    user = dovecot.new_user()
    dovecot.inject(user, [message(1)])
    url = f"imaps://{user}@127.0.0.1:{dovecot.imaps_port}/INBOX?ca_file={dovecot.ca_file}"
    with open_url(url, env={"HELPMAIL_IMAP_PASSWORD": PASSWORD}) as src:
        assert subjects(src) == ["message 1"]
        assert PASSWORD not in repr(src)


# --- scan modes -----------------------------------------------------------------------------------


def test_all_mode_imports_mail_read_by_another_client(dovecot: Dovecot) -> None:
    user = dovecot.new_user()
    dovecot.inject(user, [message(1), message(2)])
    dovecot.inject(user, [message(3)], seen=True)  # read in another client before the scan
    with source(dovecot, user) as src:
        assert subjects(src) == ["message 1", "message 2", "message 3"]
    # unseen mode: the classic behaviour, documented in docs/scanner.md, skips it
    with source(dovecot, user, scan_mode=ScanMode.UNSEEN) as src:
        assert subjects(src) == ["message 1", "message 2"]


def test_watermark_reads_only_new_messages_and_survives_restart_of_the_scanner(
    dovecot: Dovecot, tmp_path: Path
) -> None:
    user = dovecot.new_user()
    dovecot.inject(user, [message(1), message(2)])
    with (
        closing(SQLiteScanState(tmp_path / "scan.db")) as state,
        source(dovecot, user, state=state) as src,
    ):
        assert subjects(src) == ["message 1", "message 2"]
        assert subjects(src) == []
    dovecot.inject(user, [message(3)])
    with (
        closing(SQLiteScanState(tmp_path / "scan.db")) as state,
        source(dovecot, user, state=state) as src,
    ):
        assert subjects(src) == ["message 3"]
        last = src.last_successful_check()
        assert last is not None
        assert last.messages == 1
    assert look(dovecot, user) == {1: set(), 2: set(), 3: set()}  # reading never marks \Seen


def test_batches_many_messages_per_round_trip(dovecot: Dovecot) -> None:
    user = dovecot.new_user()
    dovecot.inject(user, [message(i) for i in range(25)])
    with source(dovecot, user, batch_size=10) as src:
        got = list(src.messages())
        assert [int(m.ref.uid) for m in got] == list(range(1, 26))
        # 1 size FETCH + 3 body FETCHes for 25 messages
        assert src.stats.fetch_round_trips == 4


def test_an_answer_read_again_by_imapclient_does_not_meet_the_next_batchs_answer(
    dovecot: Dovecot,
) -> None:
    """A body the fast reader cannot read is fetched again through imapclient; that happens
    before the next batch's FETCH goes out, so imapclient never reads the pipelined answer."""
    user = dovecot.new_user()
    dovecot.inject(user, [message(i) for i in range(1, 5)])
    with source(dovecot, user, batch_size=2) as src:
        imap = src._connection()._imap
        real = imap.readline
        changed: list[bytes] = []

        def readline() -> bytes:
            line: bytes = real()
            if b"BODY[] {" in line and not changed:  # the first body: in a form not read fast
                changed.append(line)
                return line.replace(b"BODY[] {", b"BODY[]<0> {")
            return line

        imap.readline = readline
        got = [(int(m.ref.uid), m.raw.split(b"Subject: ", 1)[1][:9]) for m in src.messages()]
        imap.readline = real
        assert src.stats.reconnects == 0  # the connection never lost track of its answers
    assert changed
    assert got == [(n, b"message %d" % n) for n in range(1, 5)]


@pytest.mark.parametrize("pipeline", [True, False])
def test_pipelined_batches_with_actions_and_an_early_stop(dovecot: Dovecot, pipeline: bool) -> None:
    """The next batch's FETCH is sent before the current batch is handed out; actions applied
    meanwhile (which need the connection), a consumer that stops mid-batch, IDLE and the next
    scan all find the connection in order, and every message comes exactly once."""
    user = dovecot.new_user()
    dovecot.inject(user, [message(i) for i in range(1, 12)])
    archive = MailboxAction(kind=MailboxActionKind.MOVE, folder="Archive")
    actions = {1: (archive,), 2: (SEEN,), 3: (MailboxAction(kind=MailboxActionKind.DELETE),)}
    seen: list[int] = []
    src = ImapSource(settings(dovecot, user, batch_size=3), pipeline=pipeline)
    with src:
        for m in src.messages():
            uid = int(m.ref.uid)
            seen.append(uid)
            src.apply(m.ref, actions.get(uid, (LEAVE,)))
            if uid == 5:  # mid-batch (4-6), with the FETCH of 7-9 outstanding
                break
        assert src.wait_for_changes(0.2) is False  # IDLE on the same connection: quiet
        for m in src.messages():
            seen.append(int(m.ref.uid))
            src.apply(m.ref, (SEEN,))
    # 5 was acted on before the consumer stopped: the next scan starts at 6
    assert seen == list(range(1, 12))
    assert sorted(look(dovecot, user)) == [2, 4, 5, 6, 7, 8, 9, 10, 11]
    assert len(look(dovecot, user, "Archive")) == 1


class Crash(Exception):
    """The process dies here."""


def test_a_crash_mid_scan_resumes_after_the_last_checkpoint(
    dovecot: Dovecot, tmp_path: Path
) -> None:
    """The desk tells the source when everything handed out is durable and acted on; the
    source saves its position then, so a crash late in a long scan does not read it all again."""
    from helpmail.adapters.memory import MemoryStore
    from helpmail.service import Desk, MessageResult

    user = dovecot.new_user()
    dovecot.inject(user, [message(i) for i in range(1, 31)])
    store = MemoryStore()

    def crash_at_25(done: int, result: MessageResult) -> None:
        if done == 25:
            raise Crash

    with closing(SQLiteScanState(tmp_path / "scan.db")) as state:
        src = ImapSource(settings(dovecot, user, batch_size=5), state=state)
        helpdesk = Desk(store=store)
        helpdesk.action_batch = 10
        with pytest.raises(Crash):
            helpdesk.import_from(src, progress=crash_at_25)
        src._drop()  # the process is gone: no close, no save at the end of the scan
    with (
        closing(SQLiteScanState(tmp_path / "scan.db")) as state,
        ImapSource(settings(dovecot, user), state=state) as again,
    ):
        report = Desk(store=store).import_from(again)
        # checkpoints after 10 and 20: 21-25 (imported, not yet checkpointed) are read again
        assert again.stats.fetched == 10
    assert report.total == 10
    assert report.counts[OutcomeKind.ALREADY_IMPORTED] == 5
    assert report.counts[OutcomeKind.CREATED] == 5


def test_oversized_mail_is_skipped_with_a_reason_and_not_retried(dovecot: Dovecot) -> None:
    user = dovecot.new_user()
    dovecot.inject(user, [message(1), message(2, size=20_000), message(3)])
    state = InMemoryScanState()
    with source(dovecot, user, max_message_size=10_000, state=state) as src:
        assert subjects(src) == ["message 1", "message 3"]
        (skipped,) = src.skipped
        assert skipped.ref.uid == "2"
        assert "too big" in skipped.reason
        assert "not retried" in skipped.reason
        check = src.last_successful_check()
        assert check is not None
        assert check.skipped == 1
        assert subjects(src) == []
        assert src.skipped == []


# --- actions after commit -------------------------------------------------------------------------


def test_mark_seen_move_delete(dovecot: Dovecot) -> None:
    user = dovecot.new_user()
    dovecot.inject(user, [message(1), message(2), message(3), message(4)])
    actions = {
        "1": (SEEN,),
        "2": (SEEN, MailboxAction(kind=MailboxActionKind.MOVE, folder="Archive")),
        "3": (MailboxAction(kind=MailboxActionKind.DELETE),),
        "4": (MailboxAction(kind=MailboxActionKind.MOVE, folder="Done/2026"),),  # created
    }
    with source(dovecot, user) as src:
        for m in src.messages():
            src.apply(m.ref, actions[m.ref.uid])
    assert look(dovecot, user) == {1: {b"\\Seen"}}
    assert list(look(dovecot, user, "Archive").values()) == [{b"\\Seen"}]
    assert list(look(dovecot, user, "Done/2026").values()) == [set()]


def test_move_without_the_move_extension_uses_copy_and_expunge(dovecot: Dovecot) -> None:
    user = dovecot.new_user()
    dovecot.inject(user, [message(1), message(2)])
    with source(dovecot, user) as src:
        client = src._connection()
        real = client.has_capability
        client.has_capability = lambda name: False if name == "MOVE" else real(name)
        for m in src.messages():
            if m.ref.uid == "1":
                src.apply(m.ref, (MailboxAction(kind=MailboxActionKind.MOVE, folder="Archive"),))
    assert look(dovecot, user) == {2: set()}
    assert len(look(dovecot, user, "Archive")) == 1


def test_actions_run_on_the_right_folder_while_scanning_several(dovecot: Dovecot) -> None:
    user = dovecot.new_user()
    dovecot.inject(user, [message(1), message(2)])
    dovecot.inject(user, [message(3)], folder="Urgent")
    with source(dovecot, user, folders=("INBOX", "Urgent")) as src:
        seen = []
        for m in src.messages():
            seen.append((m.ref.folder, m.ref.uid))
            src.apply(m.ref, (SEEN,))
    assert seen == [("INBOX", "1"), ("INBOX", "2"), ("Urgent", "1")]
    assert look(dovecot, user, "Urgent") == {1: {b"\\Seen"}}


def test_non_ascii_folder_names(dovecot: Dovecot) -> None:
    # IMAP folder names travel in modified UTF-7 (RFC 3501 §5.1.3); Zammad #5480 got this wrong.
    user = dovecot.new_user()
    context = ssl.create_default_context(cafile=str(dovecot.ca_file))
    with imapclient.IMAPClient(dovecot.host, port=dovecot.imaps_port, ssl_context=context) as c:
        c.login(user, PASSWORD)
        c.create_folder("Übersicht/Größe")
        c.append("Übersicht/Größe", message(1))
    with source(dovecot, user, folders=("Übersicht/Größe",)) as src:
        got = list(src.messages())
        assert [m.ref.folder for m in got] == ["Übersicht/Größe"]
        src.apply(
            got[0].ref, (MailboxAction(kind=MailboxActionKind.MOVE, folder="Erledigt/Ärger"),)
        )
    assert len(look(dovecot, user, "Erledigt/Ärger")) == 1


# --- UIDVALIDITY ----------------------------------------------------------------------------------


def test_uidvalidity_change_resyncs_and_reports_the_new_value(dovecot: Dovecot) -> None:
    user = dovecot.new_user()
    dovecot.inject(user, [message(1), message(2)])
    state = InMemoryScanState()
    with source(dovecot, user, state=state) as src:
        old = [m.ref for m in src.messages()]
    dovecot.set_uidvalidity(user, old[0].uidvalidity + 1000)  # type: ignore[operator]
    with source(dovecot, user, state=state) as src:
        again = list(src.messages())
        assert [m.ref.uid for m in again] == ["1", "2"]
        assert {m.ref.uidvalidity for m in again} == {old[0].uidvalidity + 1000}  # type: ignore[operator]
        assert src.resyncs
        assert "UIDVALIDITY changed" in src.resyncs[0]
        # a ref from before the change must not touch whatever that UID names now
        src.apply(old[0], (MailboxAction(kind=MailboxActionKind.DELETE),))
    assert look(dovecot, user) == {1: set(), 2: set()}


# --- IDLE -----------------------------------------------------------------------------------------


def test_idle_picks_up_new_mail(dovecot: Dovecot) -> None:
    user = dovecot.new_user()
    with source(dovecot, user) as src:
        assert subjects(src) == []
        timer = threading.Timer(0.2, dovecot.inject, (user, [message(7)]))
        timer.start()
        try:
            assert src.wait_for_changes(10) is True
        finally:
            timer.join()
        assert subjects(src) == ["message 7"]


def test_mail_arriving_between_scan_and_idle_is_not_missed(dovecot: Dovecot) -> None:
    user = dovecot.new_user()
    with source(dovecot, user) as src:
        assert subjects(src) == []
        dovecot.inject(user, [message(9)])  # lands before IDLE starts: IDLE alone never says so
        assert src.wait_for_changes(3) is True
        assert subjects(src) == ["message 9"]


@pytest.mark.parametrize("answer", [1, 2])  # the sizes FETCH, the bodies FETCH
def test_new_mail_announced_inside_a_fetch_answer_ends_the_next_wait(
    dovecot: Dovecot, answer: int
) -> None:
    """A server may announce new mail (``* n EXISTS``) in the middle of a FETCH answer, and says
    it once: the NOOP that starts the next IDLE would not repeat it. Dovecot 2.3 announces at the
    next NOOP instead, so the announcement is slipped into its real answer here."""
    user = dovecot.new_user()
    dovecot.inject(user, [message(1), message(2)])
    with source(dovecot, user) as src:
        imap = src._connection()._imap
        real = imap.readline
        queued: list[bytes] = []
        ends = 0

        def readline() -> bytes:
            nonlocal ends
            if queued:
                return queued.pop()
            line: bytes = real()
            if line.startswith(b"HM"):  # the tagged end of one of helpmail's FETCH answers
                ends += 1
                if ends == answer:
                    queued.append(line)
                    return b"* 3 EXISTS\r\n"
            return line

        imap.readline = readline
        assert subjects(src) == ["message 1", "message 2"]
        imap.readline = real
        assert ends >= answer
        started = time.monotonic()
        assert src.wait_for_changes(5) is True
        assert time.monotonic() - started < 1
        assert src.wait_for_changes(0.6) is False  # heard once, reported once


def test_idle_quiet_timeout_returns_false(dovecot: Dovecot) -> None:
    with source(dovecot, dovecot.new_user()) as src:
        assert src.wait_for_changes(0.6) is False


def test_dead_idle_connection_is_detected_and_reopened(dovecot: Dovecot) -> None:
    user = dovecot.new_user()
    with source(dovecot, user) as src:
        first = src._connection()
        timer = threading.Timer(0.2, dovecot.kick, (user,))
        timer.start()
        try:
            assert src.wait_for_changes(10) is True  # woke up early: the connection died
        finally:
            timer.join()
        assert src._client is not None
        assert src._client is not first
        dovecot.inject(user, [message(8)])
        assert subjects(src) == ["message 8"]


def test_polling_fallback_without_idle(dovecot: Dovecot) -> None:
    slept: list[float] = []
    with source(dovecot, dovecot.new_user(), idle=False, sleep=slept.append) as src:
        assert src.wait_for_changes(5) is True
    assert slept == [5]


# --- drops and restarts ---------------------------------------------------------------------------


def test_connection_drop_mid_batch_resumes_without_loss_or_duplicates(dovecot: Dovecot) -> None:
    user = dovecot.new_user()
    dovecot.inject(user, [message(i) for i in range(10)])
    with source(dovecot, user, batch_size=3) as src:
        uids = []
        for m in src.messages():
            uids.append(int(m.ref.uid))
            if len(uids) == 2:
                dovecot.kick(user)  # the rest of this batch is in hand; the next FETCH fails
        assert uids == list(range(1, 11))
        assert src.stats.reconnects >= 1
        before = src.stats.reconnects
        dovecot.kick(user)
        archive = MailboxAction(kind=MailboxActionKind.MOVE, folder="Archive")
        src.apply(src_ref(src, user, 4), (archive,))  # an action fails over to a new connection
        assert src.stats.reconnects > before
    assert 4 not in look(dovecot, user)
    assert len(look(dovecot, user, "Archive")) == 1


def src_ref(src: ImapSource, user: str, uid: int) -> MessageRef:
    folder = src._progress["INBOX"]
    return MessageRef(source=src.name, folder="INBOX", uid=str(uid), uidvalidity=folder.uidvalidity)


@pytest.mark.parametrize("pipeline", [True, False])
def test_server_restart_mid_scan(dovecot: Dovecot, pipeline: bool) -> None:
    user = dovecot.new_user()
    dovecot.inject(user, [message(i) for i in range(6)])
    with ImapSource(
        settings(dovecot, user, batch_size=2), backoff_initial=0.2, pipeline=pipeline
    ) as src:
        uids = []
        for m in src.messages():
            uids.append(int(m.ref.uid))
            if len(uids) == 1:  # with pipelining, the FETCH of 3-4 may be answered already
                dovecot.restart()
        assert uids == list(range(1, 7))
        assert src.stats.reconnects >= 1
        last = src.last_successful_check()
        assert last is not None
        assert last.messages == 6


def test_server_down_gives_source_error_after_backoff(dovecot: Dovecot) -> None:
    slept: list[float] = []
    src = source(
        dovecot,
        dovecot.new_user(),
        port=1,
        security=Security.TLS,
        connect_attempts=3,
        sleep=slept.append,
    )
    with pytest.raises(SourceError, match=r"connecting \(3 attempts\)"):
        list(src.messages())
    assert slept == [0.2, 0.4]


# --- crash between commit and flagging ------------------------------------------------------------

CRASHER = textwrap.dedent(
    """
    import os, signal, sqlite3, sys
    from helpmail.adapters.imap import ImapSource, open_url, parse_fetch, uid_set
    from helpmail.adapters.sqlite_scanner import SQLiteScanState
    from helpmail.config import Secret
    from helpmail.mail import parse_mail
    from helpmail.ports import MailboxAction, MailboxActionKind
    from helpmail.scanner import MailboxSettings, PasswordAuth

    port, ca, user, db, crash_after = sys.argv[1:6]
    settings = MailboxSettings(name="crash", host="127.0.0.1", port=int(port), ca_file=ca,
        auth=PasswordAuth(user=user, password=Secret(origin="test", value=b"testpw")), batch_size=4)
    # a stand-in ticket store: the import key is committed in one transaction per message
    store = sqlite3.connect(db, isolation_level=None)
    store.execute("CREATE TABLE IF NOT EXISTS imported (message_id TEXT, digest TEXT,"
                  " uidvalidity INT, uid INT, UNIQUE (message_id, digest))")
    source = ImapSource(settings, state=SQLiteScanState(db))
    done = 0
    for m in source.messages():
        mail = parse_mail(m.raw)
        store.execute("BEGIN IMMEDIATE")
        store.execute("INSERT OR IGNORE INTO imported VALUES (?, ?, ?, ?)",
                      (mail.message_id, mail.body_digest, m.ref.uidvalidity, int(m.ref.uid)))
        store.execute("COMMIT")
        done += 1
        if done == int(crash_after):
            os.kill(os.getpid(), signal.SIGKILL)  # committed, not yet flagged
        source.apply(m.ref, (MailboxAction(kind=MailboxActionKind.MARK_SEEN),))
    source.close()
    """
)


def test_sigkill_between_commit_and_flag_then_rerun(dovecot: Dovecot, tmp_path: Path) -> None:
    user = dovecot.new_user()
    dovecot.inject(user, [message(i) for i in range(10)])
    script = tmp_path / "crasher.py"
    script.write_text(CRASHER)
    db = tmp_path / "store.db"
    args = [
        sys.executable,
        str(script),
        str(dovecot.imaps_port),
        str(dovecot.ca_file),
        user,
        str(db),
    ]
    first = subprocess.run([*args, "6"], capture_output=True, timeout=60, check=False)
    assert first.returncode == -signal.SIGKILL, first.stderr.decode()
    flags = look(dovecot, user)
    # the 6th was committed but not flagged; \\Seen goes out once per batch (4), so 4 have it
    assert sum(1 for f in flags.values() if b"\\Seen" in f) == 4
    second = subprocess.run([*args, "0"], capture_output=True, timeout=60, check=False)
    assert second.returncode == 0, second.stderr.decode()
    with closing(sqlite3.connect(db)) as check:
        rows = check.execute("SELECT uid FROM imported ORDER BY uid").fetchall()
    assert [r[0] for r in rows] == list(range(1, 11))  # no duplicate, none lost
    assert all(f == {b"\\Seen"} for f in look(dovecot, user).values())


DESK_CRASHER = textwrap.dedent(
    """
    import os, signal, sys
    from helpmail.adapters.imap import ImapSource
    from helpmail.adapters.sqlite import SqliteStore
    from helpmail.adapters.sqlite_scanner import SQLiteScanState
    from helpmail.config import Secret
    from helpmail.ports import MailboxAction, MailboxActionKind
    from helpmail.scanner import MailboxSettings, PasswordAuth
    from helpmail.service import Desk
    from helpmail.tickets.settings import ImportSettings

    port, ca, user, db, crash_at = sys.argv[1:6]
    settings = MailboxSettings(name="crash", host="127.0.0.1", port=int(port), ca_file=ca,
        auth=PasswordAuth(user=user, password=Secret(origin="test", value=b"testpw")), batch_size=4)
    source = ImapSource(settings, state=SQLiteScanState(db))

    class CrashBeforeFlagging:
        name = source.name
        applied = 0
        def messages(self):
            return source.messages()
        def apply(self, ref, actions):
            self.applied += 1
            if self.applied == int(crash_at):
                os.kill(os.getpid(), signal.SIGKILL)  # committed and synced, not yet flagged
            source.apply(ref, actions)
        def close(self):
            source.close()

    seen = (MailboxAction(kind=MailboxActionKind.MARK_SEEN),)
    desk = Desk(store=SqliteStore(db), settings=ImportSettings(after_import=seen))
    desk.action_batch = 4
    wrapped = CrashBeforeFlagging()
    report = desk.import_from(wrapped)
    wrapped.close()
    print(report.summary())
    """
)


def test_sigkill_in_the_service_between_commit_and_flag(dovecot: Dovecot, tmp_path: Path) -> None:
    from helpmail.adapters.sqlite import SqliteStore

    user = dovecot.new_user()
    dovecot.inject(user, [message(100 + i, subject=f"printer {i} broke") for i in range(10)])
    script = tmp_path / "desk_crasher.py"
    script.write_text(DESK_CRASHER)
    db = tmp_path / "desk.db"
    args = [sys.executable, str(script), str(dovecot.imaps_port), str(dovecot.ca_file), user]
    first = subprocess.run([*args, str(db), "6"], capture_output=True, timeout=60, check=False)
    assert first.returncode == -signal.SIGKILL, first.stderr.decode()
    assert sum(1 for f in look(dovecot, user).values() if b"\\Seen" in f) < 10
    second = subprocess.run([*args, str(db), "0"], capture_output=True, timeout=60, check=False)
    assert second.returncode == 0, second.stderr.decode()
    store = SqliteStore(db)
    try:
        titles = sorted(t.title for t in store.tickets())
        assert len(store.imports()) == 10
    finally:
        store.close()
    assert titles == sorted(f"printer {i} broke" for i in range(10))  # no duplicate, none lost
    assert all(f == {b"\\Seen"} for f in look(dovecot, user).values())


# --- through the service --------------------------------------------------------------------------


def test_desk_imports_from_imap_once(dovecot: Dovecot) -> None:
    from helpmail.adapters.memory import MemoryStore
    from helpmail.service import Desk

    user = dovecot.new_user()
    dovecot.inject(user, [message(i, subject=f"printer {i}") for i in range(3)])
    desk = Desk(store=MemoryStore())
    with source(dovecot, user) as src:
        report = desk.import_from(src)
        assert report.total == 3, report.summary()
    with source(dovecot, user) as src:  # fresh scan state: everything is read again...
        again = desk.import_from(src)
    assert again.total == 3
    assert {r.kind for r in again.results} != {r.kind for r in report.results}  # ...and skipped


# --- helpmail poll --------------------------------------------------------------------------------

POLL = (
    "import argparse, sys\n"
    "from helpmail.cli import poll\n"
    "parser = argparse.ArgumentParser()\n"
    "poll.add_arguments(parser)\n"
    "sys.exit(poll.run(parser.parse_args(sys.argv[1:])))\n"
)


def _read_until(process: subprocess.Popen[str], needle: str, seen: list[str]) -> None:
    assert process.stdout is not None
    for line in process.stdout:
        seen.append(line)
        if needle in line:
            return
    raise AssertionError(f"poll ended before printing {needle!r}: {seen}")


def test_poll_imports_picks_up_with_idle_and_stops_on_sigterm(
    dovecot: Dovecot, tmp_path: Path
) -> None:
    user = dovecot.new_user()
    dovecot.inject(user, [message(1), message(2)])
    config = tmp_path / "helpmail.toml"
    config.write_text(
        "[[mailboxes]]\n"
        'name = "support"\n'
        f'url = "imaps://{user}@127.0.0.1:{dovecot.imaps_port}/INBOX"\n'
        'password = { env = "SUPPORT_PW" }\n'
        'after_import = "mark_seen"\n'
        f'ca_file = "{dovecot.ca_file}"\n'
        "[[rules]]\n"
        'name = "second to Special"\n'
        'when = { field = "subject", op = "ends_with", value = " 2" }\n'
        'actions = [{ type = "move", folder = "Special" }]\n'
    )
    env = {**os.environ, "SUPPORT_PW": PASSWORD}
    process = subprocess.Popen(
        [sys.executable, "-u", "-c", POLL, "--config", str(config), "--db", str(tmp_path / "db")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    seen: list[str] = []
    try:
        _read_until(process, "last successful check: never", seen)
        _read_until(process, "support: 2 messages", seen)
        time.sleep(1)  # let the worker settle into IDLE: this is delivery *during* IDLE
        dovecot.inject(user, [message(3)])  # picked up by IDLE (the poll interval is 60 s)
        _read_until(process, "support: 1 messages", seen)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, stderr
    assert "SIGTERM: stopping" in stderr
    assert "stopped" in stderr
    assert look(dovecot, user) == {1: {b"\\Seen"}, 3: {b"\\Seen"}}
    assert list(look(dovecot, user, "Special").values()) == [set()]  # the rule's move
    assert PASSWORD not in "".join(seen) + stderr


def test_poll_once_reports_a_failing_mailbox(tmp_path: Path) -> None:
    config = tmp_path / "helpmail.toml"
    config.write_text(
        "[[mailboxes]]\n"
        'name = "down"\n'
        'url = "imaps://desk@127.0.0.1:1/INBOX"\n'
        'password = { env = "SUPPORT_PW" }\n'
    )
    secret = "Never-Print-Me-42"
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            POLL,
            "--once",
            "--config",
            str(config),
            "--db",
            str(tmp_path / "d"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "SUPPORT_PW": secret},
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert "down: error:" in done.stdout
    assert "connecting" in done.stdout
    assert secret not in done.stdout + done.stderr
