"""SQLite files the library creates are owner-only (0600), whatever the umask.

They hold session data, password hashes and the demo's secret key. Under the usual umask 022
SQLite alone would create them 0644, readable by every local user. The checks run while the
connections are open, so the -wal and -shm files (which SQLite removes on the last close)
are there to be looked at.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from cookieguard.auth._sqlite_users import SQLiteUserStore
from cookieguard.demo._db import DemoDatabase
from cookieguard.stores.base import SessionRecord
from cookieguard.stores.sqlite import SQLiteStore
from cookieguard.stores.sqlite_db import open_wal

NOW = 1_700_000_000.0


@pytest.fixture(params=[0o022, 0o002, 0o000], ids=["umask022", "umask002", "umask000"])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    """Run the test under a permissive umask (process-wide: these tests start no threads
    before setting it)."""
    previous = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(previous)


def modes(path: Path) -> dict[str, int]:
    """Permission bits of the database file and every -wal/-shm/-journal beside it."""
    return {
        file.name.removeprefix(path.name) or "db": stat.S_IMODE(file.stat().st_mode)
        for file in path.parent.iterdir()
        if file.name.startswith(path.name)
    }


async def test_session_store_creates_db_wal_and_shm_owner_only(tmp_path: Path, umask: int) -> None:
    path = tmp_path / "sessions.sqlite3"
    store = SQLiteStore(path)
    try:
        await store.create("k" * 64, SessionRecord({"a": 1}, "u", NOW, NOW, NOW + 60, "UA"))
        assert modes(path) == {"db": 0o600, "-wal": 0o600, "-shm": 0o600}
    finally:
        await store.close()


async def test_user_store_creates_db_wal_and_shm_owner_only(tmp_path: Path, umask: int) -> None:
    path = tmp_path / "users.sqlite3"
    users = SQLiteUserStore(path)
    try:
        await users.create_user("alice", "not-a-real-hash")
        assert modes(path) == {"db": 0o600, "-wal": 0o600, "-shm": 0o600}
    finally:
        await users.close()


def test_demo_database_with_its_secret_key_is_owner_only(tmp_path: Path, umask: int) -> None:
    path = tmp_path / "demo.sqlite3"
    db = DemoDatabase(str(path))
    try:
        assert db.secret_key()
        assert modes(path) == {"db": 0o600, "-wal": 0o600, "-shm": 0o600}
    finally:
        db.close()


def test_rollback_journal_is_owner_only_too(tmp_path: Path, umask: int) -> None:
    path = tmp_path / "journal.sqlite3"
    conn = open_wal(str(path), timeout=1.0, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=PERSIST")  # keeps the -journal file after commits
        conn.execute("CREATE TABLE t (a)")
        assert modes(path) == {"db": 0o600, "-journal": 0o600}
    finally:
        conn.close()


async def test_an_existing_file_keeps_its_mode_and_a_public_one_is_logged_once(
    tmp_path: Path, umask: int, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "shared.sqlite3"
    path.touch()
    path.chmod(0o640)  # group-readable on purpose: left alone, no warning
    with caplog.at_level(logging.WARNING, logger="cookieguard.stores"):
        store = SQLiteStore(path)
        await store.create("k" * 64, SessionRecord({}, None, NOW, NOW, NOW + 60))
        await store.close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert caplog.records == []

    path.chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="cookieguard.stores"):
        for _ in range(2):
            store = SQLiteStore(path)
            await store.load("k" * 64, now=NOW)
            await store.close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1
    assert "chmod 600" in warnings[0] and str(path) in warnings[0]


async def test_a_missing_directory_is_still_reported_as_unavailable(tmp_path: Path) -> None:
    from cookieguard.errors import StoreUnavailable

    store = SQLiteStore(tmp_path / "no-such-dir" / "s.db")
    with pytest.raises(StoreUnavailable):
        await store.load("k" * 64, now=NOW)
    assert not (tmp_path / "no-such-dir").exists()
