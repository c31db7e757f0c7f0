"""Opening one fresh SQLite file from many connections at once must not fail.

With a plain connect + ``PRAGMA journal_mode=WAL``, a few percent of such races end in
"database is locked" even with a busy timeout (the WAL switch does not wait); `open_wal`
retries it.
"""

from __future__ import annotations

import threading
from pathlib import Path

from cookieguard.stores.sqlite_db import open_wal


def _race(path: str, openers: int) -> tuple[list[str], list[BaseException]]:
    barrier = threading.Barrier(openers)
    modes: list[str] = []
    errors: list[BaseException] = []

    def open_write_close() -> None:
        barrier.wait()
        try:
            conn = open_wal(path, timeout=5.0, isolation_level=None, check_same_thread=False)
            conn.execute("CREATE TABLE IF NOT EXISTS t (a)")
            conn.execute("INSERT INTO t VALUES (1)")
            modes.append(conn.execute("PRAGMA journal_mode").fetchone()[0])
            conn.close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_write_close) for _ in range(openers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return modes, errors


def test_simultaneous_first_opens_all_end_in_wal_mode(tmp_path: Path) -> None:
    for attempt in range(40):  # the race is timing-dependent: many fresh files
        modes, errors = _race(str(tmp_path / f"fresh-{attempt}.sqlite3"), 8)
        assert errors == []
        assert modes == ["wal"] * 8
