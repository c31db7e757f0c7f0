"""PostgreSQL store: one jsonb row per session, every operation one prepared statement.

Each statement runs on an autocommit connection, so a delta is a single ``UPDATE ... SET data =
(data - deleted) || set`` that PostgreSQL applies atomically under its row lock: racing saves of
different keys both land, and the ``expires_at > now`` condition means a deleted session is
never re-created. The tables are created on first use under an advisory lock, so several app
servers starting together do not trip over each other. psycopg opens the connections; the
statements go through `_pgwire`, which costs a fraction of psycopg's cursor on every request.
"""

# SQL is built only from the validated table name (see check_table_name); values are always bound.
# ruff: noqa: S608

from __future__ import annotations

import logging
import zlib
from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from typing import Any

from cookieguard.errors import ConfigError, StoreUnavailable
from cookieguard.stores._json import decode, dumps
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

logger = logging.getLogger("cookieguard.stores")

_NO_LIMIT = (1 << 31) - 1  # a `hit` without a limit (the count column is an integer)


class PostgresStore:
    """Sessions and counters in PostgreSQL tables, shared by every app server.

    Args:
        dsn: A libpq connection string or ``postgresql://`` URL.
        table: Name of the sessions table (lower-case identifier); the counters table gets a
            ``_counters`` suffix. Both are created if missing.
        max_size: Most connections open at once for listing, purging and counters (per event
            loop); the per-request statements share one more, pipelined.
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
        # Floats print exactly (shortest round-trip form) whatever the server's default.
        self._pool = WirePool(
            dsn,
            max_size=max_size,
            timeout=timeout,
            query_timeout=query_timeout,
            setup="SET extra_float_digits = 3",
        )
        self._schema_ready = False
        t, c = table, f"{table}_counters"
        self._schema = (
            f"SELECT pg_advisory_xact_lock({zlib.crc32(f'cookieguard:{t}'.encode())});"
            f"CREATE TABLE IF NOT EXISTS {t} (key text PRIMARY KEY, data jsonb NOT NULL,"
            " user_id text, created_at double precision NOT NULL,"
            " last_seen double precision NOT NULL, expires_at double precision NOT NULL,"
            " user_agent text);"
            f"CREATE INDEX IF NOT EXISTS {t}_user ON {t} (user_id) WHERE user_id IS NOT NULL;"
            f"CREATE INDEX IF NOT EXISTS {t}_expiry ON {t} (expires_at);"
            f"CREATE TABLE IF NOT EXISTS {c} (key text PRIMARY KEY, count integer NOT NULL,"
            " window_end double precision NOT NULL);"
        )
        insert = (
            f"INSERT INTO {t} (key, data, user_id, created_at, last_seen, expires_at,"
            " user_agent) VALUES ($1, $2::jsonb, $3, $4, $5, $6, $7)"
        )
        sql = {
            "load": f"SELECT data, user_id, created_at, last_seen, expires_at, user_agent"
            f" FROM {t} WHERE key = $1 AND expires_at > $2",
            "insert": insert,
            # One statement, so the old id goes only if the new one lands.
            "cycle": f"WITH gone AS (DELETE FROM {t} WHERE key = $8) {insert}",
            "delete": f"DELETE FROM {t} WHERE key = $1",
            "update": f"UPDATE {t} SET data = (data - $1::text[]) || $2::jsonb, last_seen = $3,"
            " expires_at = $4 WHERE key = $5 AND expires_at > $6",
            "touch": f"UPDATE {t} SET last_seen = $1, expires_at = $2"
            " WHERE key = $3 AND expires_at > $4",
            "list": f"SELECT key, created_at, last_seen, expires_at, user_agent FROM {t}"
            " WHERE user_id = $1 AND expires_at > $2 ORDER BY last_seen DESC",
            "delete_user": f"DELETE FROM {t} WHERE user_id = $1 AND key <> $2",
            # SKIP LOCKED: a batch never waits behind a session being saved right now.
            "purge": f"DELETE FROM {t} WHERE key IN (SELECT key FROM {t} WHERE expires_at <= $1"
            " LIMIT $2 FOR UPDATE SKIP LOCKED)",
            "purge_counters": f"DELETE FROM {c} WHERE key IN (SELECT key FROM {c}"
            " WHERE window_end <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED)",
            "hit": f"INSERT INTO {c} AS k (key, count, window_end) VALUES ($1, 1, $2)"
            " ON CONFLICT (key) DO UPDATE SET"
            " count = CASE WHEN k.window_end <= $3 THEN 1 ELSE k.count + 1 END,"
            " window_end = CASE WHEN k.window_end <= $3 THEN excluded.window_end"
            " ELSE k.window_end END WHERE k.window_end <= $3 OR k.count < $4"
            " RETURNING count, window_end",
            "release": f"UPDATE {c} SET count = count - 1"
            " WHERE key = $1 AND window_end > $2 AND count > 0",
            "peek": f"SELECT count, window_end FROM {c} WHERE key = $1 AND window_end > $2",
            "reset": f"DELETE FROM {c} WHERE key = $1",
        }
        # (name, SQL, pipelined) per statement; names are per connection, connections per
        # store. The per-request statements share one pipelined connection; the rest (slow or
        # rare: listing, purging, counters) take a connection of their own.
        hot = {"load", "insert", "cycle", "delete", "update", "touch"}
        self._sql = {k: (f"cg_{k}".encode(), v.encode(), k in hot) for k, v in sql.items()}
        self._load = self._sql["load"]

    # -- running statements ---------------------------------------------------------------

    async def _ensure_schema(self, deadline: float) -> None:
        try:
            await self._pool.simple(self._schema, deadline)
        except (ConnectionLost, QueryError) as exc:
            raise self._unavailable(exc) from None
        self._schema_ready = True

    async def _run(
        self, stmt: tuple[bytes, bytes, bool], params: Sequence[bytes | None], *, retry: bool = True
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
            elif exc.sqlstate.startswith("22"):  # data exception, e.g. \u0000 in jsonb
                raise ValueError(
                    f"value not storable in PostgreSQL (SQLSTATE {exc.sqlstate})"
                ) from None
            raise self._unavailable(exc) from None

    def _unavailable(self, exc: BaseException) -> StoreUnavailable:
        # ConnectFailed already says why in a few words (refused on host:port, the server's
        # FATAL message); a QueryError carries the server's message after its SQLSTATE.
        reason = scrub(text_reason(str(exc)) if str(exc) else type(exc).__name__, self._password)
        logger.warning("postgres store unavailable (%s): %s", type(exc).__name__, reason)
        return StoreUnavailable(f"postgres store unavailable: {reason}")

    async def close(self) -> None:
        self._pool.close()

    # -- sessions -------------------------------------------------------------------------

    async def load(self, key_hash: str, *, now: float) -> SessionRecord | None:
        res = await self._run(self._load, [_text(key_hash), _num(now)])
        if not res.ntuples:
            return None
        value = res.get_value
        user_id, user_agent = value(0, 1), value(0, 5)
        return SessionRecord(
            decode(value(0, 0).decode()),
            None if user_id is None else user_id.decode(),
            float(value(0, 2)),
            float(value(0, 3)),
            float(value(0, 4)),
            None if user_agent is None else user_agent.decode(),
        )

    async def create(
        self, key_hash: str, record: SessionRecord, *, replaces: str | None = None
    ) -> None:
        params = [
            _text(key_hash),
            _text(dumps(record.data)),
            _opt_text(record.user_id),
            _num(record.created_at),
            _num(record.last_seen),
            _num(record.expires_at),
            _opt_text(record.user_agent),
        ]
        if replaces is not None:
            params.append(_text(replaces))
        try:
            stmt = self._sql["insert" if replaces is None else "cycle"]
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
        if not set_items and not delete_keys:
            params = [_num(last_seen), _num(expires_at), _text(key_hash), _num(now)]
            return bool((await self._run(self._sql["touch"], params)).command_tuples == 1)
        params = [
            _text_array(delete_keys),
            _text(dumps(dict(set_items))),
            _num(last_seen),
            _num(expires_at),
            _text(key_hash),
            _num(now),
        ]
        return bool((await self._run(self._sql["update"], params)).command_tuples == 1)

    async def delete(self, key_hash: str) -> None:
        await self._run(self._sql["delete"], [_text(key_hash)])

    async def list_user(self, user_id: str, *, now: float) -> list[SessionInfo]:
        res = await self._run(self._sql["list"], [_text(user_id), _num(now)])
        value = res.get_value
        infos = []
        for i in range(res.ntuples):
            agent = value(i, 4)
            infos.append(
                SessionInfo(
                    value(i, 0).decode(),
                    user_id,
                    float(value(i, 1)),
                    float(value(i, 2)),
                    float(value(i, 3)),
                    None if agent is None else agent.decode(),
                )
            )
        return infos

    async def delete_user(self, user_id: str, *, keep: str | None = None) -> int:
        res = await self._run(self._sql["delete_user"], [_text(user_id), _text(keep or "")])
        return int(res.command_tuples or 0)

    async def purge_expired(self, *, now: float, batch_size: int = 1000) -> AsyncIterator[int]:
        params = [_num(now), str(int(batch_size)).encode()]
        while count := (await self._run(self._sql["purge"], params)).command_tuples:
            yield int(count)
        while (await self._run(self._sql["purge_counters"], params)).command_tuples:
            pass

    # -- counters -------------------------------------------------------------------------

    async def hit(
        self, key: str, *, window: int, now: float, limit: int | None = None
    ) -> tuple[int, float]:
        cap = str(_NO_LIMIT if limit is None else limit).encode()
        params = [_text(key), _num(now + window), _num(now), cap]
        res = await self._run(self._sql["hit"], params, retry=False)
        if not res.ntuples:  # at the limit: nothing written
            assert limit is not None
            counter = await self.peek(key, now=now)
            return limit + 1, counter[1] if counter is not None else now + 1
        return int(res.get_value(0, 0)), float(res.get_value(0, 1))

    async def release(self, key: str, *, now: float) -> None:
        await self._run(self._sql["release"], [_text(key), _num(now)], retry=False)

    async def peek(self, key: str, *, now: float) -> tuple[int, float] | None:
        res = await self._run(self._sql["peek"], [_text(key), _num(now)])
        if not res.ntuples:
            return None
        return int(res.get_value(0, 0)), float(res.get_value(0, 1))

    async def reset(self, key: str) -> None:
        await self._run(self._sql["reset"], [_text(key)])


# -- text-format parameters ---------------------------------------------------------------


def _text(value: str) -> bytes:
    if "\x00" in value:  # libpq passes text parameters as C strings
        raise ValueError("value not storable in PostgreSQL (NUL character)")
    return value.encode()


def _opt_text(value: str | None) -> bytes | None:
    return None if value is None else _text(value)


def _num(value: float) -> bytes:
    return repr(float(value)).encode()


def _text_array(items: Collection[str]) -> bytes:
    """A ``text[]`` literal: every element double-quoted, backslashes and quotes escaped."""
    quoted = (item.replace("\\", "\\\\").replace('"', '\\"') for item in items)
    return _text("{" + ",".join(f'"{q}"' for q in quoted) + "}")
