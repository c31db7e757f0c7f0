"""Open an SQLite file in WAL mode, safely while other processes open it too.

Switching a fresh file to WAL needs an exclusive lock, and SQLite answers SQLITE_BUSY for that
switch at once rather than through the busy handler. Several servers starting on one new file
would then fail at random; this module retries the switch, bounded by the caller's timeout.

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

import logging
import os
import sqlite3
import stat
import time
from typing import Any

_BUSY = (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
PRIVATE_MODE = 0o600
"""Permission bits of a database file this library creates (and so of its -wal and -shm)."""

logger = logging.getLogger("cookieguard.stores")
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
        logger.warning(
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
