"""Maildir and mbox sources: streaming, stable keys, mailbox actions, end to end with SQLite."""

from __future__ import annotations

import mailbox
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpmail.adapters.mailbox import MaildirSource, MboxSource, mbox_key, open_source
from helpmail.adapters.sqlite import SqliteStore
from helpmail.errors import SourceError
from helpmail.ports import MailboxAction, MailboxActionKind, MailSource
from helpmail.service import Desk
from helpmail.testing import FakeClock, make_mail
from helpmail.tickets.importing import OutcomeKind
from helpmail.tickets.settings import ImportSettings

SEEN = MailboxAction(kind=MailboxActionKind.MARK_SEEN)


def maildir(path: Path, raws: list[bytes]) -> list[str]:
    box = mailbox.Maildir(str(path), create=True)
    keys = []
    for index, raw in enumerate(raws):
        key = box.add(raw)
        # deterministic order: delivery times one second apart
        file = path / "new" / key
        os.utime(file, (1_700_000_000 + index, 1_700_000_000 + index))
        keys.append(key)
    return keys


def mails(n: int) -> list[bytes]:
    return [
        make_mail(subject=f"Request {i}", message_id=f"m{i}@x", body=f"Body {i}\nFrom here on.")
        for i in range(n)
    ]


def test_maildir_yields_every_message_with_stable_keys(tmp_path: Path) -> None:
    raws = mails(5)
    keys = maildir(tmp_path / "md", raws)
    source = MaildirSource(tmp_path / "md")
    assert isinstance(source, MailSource)
    got = list(source.messages())
    assert sorted(m.ref.uid for m in got) == sorted(keys)
    assert [m.ref.uid for m in got] == sorted(m.ref.uid for m in got)
    assert {m.raw for m in got} == set(raws)
    assert all(m.ref.source == f"maildir:{(tmp_path / 'md').resolve()}" for m in got)
    assert got[0].internal_date is not None
    # keys survive being marked seen (moved to cur/ with the S flag)
    source.apply(got[0].ref, (SEEN,))
    source.apply(got[0].ref, (SEEN,))  # twice is harmless
    again = {m.ref.uid: m for m in source.messages()}
    assert set(again) == set(keys)
    assert "S" in again[got[0].ref.uid].flags
    assert any(p.name.endswith(":2,S") for p in (tmp_path / "md" / "cur").iterdir())


def test_maildir_move_and_delete(tmp_path: Path) -> None:
    maildir(tmp_path / "md", mails(3))
    source = MaildirSource(tmp_path / "md")
    first, second, third = list(source.messages())
    source.apply(first.ref, (MailboxAction(kind=MailboxActionKind.MOVE, folder="Imported"),))
    source.apply(second.ref, (MailboxAction(kind=MailboxActionKind.DELETE),))
    source.apply(second.ref, (MailboxAction(kind=MailboxActionKind.DELETE),))  # already gone
    left = [m.ref.uid for m in source.messages()]
    assert left == [third.ref.uid]
    moved = mailbox.Maildir(str(tmp_path / "md")).get_folder("Imported")
    assert len(moved) == 1
    with pytest.raises(SourceError):
        source.apply(third.ref, (MailboxAction(kind=MailboxActionKind.MOVE, folder="../x"),))


def test_not_a_maildir(tmp_path: Path) -> None:
    with pytest.raises(SourceError):
        MaildirSource(tmp_path)
    with pytest.raises(SourceError):
        open_source(tmp_path / "missing")


def test_mbox_streams_messages_and_unquotes_from(tmp_path: Path) -> None:
    path = tmp_path / "box.mbox"
    box = mailbox.mbox(str(path))
    raws = mails(3)
    raws[1] = make_mail(subject="Quoted", message_id="q@x", body="Hello\nFrom the start,\nbye")
    for raw in raws:
        box.add(raw)
    box.flush()
    box.close()
    source = open_source(path)
    assert isinstance(source, MboxSource)
    got = list(source.messages())
    assert len(got) == 3
    assert len({m.ref.uid for m in got}) == 3
    bodies = [m.raw.replace(b"\r\n", b"\n") for m in got]
    assert b"\nFrom the start," in bodies[1]
    assert [m.ref.uid for m in source.messages()] == [m.ref.uid for m in got]  # stable


def test_mbox_actions_applied_on_close(tmp_path: Path) -> None:
    path = tmp_path / "box.mbox"
    box = mailbox.mbox(str(path))
    for raw in mails(3):
        box.add(raw)
    box.flush()
    box.close()
    source = MboxSource(path)
    first, second, _ = list(source.messages())
    source.apply(first.ref, (SEEN,))
    source.apply(second.ref, (MailboxAction(kind=MailboxActionKind.DELETE),))
    assert len(list(source.messages())) == 3  # nothing done before close
    source.close()
    after = mailbox.mbox(str(path))
    assert len(after) == 2
    assert "R" in after[after.keys()[0]].get_flags()
    after.close()


@pytest.mark.parametrize("kind", ["maildir", "mbox"])
def test_end_to_end_into_sqlite_is_idempotent(tmp_path: Path, kind: str) -> None:
    follow_up = make_mail(
        subject="Re: [Ticket#2] Request 1", message_id="f@x", body="Thanks, works."
    )
    raws = [*mails(4), follow_up]
    if kind == "maildir":
        maildir(tmp_path / "md", raws)
        location = tmp_path / "md"
    else:
        location = tmp_path / "box.mbox"
        box = mailbox.mbox(str(location))
        for raw in raws:
            box.add(raw)
        box.flush()
        box.close()
    settings = ImportSettings(after_import=(SEEN,))
    store = SqliteStore(tmp_path / "t.db")
    desk = Desk(store=store, settings=settings, clock=FakeClock())
    source = open_source(location)
    first = desk.import_from(source)
    source.close()
    assert first.counts[OutcomeKind.CREATED] == 4
    assert first.counts[OutcomeKind.FOLLOW_UP] == 1
    source = open_source(location)
    second = desk.import_from(source)
    source.close()
    assert second.counts[OutcomeKind.ALREADY_IMPORTED] == 5
    assert [t.title for t in store.tickets()] == [f"Request {i}" for i in range(4)]
    assert [m.text for m in store.messages_of("2")][-1] == "Thanks, works."
    store.close()


@settings(max_examples=25, deadline=None)
@given(
    st.lists(
        st.lists(
            st.sampled_from(["From the desk", ">From quoted", "plain text", "", "Status: RO"]),
            max_size=6,
        ),
        min_size=1,
        max_size=4,
    )
)
def test_mbox_keys_match_the_stdlib_view(bodies: list[list[str]]) -> None:
    # close() finds messages through the stdlib's mbox by recomputing the key: both views of a
    # message must give the same key, whatever ">From" quoting the writer used.
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "box"
        box = mailbox.mbox(str(path))
        for index, lines in enumerate(bodies):
            box.add(make_mail(subject=f"s{index}", message_id=f"{index}@x", body="\n".join(lines)))
        box.flush()
        ours = [m.ref.uid for m in MboxSource(path).messages()]
        theirs = [mbox_key(box.get_bytes(key)) for key in box.iterkeys()]
        box.close()
    assert ours == theirs
    assert len(set(ours)) == len(bodies)
