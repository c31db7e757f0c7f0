"""A small RESP2 client for RedisStore's per-request commands, several times cheaper in CPU.

redis-py's asyncio client spends ~120 µs of Python per command (connection pool checkout,
stream reader, response callbacks). Here a command is pre-encoded bytes written straight to
an `asyncio.Protocol`; replies are parsed in C by `hiredis.Reader` and resolve a FIFO of
futures, so concurrent requests pipeline on one connection and one event-loop tick's commands
leave in one ``send()``.

Failure model: any connection error, protocol error or command timeout closes the connection
and fails every waiting command with `ConnectionLost`; the next command reconnects. Error
replies (``-ERR ...``) fail only their own command, with `ReplyError`.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import Callable, Sequence
from typing import Any, cast

import hiredis

from cookieguard.stores._reasons import os_reason

__all__ = ["ConnectionLost", "ReplyError", "RespClient", "pack"]

# hiredis's stub types the argument as a 1-tuple; it takes any tuple of str/bytes/int/float.
pack = cast("Callable[[tuple[Any, ...]], bytes]", hiredis.pack_command)
"""Encode one command (a tuple of str/bytes/int/float) as a RESP array of bulk strings."""


class ReplyError(Exception):
    """The server answered a command with an error reply (its text is the message)."""


class ConnectionLost(Exception):
    """The connection failed, closed or timed out; no reply will come for the command."""


class _Connection(asyncio.Protocol):
    """One socket. Replies arrive in command order, so a FIFO of futures matches them up."""

    def __init__(self, loop: asyncio.AbstractEventLoop, timeout: float) -> None:
        self.loop = loop
        self.timeout = timeout
        self.reader = hiredis.Reader(encoding="utf-8", replyError=ReplyError)
        # (future, deadline) per command in flight, oldest first.
        self.waiters: collections.deque[tuple[asyncio.Future[Any], float]] = collections.deque()
        self.pending: list[bytes] = []
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.lost: asyncio.Future[None] = loop.create_future()
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Duck-typed, not an isinstance check: uvloop's TCPTransport and UnixTransport have
        # write() and abort() but do not derive from asyncio.Transport.
        self.transport = cast("asyncio.Transport", transport)

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        waiters = self.waiters
        try:
            while (reply := self.reader.gets()) is not False:
                future = waiters.popleft()[0]
                if future.done():  # its caller was cancelled; the reply is dropped
                    continue
                if type(reply) is ReplyError:
                    future.set_exception(reply)
                else:
                    future.set_result(reply)
        except (hiredis.ProtocolError, IndexError, UnicodeDecodeError):  # garbage or unasked
            self.fail("protocol error")

    def connection_lost(self, exc: Exception | None) -> None:
        self.fail(f"connection lost ({type(exc).__name__})" if exc else "connection closed")
        if not self.lost.done():
            self.lost.set_result(None)

    def fail(self, reason: str) -> None:
        """Close the socket and fail every command still waiting; idempotent."""
        self.closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.pending.clear()
        while self.waiters:
            future = self.waiters.popleft()[0]
            if not future.done():
                future.set_exception(ConnectionLost(reason))
        if self.transport is not None:
            self.transport.abort()

    def send(self, payload: bytes) -> asyncio.Future[Any]:
        """Queue one encoded command.

        On an idle connection it is written at once; while replies are outstanding, the
        commands of one loop tick are batched into one write.
        """
        if self.closed:
            raise ConnectionLost("connection closed")
        loop = self.loop
        future = loop.create_future()
        deadline = loop.time() + self.timeout
        waiters = self.waiters
        if self.pending:
            self.pending.append(payload)
        elif not waiters and self.transport is not None:
            self.transport.write(payload)  # idle connection: no one to batch with
        else:
            self.pending.append(payload)
            loop.call_soon(self._flush)
        waiters.append((future, deadline))
        if self._timer is None:
            self._timer = loop.call_at(deadline, self._check_deadline)
        return future

    def _flush(self) -> None:
        if self.pending and self.transport is not None and not self.closed:
            self.transport.write(b"".join(self.pending))
            self.pending.clear()

    def _check_deadline(self) -> None:
        """One timer at a time: re-armed for the oldest command, not created per command."""
        self._timer = None
        if not self.waiters:
            return
        deadline = self.waiters[0][1]
        if deadline <= self.loop.time():
            self.fail("timed out")
        else:
            self._timer = self.loop.call_at(deadline, self._check_deadline)


class RespClient:
    """A lazily opened, self-healing connection to one standalone Redis server.

    Args:
        host: Server host (ignored with `path`).
        port: Server port.
        path: A Unix socket path instead of host/port.
        username: ACL user for ``AUTH`` (Redis 6+); None for the default user.
        password: Sent with ``AUTH`` right after connecting, if set.
        db: Database number, selected right after connecting if not 0.
        timeout: Seconds allowed to connect, and for each command's reply.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 6379,
        *,
        path: str | None = None,
        username: str | None = None,
        password: str | None = None,
        db: int = 0,
        timeout: float = 2.0,
    ) -> None:
        self.host, self.port, self.path = host, port, path
        self.timeout = timeout
        self._hello: list[bytes] = []
        if password is not None:
            auth = ("AUTH", username, password) if username else ("AUTH", password)
            self._hello.append(pack(auth))
        if db:
            self._hello.append(pack(("SELECT", db)))
        self._conn: _Connection | None = None
        self._opening: asyncio.Task[_Connection] | None = None

    async def execute(self, payload: bytes) -> Any:
        """Send one `pack`-ed command and return its reply.

        Raises:
            ReplyError: The server answered with an error.
            ConnectionLost: No connection, or it failed before the reply came.
        """
        conn = self._conn
        if conn is None or conn.closed or conn.loop is not asyncio.get_running_loop():
            conn = await self._connection()
        return await conn.send(payload)

    async def execute_many(self, payloads: Sequence[bytes]) -> list[Any]:
        """Pipeline several commands; error replies come back as `ReplyError` items."""
        if not payloads:
            return []
        conn = self._conn
        if conn is None or conn.closed or conn.loop is not asyncio.get_running_loop():
            conn = await self._connection()
        futures = [conn.send(payload) for payload in payloads]
        results: list[Any] = []
        try:
            for future in futures:
                try:
                    results.append(await future)
                except ReplyError as exc:
                    results.append(exc)
        finally:
            for future in futures:  # after a failure, nobody is left to read these
                future.cancel()
        return results

    async def _connection(self) -> _Connection:
        loop = asyncio.get_running_loop()
        opening = self._opening
        if opening is None or opening.get_loop() is not loop:
            opening = self._opening = loop.create_task(self._open(loop))
            opening.add_done_callback(self._opened)
        # Shielded: a cancelled request must not abort the connect others are waiting for.
        return await asyncio.shield(opening)

    def _opened(self, task: asyncio.Task[_Connection]) -> None:
        if self._opening is task:
            self._opening = None
        if not task.cancelled() and task.exception() is None:
            old, self._conn = self._conn, task.result()
            if old is not None:
                self._discard(old)

    @staticmethod
    def _discard(conn: _Connection) -> None:
        """Close a replaced connection, possibly one of another (maybe closed) event loop."""
        if conn.closed:
            return
        if conn.loop is asyncio.get_running_loop():
            conn.fail("replaced")
        elif not conn.loop.is_closed():
            conn.loop.call_soon_threadsafe(conn.fail, "replaced")

    async def _open(self, loop: asyncio.AbstractEventLoop) -> _Connection:
        def factory() -> _Connection:
            return _Connection(loop, self.timeout)

        try:
            if self.path is not None:
                opening = loop.create_unix_connection(factory, self.path)
            else:
                opening = loop.create_connection(factory, self.host, self.port)
            _, conn = await asyncio.wait_for(opening, self.timeout)
        except (TimeoutError, OSError) as exc:
            where = self.path if self.path is not None else f"{self.host}:{self.port}"
            raise ConnectionLost(os_reason(exc, where, self.timeout)) from None
        replies = [conn.send(command) for command in self._hello]
        try:
            for reply in replies:
                await reply
        except BaseException:
            conn.fail("handshake failed")
            raise
        finally:
            for reply in replies:
                reply.cancel()
        return conn

    async def close(self) -> None:
        """Close the connection (a later command opens a new one)."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        if conn.loop is not asyncio.get_running_loop():
            self._discard(conn)
            return
        conn.fail("closed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(conn.lost), self.timeout)
