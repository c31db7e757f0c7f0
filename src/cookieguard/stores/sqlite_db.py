"""One SQLite file shared by several processes, used from asyncio without blocking the loop.

Every SQLite table of the library (`SQLiteStore`'s sessions and counters, `SQLiteUserStore`'s
users) and an application's own tables beside them (the demo's records) go through
`SQLiteDatabase`: one way to open a file, one way to wait for another process's write lock.

Statements run on the event-loop thread. A primary-key lookup or a one-row write on a WAL
database takes a few microseconds; handing it to a worker thread and back costs tens of
microseconds more (bench/bench_stores.py measures both), which would be most of a request's
cost with the session store. So SQLite's own busy handler is off on the loop's connection
(it would put the whole loop to sleep): a statement that meets another process's write lock
is retried after an `asyncio.sleep`, with backoff, for up to `lock_timeout` seconds, and then
fails with `StoreUnavailable`. Readers never wait in WAL mode. Only opening the file (which
may wait for the lock while it creates the tables) runs in a worker thread, once.

Opening a file (owner-only creation, WAL, the busy retry) and what both classes share live
in `cookieguard.stores._sqlite_file`; this module re-exports its public helpers.

`SyncSQLiteDatabase` is the same file handling for threaded (WSGI) code: one `open`, the same
`Backoff` schedule for a held write lock (sleeping the calling thread instead of the loop),
the same error handling (`_SQLiteFile.failed`); only where connections come from differs (a
small pool, one connection per concurrent thread).
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from cookieguard.errors import StoreUnavailable
from cookieguard.stores._sqlite_file import (
    PRIVATE_MODE,
    Backoff,
    T,
    _log,
    _open_in_thread,
    _SQLiteFile,
    create_private,
    is_busy,
    open_wal,
)

__all__ = [
    "PRIVATE_MODE",
    "Backoff",
    "SQLiteDatabase",
    "SyncSQLiteDatabase",
    "create_private",
    "is_busy",
    "open_wal",
]


class SQLiteDatabase(_SQLiteFile):
    """A lazily opened connection to one SQLite file, for statements run from the event loop.

    Args:
        path: The database file (created owner-only 0600 when missing; its directory must
            exist), or ``":memory:"``.
        schema: SQL script run once per new connection inside ``BEGIN IMMEDIATE`` (e.g.
            ``CREATE TABLE IF NOT EXISTS ...``), so concurrent first starts agree.
        lock_timeout: Seconds a statement keeps retrying while another process holds the
            write lock; also how long opening waits for it.
        label: How logs and `StoreUnavailable` name this database ("sqlite store").
        autocheckpoint: False turns SQLite's automatic WAL checkpoints off on the loop's
            connection (a caller that checkpoints in a worker thread instead).
        cached_statements: Prepared statements kept per connection.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        schema: str = "",
        lock_timeout: float = 5.0,
        label: str = "sqlite database",
        autocheckpoint: bool = True,
        cached_statements: int = 256,
    ) -> None:
        super().__init__(
            path,
            schema=schema,
            lock_timeout=lock_timeout,
            label=label,
            autocheckpoint=autocheckpoint,
            cached_statements=cached_statements,
        )
        self.conn: sqlite3.Connection | None = None
        """The loop's open connection, or None: a fast path may use it directly and fall
        back to `run` on any `sqlite3.Error`."""
        self._connecting: asyncio.Lock | None = None
        self._closes = 0  # `close` calls so far: an open that spans one is not kept

    async def connect(self) -> sqlite3.Connection:
        """The loop's connection, opened (in a worker thread) on first use.

        Raises:
            StoreUnavailable: the file cannot be opened, or `close` was called while it was
                being opened (a server shutting down): that connection is closed, not kept
                open behind the closed database's back.
        """
        if self.conn is not None:
            return self.conn
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:
            if self.conn is None:
                closes = self._closes
                try:
                    conn = await _open_in_thread(self._open_statement_conn)
                except sqlite3.Error as exc:
                    raise self.unavailable(exc) from None
                if closes != self._closes:
                    conn.close()
                    _log.warning("%s was closed while a call was opening it", self.label)
                    raise StoreUnavailable(f"{self.label} was closed while opening")
                self.conn = conn
            return self.conn

    def discard(self) -> None:
        """Close the loop's connection after a failure; the next call reopens it."""
        conn, self.conn = self.conn, None
        if conn is not None:
            try:
                conn.close()
            except sqlite3.Error:
                _log.debug("closing a failed sqlite connection failed", exc_info=True)

    def _discard(self, conn: sqlite3.Connection) -> None:
        self.discard()

    async def run(self, op: Callable[[sqlite3.Connection], T]) -> T:
        """Run `op` on the loop's connection; on a held write lock, back off and retry.

        `sqlite3.IntegrityError` (a constraint the caller asked for) is raised as it is; an
        open transaction is rolled back on any error.

        Raises:
            StoreUnavailable: any other SQLite error (the connection is reopened next time),
                or the lock was still held after `lock_timeout` seconds.
        """
        backoff: Backoff | None = None
        while True:
            conn = self.conn or await self.connect()
            try:
                return op(conn)
            except sqlite3.IntegrityError:
                raise
            except sqlite3.Error as exc:
                if not self.failed(conn, exc):
                    self.discard()
                    raise self.unavailable(exc) from None
                backoff = backoff or Backoff(self.lock_timeout)
                if (delay := backoff.next()) is None:
                    raise self.unavailable(exc) from None
                await asyncio.sleep(delay)

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        """One statement, e.g. an INSERT (the cursor has `lastrowid` and `rowcount`).

        Raises:
            StoreUnavailable: as `run`; `sqlite3.IntegrityError` as it is.
        """
        conn = self.conn
        if conn is not None:
            try:  # the common case: an open connection and no lock held
                return conn.execute(sql, params)
            except sqlite3.IntegrityError:
                raise
            except sqlite3.Error:
                pass  # `run` retries, reconnects or reports it
        return await self.run(lambda c: c.execute(sql, params))

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """Every row of one query."""
        conn = self.conn
        if conn is not None:
            try:
                return conn.execute(sql, params).fetchall()
            except sqlite3.Error:
                pass
        return await self.run(lambda c: c.execute(sql, params).fetchall())

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """The first row of one query, or None."""
        conn = self.conn
        if conn is not None:
            try:
                return conn.execute(sql, params).fetchone()
            except sqlite3.Error:
                pass
        return await self.run(lambda c: c.execute(sql, params).fetchone())

    def close(self) -> None:
        """Close the loop's connection (a later call reopens it)."""
        self._closes += 1
        conn, self.conn = self.conn, None
        if conn is not None:
            conn.close()


