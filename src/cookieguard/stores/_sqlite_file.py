"""Opening one SQLite file, and what the loop and thread database classes share.

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
from collections.abc import Callable
from typing import Any, TypeVar

from cookieguard.errors import StoreUnavailable

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
