"""Both shipped ticket stores pass the conformance suite; SQLite specifics (schema, files)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from helpmail.adapters.memory import MemoryStore
from helpmail.adapters.sqlite import MIGRATIONS, SCHEMA_VERSION, SqliteStore
from helpmail.errors import StoreError
from helpmail.ports import TicketStore
from helpmail.testing.store_conformance import (
    TicketStoreConformance,
    commit_create,
    run_conformance,
)


class TestMemoryStore(TicketStoreConformance):
    def make_store(self) -> TicketStore:
        return MemoryStore()


class TestSqliteStore(TicketStoreConformance):
    @pytest.fixture(autouse=True)
    def _dir(self, tmp_path: Path) -> None:
        self.dir = tmp_path
        self.count = 0

    def make_store(self) -> TicketStore:
        self.count += 1
        return SqliteStore(self.dir / f"store{self.count}.db")


def test_run_conformance_function(tmp_path: Path) -> None:
    paths = iter(range(100))
    run_conformance(MemoryStore)
    run_conformance(lambda: SqliteStore(tmp_path / f"{next(paths)}.db"))


def test_sqlite_schema_versioned_wal_foreign_keys(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    SqliteStore(path).close()
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == MIGRATIONS[-1][0]
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"tickets", "messages", "imports", "quarantine", "history", "blobs"} <= tables
    db.close()
    store = SqliteStore(path)  # reopening migrates nothing and keeps data
    commit_create(store)
    store.close()
    again = SqliteStore(path)
    assert [t.title for t in again.tickets()] == ["Printer broken"]
    again.close()


def test_sqlite_foreign_keys_enforced(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "t.db")
    with pytest.raises(sqlite3.IntegrityError):
        store._db.execute(
            "INSERT INTO messages (ticket_id, kind, at, text, origin)"
            " VALUES (99, 'request', 'x', '', 'customer')"
        )
    store.close()


def test_sqlite_refuses_newer_schema(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    SqliteStore(path).close()
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.commit()
    db.close()
    with pytest.raises(StoreError, match="newer"):
        SqliteStore(path)


def test_sqlite_readonly(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    store = SqliteStore(path)
    commit_create(store)
    store.close()
    readonly = SqliteStore(path, readonly=True)
    assert len(readonly.tickets()) == 1
    with pytest.raises(StoreError, match="read-only"):
        commit_create(readonly, "2")
    readonly.close()
    with pytest.raises(StoreError, match="no database"):
        SqliteStore(tmp_path / "missing.db", readonly=True)


def test_sqlite_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError):
        SqliteStore(path)


def test_sqlite_closed_store_raises_store_error(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "t.db")
    store.close()
    with pytest.raises(StoreError):
        store.tickets()


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_same_mail_lookup_skips_suspension_records(kind: str, tmp_path: Path) -> None:
    import datetime as dt

    from helpmail.ports import ImportKey, MessageRef
    from helpmail.tickets.importing import ImportCommit, OutcomeKind

    store: TicketStore = MemoryStore() if kind == "memory" else SqliteStore(tmp_path / "s.db")
    at = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)

    def key(uid: str) -> ImportKey:
        ref = MessageRef(source="imap", folder="INBOX", uid=uid)
        return ImportKey(ref=ref, message_id="m@x", content_digest="d1")

    store.commit(ImportCommit(key=key("1"), outcome=OutcomeKind.SUSPENDED, at=at))
    assert store.find_import(key("1").ref) is not None  # the position is recorded
    assert store.find_same_mail("m@x", "d1") is None  # but it does not stand for the mail
    store.commit(ImportCommit(key=key("2"), outcome=OutcomeKind.DROPPED, at=at))
    found = store.find_same_mail("m@x", "d1")
    assert found is not None
    assert found.key.ref.uid == "2"
    store.close()


def test_sqlite_schema_1_file_is_upgraded_with_contact_addresses(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    for statement in MIGRATIONS[0][1]:
        db.execute(statement)
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()
    with pytest.raises(StoreError, match="open it once for writing"):
        SqliteStore(path, readonly=True)
    store = SqliteStore(path)
    ann = store.add_contact("ann@work.example")
    store.add_contact_address(ann, "ann@home.example")
    assert store.find_contact("ann@home.example") == ann
    store.close()
