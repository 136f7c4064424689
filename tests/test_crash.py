"""Crash safety: an import killed with SIGKILL at random moments and rerun equals one clean run.

A subprocess imports a generated 60-mail Maildir into an SQLite file (marking each message seen
after its commit) and is killed at a random moment, again and again; then it is run to the end.
The tickets, their messages and the import records must equal those of one uninterrupted run in
a copy of the same Maildir: no ticket lost, none doubled, every message marked seen once.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpmail.adapters.sqlite import SqliteStore
from helpmail.testing.mailgen import generate_mails, write_maildir

MAILS = 60
KILLS = 12
SEED = int(os.environ.get("HELPMAIL_CRASH_SEED", "20260105"))

WORKER = r"""
import sys, time
from helpmail.adapters.mailbox import MaildirSource
from helpmail.adapters.sqlite import SqliteStore
from helpmail.ports import MailboxAction, MailboxActionKind
from helpmail.service import Desk
from helpmail.tickets.settings import ImportSettings

maildir, db, delay = sys.argv[1], sys.argv[2], float(sys.argv[3])
settings = ImportSettings(after_import=(MailboxAction(kind=MailboxActionKind.MARK_SEEN),))
store = SqliteStore(db)
desk = Desk(store=store, settings=settings)
desk.action_batch = 5
source = MaildirSource(maildir, name="maildir:support")
# warm up: load every module and compile every pattern before the clock starts
from helpmail.replies import extract_reply
from helpmail.testing.mailgen import generate_mails
for raw in generate_mails(6, seed=99):
    desk.explain(raw, use_store=False)
extract_reply("Thanks\n\nOn Mon, Desk wrote:\n> a\n> b\n", parent="a\nb")
print("ready", flush=True)


def tell(done, result):
    # one line per message, so the test can kill after a random number of new commits
    print(result.kind.value, flush=True)
    if result.kind.value != "already_imported":
        time.sleep(delay)


report = desk.import_from(source, progress=tell)
source.close()
store.close()
print(report.summary(), flush=True)
"""


def _run(maildir: Path, db: Path, script: Path, delay: float) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, str(script), str(maildir), str(db), str(delay)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _snapshot(db: Path) -> dict[str, object]:
    store = SqliteStore(db, readonly=True)
    try:
        tickets = [
            (
                t.number,
                t.title,
                t.status,
                t.reporter_address,
                t.reported_at.isoformat(),
                [
                    (m.kind.value, m.message_id, m.sender, m.text, m.attachments)
                    for m in store.messages_of(t.id)
                ],
                [h.text for h in store.history_of(t.id)],
            )
            for t in store.tickets()
        ]
        imports = sorted((r.key.ref.uid, r.outcome, r.ticket_id) for r in store.imports())
        quarantined = [q.key.ref.uid for q in store.quarantined()]
    finally:
        store.close()
    return {"tickets": tickets, "imports": imports, "quarantine": quarantined}


def _seen(maildir: Path) -> tuple[int, int]:
    new = len(list((maildir / "new").iterdir()))
    cur = [p.name for p in (maildir / "cur").iterdir()]
    assert all(name.endswith(":2,S") for name in cur)
    return new, len(cur)


@pytest.mark.slow
def test_sigkill_at_random_moments_then_rerun_equals_clean_run(tmp_path: Path) -> None:
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    pristine = tmp_path / "pristine"
    write_maildir(pristine, generate_mails(MAILS, seed=7))
    clean_dir, crash_dir = tmp_path / "clean", tmp_path / "crash"
    shutil.copytree(pristine, clean_dir)
    shutil.copytree(pristine, crash_dir)

    clean = _run(clean_dir, tmp_path / "clean.db", script, 0.0)
    _, err = clean.communicate(timeout=120)
    assert clean.returncode == 0, err.decode()
    expected = _snapshot(tmp_path / "clean.db")
    assert len(expected["imports"]) == MAILS  # type: ignore[arg-type]

    rng = random.Random(SEED)
    kills = 0
    finished = False
    for _attempt in range(KILLS * 3):
        worker = _run(crash_dir, tmp_path / "crash.db", script, 0.002)
        assert worker.stdout is not None
        worker.stdout.readline()  # "ready": imports are loaded, the import starts now
        # Let a random number of new messages through (whatever the machine's speed), then kill
        # at a random moment: inside a commit, between commit and mailbox action, or elsewhere.
        wanted = rng.randint(0, 6)
        while wanted > 0:
            line = worker.stdout.readline()
            if not line:
                break
            if line.strip() != b"already_imported":
                wanted -= 1
        time.sleep(rng.uniform(0.0, 0.004))
        if worker.poll() is None:
            worker.send_signal(signal.SIGKILL)
            worker.communicate(timeout=30)
            kills += 1
        else:
            worker.communicate(timeout=30)
            assert worker.returncode == 0
            finished = True
            break
        if kills >= KILLS:
            break
    assert kills >= KILLS // 2, f"only {kills} kills landed"
    if not finished:
        final = _run(crash_dir, tmp_path / "crash.db", script, 0.0)
        _, err = final.communicate(timeout=120)
        assert final.returncode == 0, err.decode()

    assert _snapshot(tmp_path / "crash.db") == expected
    assert _seen(crash_dir) == _seen(clean_dir) == (0, MAILS)
