"""Opening the small SQLite state files that live beside the ticket store.

The delivery guard, the scan state and the suspended queue each keep a few tables of their own
(``guard_*``, ``scanner_*``, ``suspended_*``), usually in the desk's SQLite file. They open it the
same way: one connection in autocommit mode, a busy timeout so two processes can share the file,
their ``CREATE TABLE IF NOT EXISTS`` schema, and, where the tables are versioned, a refusal of a
file written by a newer helpmail. A file that is refused never leaves its connection open.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from helpmail.errors import StoreError


def open_side_db(
    path: str | Path,
    *,
    schema: str,
    what: str,
    wal: bool = False,
    version_table: str | None = None,
    version: int = 1,
) -> sqlite3.Connection:
    """Connect to ``path``, create ``schema`` and check its version; :class:`StoreError` on failure.

    ``what`` names the state in messages ("the guard state"). ``version_table`` is a table with
    ``(id INTEGER PRIMARY KEY, version INTEGER)``: a missing row is written as ``version``; a
    newer one is refused.
    """
    name = str(path)
    try:
        db = sqlite3.connect(name, isolation_level=None, check_same_thread=False)
    except sqlite3.Error as error:
        raise StoreError(f"cannot open {what} in {name}: {error}") from None
    try:
        db.execute("PRAGMA busy_timeout = 5000")
        if wal and name != ":memory:":
            db.execute("PRAGMA journal_mode = WAL")
        db.executescript(schema)
        if version_table is not None:
            _check_version(db, version_table, version, what, name)
    except (sqlite3.Error, StoreError) as error:
        db.close()
        if isinstance(error, StoreError):
            raise
        raise StoreError(f"cannot open {what} in {name}: {error}") from None
    return db


def _check_version(db: sqlite3.Connection, table: str, version: int, what: str, name: str) -> None:
    row = db.execute(f"SELECT version FROM {table} WHERE id = 1").fetchone()
    if row is None:
        db.execute(f"INSERT OR IGNORE INTO {table} (id, version) VALUES (1, ?)", (version,))
    elif int(row[0]) > version:
        raise StoreError(
            f"{what} in {name} has schema version {row[0]}; this helpmail reads version "
            f"{version} (upgrade helpmail)"
        )


def close_side_db(db: sqlite3.Connection, what: str) -> None:
    """Close a connection opened by :func:`open_side_db`; :class:`StoreError` on failure."""
    try:
        db.close()
    except sqlite3.Error as error:  # pragma: no cover - close rarely fails
        raise StoreError(f"cannot close {what}: {error}") from None
