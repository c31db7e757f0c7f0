"""SQL on Django's own tables (SQLite and PostgreSQL), as Django's ORM would write it.

Django owns these tables (its migrations create them); this module never creates or alters
one. It knows only what Django stores: ``django_session`` rows of ``session_key`` (the raw
32-character key), ``session_data`` (signed text, see `core.django_signing`) and
``expire_date``, and user rows. Dates follow Django's encoding so that Django's own queries
(``expire_date > now`` on load, ``expire_date < now`` in ``clearsessions``) see what we wrote:

* SQLite keeps datetimes as text, ``str(datetime)`` in UTC without an offset when
  ``USE_TZ = True`` (Django's default) and in ``TIME_ZONE`` local time otherwise;
* PostgreSQL keeps ``timestamp with time zone``: an instant, whatever ``USE_TZ`` says.

`Database.open` picks the engine from a Django-style location: a ``postgresql://`` DSN, or
the path of Django's SQLite file. An SQLite file is switched to WAL mode (as all of
cookieguard's SQLite tables are, see `cookieguard.stores.sqlite_db`): the two processes then
read without blocking each other; Django works with WAL unchanged.
"""

from __future__ import annotations

import asyncio
import logging
import re
import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol, TypeVar
from zoneinfo import ZoneInfo

from cookieguard.errors import ConfigError, StoreUnavailable
from cookieguard.stores.sqlite_db import SQLiteDatabase

if TYPE_CHECKING:
    from psycopg import AsyncConnection
    from psycopg_pool import AsyncConnectionPool

__all__ = [
    "Database",
    "PostgresDatabase",
    "SQLiteDjangoDatabase",
    "Transaction",
    "check_identifier",
    "open_database",
]

logger = logging.getLogger("cookieguard.django")

T = TypeVar("T")
Row = tuple[Any, ...]
_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def check_identifier(name: str, what: str = "table") -> str:
    """`name` if it is a plain lower-case SQL identifier (Django's default table names are).

    Raises:
        ConfigError: anything else (it is formatted into SQL text).
    """
    if not isinstance(name, str) or not _IDENTIFIER.fullmatch(name):
        raise ConfigError(f"{what} name {name!r} must be a lower-case SQL identifier")
    return name


class Database(Protocol):
    """One Django database, as the session backend and the user store use it.

    SQL uses ``?`` placeholders; a time is bound as `when` makes it and read back through
    `epoch_sql` and `epoch`.
    """

    async def fetchone(self, sql: str, params: Sequence[Any]) -> Row | None:
        """The first row `sql` selects, or None when it selects nothing."""
        ...

    async def fetchall(self, sql: str, params: Sequence[Any]) -> list[Row]:
        """Every row `sql` selects, in the order the database returns them."""
        ...

    async def execute(self, sql: str, params: Sequence[Any]) -> int:
        """Run one statement; the number of rows it changed."""
        ...

    async def transaction(self, work: Callable[[Transaction], Awaitable[T]]) -> T:
        """Run `work` in one write transaction (rows it reads are locked until the end)."""
        ...

    def when(self, epoch: float) -> Any:
        """`epoch` as this database's ``expire_date`` parameter."""
        ...

    def epoch_sql(self, column: str) -> str:
        """SQL reading `column` (a datetime) as something `epoch` understands."""
        ...

    def epoch(self, value: Any) -> float:
        """A value selected through `epoch_sql` as epoch seconds."""
        ...

    for_update: str
    """`` FOR UPDATE`` where the engine locks rows read in a transaction, else ``""``."""

    async def close(self) -> None:
        """Release the connection(s); the database is not used afterwards."""
        ...


class Transaction(Protocol):
    """Statements inside `Database.transaction`."""

    async def fetchone(self, sql: str, params: Sequence[Any]) -> Row | None: ...
    async def execute(self, sql: str, params: Sequence[Any]) -> int: ...


def open_database(location: str, *, time_zone: str | None = None) -> Database:
    """The Django database at `location`: a ``postgresql://`` DSN or an SQLite file path.

    Args:
        location: ``postgresql://user@host:5432/name`` (or ``postgres://``), or the SQLite
            file Django's ``DATABASES["default"]["NAME"]`` names.
        time_zone: SQLite only: Django's ``TIME_ZONE`` when ``USE_TZ = False`` (datetimes
            are then local); None for ``USE_TZ = True``, the default (UTC).
    """
    if location.startswith(("postgresql://", "postgres://")):
        return PostgresDatabase(location)
    return SQLiteDjangoDatabase(location, time_zone=time_zone)


class _SQLiteTx:
    __slots__ = ("_conn",)

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    async def fetchone(self, sql: str, params: Sequence[Any]) -> Row | None:
        row: Row | None = self._conn.execute(sql, params).fetchone()
        return row

    async def execute(self, sql: str, params: Sequence[Any]) -> int:
        return self._conn.execute(sql, params).rowcount


