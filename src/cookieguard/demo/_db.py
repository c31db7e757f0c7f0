"""The demo's own tables: records and the site's secret key, in the `--db` SQLite file.

They live beside the users table (and, by default, the sessions) and are opened the same way
the library opens its own: `SQLiteDatabase`, so the file is created owner-only (0600), is
shared in WAL mode with other demo servers and ``cookieguard adduser``, and a statement that
meets another process's write lock waits without blocking the event loop, then fails with
`StoreUnavailable` (the app answers 503).

Each record keeps when it was added (`created_at`, epoch seconds). Databases made before that
column existed are migrated in place at start-up (`ALTER TABLE ... ADD COLUMN`, under the write
lock so servers starting together add it once); their old records have no date (None).
"""

from __future__ import annotations

import secrets
import sqlite3
import time
from dataclasses import dataclass

from cookieguard.stores.sqlite_db import SQLiteDatabase

LOCK_TIMEOUT = 5.0
"""Seconds a statement keeps retrying while another process holds the write lock."""
MAX_RECORD_LENGTH = 10_000
"""Longest record text accepted, in characters (the contract's limit)."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS demo_records (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id TEXT NOT NULL,
    text TEXT NOT NULL,
    created_at REAL
);
CREATE INDEX IF NOT EXISTS demo_records_user ON demo_records (user_id, id);
CREATE TABLE IF NOT EXISTS demo_settings (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
)"""
_LIST = "SELECT id, text, created_at FROM demo_records WHERE user_id = ? ORDER BY id"
_INSERT = "INSERT INTO demo_records (user_id, text, created_at) VALUES (?, ?, ?)"
_DELETE = "DELETE FROM demo_records WHERE id = ? AND user_id = ?"
_MAX_ROWID = 2**63 - 1  # SQLite's largest INTEGER: a larger id names no record
_KEY_INSERT = "INSERT OR IGNORE INTO demo_settings (name, value) VALUES ('secret_key', ?)"
_KEY_SELECT = "SELECT value FROM demo_settings WHERE name = 'secret_key'"
_CLAIM = "INSERT OR IGNORE INTO demo_settings (name, value) VALUES (?, 'done')"


@dataclass(frozen=True, slots=True)
class Record:
    """One stored record."""

    id: int
    text: str
    created_at: float | None
    """When it was added (epoch seconds); None for records older than the column."""


def migrate(conn: sqlite3.Connection) -> bool:
    """Add the columns newer demo versions need to an older database; True if it changed.

    Runs under ``BEGIN IMMEDIATE``: a second server starting at the same moment waits for the
    lock, then finds the column already there.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        columns = {row[1] for row in conn.execute("PRAGMA table_info(demo_records)")}
        missing = "created_at" not in columns
        if missing:
            conn.execute("ALTER TABLE demo_records ADD COLUMN created_at REAL")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return missing


class DemoDatabase:
    """Records and settings of the demo site.

    Args:
        path: the SQLite file; created owner-only (0600: it holds the secret key) with its
            tables when missing.
        lock_timeout: seconds a statement keeps retrying while another process holds the
            write lock; then `StoreUnavailable` is raised.

    Raises:
        sqlite3.Error: the file cannot be opened or created (bad directory, not a database).
    """

    def __init__(self, path: str, *, lock_timeout: float = LOCK_TIMEOUT) -> None:
        self.path = path
        self._db = SQLiteDatabase(path, schema=_SCHEMA, lock_timeout=lock_timeout, label="demo db")
        # Opened now, blocking (SQLite's busy handler waits): creates the file and tables, so
        # a bad path fails at start, and serves the start-up calls below.
        self._startup = self._db.open()
        migrate(self._startup)

    def secret_key(self) -> str:
        """The site's secret key, made on first use (start-up only: this call blocks).

        INSERT OR IGNORE then SELECT: when several servers start at once on one file, exactly
        one insert wins and every server reads that same key.
        """
        self._startup.execute(_KEY_INSERT, (secrets.token_urlsafe(48),))
        row = self._startup.execute(_KEY_SELECT).fetchone()
        return str(row[0])

    def claim(self, task: str) -> bool:
        """True exactly once per database for `task`, even across servers starting together."""
        return self._startup.execute(_CLAIM, (task,)).rowcount == 1

    async def records(self, user_id: str) -> list[Record]:
        """`user_id`'s records, oldest first."""
        rows = await self._db.fetchall(_LIST, (user_id,))
        return [Record(row_id, text, created) for row_id, text, created in rows]

    async def add_record(self, user_id: str, text: str, *, now: float | None = None) -> int:
        """Store one record, dated `now` (default: the current time); returns its id."""
        created = time.time() if now is None else now
        cursor = await self._db.execute(_INSERT, (user_id, text, created))
        return int(cursor.lastrowid or 0)

    async def delete_record(self, user_id: str, record_id: int) -> bool:
        """Delete `user_id`'s record `record_id`; False if they have no such record.

        The owner is part of the statement, so another user's id deletes nothing.
        """
        if not 0 < record_id <= _MAX_ROWID:
            return False
        cursor = await self._db.execute(_DELETE, (record_id, user_id))
        return cursor.rowcount == 1

    def close(self) -> None:
        """Close the connections (a later `records` or `add_record` reopens one)."""
        self._startup.close()
        self._db.close()


def validate_record_text(value: object) -> str | None:
    """The reason `value` is not acceptable record text, or None when it is.

    Text must be a non-empty string of at most `MAX_RECORD_LENGTH` characters that can be
    stored as UTF-8 (JSON may smuggle in lone surrogates, which SQLite would refuse).
    """
    if not isinstance(value, str):
        return "text must be a string"
    if not value:
        return "text must not be empty"
    if len(value) > MAX_RECORD_LENGTH:
        return f"text must be at most {MAX_RECORD_LENGTH:,} characters"
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "text must be valid Unicode"
    return None
