"""PostgreSQL store: one jsonb row per session, every operation one prepared statement.

Each statement runs on an autocommit connection, so a delta is a single ``UPDATE ... SET data =
(data - deleted) || set`` that PostgreSQL applies atomically under its row lock: racing saves of
different keys both land, and the ``expires_at > now`` condition means a deleted session is
never re-created. The tables are created on first use under an advisory lock, so several app
servers starting together do not trip over each other. psycopg opens the connections; the
statements go through `_pgwire`, which costs a fraction of psycopg's cursor on every request.
The SQL, parameters and result decoding are `_pg_sql`'s, shared with `SyncPostgresStore`.
"""

# SQL is built only from the validated table name (see check_table_name); values are always bound.

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from typing import Any

from cookieguard.errors import ConfigError, StoreUnavailable
from cookieguard.stores import _pg_sql as pg
from cookieguard.stores._names import check_table_name
from cookieguard.stores._reasons import scrub, text_reason
from cookieguard.stores._urls import check_postgres_dsn
from cookieguard.stores.base import KeyCollision, SessionInfo, SessionRecord

try:
    import psycopg

    from cookieguard.stores._pgwire import ConnectFailed, ConnectionLost, QueryError, WirePool
except ImportError:  # the optional driver; PostgresStore() says how to install it
    psycopg = None  # type: ignore[assignment]

__all__ = ["PostgresStore"]

_log = logging.getLogger("cookieguard.stores")


