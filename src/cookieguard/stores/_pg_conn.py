"""One libpq connection of `_pgwire.WirePool`, and what every connection shares.

A `Conn` runs one statement at a time for whoever took it from the pool's free list; it owns
that statement until the result has been read, even when its caller is cancelled, so no
request ever reads another's result. Its socket reader is registered once, for the
connection's whole life. The errors and `resolve` (a statement's results into its future)
are shared with the pipelined connection (`_pg_pipe`).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from psycopg import AsyncConnection, OperationalError, pq
from psycopg.pq.abc import PGconn, PGresult

if TYPE_CHECKING:
    from cookieguard.stores._pgwire import WirePool

__all__ = ["ConnectFailed", "ConnectionLost", "QueryError"]

# Plain ints: compared on every statement.
_GOOD = (int(pq.ExecStatus.TUPLES_OK), int(pq.ExecStatus.COMMAND_OK))
_SQLSTATE = int(pq.DiagnosticField.SQLSTATE)
CONN_OK = int(pq.ConnStatus.OK)
IDLE = int(pq.TransactionStatus.IDLE)  # also means the connection is OK
SYNC = int(pq.ExecStatus.PIPELINE_SYNC)


class ConnectionLost(Exception):
    """No usable connection: connect failed, the connection broke, or a timeout passed."""


class ConnectFailed(ConnectionLost):
    """No connection could be opened (so retrying at once is pointless)."""


class QueryError(Exception):
    """The server refused a statement; the connection itself is fine."""

    def __init__(self, sqlstate: str, message: str) -> None:
        super().__init__(f"{sqlstate}: {message}")
        self.sqlstate = sqlstate


def drop_socket(loop: asyncio.AbstractEventLoop, fd: int, pgconn: PGconn) -> int:
    """Stop watching `fd` and close the libpq connection, once; returns the new fd (-1)."""
    if fd >= 0:
        if not loop.is_closed():
            loop.remove_reader(fd)
            loop.remove_writer(fd)
        pgconn.finish()
    return -1


class Conn:
    """One libpq connection, its permanent socket reader and the statement in flight."""

    __slots__ = ("deadline", "fd", "loop", "pgconn", "pool", "prepared", "raw", "results", "waiter")

    def __init__(
        self, raw: AsyncConnection[Any], pool: WirePool, loop: asyncio.AbstractEventLoop
    ) -> None:
        self.raw = raw  # keeps psycopg's object (it owns the PGconn) alive until we close
        self.pgconn = raw.pgconn
        self.pool = pool
        self.loop = loop
        self.fd = self.pgconn.socket
        self.prepared: set[bytes] = set()
        self.waiter: asyncio.Future[PGresult] | None = None
        self.results: list[PGresult] = []
        self.deadline = 0.0  # of the statement in flight; the pool's watchdog enforces it
        loop.add_reader(self.fd, self._readable)

    def start(self, deadline: float, send: Any, *args: Any) -> asyncio.Future[PGresult]:
        """Send one request; the future gets its last result once the server is done, or
        `ConnectionLost` at `deadline` (loop time)."""
        try:
            send(*args)
            if self.pgconn.flush():  # the rare query bigger than the socket buffer
                self.loop.add_writer(self.fd, self._writable)
        except OperationalError as exc:
            self.close()
            raise ConnectionLost(str(exc)) from None
        self.deadline = deadline
        self.pool.watch(deadline)
        waiter = self.waiter = self.loop.create_future()
        return waiter

    def _writable(self) -> None:
        try:
            if self.pgconn.flush():
                return
            self.loop.remove_writer(self.fd)
        except OperationalError as exc:
            self._fail(str(exc))

    def _readable(self) -> None:
        pgconn = self.pgconn
        try:
            pgconn.consume_input()
            while not pgconn.is_busy():
                res = pgconn.get_result()
                if res is None:
                    break
                self.results.append(res)
            else:
                return  # more to come
        except OperationalError as exc:
            self._fail(str(exc))
            return
        if pgconn.status != CONN_OK:
            self._fail("connection closed by the server")
            return
        waiter, results = self.waiter, self.results
        if waiter is None:
            return  # a notice or a parameter change on an idle connection
        self.waiter, self.results = None, []
        if waiter.done():  # the caller was cancelled: the connection is free only now
            self.pool.release(self)
            return
        resolve(waiter, results)

    def timed_out(self) -> None:
        self._fail(self.pool.late())

    def _fail(self, why: str) -> None:
        waiter = self.waiter
        self.close()
        if waiter is not None and not waiter.done():
            waiter.set_exception(ConnectionLost(why))  # the caller's release drops it
        else:
            self.pool.release(self)  # idle, or its caller gone: drop it now

    def close(self) -> None:
        """Forget the socket and close the connection (idempotent, synchronous)."""
        self.waiter, self.results = None, []
        self.fd = drop_socket(self.loop, self.fd, self.pgconn)


def resolve(waiter: asyncio.Future[PGresult], results: list[PGresult]) -> None:
    for res in results:
        if res.status not in _GOOD:
            state = (res.error_field(_SQLSTATE) or b"").decode("ascii", "replace")
            message = (res.error_message or b"").decode("utf-8", "replace").strip()
            waiter.set_exception(QueryError(state, message))
            return
    if results:
        waiter.set_result(results[-1])
    else:
        waiter.set_exception(ConnectionLost("no result from the server"))
