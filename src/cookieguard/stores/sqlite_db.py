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

Switching a fresh file to WAL needs an exclusive lock, and SQLite answers SQLITE_BUSY for that
switch at once rather than through the busy handler. Several servers starting on one new file
would then fail at random; `open_wal` retries the switch, bounded by the caller's timeout.

The files hold session data, password hashes and (the demo's) secret key, so a new database
file is created here, owner-only (0600), before SQLite opens it: SQLite itself would create
it 0644 under the usual umask 022, readable by every local user. `os.open` with `O_EXCL`
creates it atomically with that mode, so there is no moment at which it is readable by others
and no process-wide umask to change (which would race with other threads). SQLite gives the
-wal, -shm and -journal files it creates later the main file's permission bits, so they are
0600 too. An existing file keeps its mode: the library did not create it, and its owner may
share it on purpose (a group running ``cookieguard adduser``, a backup agent); a file that
every local user can read gets one warning in the log instead.

`SyncSQLiteDatabase` is the same file handling for threaded (WSGI) code: one `open`, the same
`Backoff` schedule for a held write lock (sleeping the calling thread instead of the loop),
the same error handling (`_SQLiteFile.failed`); only where connections come from differs (a
small pool, one connection per concurrent thread).
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import stat
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from cookieguard.errors import StoreUnavailable

__all__ = [
    "PRIVATE_MODE",
    "Backoff",
    "SQLiteDatabase",
    "SyncSQLiteDatabase",
    "create_private",
    "is_busy",
    "open_wal",
]

T = TypeVar("T")

_BUSY = (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
PRIVATE_MODE = 0o600
"""Permission bits of a database file this library creates (and so of its -wal and -shm)."""

_log = logging.getLogger("cookieguard.stores")
_warned: set[str] = set()
_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)


def is_busy(exc: sqlite3.Error) -> bool:
    """True when `exc` means another connection holds a lock (worth retrying)."""
    return (getattr(exc, "sqlite_errorcode", 0) & 0xFF) in _BUSY


def create_private(path: str) -> bool:
    """Create `path` as an empty owner-only (0600) file unless it exists; True if created.

    The fast path costs one failing `open` system call per new connection, which happen at
    start-up and after a lost connection, never per request.

    In-memory and temporary databases (``":memory:"``, ``""``) and ``file:`` URIs are left to
    SQLite. When the file cannot be created (a missing directory, no permission), nothing is
    raised here: SQLite then fails to open it with its own `sqlite3.Error`, as callers expect.
    """
    if path in ("", ":memory:") or path.startswith("file:"):
        return False
    try:
        fd = os.open(path, _CREATE_FLAGS, PRIVATE_MODE)
    except FileExistsError:
        return False
    except OSError:
        return False
    try:
        # The umask can only have taken bits away; set exactly 0600 so that SQLite can write.
        os.fchmod(fd, PRIVATE_MODE)
    finally:
        os.close(fd)
    return True


def _warn_if_public(path: str) -> None:
    if path in ("", ":memory:") or path.startswith("file:"):
        return
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return  # SQLite reports what is wrong with the path
    if stat.S_ISREG(mode) and mode & stat.S_IRWXO and path not in _warned:
        _warned.add(path)
        _log.warning(
            "database file %s is open to every local user (mode %s) and holds session data; "
            "restrict it with: chmod 600 %s",
            path,
            oct(stat.S_IMODE(mode)),
            path,
        )


def open_wal(path: str, *, timeout: float, **connect_options: Any) -> sqlite3.Connection:
    """`sqlite3.connect(path, timeout=...)`, then WAL mode, retrying while the file is busy.

    A file that does not exist yet is created 0600 first (see the module docstring).

    Raises:
        sqlite3.Error: the file cannot be opened, is not a database, or stayed locked for
            longer than `timeout` seconds.
    """
    created = create_private(path)
    conn: sqlite3.Connection = sqlite3.connect(path, timeout=timeout, **connect_options)
    deadline = time.monotonic() + timeout
    delay = 0.001
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            if not created and path not in _warned:
                _warn_if_public(path)  # only once it proved to be a database
            return conn
        except sqlite3.OperationalError as exc:
            if not is_busy(exc) or time.monotonic() >= deadline:
                conn.close()
                raise
        except BaseException:
            conn.close()
            raise
        time.sleep(delay)  # start-up only: no event loop is serving yet on this connection
        delay = min(delay * 2, 0.05)


async def _open_in_thread(open_: Callable[[], sqlite3.Connection]) -> sqlite3.Connection:
    """`open_()` in a worker thread; if the caller is cancelled meanwhile, the connection
    is closed rather than dropped.

    Cancelling `asyncio.to_thread` does not stop the thread: the open completes and its
    result is thrown away, leaving the file open until the garbage collector finds it (Python
    3.13 reports it as a ``ResourceWarning``). Requests are cancelled routinely: a client
    that disconnects, a server shutting down, a timeout.
    """
    lock = threading.Lock()
    opened: list[sqlite3.Connection] = []
    abandoned = False

    def job() -> sqlite3.Connection:
        conn = open_()
        with lock:
            if not abandoned:
                opened.append(conn)  # the waiter takes it, or closes it if cancelled
                return conn
        conn.close()  # the waiter is gone already
        return conn

    try:
        return await asyncio.to_thread(job)
    except asyncio.CancelledError:
        with lock:
            abandoned = True
            late = opened[:]
        for conn in late:
            conn.close()
        raise


class Backoff:
    """How long to wait before retrying a statement that met another process's write lock.

    0.5 ms, doubling up to 50 ms, for at most `timeout` seconds from the first busy answer.
    One schedule for the loop's connection (`asyncio.sleep`) and for threads (`time.sleep`).
    """

    __slots__ = ("deadline", "delay", "timeout")

    def __init__(self, timeout: float) -> None:
        self.timeout: float = timeout
        self.deadline: float = 0.0
        self.delay: float = 0.0005

    def next(self) -> float | None:
        """Seconds to wait before the next attempt, or None once `timeout` has passed."""
        now = time.monotonic()
        if not self.deadline:
            self.deadline = now + self.timeout
        elif now >= self.deadline:
            return None
        delay = self.delay
        self.delay = min(delay * 2, 0.05)
        return delay


def _add_column(conn: sqlite3.Connection, table: str, column: str, kind: str) -> None:
    """Add `column` to an existing `table` made by an older release (SQLite has no
    ``ADD COLUMN IF NOT EXISTS``; a racing process adding it first is fine)."""
    names = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
    if column in names:
        return
    try:
        conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
    except sqlite3.OperationalError as exc:
        if "duplicate column" not in str(exc):
            raise


class _SQLiteFile(ABC):
    """What both database classes share: the settings, opening, and reacting to errors."""

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
        self.path: str = os.fspath(path)
        self.schema = schema
        self.lock_timeout = lock_timeout
        self.label = label
        self.autocheckpoint = autocheckpoint
        self.cached_statements = cached_statements
        self.added_columns: tuple[tuple[str, str, str], ...] = ()
        """(table, column, type) that `schema` creates but older tables lack: added in place."""

    def open(self, *, busy_ms: int | None = None) -> sqlite3.Connection:
        """A new connection, blocking: WAL, synchronous=NORMAL, `schema` applied.

        For start-up code and worker threads; `busy_ms` is its SQLite busy timeout
        (default: `lock_timeout`). The caller owns and closes it.

        Raises:
            sqlite3.Error: the file cannot be opened or created, is not a database, or
                stayed locked longer than `lock_timeout`.
        """
        conn = open_wal(
            self.path,
            timeout=self.lock_timeout,
            isolation_level=None,  # autocommit; transactions are explicit BEGIN IMMEDIATE
            check_same_thread=False,
            cached_statements=self.cached_statements,
        )
        try:
            # NORMAL in WAL mode: a commit is an append without fsync; the database stays
            # consistent on power loss, losing at most the last few commits.
            conn.execute("PRAGMA synchronous=NORMAL")
            if self.schema:
                conn.executescript(f"BEGIN IMMEDIATE;{self.schema};COMMIT;")
            for table, column, kind in self.added_columns:
                _add_column(conn, table, column, kind)
            busy = int(self.lock_timeout * 1000) if busy_ms is None else busy_ms
            conn.execute(f"PRAGMA busy_timeout={busy}")
        except BaseException:
            conn.close()
            raise
        return conn

    def _open_statement_conn(self) -> sqlite3.Connection:
        """A connection for statements: SQLite's busy handler off (we back off ourselves)."""
        conn = self.open(busy_ms=0)
        if not self.autocheckpoint and self.path != ":memory:":
            conn.execute("PRAGMA wal_autocheckpoint=0")
        return conn

    def unavailable(self, exc: sqlite3.Error) -> StoreUnavailable:
        """Log `exc` once and make the `StoreUnavailable` to raise (no SQL or data in it)."""
        name = getattr(exc, "sqlite_errorname", type(exc).__name__)
        _log.warning("%s unavailable (%s): %s", self.label, name, exc)
        return StoreUnavailable(f"{self.label} unavailable: {str(exc)[:200]} ({name})")

    def failed(self, conn: sqlite3.Connection, exc: sqlite3.Error) -> bool:
        """After `exc` on `conn`: roll back; True if it was a held lock (worth retrying).

        False means `conn` must be discarded and the call fail with `unavailable(exc)`; a
        rollback that fails too also discards it (`_discard`), retry or not.
        """
        if conn.in_transaction:
            try:
                conn.rollback()
            except sqlite3.Error:
                self._discard(conn)
        return is_busy(exc)

    @abstractmethod
    def _discard(self, conn: sqlite3.Connection) -> None:
        """Drop `conn` after a failure (the loop's connection, or one thread's)."""


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
