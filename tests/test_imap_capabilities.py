"""The IMAP source against real Dovecot servers that advertise less: no MOVE, no UIDPLUS, no IDLE,
no STARTTLS, a bare ``IMAP4rev1``.

Each capability set is its own Dovecot (module-scoped: started once). Dovecot's
``imap_capability`` replaces the advertised list (before and after login; Dovecot appends
``STARTTLS`` and ``AUTH=`` itself before login whenever TLS is configured). The server still
*implements* what it no longer advertises, so these tests prove what helpmail *sent* from
Dovecot's own record of the session (``rawlog_dir``: every command the client sent after login),
not from the end state alone. Every test also reads the CAPABILITY response it got, so a changed
server default cannot make a test pass for the wrong reason.

The extra settings use Dovecot 2.3 names and are verified on 2.3.19 only; on 2.4 the module is
skipped (``imap_capability`` and the ``%h`` variable changed there).
"""

from __future__ import annotations

import os
import re
import signal
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import imapclient
import pytest

from dovecot import PASSWORD, Dovecot, dialect, dovecot_version, find_dovecot, message, serve
from dovecot import imap_settings as settings
from dovecot import imap_source as source
from helpmail.adapters.imap import ImapSource
from helpmail.errors import ConfigError, SourceError
from helpmail.ports import MailboxAction, MailboxActionKind
from helpmail.scanner import ScanMode, Security

pytestmark = pytest.mark.dovecot

#: what Dovecot 2.3.19 advertises after login with the suite's config
DOVECOT_23 = (
    "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE SORT SORT=DISPLAY THREAD=REFERENCES "
    "THREAD=REFS THREAD=ORDEREDSUBJECT MULTIAPPEND URL-PARTIAL CATENATE UNSELECT CHILDREN "
    "NAMESPACE UIDPLUS LIST-EXTENDED I18NLEVEL=1 CONDSTORE QRESYNC ESEARCH ESORT SEARCHRES "
    "WITHIN CONTEXT=SEARCH LIST-STATUS BINARY MOVE SNIPPET=FUZZY PREVIEW=FUZZY PREVIEW "
    "STATUS=SIZE SAVEDATE LITERAL+ NOTIFY SPECIAL-USE"
)
#: Dovecot writes each session's commands to ~/rawlog/*.in when that directory exists
RAWLOG = "rawlog_dir = %h/rawlog\n"

SEEN = MailboxAction(kind=MailboxActionKind.MARK_SEEN)
LEAVE = MailboxAction(kind=MailboxActionKind.LEAVE)
DELETE = MailboxAction(kind=MailboxActionKind.DELETE)
DELETED = b"\\Deleted"


def move(folder: str) -> MailboxAction:
    return MailboxAction(kind=MailboxActionKind.MOVE, folder=folder)


def advertising(*dropped: str) -> str:
    kept = [c for c in DOVECOT_23.split() if c not in dropped]
    return f"imap_capability = {' '.join(kept)}\n"


def _serve(extra: str = "", *, plain_only: bool = False) -> Iterator[Dovecot]:
    binary = find_dovecot()
    if binary is not None and dialect(dovecot_version(binary)) != "2.3":
        pytest.skip("the capability settings here use Dovecot 2.3 syntax (verified on 2.3.19)")
    yield from serve(extra + RAWLOG, plain_only=plain_only)


@pytest.fixture(scope="module")
def no_move() -> Iterator[Dovecot]:
    yield from _serve(advertising("MOVE"))


@pytest.fixture(scope="module")
def no_uidplus() -> Iterator[Dovecot]:
    yield from _serve(advertising("MOVE", "UIDPLUS"))


@pytest.fixture(scope="module")
def bare() -> Iterator[Dovecot]:
    """Only ``IMAP4rev1``: no IDLE, MOVE, UIDPLUS, LITERAL+, CONDSTORE, ESEARCH, SPECIAL-USE..."""
    yield from _serve("imap_capability = IMAP4rev1\n")


@pytest.fixture(scope="module")
def no_tls() -> Iterator[Dovecot]:
    """``ssl = no``: one plain listener, and no STARTTLS in its capabilities."""
    yield from _serve(plain_only=True)


# --- helpers ------------------------------------------------------------------------------------


def other_client(server: Dovecot, user: str) -> imapclient.IMAPClient:
    """Another mail client of the same user (implicit TLS, or plain on the plain-only server)."""
    if server.plain_only:
        client = imapclient.IMAPClient(server.host, port=server.imap_port, ssl=False)
    else:
        context = ssl.create_default_context(cafile=str(server.ca_file))
        client = imapclient.IMAPClient(server.host, port=server.imaps_port, ssl_context=context)
    client.login(user, PASSWORD)
    return client


