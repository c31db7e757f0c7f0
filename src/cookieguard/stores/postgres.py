"""PostgreSQL store: psycopg 3 async with a connection pool, one jsonb row per session.

Every operation is one prepared statement on an autocommit connection, so a delta is a single
``UPDATE ... SET data = (data - deleted) || set`` that PostgreSQL applies atomically under
its row lock: racing saves of different keys both land, and the ``expires_at > now``
condition means a deleted session is never re-created. The tables are created on first use
under an advisory lock, so several app servers starting together do not trip over each other.
"""

# SQL is built only from the validated table name (see _IDENT); values are always bound.
# ruff: noqa: S608

from __future__ import annotations

import asyncio
import logging
import re
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping
from typing import Any, TypeVar

from cookieguard.errors import ConfigError, StoreUnavailable
from cookieguard.stores._json import dumps
from cookieguard.stores.base import KeyCollision, SessionInfo, SessionRecord

try:
    import psycopg
    from psycopg import AsyncConnection
    from psycopg_pool import AsyncConnectionPool, PoolTimeout
except ImportError:  # the optional driver; PostgresStore() says how to install it
    psycopg = None  # type: ignore[assignment]

__all__ = ["PostgresStore"]

logger = logging.getLogger("cookieguard.stores")

T = TypeVar("T")

_IDENT = re.compile(r"[a-z_][a-z0-9_]{0,40}")


