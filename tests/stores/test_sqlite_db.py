"""`SQLiteDatabase`, the one way the library (and the demo) opens and uses an SQLite file.

Statements run on the event loop; a write lock held by another process is waited for with
`asyncio.sleep`, so neither the loop nor a worker thread sleeps inside SQLite. The users table
goes through it too, so a burst of writers meeting a held lock ties up no thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import stat
from pathlib import Path

import pytest

from cookieguard.auth._sqlite_users import SQLiteUserStore
from cookieguard.errors import StoreUnavailable
from cookieguard.stores.sqlite_db import SQLiteDatabase, SyncSQLiteDatabase

SCHEMA = "CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v TEXT UNIQUE)"


async def test_creates_an_owner_only_file_with_its_schema_and_runs_statements(
    tmp_path: Path,
) -> None:
    path = tmp_path / "app.db"
    db = SQLiteDatabase(path, schema=SCHEMA)
    cursor = await db.execute("INSERT INTO t (v) VALUES (?)", ("one",))
    assert cursor.lastrowid == 1
    assert await db.fetchall("SELECT id, v FROM t") == [(1, "one")]
    assert await db.fetchone("SELECT v FROM t WHERE id = ?", (2,)) is None
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    with pytest.raises(sqlite3.IntegrityError):  # the caller's constraint, passed through
        await db.execute("INSERT INTO t (v) VALUES (?)", ("one",))
    db.close()


async def test_a_held_lock_is_waited_for_on_the_loop_then_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    db = SQLiteDatabase(path, schema=SCHEMA, lock_timeout=0.3, label="app db")
    await db.execute("INSERT INTO t (v) VALUES ('a')")
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    beat = asyncio.create_task(ticker())
    try:
        with pytest.raises(
            StoreUnavailable, match=r"app db unavailable: database is locked \(SQLITE_BUSY\)"
        ):
            await db.execute("INSERT INTO t (v) VALUES ('b')")
        assert ticks >= 3  # the loop ran while the statement waited
        assert await db.fetchall("SELECT v FROM t") == [("a",)]  # readers never wait
        other.execute("COMMIT")
        await db.execute("INSERT INTO t (v) VALUES ('b')")  # recovered by itself
    finally:
        beat.cancel()
        other.close()
        db.close()


async def test_a_missing_directory_is_unavailable_until_it_exists(tmp_path: Path) -> None:
    db = SQLiteDatabase(tmp_path / "later" / "app.db", schema=SCHEMA, label="app db")
    with pytest.raises(StoreUnavailable, match="app db unavailable"):
        await db.fetchall("SELECT * FROM t")
    (tmp_path / "later").mkdir()
    assert await db.fetchall("SELECT * FROM t") == []
    db.close()


async def test_users_waiting_for_a_held_lock_tie_up_no_worker_thread(tmp_path: Path) -> None:
    # Each of these writers meets another process's write lock. Were they waiting in worker
    # threads (SQLite's busy handler), they would fill the default executor (at most 32
    # threads) and every other `to_thread` call of the app would queue behind the lock.
    path = tmp_path / "users.db"
    users = SQLiteUserStore(path, timeout=30)
    await users.create_user("first", "h")
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    writers = [asyncio.create_task(users.create_user(f"user{i}", "h")) for i in range(40)]
    try:
        await asyncio.sleep(0.2)  # every writer is waiting for the lock now
        await asyncio.wait_for(asyncio.to_thread(lambda: None), timeout=10)
        assert other.in_transaction  # the probe ran while the lock was still held
        assert not any(w.done() for w in writers)
    finally:
        other.execute("COMMIT")
        other.close()
    created = await asyncio.gather(*writers)
    assert len({u.id for u in created}) == 40
    await users.close()


def _open_files(path: Path) -> int:
    """How many file descriptors of this process are open on `path` (Linux's /proc)."""
    fds = Path("/proc/self/fd")
    count = 0
    for fd in fds.iterdir():
        with contextlib.suppress(OSError):  # closed while listing
            count += os.readlink(fd) == str(path)
    return count


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs Linux's /proc")
async def test_a_cancelled_first_open_leaves_no_file_open(tmp_path: Path) -> None:
    # The first statement opens the connection in a worker thread, which waits here for
    # another process's write lock (the schema is created inside BEGIN IMMEDIATE). A request
    # cancelled meanwhile (its client left) must not leave that connection open once the
    # thread gets it.
    path = tmp_path / "app.db"
    setup = SQLiteDatabase(path, schema=SCHEMA)
    await setup.execute("INSERT INTO t (v) VALUES ('a')")
    setup.close()
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    before = _open_files(path)
    db = SQLiteDatabase(path, schema=SCHEMA, lock_timeout=5)
    request = asyncio.create_task(db.fetchall("SELECT v FROM t"))
    try:
        await asyncio.sleep(0.2)
        assert _open_files(path) == before + 1  # the thread's connection, waiting
        request.cancel()
        with pytest.raises(asyncio.CancelledError):
            await request
    finally:
        other.execute("COMMIT")
        other.close()
    for _ in range(500):  # the thread finishes its open once the lock is free
        if _open_files(path) == before - 1:
            break
        await asyncio.sleep(0.01)
    assert _open_files(path) == before - 1  # the blocker's gone, and nothing else is open
    assert db.conn is None
    assert await db.fetchall("SELECT v FROM t") == [("a",)]  # the next call opens anew
    db.close()


def _held(path: Path) -> sqlite3.Connection:
    """Another process's write lock on `path` (its tables exist already)."""
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    return other


async def _wait_for_files(path: Path, count: int) -> None:
    for _ in range(500):
        if _open_files(path) == count:
            return
        await asyncio.sleep(0.01)


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs Linux's /proc")
async def test_close_during_the_first_open_leaves_no_file_open(tmp_path: Path) -> None:
    # A server shutting down closes the database while a request is still opening it (the
    # open waits for another process's write lock): the late connection must not stay open.
    path = tmp_path / "app.db"
    setup = SQLiteDatabase(path, schema=SCHEMA)
    await setup.execute("INSERT INTO t (v) VALUES ('a')")
    setup.close()
    other = _held(path)
    before = _open_files(path)
    db = SQLiteDatabase(path, schema=SCHEMA, lock_timeout=5)
    request = asyncio.create_task(db.fetchall("SELECT v FROM t"))
    try:
        await _wait_for_files(path, before + 1)
        assert _open_files(path) == before + 1  # the thread's connection, waiting
        db.close()
    finally:
        other.execute("COMMIT")
        other.close()
    with pytest.raises(StoreUnavailable, match="closed while opening"):
        await request
    assert _open_files(path) == before - 1  # the blocker's gone, and nothing else is open
    assert db.conn is None
    assert await db.fetchall("SELECT v FROM t") == [("a",)]  # a later call opens anew
    db.close()


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs Linux's /proc")
async def test_a_sync_close_during_a_threads_open_leaves_no_file_open(tmp_path: Path) -> None:
    # The same for threaded code: the thread that was opening still gets its answer, and
    # its connection is closed when it is given back instead of joining the closed pool.
    path = tmp_path / "app.db"
    setup = SyncSQLiteDatabase(path, schema=SCHEMA)
    setup.run(lambda c: c.execute("INSERT INTO t (v) VALUES ('a')"))
    setup.close()
    other = _held(path)
    before = _open_files(path)
    db = SyncSQLiteDatabase(path, schema=SCHEMA, lock_timeout=5)
    request = asyncio.create_task(
        asyncio.to_thread(db.run, lambda c: c.execute("SELECT v FROM t").fetchall())
    )
    try:
        await _wait_for_files(path, before + 1)
        assert _open_files(path) == before + 1  # the thread's connection, waiting
        db.close()
    finally:
        other.execute("COMMIT")
        other.close()
    assert await request == [("a",)]
    assert _open_files(path) == before - 1
    assert db.run(lambda c: c.execute("SELECT count(*) FROM t").fetchone()) == (1,)
    assert _open_files(path) == before  # reopened, and kept for the next call
    db.close()
    assert _open_files(path) == before - 1