def look(server: Dovecot, user: str, folder: str = "INBOX") -> dict[int, tuple[set[bytes], str]]:
    """UID -> (flags, subject) of every message in ``folder``, read by another client."""
    with other_client(server, user) as client:
        client.select_folder(folder, readonly=True)
        found = client.fetch(
            client.search(["ALL"]), ["FLAGS", "BODY.PEEK[HEADER.FIELDS (SUBJECT)]"]
        )
    out = {}
    for uid, data in found.items():
        header = data[b"BODY[HEADER.FIELDS (SUBJECT)]"].decode().strip()
        out[uid] = (set(data[b"FLAGS"]) - {b"\\Recent"}, header.removeprefix("Subject: "))
    return out


def with_rawlog(server: Dovecot, user: str) -> None:
    """Make Dovecot record ``user``'s sessions (the directory must exist, owned by the mail uid)."""
    home = server.dir / "mail" / user
    (home / "rawlog").mkdir(parents=True, exist_ok=True)
    if server.root:
        for path in (home, home / "rawlog"):
            os.chown(path, server.uid, server.gid)


def sent(server: Dovecot, user: str) -> list[str]:
    """Every line the clients of ``user`` sent after login, tag included, oldest session first."""
    lines = []
    for path in sorted((server.dir / "mail" / user / "rawlog").glob("*.in")):
        for line in path.read_text(errors="replace").splitlines():
            lines.append(line.split(" ", 1)[1])  # drop the time stamp
    assert commands(lines, r"SELECT\b"), f"no session of {user} was recorded"
    return lines


def commands(lines: list[str], pattern: str) -> list[str]:
    """The commands (tag removed) that match ``pattern`` from their start."""
    found = []
    for line in lines:
        _, _, command = line.partition(" ")
        if re.match(pattern, command, re.IGNORECASE):
            found.append(command)
    return found


def caps(src: ImapSource) -> set[str]:
    """What the server advertised to ``src`` after login (its CAPABILITY response)."""
    return {c.decode() for c in src._connection().capabilities()}


def scan(src: ImapSource, actions: dict[str, tuple[MailboxAction, ...]]) -> list[str]:
    """Read every new message, apply its actions (LEAVE when not listed), return the UIDs."""
    uids = []
    for m in src.messages():
        uids.append(m.ref.uid)
        src.apply(m.ref, actions.get(m.ref.uid, (LEAVE,)))
    return uids


# --- no MOVE ------------------------------------------------------------------------------------


def test_move_without_move_is_copy_then_uid_expunge_of_that_message_only(no_move: Dovecot) -> None:
    user = no_move.new_user("nomove")
    with_rawlog(no_move, user)
    no_move.inject(user, [message(i) for i in (1, 2, 3, 4)])
    with other_client(no_move, user) as other:  # "deleted" in another client, not expunged yet
        other.select_folder("INBOX")
        other.add_flags([3], [DELETED])
    with source(no_move, user) as src:
        assert "MOVE" not in caps(src)
        assert "UIDPLUS" in caps(src)
        assert scan(src, {"1": (move("Archive"),), "2": (DELETE,), "4": (move("Done/2026"),)}) == [
            "1",
            "2",
            "3",
            "4",
        ]
    # moved once, gone from INBOX; the other client's \Deleted message is still there
    assert look(no_move, user) == {3: ({DELETED}, "message 3")}
    assert list(look(no_move, user, "Archive").values()) == [(set(), "message 1")]
    assert list(look(no_move, user, "Done/2026").values()) == [(set(), "message 4")]  # TRYCREATE
    lines = sent(no_move, user)
    assert not commands(lines, r"(UID )?MOVE\b")
    assert commands(lines, r'UID COPY 1 "?Archive"?$')
    assert commands(lines, r"UID EXPUNGE") == ["UID EXPUNGE 1", "UID EXPUNGE 2", "UID EXPUNGE 4"]
    assert not commands(lines, r"EXPUNGE$")  # never a plain EXPUNGE while UIDPLUS is there


def test_connection_lost_between_copy_and_expunge_leaves_one_copy(no_move: Dovecot) -> None:
    """The server drops the session after the COPY succeeded: the retry on a new connection only
    flags and expunges (before the fix it copied again: two copies in Archive). Not covered: a
    crash of helpmail, or a lost answer to the COPY itself, between COPY and expunge."""
    user = no_move.new_user("nomovedrop")
    no_move.inject(user, [message(1)])
    with source(no_move, user) as src:
        (got,) = list(src.messages())
        client = src._connection()
        store = client.add_flags

        def kicked_first(*args: Any, **kw: Any) -> Any:
            no_move.kick(user)  # the server drops the session after COPY, before \Deleted
            return store(*args, **kw)

        client.add_flags = kicked_first
        src.apply(got.ref, (move("Archive"),))  # reconnects and retries
        assert src.stats.reconnects >= 1
    assert look(no_move, user) == {}
    assert list(look(no_move, user, "Archive").values()) == [(set(), "message 1")]