class PostgresStore:
    """Sessions and counters in PostgreSQL tables, shared by every app server.

    Args:
        dsn: A libpq connection string or ``postgresql://`` URL.
        table: Name of the sessions table (lower-case identifier); the counters table gets a
            ``_counters`` suffix. Both are created if missing.
        min_size: Connections the pool keeps open.
        max_size: Most connections the pool opens.
        timeout: Seconds to wait for a connection before `StoreUnavailable`.
    """

    def __init__(
        self,
        dsn: str,
        *,
        table: str = "cookieguard_sessions",
        min_size: int = 1,
        max_size: int = 10,
        timeout: float = 3.0,
    ) -> None:
        if psycopg is None:
            raise ConfigError("PostgresStore needs psycopg: pip install cookieguard[postgres]")
        if not _IDENT.fullmatch(table):
            raise ConfigError(f"table name {table!r} must be a lower-case SQL identifier")
        try:
            psycopg.conninfo.conninfo_to_dict(dsn)
        except psycopg.ProgrammingError:
            raise ConfigError("invalid PostgreSQL connection string") from None
        self._dsn = dsn
        self.table = table
        self._min_size, self._max_size, self._timeout = min_size, max_size, timeout
        self._pool: AsyncConnectionPool[AsyncConnection[Any]] | None = None
        self._schema_ready = False
        self._schema_lock = asyncio.Lock()
        t, c = table, f"{table}_counters"
        self._lock_id = zlib.crc32(f"cookieguard:{t}".encode())
        self._schema = (
            f"CREATE TABLE IF NOT EXISTS {t} (key text PRIMARY KEY, data jsonb NOT NULL,"
            " user_id text, created_at double precision NOT NULL,"
            " last_seen double precision NOT NULL, expires_at double precision NOT NULL,"
            " user_agent text);"
            f"CREATE INDEX IF NOT EXISTS {t}_user ON {t} (user_id) WHERE user_id IS NOT NULL;"
            f"CREATE INDEX IF NOT EXISTS {t}_expiry ON {t} (expires_at);"
            f"CREATE TABLE IF NOT EXISTS {c} (key text PRIMARY KEY, count integer NOT NULL,"
            " window_end double precision NOT NULL);"
        )
        self._load_sql = (
            f"SELECT data, user_id, created_at, last_seen, expires_at, user_agent FROM {t}"
            " WHERE key = %s AND expires_at > %s"
        )
        self._insert_sql = (
            f"INSERT INTO {t} (key, data, user_id, created_at, last_seen, expires_at,"
            " user_agent) VALUES (%s, %s::jsonb, %s, %s, %s, %s, %s)"
        )
        self._delete_sql = f"DELETE FROM {t} WHERE key = %s"
        self._update_sql = (
            f"UPDATE {t} SET data = (data - %s::text[]) || %s::jsonb, last_seen = %s,"
            " expires_at = %s WHERE key = %s AND expires_at > %s"
        )
        self._touch_sql = (
            f"UPDATE {t} SET last_seen = %s, expires_at = %s WHERE key = %s AND expires_at > %s"
        )
        self._list_sql = (
            f"SELECT key, created_at, last_seen, expires_at, user_agent FROM {t}"
            " WHERE user_id = %s AND expires_at > %s ORDER BY last_seen DESC"
        )
        self._delete_user_sql = f"DELETE FROM {t} WHERE user_id = %s AND key <> %s"
        # SKIP LOCKED: a batch never waits behind a session being saved right now.
        self._purge_sql = (
            f"DELETE FROM {t} WHERE key IN (SELECT key FROM {t} WHERE expires_at <= %s"
            " LIMIT %s FOR UPDATE SKIP LOCKED)"
        )
        self._purge_counters_sql = (
            f"DELETE FROM {c} WHERE key IN (SELECT key FROM {c} WHERE window_end <= %s"
            " LIMIT %s FOR UPDATE SKIP LOCKED)"
        )
        self._hit_sql = (
            f"INSERT INTO {c} AS k (key, count, window_end) VALUES (%s, 1, %s)"
            " ON CONFLICT (key) DO UPDATE SET"
            " count = CASE WHEN k.window_end <= %s THEN 1 ELSE k.count + 1 END,"
            " window_end = CASE WHEN k.window_end <= %s THEN excluded.window_end"
            " ELSE k.window_end END RETURNING count, window_end"
        )
        self._peek_sql = f"SELECT count, window_end FROM {c} WHERE key = %s AND window_end > %s"
        self._reset_sql = f"DELETE FROM {c} WHERE key = %s"

    # -- connection handling -------------------------------------------------------------

    async def _get_pool(self) -> AsyncConnectionPool[AsyncConnection[Any]]:
        if self._pool is None:
            pool: AsyncConnectionPool[AsyncConnection[Any]] = AsyncConnectionPool(
                self._dsn,
                min_size=self._min_size,
                max_size=self._max_size,
                timeout=self._timeout,
                open=False,
                kwargs={"autocommit": True, "connect_timeout": max(1, round(self._timeout))},
                name="cookieguard",
            )
            await pool.open(wait=False)
            self._pool = pool
        if not self._schema_ready:
            async with self._schema_lock:
                if not self._schema_ready:
                    async with self._pool.connection() as conn, conn.transaction():
                        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (self._lock_id,))
                        await conn.execute(self._schema)
                    self._schema_ready = True
        return self._pool

    async def _execute(
        self, sql: str, params: tuple[Any, ...], *, fetch: bool = False, retry: bool = True
    ) -> Any:
        """One prepared statement; returns rows (fetch) or the affected row count."""

        async def job(conn: AsyncConnection[Any]) -> Any:
            cur = await conn.execute(sql, params, prepare=True)
            return await cur.fetchall() if fetch else cur.rowcount

        return await self._with_conn(job, retry=retry)

    async def _with_conn(
        self, job: Callable[[AsyncConnection[Any]], Awaitable[T]], *, retry: bool = True
    ) -> T:
        """Run `job` on a pooled connection, mapping driver errors to ours.

        After a connection error the idle connections are checked and an idempotent job is
        retried once, so a pool broken by a server restart recovers on the next request.
        """
        for attempt in (1, 2):
            try:
                pool = self._pool if self._schema_ready and self._pool else await self._get_pool()
                # getconn/putconn: measurably cheaper than the pool's context manager.
                conn = await pool.getconn()
                try:
                    return await job(conn)
                finally:
                    await pool.putconn(conn)
            except psycopg.errors.UniqueViolation:
                raise
            except psycopg.errors.UndefinedTable as exc:
                self._schema_ready = False  # dropped under us: recreate on the next call
                raise self._unavailable(exc) from None
            except psycopg.DataError as exc:  # e.g. a NUL character, which jsonb cannot hold
                raise ValueError(
                    f"value not storable in PostgreSQL ({type(exc).__name__})"
                ) from None
            except (psycopg.OperationalError, psycopg.InterfaceError, PoolTimeout, OSError) as exc:
                if attempt == 2 or not retry or isinstance(exc, PoolTimeout):
                    raise self._unavailable(exc) from None
                if self._pool is not None:
                    await self._pool.check()  # drop every idle connection the failure broke
            except psycopg.Error as exc:
                raise self._unavailable(exc) from None
        raise AssertionError("unreachable")

    def _unavailable(self, exc: BaseException) -> StoreUnavailable:
        logger.warning("postgres store unavailable (%s): %s", type(exc).__name__, exc)
        return StoreUnavailable(f"postgres store unavailable ({type(exc).__name__})")

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    # -- sessions -------------------------------------------------------------------------

    async def load(self, key_hash: str, *, now: float) -> SessionRecord | None:
        rows = await self._execute(self._load_sql, (key_hash, now), fetch=True)
        if not rows:
            return None
        data, user_id, created_at, last_seen, expires_at, user_agent = rows[0]
        return SessionRecord(data, user_id, created_at, last_seen, expires_at, user_agent)

    async def create(
        self, key_hash: str, record: SessionRecord, *, replaces: str | None = None
    ) -> None:
        params = (
            key_hash,
            dumps(record.data),
            record.user_id,
            record.created_at,
            record.last_seen,
            record.expires_at,
            record.user_agent,
        )

        async def cycle(conn: AsyncConnection[Any]) -> None:
            async with conn.transaction():
                await conn.execute(self._delete_sql, (replaces,), prepare=True)
                await conn.execute(self._insert_sql, params, prepare=True)

        try:
            if replaces is None:
                await self._execute(self._insert_sql, params, retry=False)
            else:
                await self._with_conn(cycle, retry=False)
        except psycopg.errors.UniqueViolation:
            raise KeyCollision(key_hash[:12]) from None

    async def update(
        self,
        key_hash: str,
        *,
        set_items: Mapping[str, Any],
        delete_keys: Collection[str],
        last_seen: float,
        expires_at: float,
        now: float,
    ) -> bool:
        if not set_items and not delete_keys:
            params: tuple[Any, ...] = (last_seen, expires_at, key_hash, now)
            return bool(await self._execute(self._touch_sql, params) == 1)
        encoded = dumps(dict(set_items))
        params = (list(delete_keys), encoded, last_seen, expires_at, key_hash, now)
        return bool(await self._execute(self._update_sql, params) == 1)

    async def delete(self, key_hash: str) -> None:
        await self._execute(self._delete_sql, (key_hash,))

    async def list_user(self, user_id: str, *, now: float) -> list[SessionInfo]:
        rows = await self._execute(self._list_sql, (user_id, now), fetch=True)
        return [SessionInfo(r[0], user_id, r[1], r[2], r[3], r[4]) for r in rows]

    async def delete_user(self, user_id: str, *, keep: str | None = None) -> int:
        return int(await self._execute(self._delete_user_sql, (user_id, keep or "")))

    async def purge_expired(self, *, now: float, batch_size: int = 1000) -> AsyncIterator[int]:
        while count := await self._execute(self._purge_sql, (now, batch_size)):
            yield int(count)
        while await self._execute(self._purge_counters_sql, (now, batch_size)):
            pass

    # -- counters -------------------------------------------------------------------------

    async def hit(self, key: str, *, window: int, now: float) -> tuple[int, float]:
        params = (key, now + window, now, now)
        rows = await self._execute(self._hit_sql, params, fetch=True, retry=False)
        return int(rows[0][0]), float(rows[0][1])

    async def peek(self, key: str, *, now: float) -> tuple[int, float] | None:
        rows = await self._execute(self._peek_sql, (key, now), fetch=True)
        return (int(rows[0][0]), float(rows[0][1])) if rows else None

    async def reset(self, key: str) -> None:
        await self._execute(self._reset_sql, (key,))