class PostgresStore:
    """Sessions and counters in PostgreSQL tables, shared by every app server.

    Args:
        dsn: A libpq connection string or ``postgresql://`` URL.
        table: Name of the sessions table (lower-case identifier); the counters table gets a
            ``_counters`` suffix. Both are created if missing.
        max_size: Most connections open at once for saves, listing, purging and counters
            (per event loop); the session loads share one more, pipelined.
        timeout: Seconds to connect, or to wait for a free connection, before
            `StoreUnavailable`.
        query_timeout: Seconds a whole call may take, whatever it waits for (a connection,
            connecting, the statement, a retry); past it the call raises `StoreUnavailable`
            and the connection of an unanswered statement is dropped.
    """

    def __init__(
        self,
        dsn: str,
        *,
        table: str = "cookieguard_sessions",
        max_size: int = 10,
        timeout: float = 3.0,
        query_timeout: float = 10.0,
    ) -> None:
        if psycopg is None:
            raise ConfigError("PostgresStore needs psycopg: pip install cookieguard[postgres]")
        check_table_name(table)
        self._password = check_postgres_dsn(dsn)
        if max_size < 1 or timeout <= 0 or query_timeout <= 0:
            raise ConfigError("PostgresStore needs max_size >= 1 and positive timeouts")
        self._dsn = dsn
        self.table = table
        self._pool = WirePool(
            dsn,
            max_size=max_size,
            timeout=timeout,
            query_timeout=query_timeout,
            setup=pg.SETUP,
        )
        self._schema_ready = False
        self._sql = pg.Statements(table)
        self._schema = self._sql.schema
        self._load = self._sql.load

    # -- running statements ---------------------------------------------------------------

    async def _ensure_schema(self, deadline: float) -> None:
        try:
            await self._pool.simple(self._schema, deadline)
        except (ConnectionLost, QueryError) as exc:
            raise self._unavailable(exc) from None
        self._schema_ready = True

    async def _run(
        self, stmt: pg.Statement, params: Sequence[bytes | None], *, retry: bool = True
    ) -> Any:
        """One prepared statement; returns its result. Maps failures to our exceptions.

        An idempotent statement whose connection broke is retried once on another
        connection, so the first request after a server restart does not fail. One deadline
        covers the call, retry included: it ends within ``query_timeout``.
        """
        pool = self._pool
        deadline = pool.deadline()
        if not self._schema_ready:
            await self._ensure_schema(deadline)
        run = pool.pipelined if stmt[2] else pool.execute
        try:
            try:
                return await run(stmt[0], stmt[1], params, deadline)
            except ConnectFailed:
                raise
            except ConnectionLost:
                if not retry or pool.expired(deadline):
                    raise
                return await run(stmt[0], stmt[1], params, deadline)
        except ConnectionLost as exc:
            raise self._unavailable(exc) from None
        except QueryError as exc:
            if exc.sqlstate == "23505":
                raise
            if exc.sqlstate == "42P01":
                self._schema_ready = False  # dropped under us: recreate on the next call
            elif (refused := pg.refused_value(exc.sqlstate)) is not None:
                raise refused from None
            raise self._unavailable(exc) from None

    def _unavailable(self, exc: BaseException) -> StoreUnavailable:
        # ConnectFailed already says why in a few words (refused on host:port, the server's
        # FATAL message); a QueryError carries the server's message after its SQLSTATE.
        reason = scrub(text_reason(str(exc)) if str(exc) else type(exc).__name__, self._password)
        _log.warning("postgres store unavailable (%s): %s", type(exc).__name__, reason)
        return StoreUnavailable(f"postgres store unavailable: {reason}")

    async def close(self) -> None:
        """Close the pooled connections; the next call reconnects."""
        self._pool.close()

    # -- sessions -------------------------------------------------------------------------

    async def load(self, key_hash: str, *, now: float) -> SessionRecord | None:
        """One prepared SELECT of the row, filtered by ``expires_at > now`` in SQL."""
        return pg.record_of(await self._run(self._load, [pg.text(key_hash), pg.num(now)]))

    async def create(
        self, key_hash: str, record: SessionRecord, *, replaces: str | None = None
    ) -> None:
        """One INSERT that deletes `replaces` in the same statement. Never retried (a retry
        could collide with its own first try); a unique violation is `KeyCollision`.
        """
        stmt, params = self._sql.create(key_hash, record, replaces)
        try:
            await self._run(stmt, params, retry=False)  # a retry could collide with itself
        except QueryError:  # only a unique violation gets here
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
        """One ``UPDATE ... SET data = (data - deleted) || set`` under the row lock, so racing
        saves of different keys both land. False (no row matched) when the record is gone or
        expired.
        """
        stmt, params = self._sql.update(
            key_hash, set_items, delete_keys, last_seen, expires_at, now
        )
        return pg.changed(await self._run(stmt, params)) == 1

    async def delete(self, key_hash: str) -> None:
        """One DELETE by key hash; no row is not an error."""
        await self._run(self._sql.by_name["delete"], [pg.text(key_hash)])

    async def list_user(self, user_id: str, *, now: float) -> list[SessionInfo]:
        """One SELECT of the user's live rows, most recently seen first."""
        res = await self._run(self._sql.by_name["list"], [pg.text(user_id), pg.num(now)])
        return pg.infos_of(res, user_id)

    async def delete_user(self, user_id: str, *, keep: str | None = None) -> int:
        """One DELETE of the user's rows except `keep`; its row count is the answer."""
        params = [pg.text(user_id), pg.text(keep or "")]
        return pg.changed(await self._run(self._sql.by_name["delete_user"], params))

    async def purge_expired(self, *, now: float, batch_size: int = 1000) -> AsyncIterator[int]:
        """DELETE expired rows `batch_size` at a time, each batch its own autocommit statement that
        skips rows another purge holds (``SKIP LOCKED``), then finished counters.
        """
        params = self._sql.purge_params(now, batch_size)
        purge, counters = self._sql.by_name["purge"], self._sql.by_name["purge_counters"]
        while count := pg.changed(await self._run(purge, params)):
            yield count
        while pg.changed(await self._run(counters, params)):
            pass

    # -- counters -------------------------------------------------------------------------

    async def hit(
        self, key: str, *, window: int, now: float, limit: int | None = None
    ) -> tuple[int, float]:
        """One upserting statement, atomic under the row lock across app servers; never retried
        (it could count twice). At the limit nothing is written and the window end is read back.
        """
        stmt, params = self._sql.hit(key, window, now, limit)
        counter = pg.counter_of(await self._run(stmt, params, retry=False))
        if counter is None:  # at the limit: nothing written
            assert limit is not None
            counter = await self.peek(key, now=now)
            return limit + 1, counter[1] if counter is not None else now + 1
        return counter

    async def release(self, key: str, *, now: float) -> None:
        """One UPDATE taking back an event from the live window (never below 0); never retried."""
        params = [pg.text(key), pg.num(now)]
        await self._run(self._sql.by_name["release"], params, retry=False)

    async def peek(self, key: str, *, now: float) -> tuple[int, float] | None:
        """One SELECT of the live window's (count, window end)."""
        res = await self._run(self._sql.by_name["peek"], [pg.text(key), pg.num(now)])
        return pg.counter_of(res)

    async def reset(self, key: str) -> None:
        """One DELETE of the counter row."""
        await self._run(self._sql.by_name["reset"], [pg.text(key)])
