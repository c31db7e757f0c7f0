"""A users table in PostgreSQL (needs ``pip install cookieguard[postgres]``).

Connections come from a small pool opened on first use; when the server is unreachable the
store raises `StoreUnavailable` and recovers by itself once it is back. The table is created
when missing, under an advisory lock so that several app servers starting at once agree.
"""

# SQL is built only from the validated table name; values are always bound.
# ruff: noqa: S608

from __future__ import annotations

import asyncio
import logging
import time
import zlib
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from cookieguard.auth._users import User, plausible_username, validate_username
from cookieguard.errors import ConfigError, StoreUnavailable, UserExists
from cookieguard.stores._names import check_table_name

if TYPE_CHECKING:
    from psycopg import AsyncConnection
    from psycopg_pool import AsyncConnectionPool

__all__ = ["PostgresUserStore"]

_log = logging.getLogger("cookieguard.auth")

T = TypeVar("T")
_MAX_ID = 2**63 - 1


def _as_id(user_id: str) -> int | None:
    if user_id.isascii() and user_id.isdigit() and len(user_id) < 20:
        value = int(user_id)
        return value if value <= _MAX_ID else None
    return None


class PostgresUserStore:
    """Users in a PostgreSQL table (created when missing).

    Args:
        dsn: A libpq connection string or URL, e.g. ``postgresql://app@db:5432/app``.
        table: Table name (a plain SQL identifier).
        max_connections: Pool size.
        timeout: Seconds to wait for a connection before `StoreUnavailable`.
    """

    def __init__(
        self,
        dsn: str,
        *,
        table: str = "cookieguard_users",
        max_connections: int = 4,
        timeout: float = 5.0,
    ) -> None:
        try:
            import psycopg  # noqa: F401
            import psycopg_pool  # noqa: F401
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ConfigError(
                "PostgresUserStore needs psycopg: pip install 'cookieguard[postgres]'"
            ) from exc
        check_table_name(table)
        self.dsn = dsn
        self.table = table
        self.max_connections = max_connections
        self.timeout = timeout
        self._pool: AsyncConnectionPool[Any] | None = None
        self._opening: asyncio.Lock | None = None
        self._ready = False
        t = table
        self._lock_id = zlib.crc32(f"cookieguard-users:{t}".encode())
        self._schema = (
            f"CREATE TABLE IF NOT EXISTS {t} (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
            " username TEXT NOT NULL UNIQUE, password_hash TEXT NOT NULL,"
            " created_at DOUBLE PRECISION NOT NULL)"
        )
        self._by_id = f"SELECT id, username, password_hash FROM {t} WHERE id = %s"
        self._by_name = f"SELECT id, username, password_hash FROM {t} WHERE username = %s"
        self._insert = (
            f"INSERT INTO {t} (username, password_hash, created_at) VALUES (%s, %s, %s)"
            " ON CONFLICT (username) DO NOTHING RETURNING id"
        )
        self._set_pw = f"UPDATE {t} SET password_hash = %s WHERE id = %s"
        self._page = f"SELECT id, password_hash FROM {t} WHERE id > %s ORDER BY id LIMIT %s"
        self._swap_pw = f"UPDATE {t} SET password_hash = %s WHERE id = %s AND password_hash = %s"

    async def _get_pool(self) -> AsyncConnectionPool[Any]:
        if self._pool is not None:
            return self._pool
        if self._opening is None:
            self._opening = asyncio.Lock()
        async with self._opening:
            if self._pool is None:
                from psycopg_pool import AsyncConnectionPool

                pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
                    self.dsn,
                    min_size=1,
                    max_size=self.max_connections,
                    timeout=self.timeout,
                    kwargs={"autocommit": True, "connect_timeout": max(1, int(self.timeout))},
                    open=False,
                    # Hand out only live connections, so a database restart costs no error.
                    check=AsyncConnectionPool.check_connection,
                )
                await pool.open(wait=False)
                self._pool = pool
        return self._pool

    async def _ensure_schema(self, conn: AsyncConnection[Any]) -> None:
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (self._lock_id,))
            await conn.execute(self._schema)
        self._ready = True

    async def _run(self, op: Callable[[AsyncConnection[Any]], Awaitable[T]]) -> T:
        import psycopg
        import psycopg_pool

        pool = await self._get_pool()
        try:
            async with pool.connection() as conn:
                if not self._ready:
                    await self._ensure_schema(conn)
                return await op(conn)
        except psycopg.errors.UniqueViolation:
            raise
        except (psycopg.OperationalError, psycopg_pool.PoolTimeout) as exc:
            _log.error("postgres users table %s unavailable: %s", self.table, type(exc).__name__)
            raise StoreUnavailable("users database unavailable") from exc

    @staticmethod
    def _user(row: tuple[int, str, str] | None) -> User | None:
        return None if row is None else User(id=str(row[0]), username=row[1], password_hash=row[2])

    async def _fetch_one(self, sql: str, params: tuple[Any, ...]) -> tuple[Any, ...] | None:
        async def op(conn: AsyncConnection[Any]) -> tuple[Any, ...] | None:
            cursor = await conn.execute(sql, params)
            row: tuple[Any, ...] | None = await cursor.fetchone()
            return row

        return await self._run(op)

    async def get_by_id(self, user_id: str) -> User | None:
        """The user with this id, or None (ids that are not integers match nobody)."""
        key = _as_id(user_id)
        if key is None:
            return None
        return self._user(await self._fetch_one(self._by_id, (key,)))

    async def get_by_username(self, username: str) -> User | None:
        """The user with exactly this username, or None."""
        if not plausible_username(username) or "\x00" in username:
            return None
        try:
            username.encode("utf-8")
        except UnicodeEncodeError:
            return None
        return self._user(await self._fetch_one(self._by_name, (username,)))

    async def create_user(self, username: str, password_hash: str) -> User:
        """Add a user; raises `UserExists` if taken, `InvalidUsername` if unacceptable."""
        validate_username(username)
        row = await self._fetch_one(self._insert, (username, password_hash, time.time()))
        if row is None:
            raise UserExists(f"the username {username!r} is taken")
        _log.info("user %s created", row[0])
        return User(id=str(row[0]), username=username, password_hash=password_hash)

    async def set_password(self, user_id: str, password_hash: str) -> bool:
        """Replace the password hash; False if there is no such user."""
        key = _as_id(user_id)
        if key is None:
            return False

        async def op(conn: AsyncConnection[Any]) -> int:
            cursor = await conn.execute(self._set_pw, (password_hash, key))
            return cursor.rowcount

        return bool(await self._run(op))

    async def password_hashes(self, *, after: int, limit: int) -> list[tuple[int, str]]:
        """(id, password hash) of up to `limit` users with ids above `after`, by id."""

        async def op(conn: AsyncConnection[Any]) -> list[tuple[int, str]]:
            cursor = await conn.execute(self._page, (after, limit))
            return [(int(row[0]), str(row[1])) for row in await cursor.fetchall()]

        return await self._run(op)

    async def replace_password_hash(self, user_id: int, old: str, new: str) -> bool:
        """Set `new` only if the hash is still `old` (a login may have upgraded it since)."""

        async def op(conn: AsyncConnection[Any]) -> int:
            cursor = await conn.execute(self._swap_pw, (new, user_id, old))
            return cursor.rowcount

        return bool(await self._run(op))

    async def close(self) -> None:
        """Close the pool (a later call opens a new one)."""
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()