class SQLiteDjangoDatabase:
    """Django's SQLite file, used from the event loop (see `cookieguard.stores.sqlite_db`)."""

    for_update = ""  # BEGIN IMMEDIATE already holds the write lock for the transaction

    def __init__(self, path: str, *, time_zone: str | None = None, timeout: float = 5.0) -> None:
        self.path = path
        self._zone = UTC if time_zone is None else ZoneInfo(time_zone)
        self._db = SQLiteDatabase(path, lock_timeout=timeout, label="django sqlite database")

    def __repr__(self) -> str:
        return f"SQLiteDjangoDatabase({self.path!r})"

    def when(self, epoch: float) -> str:
        # Django's adapt_datetimefield_value: str() of a naive datetime (microseconds only
        # when non-zero), in UTC under USE_TZ, else in TIME_ZONE.
        return str(datetime.fromtimestamp(epoch, self._zone).replace(tzinfo=None))

    def epoch_sql(self, column: str) -> str:
        return column

    def epoch(self, value: Any) -> float:
        moment = datetime.fromisoformat(str(value))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=self._zone)
        return moment.timestamp()

    async def fetchone(self, sql: str, params: Sequence[Any]) -> Row | None:
        row: Row | None = await self._db.fetchone(sql, params)
        return row

    async def fetchall(self, sql: str, params: Sequence[Any]) -> list[Row]:
        return await self._db.fetchall(sql, params)

    async def execute(self, sql: str, params: Sequence[Any]) -> int:
        return (await self._db.execute(sql, params)).rowcount

    async def transaction(self, work: Callable[[Transaction], Awaitable[T]]) -> T:
        # `work` only awaits the statements of _SQLiteTx, which never suspend, so the whole
        # transaction runs in one step on the loop: nothing else interleaves with it.
        def op(conn: sqlite3.Connection) -> T:
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = _drive(work(_SQLiteTx(conn)))
            except BaseException:
                conn.rollback()
                raise
            conn.execute("COMMIT")
            return result

        return await self._db.run(op)

    async def close(self) -> None:
        self._db.close()


def _drive(awaitable: Awaitable[T]) -> T:
    """Run a coroutine that never suspends (SQLite statements) to completion, synchronously."""
    coro = awaitable.__await__()
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    coro.close()
    raise RuntimeError("an SQLite transaction must not wait on anything else")


class _PostgresTx:
    __slots__ = ("_conn",)

    def __init__(self, conn: AsyncConnection[Any]) -> None:
        self._conn = conn

    async def fetchone(self, sql: str, params: Sequence[Any]) -> Row | None:
        cursor = await self._conn.execute(_pg(sql), params)
        row: Row | None = await cursor.fetchone()
        return row

    async def execute(self, sql: str, params: Sequence[Any]) -> int:
        cursor = await self._conn.execute(_pg(sql), params)
        return cursor.rowcount


def _pg(sql: str) -> Any:
    return sql.replace("?", "%s")


class PostgresDatabase:
    """Django's PostgreSQL database, through a small psycopg pool opened on first use.

    Needs ``pip install 'cookieguard[postgres]'``. A server that cannot be reached raises
    `StoreUnavailable`; the pool recovers by itself once it is back.
    """

    for_update = " FOR UPDATE"

    def __init__(self, dsn: str, *, max_connections: int = 4, timeout: float = 5.0) -> None:
        try:
            import psycopg  # noqa: F401
            import psycopg_pool  # noqa: F401
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ConfigError(
                "Django tables on PostgreSQL need psycopg: pip install 'cookieguard[postgres]'"
            ) from exc
        self.dsn = dsn
        self.max_connections = max_connections
        self.timeout = timeout
        self._pool: AsyncConnectionPool[Any] | None = None
        self._opening: asyncio.Lock | None = None

    def __repr__(self) -> str:
        return "PostgresDatabase(<dsn hidden>)"

    def when(self, epoch: float) -> datetime:
        return datetime.fromtimestamp(epoch, UTC)

    def epoch_sql(self, column: str) -> str:
        return f"extract(epoch from {column})::float8"

    def epoch(self, value: Any) -> float:
        return float(value)

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
                    check=AsyncConnectionPool.check_connection,
                )
                await pool.open(wait=False)
                self._pool = pool
        return self._pool

    async def _run(self, op: Callable[[AsyncConnection[Any]], Awaitable[T]]) -> T:
        import psycopg
        import psycopg_pool

        pool = await self._get_pool()
        try:
            async with pool.connection() as conn:
                return await op(conn)
        except (psycopg.OperationalError, psycopg_pool.PoolTimeout) as exc:
            logger.error("django postgres database unavailable: %s", type(exc).__name__)
            raise StoreUnavailable("django database unavailable") from exc
        except psycopg.Error as exc:  # a missing table, a wrong column: say which, not the data
            logger.error("django postgres database refused a query: %s", type(exc).__name__)
            raise StoreUnavailable(f"django database error ({type(exc).__name__})") from exc

    async def fetchone(self, sql: str, params: Sequence[Any]) -> Row | None:
        return await self._run(lambda conn: _PostgresTx(conn).fetchone(sql, params))

    async def fetchall(self, sql: str, params: Sequence[Any]) -> list[Row]:
        async def op(conn: AsyncConnection[Any]) -> list[Row]:
            cursor = await conn.execute(_pg(sql), params)
            return list(await cursor.fetchall())

        return await self._run(op)

    async def execute(self, sql: str, params: Sequence[Any]) -> int:
        return await self._run(lambda conn: _PostgresTx(conn).execute(sql, params))

    async def transaction(self, work: Callable[[Transaction], Awaitable[T]]) -> T:
        async def op(conn: AsyncConnection[Any]) -> T:
            async with conn.transaction():
                return await work(_PostgresTx(conn))

        return await self._run(op)

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()
