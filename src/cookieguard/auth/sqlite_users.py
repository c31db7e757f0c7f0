"""A users table in SQLite, safe to use while the site serves requests.

The database runs in WAL mode, so readers never wait; writers (``cookieguard adduser`` in
another process, a password upgrade) wait up to `timeout` seconds for the write lock. Queries
run in a worker thread: user lookups happen at login, not on every request.
"""

# SQL is built only from the validated table name; values are always bound.
# ruff: noqa: S608

from __future__ import annotations

import asyncio
import logging
import os
import re
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from cookieguard.auth.users import User, plausible_username, validate_username
from cookieguard.errors import ConfigError, StoreUnavailable, UserExists
from cookieguard.stores._sqlite_open import open_wal

__all__ = ["SQLiteUserStore"]

logger = logging.getLogger("cookieguard.auth")

T = TypeVar("T")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,40}")


class SQLiteUserStore:
    """Users in a SQLite table (created when missing).

    Args:
        path: The database file; it may be the one that holds the sessions. Created
            owner-only (0600) when missing, like `SQLiteStore`'s.
        table: Table name (a plain SQL identifier).
        timeout: Seconds to wait for another writer before failing with `StoreUnavailable`.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        table: str = "cookieguard_users",
        timeout: float = 5.0,
    ) -> None:
        if not _IDENT.fullmatch(table):
            raise ConfigError(f"table name {table!r} must be a plain SQL identifier")
        self.path = os.fspath(path)
        self.table = table
        self.timeout = timeout
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        t = table
        self._schema = (
            f"CREATE TABLE IF NOT EXISTS {t} (id INTEGER PRIMARY KEY AUTOINCREMENT,"
            " username TEXT NOT NULL UNIQUE, password_hash TEXT NOT NULL,"
            " created_at REAL NOT NULL)"
        )
        self._by_id = f"SELECT id, username, password_hash FROM {t} WHERE id = ?"
        self._by_name = f"SELECT id, username, password_hash FROM {t} WHERE username = ?"
        self._insert = f"INSERT INTO {t} (username, password_hash, created_at) VALUES (?, ?, ?)"
        self._set_pw = f"UPDATE {t} SET password_hash = ? WHERE id = ?"
        self._page = f"SELECT id, password_hash FROM {t} WHERE id > ? ORDER BY id LIMIT ?"
        self._swap_pw = f"UPDATE {t} SET password_hash = ? WHERE id = ? AND password_hash = ?"

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            conn = open_wal(
                self.path, timeout=self.timeout, isolation_level=None, check_same_thread=False
            )
            try:
                conn.execute(self._schema)
            except BaseException:
                conn.close()
                raise
            self._conn = conn
        return self._conn

    def _call(self, op: Callable[[sqlite3.Connection], T]) -> T:
        with self._lock:
            try:
                return op(self._connection())
            except sqlite3.IntegrityError:
                raise
            except sqlite3.Error as exc:
                if self._conn is not None:
                    self._conn.close()
                    self._conn = None
                logger.error("sqlite users table %s unavailable: %s", self.table, exc)
                raise StoreUnavailable(f"users database unavailable: {exc}") from exc

    async def _run(self, op: Callable[[sqlite3.Connection], T]) -> T:
        return await asyncio.to_thread(self._call, op)

    @staticmethod
    def _user(row: tuple[int, str, str] | None) -> User | None:
        return None if row is None else User(id=str(row[0]), username=row[1], password_hash=row[2])

    async def get_by_id(self, user_id: str) -> User | None:
        """The user with this id, or None (ids that are not integers match nobody)."""
        if not (user_id.isascii() and user_id.isdigit() and len(user_id) < 19):
            return None
        key = int(user_id)
        return await self._run(lambda c: self._user(c.execute(self._by_id, (key,)).fetchone()))

    async def get_by_username(self, username: str) -> User | None:
        """The user with exactly this username, or None."""
        if not plausible_username(username):
            return None
        try:
            username.encode("utf-8")
        except UnicodeEncodeError:
            return None
        return await self._run(
            lambda c: self._user(c.execute(self._by_name, (username,)).fetchone())
        )

    async def create_user(self, username: str, password_hash: str) -> User:
        """Add a user; raises `UserExists` if the username is taken, ValueError if invalid."""
        validate_username(username)

        def op(conn: sqlite3.Connection) -> int:
            cursor = conn.execute(self._insert, (username, password_hash, time.time()))
            assert cursor.lastrowid is not None
            return cursor.lastrowid

        try:
            user_id = await self._run(op)
        except sqlite3.IntegrityError:
            raise UserExists(f"the username {username!r} is taken") from None
        logger.info("user %s created", user_id)
        return User(id=str(user_id), username=username, password_hash=password_hash)

    async def set_password(self, user_id: str, password_hash: str) -> bool:
        """Replace the password hash; False if there is no such user."""
        if not (user_id.isascii() and user_id.isdigit() and len(user_id) < 19):
            return False
        key = int(user_id)
        changed = await self._run(lambda c: c.execute(self._set_pw, (password_hash, key)).rowcount)
        return bool(changed)

    async def password_hashes(self, *, after: int, limit: int) -> list[tuple[int, str]]:
        """(id, password hash) of up to `limit` users with ids above `after`, by id."""
        return await self._run(lambda c: c.execute(self._page, (after, limit)).fetchall())

    async def replace_password_hash(self, user_id: int, old: str, new: str) -> bool:
        """Set `new` only if the hash is still `old` (a login may have upgraded it since)."""
        params = (new, user_id, old)
        return bool(await self._run(lambda c: c.execute(self._swap_pw, params).rowcount))

    async def close(self) -> None:
        """Close the connection (it reopens on the next call)."""

        def op() -> None:
            with self._lock:
                if self._conn is not None:
                    self._conn.close()
                    self._conn = None

        await asyncio.to_thread(op)
