"""A small PostgreSQL client for `PostgresStore`: prepared statements straight over libpq.

psycopg's async cursor costs ~125 µs of CPU per prepared query (adaptation, cursor and
result objects, its wait loop, the pool checkout); a session load is a primary-key lookup
that PostgreSQL answers in a few µs. So psycopg only opens connections here (auth, TLS, every
libpq option), and statements go through its thin libpq wrapper `psycopg.pq`: text-format
parameters and results, one socket reader registered per connection for its whole life.
The session loads of concurrent requests share one connection in pipeline mode (`Pipe`,
`pipelined`); every other statement, writes included (so their commits run in parallel),
takes a connection from a plain free list (`Conn`, `execute`), which a statement owns until
its result has been read, even when its caller is cancelled. Either way no request ever reads
another's result.

Every call has one deadline (`WirePool.deadline`, ``query_timeout`` from its start) that
covers all of it: the wait for a free connection, connecting, the statements, and the
caller's retry. A statement still unanswered at its deadline fails with `ConnectionLost` right
then (one pool timer, armed for the earliest deadline in flight), and a connection whose
oldest statement is overdue is dropped: the server is hung or the statement stuck.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections import deque
from collections.abc import Sequence
from typing import Any

from psycopg import AsyncConnection, Error
from psycopg.pq.abc import PGresult

from cookieguard.stores._pg_conn import IDLE, Conn, ConnectFailed, ConnectionLost, QueryError
from cookieguard.stores._pg_pipe import Pipe
from cookieguard.stores._reasons import pg_reason

__all__ = ["ConnectFailed", "ConnectionLost", "QueryError", "WirePool"]

logger = logging.getLogger("cookieguard.stores")

# Timers may fire up to a clock tick early (uvloop's clock counts milliseconds).
_TICK = 0.001


class WirePool:
    """Up to `max_size` connections to one server, used by one event loop at a time.

    Args:
        dsn: libpq connection string or URL.
        max_size: Most connections for `execute` (a statement waits for a free one); the
            shared pipelined connection of `pipelined` comes on top.
        timeout: Seconds to connect, or to wait for a free connection (and never past the
            call's deadline).
        query_timeout: Seconds a whole call may take, from `deadline` on: waiting for a
            connection, connecting, the statements and any retry. A statement unanswered then
            fails, and its connection is dropped.
        setup: Simple-query SQL run on each new connection before anything else.
    """

    def __init__(
        self, dsn: str, *, max_size: int, timeout: float, query_timeout: float, setup: str
    ) -> None:
        self.dsn, self.max_size, self.timeout = dsn, max_size, timeout
        self.query_timeout = query_timeout
        self._setup = setup.encode()
        self._loop: Any = None
        self._free: list[Conn] = []
        self._all: set[Conn] = set()
        self._waiters: deque[asyncio.Future[Conn]] = deque()
        self._connecting = 0
        self.watchdog: asyncio.TimerHandle | None = None
        self._watch_at = 0.0  # when the watchdog fires, if armed
        self.pipe: Pipe | None = None
        self._pipe_opening: asyncio.Future[Pipe] | None = None

    def deadline(self) -> float:
        """The loop time by which a call starting now must be over; binds the pool to the
        running loop, so every call starts here."""
        if self._loop is not asyncio.get_running_loop():
            self._rebind()
        now: float = self._loop.time()
        return now + self.query_timeout

    def expired(self, deadline: float) -> bool:
        """Whether a call's deadline has (all but) passed: no time left for a retry."""
        now: float = self._loop.time()
        return now + _TICK >= deadline

    def late(self) -> str:
        """Why an overdue statement failed, for the log (names the setting to change)."""
        return f"no answer within query_timeout ({self.query_timeout:g} s)"

    def watch(self, deadline: float) -> None:
        """Make sure the watchdog fires by `deadline` (a statement in flight must end then).

        One timer for the pool, armed for the earliest deadline, rather than one per
        statement, which would cost more than the rest of a statement's bookkeeping: a new
        statement's deadline is almost never the earliest, so this is one comparison.
        """
        if self.watchdog is not None:
            if deadline >= self._watch_at:
                return
            self.watchdog.cancel()
        self._watch_at = deadline
        self.watchdog = self._loop.call_at(deadline, self._check_deadlines)

    def _check_deadlines(self) -> None:
        """Fail what is overdue, then re-arm for the earliest deadline still ahead."""
        self.watchdog = None
        now, earliest = self._loop.time() + _TICK, math.inf
        for conn in list(self._all):
            if conn.waiter is not None:
                if conn.deadline <= now:
                    conn.timed_out()
                else:
                    earliest = min(earliest, conn.deadline)
        pipe = self.pipe
        if pipe is not None and pipe.queue:
            if pipe.queue[0][1] <= now:
                pipe.fail(self.late())  # the oldest is overdue: the server is not answering
            else:
                # A retried statement keeps its call's earlier deadline, so it may be overdue
                # behind others: it fails alone, and its answer is read and dropped in turn.
                for waiter, deadline in pipe.queue:
                    if deadline > now:
                        earliest = min(earliest, deadline)
                    elif not waiter.done():
                        waiter.set_exception(ConnectionLost(self.late()))
        if earliest < math.inf:
            self.watch(earliest)

    async def execute(
        self, name: bytes, sql: bytes, params: Sequence[bytes | None], deadline: float
    ) -> PGresult:
        """Run prepared statement `name` (prepared from `sql` on first use on a connection).

        `deadline` comes from `deadline()`, called first on the same loop.

        Raises:
            QueryError: The server refused it (nothing was changed).
            ConnectionLost: No connection, or it broke, or `deadline` passed; the statement
                may have run.
        """
        free = self._free
        conn = free.pop() if free else await self._acquire(deadline)
        try:
            if name not in conn.prepared:
                # Marked first: a prepare whose caller is cancelled still completes.
                conn.prepared.add(name)
                try:
                    await conn.start(deadline, conn.pgconn.send_prepare, name, sql)
                except QueryError:
                    conn.prepared.discard(name)
                    raise
            return await conn.start(deadline, conn.pgconn.send_query_prepared, name, params)
        except QueryError as exc:
            if exc.sqlstate == "26000":  # that cancelled prepare failed after all
                conn.prepared.discard(name)
            raise
        finally:
            self.release(conn)

    async def pipelined(
        self, name: bytes, sql: bytes, params: Sequence[bytes | None], deadline: float
    ) -> PGresult:
        """`execute` on the shared pipelined connection: for short statements only.

        A statement that waits (a lock, a long scan) holds up every one queued behind it, so
        slow or rare statements go through `execute`.
        """
        pipe = self.pipe or await self._open_pipe(deadline)
        if name in pipe.prepared:
            return await pipe.send(deadline, pipe.pgconn.send_query_prepared, name, params)
        pipe.prepared.add(name)  # queued now, so later statements need not prepare again
        prepared = pipe.send(deadline, pipe.pgconn.send_prepare, name, sql)
        result = pipe.send(deadline, pipe.pgconn.send_query_prepared, name, params)
        try:
            await prepared
        except QueryError:
            pipe.prepared.discard(name)
            result.cancel()  # it fails too (no such statement); the prepare's error says why
            raise
        except BaseException:
            result.cancel()  # cancelled or disconnected: its answer is read and dropped
            raise
        return await result

    async def _open_pipe(self, deadline: float) -> Pipe:
        """Connect the shared connection once, however many requests ask at the same time."""
        if self._pipe_opening is None:
            self._pipe_opening = self._loop.create_future()
            opening = self._pipe_opening
            pipe = None
            try:
                pipe = Pipe(await self._open_raw(deadline), self, self._loop)
                await pipe.send(deadline, pipe.pgconn.send_query_params, self._setup, None)
            except BaseException as exc:
                if pipe is not None:
                    pipe.fail("setup failed")
                if self._pipe_opening is opening:
                    self._pipe_opening = None
                if not opening.done():
                    # The opener was cancelled: the others may try again (ConnectionLost).
                    opening.set_exception(
                        exc if isinstance(exc, ConnectionLost) else ConnectionLost("cancelled")
                    )
                    opening.exception()  # retrieved: no "never retrieved" warning
                raise
            if self._pipe_opening is opening:
                self._pipe_opening = None
                self.pipe = pipe
            opening.set_result(pipe)
            return pipe
        # The opener's deadline may be later than ours.
        try:
            return await asyncio.wait_for(
                asyncio.shield(self._pipe_opening), deadline - self._loop.time()
            )
        except TimeoutError:
            raise ConnectionLost(self.late()) from None

    async def simple(self, sql: str, deadline: float) -> PGresult:
        """Run `sql` (several statements: one implicit transaction) with the simple protocol."""
        conn = self._free.pop() if self._free else await self._acquire(deadline)
        try:
            return await conn.start(deadline, conn.pgconn.send_query, sql.encode())
        finally:
            self.release(conn)

    def release(self, conn: Conn) -> None:
        """Give `conn` back, or drop it if broken; a busy one comes back when its result does."""
        if conn.waiter is not None:
            return  # its reader calls us again once the pending result is drained
        if conn.pool is not self or conn not in self._all:
            conn.close()
            return
        if conn.fd < 0 or conn.pgconn.transaction_status != IDLE:
            conn.close()  # broken, or a transaction left open: never reuse it
            self._all.discard(conn)
            if conn in self._free:
                self._free.remove(conn)
            self._wake_one_for_connect()
            return
        waiters = self._waiters
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(conn)
                return
        self._free.append(conn)

    def _wake_one_for_connect(self) -> None:
        """A slot opened: let the first waiter open a connection of its own."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_exception(_SlotFree())
                return

    async def _acquire(self, deadline: float) -> Conn:
        while True:
            if len(self._all) + self._connecting < self.max_size:
                return await self._connect(deadline)
            waiter: asyncio.Future[Conn] = self._loop.create_future()
            self._waiters.append(waiter)
            wait = max(0.0, min(self.timeout, deadline - self._loop.time()))
            try:
                return await asyncio.wait_for(waiter, wait)
            except _SlotFree:
                continue
            except TimeoutError:
                raise ConnectionLost(f"no free connection within {wait:.3g} s") from None
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                    self.release(waiter.result())  # handed over just as we were cancelled
                raise

    async def _connect(self, deadline: float) -> Conn:
        self._connecting += 1  # holds the slot against max_size while connecting
        try:
            conn = Conn(await self._open_raw(deadline), self, self._loop)
        finally:
            self._connecting = max(0, self._connecting - 1)
        self._all.add(conn)
        try:
            await conn.start(deadline, conn.pgconn.send_query, self._setup)
        except BaseException:
            conn.close()
            self._all.discard(conn)
            raise
        return conn

    async def _open_raw(self, deadline: float) -> AsyncConnection[Any]:
        """Connect within `timeout`, and never past `deadline`."""
        wait = min(self.timeout, deadline - self._loop.time())
        if wait <= 0:
            raise ConnectionLost(self.late())
        try:
            return await asyncio.wait_for(
                AsyncConnection.connect(
                    self.dsn,
                    autocommit=True,
                    client_encoding="UTF8",
                    # libpq's whole seconds, a backstop: wait_for ends the connect on time.
                    connect_timeout=max(2, math.ceil(wait)),
                ),
                wait,
            )
        except TimeoutError:
            raise ConnectFailed(f"no answer within {wait:.3g} s") from None
        except (Error, OSError) as exc:
            raise ConnectFailed(pg_reason(str(exc))) from None

    def _rebind(self) -> None:
        """First use, or a new event loop: connections on the old loop cannot be used."""
        conns, self._all, self._free = self._all, set(), []
        for conn in conns:
            conn.close()  # its waiter, if any, belongs to the old loop
        if self.watchdog is not None:
            self.watchdog.cancel()
            self.watchdog = None
        self._waiters.clear()
        self._connecting = 0
        pipe, self.pipe, self._pipe_opening = self.pipe, None, None
        if pipe is not None:
            pipe.queue.clear()  # its waiters belong to the old loop
            pipe.fail("new event loop")
        self._loop = asyncio.get_running_loop()

    def close(self) -> None:
        """Close every connection; statements in flight fail with `ConnectionLost`."""
        conns, self._all, self._free = self._all, set(), []
        for conn in conns:
            conn._fail("store closed")
        if self.watchdog is not None:
            self.watchdog.cancel()
            self.watchdog = None
        if self.pipe is not None:
            self.pipe.fail("store closed")
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_exception(ConnectionLost("store closed"))


class _SlotFree(Exception):
    """Internal: wakes a waiter so it connects instead of waiting for a release."""
