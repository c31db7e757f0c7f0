"""`PostgresStore` for threaded (WSGI) servers, on a `psycopg_pool.ConnectionPool`.

Only the I/O is this module's: the SQL, the text-format parameters and the decoding of
results are `_pg_sql`'s, shared with `PostgresStore`, so both stores use the same tables.
psycopg's pool opens, checks and replaces the connections; a statement goes straight to the
connection's libpq handle (`psycopg.pq`, as the async store does), prepared once per
connection, and its answer is waited for with a `select` bounded by the call's deadline.

Deadlines are the async store's: ``query_timeout`` bounds a whole call (the wait for a
connection, connecting, the statement and one retry); past it the call raises
`StoreUnavailable` and the connection of an unanswered statement is closed, never reused.
"""

from __future__ import annotations

import logging
import select
import threading
import time
from collections.abc import Collection, Iterator, Mapping, Sequence
from typing import Any

from cookieguard.errors import ConfigError, StoreUnavailable
from cookieguard.stores import _pg_sql as pg
from cookieguard.stores._names import check_table_name
from cookieguard.stores._reasons import pg_reason, scrub, text_reason
from cookieguard.stores._urls import check_postgres_dsn
from cookieguard.stores.base import KeyCollision, SessionInfo, SessionRecord

try:
    import psycopg
    import psycopg_pool
    from psycopg import pq

    from cookieguard.stores._pgwire import ConnectFailed, ConnectionLost, QueryError
except ImportError:  # the optional drivers; SyncPostgresStore() says how to install them
    psycopg = None  # type: ignore[assignment]

__all__ = ["SyncPostgresStore"]

_log = logging.getLogger("cookieguard.stores")


