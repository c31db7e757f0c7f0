"""A users table in SQLite, safe to use while the site serves requests.

The database runs in WAL mode, so readers never wait; writers (``cookieguard adduser`` in
another process, a password upgrade) wait up to `timeout` seconds for the write lock. Queries
run on the event loop through `SQLiteDatabase`, as the session store's do: the same open, the
same non-blocking wait for a held lock (see `cookieguard.stores.sqlite_db`).

`SyncSQLiteUserStore` is the same table for threaded (WSGI) code: it runs this class's own
methods inline (`cookieguard._inline`) over a `SyncSQLiteDatabase`, so both share every
statement and rule.
"""

# SQL is built only from the validated table name; values are always bound.
# ruff: noqa: S608

from __future__ import annotations

import logging
import os
import sqlite3
import time
from collections.abc import Callable
from typing import Protocol, TypeVar

from cookieguard._inline import run_inline
from cookieguard.auth._users import User, plausible_username, validate_username
from cookieguard.errors import UserExists
from cookieguard.stores._names import check_table_name
from cookieguard.stores.sqlite_db import SQLiteDatabase, SyncSQLiteDatabase

__all__ = ["SQLiteUserStore", "SyncSQLiteUserStore"]

logger = logging.getLogger("cookieguard.auth")

T = TypeVar("T")


class _Runs(Protocol):
    """Where statements run: `SQLiteDatabase`, or a sync database seen inline."""

    async def run(self, op: Callable[[sqlite3.Connection], T]) -> T: ...
    def close(self) -> None: ...


class _InlineDatabase:
    """A `SyncSQLiteDatabase` seen as `SQLiteDatabase.run` (never suspends)."""

    __slots__ = ("_db",)

    def __init__(self, db: SyncSQLiteDatabase) -> None:
        self._db = db

    async def run(self, op: Callable[[sqlite3.Connection], T]) -> T:
        return self._db.run(op)

    def close(self) -> None:
        self._db.close()


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
        check_table_name(table)
        self.path: str = os.fspath(path)
        self.table = table
        self.timeout = timeout
        t = table
        schema = (
            f"CREATE TABLE IF NOT EXISTS {t} (id INTEGER PRIMARY KEY AUTOINCREMENT,"
            " username TEXT NOT NULL UNIQUE, password_hash TEXT NOT NULL,"
            " created_at REAL NOT NULL)"
        )
        self.schema = schema
        self._db: _Runs = SQLiteDatabase(
            self.path, schema=schema, lock_timeout=timeout, label="sqlite users table"
        )
        self._by_id = f"SELECT id, username, password_hash FROM {t} WHERE id = ?"
        self._by_name = f"SELECT id, username, password_hash FROM {t} WHERE username = ?"
        self._insert = f"INSERT INTO {t} (username, password_hash, created_at) VALUES (?, ?, ?)"
        self._set_pw = f"UPDATE {t} SET password_hash = ? WHERE id = ?"
        self._page = f"SELECT id, password_hash FROM {t} WHERE id > ? ORDER BY id LIMIT ?"
        self._swap_pw = f"UPDATE {t} SET password_hash = ? WHERE id = ? AND password_hash = ?"

    async def _run(self, op: Callable[[sqlite3.Connection], T]) -> T:
        return await self._db.run(op)

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
        """Add a user; raises `UserExists` if taken, `InvalidUsername` if unacceptable."""
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
        self._db.close()


class SyncSQLiteUserStore:
    """`SQLiteUserStore` for threaded (WSGI) code: the same table, statements and checks.

    Args: as `SQLiteUserStore`. Either class can open a database the other made.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        table: str = "cookieguard_users",
        timeout: float = 5.0,
    ) -> None:
        inline = SQLiteUserStore(path, table=table, timeout=timeout)
        inline._db = _InlineDatabase(
            SyncSQLiteDatabase(
                inline.path, schema=inline.schema, lock_timeout=timeout, label="sqlite users table"
            )
        )
        self._inline = inline
        self.path: str = inline.path
        self.table = table

    def __repr__(self) -> str:
        return f"SyncSQLiteUserStore({self.path!r})"

    @property
    def inline(self) -> SQLiteUserStore:
        """The async store this one runs inline (what the shared auth coroutines see)."""
        return self._inline

    def get_by_id(self, user_id: str) -> User | None:
        """The user with this id, or None (ids that are not integers match nobody)."""
        return run_inline(self._inline.get_by_id(user_id))

    def get_by_username(self, username: str) -> User | None:
        """The user with exactly this username, or None."""
        return run_inline(self._inline.get_by_username(username))

    def create_user(self, username: str, password_hash: str) -> User:
        """Add a user; raises `UserExists` if taken, `InvalidUsername` if unacceptable."""
        return run_inline(self._inline.create_user(username, password_hash))

    def set_password(self, user_id: str, password_hash: str) -> bool:
        """Replace the password hash; False if there is no such user."""
        return run_inline(self._inline.set_password(user_id, password_hash))

    def close(self) -> None:
        """Close this thread's connections (they reopen on the next call)."""
        run_inline(self._inline.close())
