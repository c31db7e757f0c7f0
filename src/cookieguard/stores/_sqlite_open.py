"""Open an SQLite file in WAL mode, safely while other processes open it too.

Switching a fresh file to WAL needs an exclusive lock, and SQLite answers SQLITE_BUSY for that
switch at once rather than through the busy handler. Several servers starting on one new file
would then fail at random; this module retries the switch, bounded by the caller's timeout.
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any

_BUSY = (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


def is_busy(exc: sqlite3.Error) -> bool:
    """True when `exc` means another connection holds a lock (worth retrying)."""
    return (getattr(exc, "sqlite_errorcode", 0) & 0xFF) in _BUSY


def open_wal(path: str, *, timeout: float, **connect_options: Any) -> sqlite3.Connection:
    """`sqlite3.connect(path, timeout=...)`, then WAL mode, retrying while the file is busy.

    Raises:
        sqlite3.Error: the file cannot be opened, is not a database, or stayed locked for
            longer than `timeout` seconds.
    """
    conn: sqlite3.Connection = sqlite3.connect(path, timeout=timeout, **connect_options)
    deadline = time.monotonic() + timeout
    delay = 0.001
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
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
