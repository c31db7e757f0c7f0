"""The demo's own tables: records and the site's secret key, in the `--db` SQLite file.

One connection, used synchronously from the event-loop thread: every statement is a point
query or a single-row insert on an index, which costs microseconds, less than a hop to a
worker thread would. The sqlite3 module keeps each SQL string's prepared statement cached on
the connection, so the statements below are compiled once. WAL mode lets several demo servers
and the `cookieguard adduser` command share the file. While serving, SQLite's own busy
handler is off (it would put the whole event loop to sleep): a statement that meets another
process's write lock is retried after an `asyncio.sleep`, for up to `lock_timeout` seconds.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable
from typing import Any

from cookieguard.core.tokens import new_csrf_secret
from cookieguard.stores._sqlite_open import is_busy, open_wal

BUSY_TIMEOUT_MS = 5000
"""SQLite's busy timeout while starting up (no event loop to block yet)."""
LOCK_TIMEOUT = 5.0
"""Seconds a request keeps retrying a statement that meets another process's write lock."""
MAX_RECORD_LENGTH = 10_000
"""Longest record text accepted, in characters (the contract's limit)."""

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS demo_records (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        user_id TEXT NOT NULL,
        text TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS demo_records_user ON demo_records (user_id, id)",
    """CREATE TABLE IF NOT EXISTS demo_settings (
        name TEXT PRIMARY KEY,
        value TEXT NOT NULL
    )""",
)
_LIST = "SELECT id, text FROM demo_records WHERE user_id = ? ORDER BY id"
_INSERT = "INSERT INTO demo_records (user_id, text) VALUES (?, ?)"
_KEY_INSERT = "INSERT OR IGNORE INTO demo_settings (name, value) VALUES ('secret_key', ?)"
_KEY_SELECT = "SELECT value FROM demo_settings WHERE name = 'secret_key'"
_CLAIM = "INSERT OR IGNORE INTO demo_settings (name, value) VALUES (?, 'done')"


def _fetchall(cursor: sqlite3.Cursor) -> Any:
    return cursor.fetchall()


def _same(cursor: sqlite3.Cursor) -> Any:
    return cursor


def connect(path: str) -> sqlite3.Connection:
    """Open (creating if needed) an SQLite file in autocommit mode with WAL and a busy timeout.

    Raises:
        sqlite3.Error: the file cannot be opened or created (bad directory, not a database).
    """
    conn = open_wal(
        path,
        timeout=BUSY_TIMEOUT_MS / 1000,
        isolation_level=None,
        check_same_thread=False,
    )
    try:
        conn.execute("PRAGMA synchronous = NORMAL")
    except sqlite3.Error:
        conn.close()
        raise
    return conn


class DemoDatabase:
    """Records and settings of the demo site.

    Args:
        path: the SQLite file; created owner-only (0600: it holds the secret key) with its
            tables when missing.
        lock_timeout: seconds a statement keeps retrying while another process holds the
            write lock; then `sqlite3.OperationalError` ("database is locked") is raised.
    """

    def __init__(self, path: str, *, lock_timeout: float = LOCK_TIMEOUT) -> None:
        self.path = path
        self.lock_timeout = lock_timeout
        self._conn = connect(path)
        try:
            for statement in _SCHEMA:
                self._conn.execute(statement)
        except sqlite3.Error:
            self._conn.close()
            raise
        self._execute = self._conn.execute

    def serve(self) -> None:
        """Switch to serving mode: from now on a held lock is retried without blocking the loop."""
        self._execute("PRAGMA busy_timeout = 0")

    async def _retry(self, sql: str, params: tuple[Any, ...], fetch: Callable[[Any], Any]) -> Any:
        delay = 0.0005
        deadline = time.monotonic() + self.lock_timeout
        while True:
            try:
                return fetch(self._execute(sql, params))
            except sqlite3.OperationalError as exc:
                if not is_busy(exc) or time.monotonic() >= deadline:
                    raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.05)

    def secret_key(self) -> str:
        """The site's secret key, made on first use.

        INSERT OR IGNORE then SELECT: when several servers start at once on one file, exactly
        one insert wins and every server reads that same key.
        """
        self._execute(_KEY_INSERT, (new_csrf_secret() + new_csrf_secret(),))
        row = self._execute(_KEY_SELECT).fetchone()
        return str(row[0])

    def claim(self, task: str) -> bool:
        """True exactly once per database for `task`, even across servers starting together."""
        return self._execute(_CLAIM, (task,)).rowcount == 1

    async def records(self, user_id: str) -> list[tuple[int, str]]:
        """(id, text) of `user_id`'s records, oldest first."""
        try:
            return self._execute(_LIST, (user_id,)).fetchall()
        except sqlite3.OperationalError:
            rows: list[tuple[int, str]] = await self._retry(_LIST, (user_id,), _fetchall)
            return rows

    async def add_record(self, user_id: str, text: str) -> int:
        """Store one record; returns its id."""
        try:
            cursor = self._execute(_INSERT, (user_id, text))
        except sqlite3.OperationalError:
            cursor = await self._retry(_INSERT, (user_id, text), _same)
        return int(cursor.lastrowid or 0)

    def close(self) -> None:
        """Close the connection."""
        self._conn.close()


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