def _wait(fd: int, deadline: float, *, write: bool, late: str) -> None:
    """Block until `fd` is readable (or writable), or raise `ConnectionLost` at `deadline`."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise ConnectionLost(late)
    if hasattr(select, "poll"):  # no FD_SETSIZE limit, unlike select()
        poller = select.poll()
        poller.register(fd, select.POLLOUT if write else select.POLLIN)
        ready = bool(poller.poll(remaining * 1000))
    else:  # pragma: no cover - Windows
        fds: list[int] = [fd]
        ready = any(
            select.select([], fds, [], remaining)
            if write
            else select.select(fds, [], [], remaining)
        )
    if not ready:
        raise ConnectionLost(late)


def _exchange(pgconn: Any, deadline: float, late: str, send: Any, *args: Any) -> Any:
    """Send one request on a non-blocking libpq connection; its last result, or an error.

    Raises:
        QueryError: the server refused the statement (the connection is fine).
        ConnectionLost: the connection broke, or `deadline` passed (drop the connection).
    """
    fd = pgconn.socket
    try:
        send(*args)
        while pgconn.flush():  # the rare request bigger than the socket buffer
            _wait(fd, deadline, write=True, late=late)
        results: list[Any] = []
        while True:
            pgconn.consume_input()
            while not pgconn.is_busy():
                res = pgconn.get_result()
                if res is None:
                    return _last(results)
                results.append(res)
            _wait(fd, deadline, write=False, late=late)
    except psycopg.OperationalError as exc:
        raise ConnectionLost(str(exc)) from None


def _last(results: list[Any]) -> Any:
    good = (pq.ExecStatus.TUPLES_OK, pq.ExecStatus.COMMAND_OK)
    for res in results:
        if res.status not in good:
            state = (res.error_field(pq.DiagnosticField.SQLSTATE) or b"").decode("ascii", "replace")
            message = (res.error_message or b"").decode("utf-8", "replace").strip()
            raise QueryError(state, message)
    if not results:
        raise ConnectionLost("no result from the server")
    return results[-1]


class SyncPostgresStore:
    """Sessions and counters in PostgreSQL tables, shared by every app server; threaded code.

    Args:
        dsn: a ``postgresql://`` URL, as for `PostgresStore`.
        table: the sessions table (its counters live in ``<table>_counters``).
        max_size: connections in the pool.
        timeout: seconds to connect or to wait for a free connection.
        query_timeout: seconds for a whole call, retry included.
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
            raise ConfigError(
                "SyncPostgresStore needs psycopg and psycopg_pool: "
                "pip install cookieguard[postgres]"
            )
        check_table_name(table)
        self._password = check_postgres_dsn(dsn)
        if max_size < 1 or timeout <= 0 or query_timeout <= 0:
            raise ConfigError("SyncPostgresStore needs max_size >= 1 and positive timeouts")
        self._dsn = dsn
        self.table = table
        self.max_size = max_size
        self.timeout = timeout
        self.query_timeout = query_timeout
        self._sql = pg.Statements(table)
        self._schema_ready = False
        self._pool: psycopg_pool.ConnectionPool[Any] | None = None
        self._pool_lock = threading.Lock()
        self._connect_error: str | None = None  # why the pool's last connect failed

    # -- running statements ---------------------------------------------------------------

    def _get_pool(self) -> psycopg_pool.ConnectionPool[Any]:
        with self._pool_lock:
            if self._pool is None:
                store = self

                class _Connection(psycopg.Connection[Any]):
                    """Remembers its prepared statements and, for the store, connect errors."""

                    prepared: set[bytes]

                    @classmethod
                    def connect(cls, *args: Any, **kwargs: Any) -> Any:
                        try:
                            conn = super().connect(*args, **kwargs)
                        except (psycopg.Error, OSError) as exc:
                            store._connect_error = pg_reason(str(exc))
                            raise
                        store._connect_error = None
                        conn.prepared = set()
                        return conn

                def configure(conn: Any) -> None:
                    conn.execute(pg.SETUP)

                self._pool = psycopg_pool.ConnectionPool(
                    self._dsn,
                    connection_class=_Connection,
                    kwargs={"autocommit": True, "client_encoding": "UTF8"},
                    min_size=0,
                    max_size=self.max_size,
                    timeout=self.timeout,
                    configure=configure,
                    reconnect_timeout=self.timeout,
                    name=f"cookieguard-{self.table}",
                    open=False,
                )
                self._pool.open(wait=False)
            return self._pool

    def _late(self) -> str:
        return f"no answer within query_timeout ({self.query_timeout:g} s)"

    def _attempt(self, stmt: pg.Statement, params: Sequence[bytes | None], deadline: float) -> Any:
        """One try: a connection from the pool, the schema if needed, the statement."""
        pool = self._get_pool()
        wait = min(self.timeout, deadline - time.monotonic())
        if wait <= 0:
            raise ConnectionLost(self._late())
        try:
            conn = pool.getconn(timeout=wait)
        except psycopg_pool.PoolTimeout:
            why = self._connect_error or f"no free connection within {wait:.3g} s"
            raise ConnectFailed(why) from None
        except psycopg_pool.PoolClosed:
            raise ConnectionLost("store closed") from None
        broken = True
        try:
            pgconn, late = conn.pgconn, self._late()
            if not self._schema_ready:
                _exchange(pgconn, deadline, late, pgconn.send_query, self._sql.schema.encode())
                self._schema_ready = True
            name, sql, _ = stmt
            if name not in conn.prepared:
                _exchange(pgconn, deadline, late, pgconn.send_prepare, name, sql)
                conn.prepared.add(name)
            result = _exchange(pgconn, deadline, late, pgconn.send_query_prepared, name, params)
            broken = False
            return result
        except QueryError as exc:
            broken = False
            if exc.sqlstate == "26000":  # the prepared statement is gone (DISCARD ALL)
                conn.prepared.discard(stmt[0])
            raise
        finally:
            if broken:
                conn.close()  # an unanswered or broken connection is never reused
            pool.putconn(conn)

    def _run(
        self, stmt: pg.Statement, params: Sequence[bytes | None], *, retry: bool = True
    ) -> Any:
        """One prepared statement, within ``query_timeout``; maps failures as the async store.

        An idempotent statement whose connection broke is retried once on another
        connection, so the first request after a server restart does not fail.
        """
        deadline = time.monotonic() + self.query_timeout
        try:
            try:
                return self._attempt(stmt, params, deadline)
            except ConnectFailed:
                raise
            except ConnectionLost:
                if not retry or time.monotonic() >= deadline:
                    raise
                return self._attempt(stmt, params, deadline)
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
        reason = scrub(text_reason(str(exc)) if str(exc) else type(exc).__name__, self._password)
        _log.warning("postgres store unavailable (%s): %s", type(exc).__name__, reason)
        return StoreUnavailable(f"postgres store unavailable: {reason}")

    def close(self) -> None:
        """Close the pool; the next call opens a new one."""
        with self._pool_lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.close(timeout=self.timeout)

    # -- sessions -------------------------------------------------------------------------

    def load(self, key_hash: str, *, now: float) -> SessionRecord | None:
        """One prepared SELECT of the row, filtered by ``expires_at > now`` in SQL."""
        return pg.record_of(self._run(self._sql.load, [pg.text(key_hash), pg.num(now)]))

    def create(self, key_hash: str, record: SessionRecord, *, replaces: str | None = None) -> None:
        """One INSERT that deletes `replaces` in the same statement. Never retried (a retry
        could collide with its own first try); a unique violation is `KeyCollision`.
        """
        stmt, params = self._sql.create(key_hash, record, replaces)
        try:
            self._run(stmt, params, retry=False)  # a retry could collide with itself
        except QueryError:  # only a unique violation gets here
            raise KeyCollision(key_hash[:12]) from None

    def update(
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
        return pg.changed(self._run(stmt, params)) == 1

    def delete(self, key_hash: str) -> None:
        """One DELETE by key hash; no row is not an error."""
        self._run(self._sql.by_name["delete"], [pg.text(key_hash)])

    def list_user(self, user_id: str, *, now: float) -> list[SessionInfo]:
        """One SELECT of the user's live rows, most recently seen first."""
        res = self._run(self._sql.by_name["list"], [pg.text(user_id), pg.num(now)])
        return pg.infos_of(res, user_id)

    def delete_user(self, user_id: str, *, keep: str | None = None) -> int:
        """One DELETE of the user's rows except `keep`; its row count is the answer."""
        params = [pg.text(user_id), pg.text(keep or "")]
        return pg.changed(self._run(self._sql.by_name["delete_user"], params))

    def purge_expired(self, *, now: float, batch_size: int = 1000) -> Iterator[int]:
        """DELETE expired rows `batch_size` at a time, each batch its own autocommit statement that
        skips rows another purge holds (``SKIP LOCKED``), then finished counters.
        """
        params = self._sql.purge_params(now, batch_size)
        purge, counters = self._sql.by_name["purge"], self._sql.by_name["purge_counters"]
        while count := pg.changed(self._run(purge, params)):
            yield count
        while pg.changed(self._run(counters, params)):
            pass

    # -- counters -------------------------------------------------------------------------

    def hit(
        self, key: str, *, window: int, now: float, limit: int | None = None
    ) -> tuple[int, float]:
        """One upserting statement, atomic under the row lock across app servers; never retried
        (it could count twice). At the limit nothing is written and the window end is read back.
        """
        stmt, params = self._sql.hit(key, window, now, limit)
        counter = pg.counter_of(self._run(stmt, params, retry=False))
        if counter is None:  # at the limit: nothing written
            assert limit is not None
            counter = self.peek(key, now=now)
            return limit + 1, counter[1] if counter is not None else now + 1
        return counter

    def release(self, key: str, *, now: float) -> None:
        """One UPDATE taking back an event from the live window (never below 0); never retried."""
        self._run(self._sql.by_name["release"], [pg.text(key), pg.num(now)], retry=False)

    def peek(self, key: str, *, now: float) -> tuple[int, float] | None:
        """One SELECT of the live window's (count, window end)."""
        res = self._run(self._sql.by_name["peek"], [pg.text(key), pg.num(now)])
        return pg.counter_of(res)

    def reset(self, key: str) -> None:
        """One DELETE of the counter row."""
        self._run(self._sql.by_name["reset"], [pg.text(key)])