class SyncSQLiteDatabase(_SQLiteFile):
    """One SQLite file for threaded code: a connection per concurrent thread, reused.

    A thread takes an idle connection (or opens one, which waits for the write lock at most
    `lock_timeout` while it creates the tables), runs its statements, and gives it back. A
    statement that meets another process's write lock backs off in that thread on the same
    `Backoff` schedule as `SQLiteDatabase`. ``":memory:"`` has one connection (each would
    be a database of its own), which threads take in turn.

    Args: as `SQLiteDatabase`.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        schema: str = "",
        lock_timeout: float = 5.0,
        label: str = "sqlite database",
        autocheckpoint: bool = True,
        cached_statements: int = 256,
    ) -> None:
        super().__init__(
            path,
            schema=schema,
            lock_timeout=lock_timeout,
            label=label,
            autocheckpoint=autocheckpoint,
            cached_statements=cached_statements,
        )
        self._idle: list[sqlite3.Connection] = []
        self._all: set[sqlite3.Connection] = set()  # open, idle or in use
        self._opening = 0
        self._closes = 0  # `close` calls so far: a connection opened across one is not kept
        self._cond = threading.Condition()
        self._limit = 1 if self.path == ":memory:" else None

    def _take(self) -> sqlite3.Connection:
        with self._cond:
            while not self._idle and self._limit is not None:
                if len(self._all) + self._opening < self._limit:
                    break
                self._cond.wait()
            if self._idle:
                return self._idle.pop()
            self._opening += 1  # holds the slot while connecting
            closes = self._closes
        try:
            conn = self._open_statement_conn()
        except sqlite3.Error as exc:
            raise self.unavailable(exc) from None
        finally:
            with self._cond:
                self._opening -= 1
                self._cond.notify()
        with self._cond:
            if closes == self._closes:
                self._all.add(conn)
            # else `close` ran meanwhile: this call still uses it; `_give` then closes it
        return conn

    def _give(self, conn: sqlite3.Connection) -> None:
        with self._cond:
            if conn in self._all:
                self._idle.append(conn)
                self._cond.notify()
                return
        conn.close()  # the database was closed (or the connection dropped) meanwhile

    def _forget(self, conn: sqlite3.Connection) -> None:
        with self._cond:
            self._all.discard(conn)
            self._cond.notify()

    def _discard(self, conn: sqlite3.Connection) -> None:
        self._forget(conn)
        try:
            conn.close()
        except sqlite3.Error:
            _log.debug("closing a failed sqlite connection failed", exc_info=True)

    def run(self, op: Callable[[sqlite3.Connection], T]) -> T:
        """Run `op` on a connection of this thread's; on a held write lock, back off and retry.

        Raises:
            StoreUnavailable: as `SQLiteDatabase.run`; `sqlite3.IntegrityError` as it is.
        """
        backoff: Backoff | None = None
        while True:
            conn = self._take()
            try:
                result = op(conn)
            except sqlite3.IntegrityError:
                self._give(conn)
                raise
            except sqlite3.Error as exc:
                if not self.failed(conn, exc):
                    self._discard(conn)
                    raise self.unavailable(exc) from None
                self._give(conn)
                backoff = backoff or Backoff(self.lock_timeout)
                if (delay := backoff.next()) is None:
                    raise self.unavailable(exc) from None
                time.sleep(delay)
            except BaseException:
                if conn.in_transaction:  # never hand out a connection mid-transaction
                    self._discard(conn)
                else:
                    self._give(conn)
                raise
            else:
                self._give(conn)
                return result

    def close(self) -> None:
        """Close the idle connections; those in use close when given back."""
        with self._cond:
            self._closes += 1  # connections opening now are closed when given back
            idle, self._idle = self._idle, []
            self._all.clear()  # connections given back later are closed, not kept
            self._cond.notify_all()
        for conn in idle:
            conn.close()