# --- no MOVE, no UIDPLUS ------------------------------------------------------------------------


def test_without_uidplus_plain_expunge_spares_mail_another_client_flagged_deleted(
    no_uidplus: Dovecot,
) -> None:
    """COPY + ``\\Deleted`` + ``EXPUNGE`` moves the message. A plain EXPUNGE removes *every*
    message flagged ``\\Deleted`` in the folder (RFC 3501 §6.4.3), so helpmail lifts the flag of
    the messages another client marked for deletion (and could still undelete) for the moment of
    its EXPUNGE and sets it again after: they stay, still flagged."""
    user = no_uidplus.new_user("nouidplus")
    with_rawlog(no_uidplus, user)
    no_uidplus.inject(user, [message(i) for i in (1, 2, 3, 4)])
    with other_client(no_uidplus, user) as other:
        other.select_folder("INBOX")
        other.add_flags([3], [DELETED])
    with source(no_uidplus, user) as src:
        assert not {"MOVE", "UIDPLUS"} & caps(src)
        assert scan(src, {"1": (move("Archive"),), "2": (DELETE,)}) == ["1", "2", "3", "4"]
    assert list(look(no_uidplus, user, "Archive").values()) == [(set(), "message 1")]
    # 1 moved, 2 deleted; 3 -- the other client's -- still there and still marked
    assert look(no_uidplus, user) == {3: ({DELETED}, "message 3"), 4: (set(), "message 4")}
    lines = sent(no_uidplus, user)
    assert not commands(lines, r"(UID )?MOVE\b")
    assert not commands(lines, r"UID EXPUNGE")
    assert commands(lines, r'UID COPY 1 "?Archive"?$')
    assert commands(lines, r"EXPUNGE$") == ["EXPUNGE", "EXPUNGE"]
    # each EXPUNGE is wrapped: lift 3's flag, expunge, set it again
    assert len(commands(lines, r"UID STORE 3 -FLAGS.SILENT")) == 2
    assert len(commands(lines, r"UID STORE 3 \+FLAGS.SILENT")) == 2


# --- no IDLE ------------------------------------------------------------------------------------


def test_without_idle_waiting_is_polling(bare: Dovecot) -> None:
    user = bare.new_user("noidle")
    with_rawlog(bare, user)
    with source(bare, user) as src:  # idle = true in the settings: the server decides
        assert "IDLE" not in caps(src)
        assert scan(src, {}) == []
        started = time.monotonic()
        assert src.wait_for_changes(1.0) is True  # "look again", after the whole time-out
        assert 1.0 <= time.monotonic() - started < 5
        started = time.monotonic()
        assert src.wait_for_changes(30, stop=lambda: True) is True  # shutdown ends it at once
        assert time.monotonic() - started < 2
        bare.inject(user, [message(1)])
        assert scan(src, {}) == ["1"]
    assert not commands(sent(bare, user), r"IDLE\b")


def test_helpmail_poll_imports_new_mail_from_a_server_without_idle(
    bare: Dovecot, tmp_path: Path
) -> None:
    user = bare.new_user("pollnoidle")
    with_rawlog(bare, user)
    bare.inject(user, [message(1), message(2)])
    config = tmp_path / "helpmail.toml"
    config.write_text(
        "[[mailboxes]]\n"
        'name = "support"\n'
        f'url = "imaps://{user}@127.0.0.1:{bare.imaps_port}/INBOX"\n'
        'password = { env = "SUPPORT_PW" }\n'
        'after_import = "mark_seen"\n'
        "poll_interval = 1\n"
        f'ca_file = "{bare.ca_file}"\n'
    )
    program = (
        "import argparse, sys\n"
        "from helpmail.cli import poll\n"
        "parser = argparse.ArgumentParser()\n"
        "poll.add_arguments(parser)\n"
        "sys.exit(poll.run(parser.parse_args(sys.argv[1:])))\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-u", "-c", program, "--config", str(config), "--db", str(tmp_path / "d")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "SUPPORT_PW": PASSWORD},
    )
    watchdog = threading.Timer(60, process.kill)  # a hung poll fails the test, not the run
    watchdog.start()
    out: list[str] = []

    def read_until(needle: str) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            out.append(line)
            if needle in line:
                return
        raise AssertionError(f"poll ended before printing {needle!r}: {out}")

    try:
        read_until("support: 2 messages")
        bare.inject(user, [message(3)])  # no IDLE: found by the next poll, a second later
        delivered = time.monotonic()
        read_until("support: 1 messages")
        assert time.monotonic() - delivered < 10
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=20)
    finally:
        watchdog.cancel()
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, stderr
    assert {uid: flags for uid, (flags, _) in look(bare, user).items()} == {
        1: {b"\\Seen"},
        2: {b"\\Seen"},
        3: {b"\\Seen"},
    }
    assert not commands(sent(bare, user), r"IDLE\b")


