"""The pipelined connection of `_pgwire.WirePool`: one libpq connection that concurrent
requests share, their statements queued in order."""

from __future__ import annotations

import asyncio
from collections import deque
from typing import TYPE_CHECKING, Any

from psycopg import AsyncConnection, OperationalError
from psycopg.pq.abc import PGresult

from cookieguard.stores._pg_conn import CONN_OK, SYNC, ConnectionLost, drop_socket, resolve

if TYPE_CHECKING:
    from cookieguard.stores._pgwire import WirePool

__all__ = ["Pipe"]


class Pipe:
    """One connection in pipeline mode that concurrent requests share, in order.

    Each statement is followed by its own sync point, so it is its own transaction, exactly as
    in autocommit; its future is resolved at that sync (after the commit). Requests queue
    their statements without waiting for each other, and one socket read brings back every
    answer that has arrived: under load that is a fraction of a round trip's system calls
    per statement. A cancelled caller's answer is read and dropped in turn.
    """

    __slots__ = ("fd", "loop", "pgconn", "pool", "prepared", "queue", "raw", "results")

    def __init__(
        self, raw: AsyncConnection[Any], pool: WirePool, loop: asyncio.AbstractEventLoop
    ) -> None:
        self.raw = raw
        self.pgconn = pgconn = raw.pgconn
        self.pool = pool
        self.loop = loop
        self.fd = pgconn.socket
        self.prepared: set[bytes] = set()
        # (future, deadline) per statement sent and not yet synced, oldest first.
        self.queue: deque[tuple[asyncio.Future[PGresult], float]] = deque()
        self.results: list[PGresult] = []  # those of the oldest statement, so far
        pgconn.enter_pipeline_mode()
        loop.add_reader(self.fd, self._readable)

    def send(self, deadline: float, send: Any, *args: Any) -> asyncio.Future[PGresult]:
        """Queue one request; its future is resolved at its sync point, or fails at
        `deadline` (loop time)."""
        pgconn = self.pgconn
        try:
            send(*args)
            pgconn.pipeline_sync()
            if pgconn.flush():
                self.loop.add_writer(self.fd, self._writable)
        except OperationalError as exc:
            self.fail(str(exc))
            raise ConnectionLost(str(exc)) from None
        waiter = self.loop.create_future()
        self.queue.append((waiter, deadline))
        self.pool.watch(deadline)
        return waiter

    def _writable(self) -> None:
        try:
            if not self.pgconn.flush():
                self.loop.remove_writer(self.fd)
        except OperationalError as exc:
            self.fail(str(exc))

    def _readable(self) -> None:
        pgconn, queue, results = self.pgconn, self.queue, self.results
        try:
            pgconn.consume_input()
            after_end = False  # get_result() gave None: the end of one statement's results
            while not pgconn.is_busy():
                res = pgconn.get_result()
                if res is None:
                    if after_end or not queue:
                        break  # nothing more has arrived
                    after_end = True
                    continue
                after_end = False
                if res.status != SYNC:
                    results.append(res)
                    continue
                waiter = queue.popleft()[0]
                if not waiter.done():
                    resolve(waiter, results)
                results.clear()
        except OperationalError as exc:
            self.fail(str(exc))
            return
        except IndexError:  # a sync nobody waits for: the protocol is off, drop the connection
            self.fail("unexpected sync from the server")
            return
        if pgconn.status != CONN_OK:
            self.fail("connection closed by the server")

    def fail(self, why: str) -> None:
        """Close the connection; every statement still queued gets `ConnectionLost`."""
        if self.pool.pipe is self:
            self.pool.pipe = None
        self.fd = drop_socket(self.loop, self.fd, self.pgconn)
        queue, self.queue = self.queue, deque()
        for waiter, _ in queue:
            if not waiter.done():
                waiter.set_exception(ConnectionLost(why))