# --- a bare IMAP4rev1 server: no LITERAL+, CONDSTORE, ESEARCH, ... -------------------------------


@pytest.mark.parametrize("mode", [ScanMode.ALL, ScanMode.UNSEEN])
def test_both_scan_modes_work_on_a_bare_imap4rev1_server(bare: Dovecot, mode: ScanMode) -> None:
    user = bare.new_user(f"bare{mode}")
    bare.inject(user, [message(1), message(2)])
    bare.inject(user, [message(3)], seen=True)  # read in another client before the scan
    bare.inject(user, [message(4)])
    expected = ["1", "2", "3", "4"] if mode is ScanMode.ALL else ["1", "2", "4"]
    with source(bare, user, scan_mode=mode, batch_size=2) as src:
        assert caps(src) == {"IMAP4REV1"}  # imapclient upper-cases
        assert scan(src, dict.fromkeys(expected, (SEEN,))) == expected
        assert scan(src, {}) == []  # the watermark holds
        bare.inject(user, [message(5)])
        assert scan(src, {"5": (move("Done"),)}) == ["5"]  # COPY + EXPUNGE + TRYCREATE too
        last = src.last_successful_check()
        assert last is not None
        assert last.messages == 1
    assert {uid: flags for uid, (flags, _) in look(bare, user).items()} == {
        1: {b"\\Seen"},
        2: {b"\\Seen"},
        3: {b"\\Seen"},
        4: {b"\\Seen"},
    }
    assert list(look(bare, user, "Done").values()) == [(set(), "message 5")]


# --- no STARTTLS --------------------------------------------------------------------------------


def test_starttls_not_offered_is_refused_before_any_login(no_tls: Dovecot) -> None:
    user = no_tls.new_user("nostarttls")
    no_tls.inject(user, [message(1)])
    with imapclient.IMAPClient(no_tls.host, port=no_tls.imap_port, ssl=False) as probe:
        assert b"STARTTLS" not in probe.capabilities()  # what the server offers before login
    logged = len(no_tls.log_text())
    slept: list[float] = []
    src = source(
        no_tls, user, security=Security.STARTTLS, port=no_tls.imap_port, sleep=slept.append
    )
    with pytest.raises(SourceError) as info:
        list(src.messages())
    text = str(info.value)
    assert "connecting failed" in text
    assert "does not support STARTTLS" in text  # imapclient's check of the CAPABILITY list
    assert PASSWORD not in text
    assert slept == []  # not mistaken for a dropped connection and retried
    # Dovecot's side: the connection ended without any LOGIN/AUTHENTICATE, and nobody logged in
    deadline = time.monotonic() + 5
    while "no auth attempts" not in no_tls.log_text()[logged:] and time.monotonic() < deadline:
        time.sleep(0.05)
    since = no_tls.log_text()[logged:]
    assert "Disconnected: Connection closed (no auth attempts" in since, since
    assert "Login:" not in since
    assert not (no_tls.maildir(user) / "dovecot-uidlist").exists()  # no session opened it
    check = src.state.last_check(src.name)
    assert check is not None
    assert not check.ok
    assert "STARTTLS" in (check.error or "")


def test_plain_imap_only_when_explicitly_allowed(no_tls: Dovecot) -> None:
    user = no_tls.new_user("plain")
    no_tls.inject(user, [message(1)])
    with pytest.raises(ConfigError, match="allow_plaintext"):
        settings(no_tls, user, security=Security.PLAIN, port=no_tls.imap_port)
    plain = source(
        no_tls, user, security=Security.PLAIN, allow_plaintext=True, port=no_tls.imap_port
    )
    with plain as src:
        assert scan(src, {"1": (SEEN,)}) == ["1"]
        assert not hasattr(src._client._imap.sock, "version")  # really no TLS
    assert "PLAINTEXT" in plain.settings.describe()
    assert look(no_tls, user) == {1: ({b"\\Seen"}, "message 1")}
