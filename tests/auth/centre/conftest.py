"""Fixtures for the session-centre tests: every real store, a SQLite user file, events."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from cookieguard import events
from cookieguard.auth._passwords import PasswordHasher
from cookieguard.auth._sqlite_users import SQLiteUserStore
from cookieguard.events import SecurityEvent

PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="session")
def hasher() -> PasswordHasher:
    """Argon2id with tiny costs."""
    return PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


@pytest.fixture
async def users(tmp_path: Path, hasher: PasswordHasher) -> AsyncIterator[SQLiteUserStore]:
    """A user store holding "alice" and "bob", both with `PASSWORD`."""
    users = SQLiteUserStore(tmp_path / "users.db")
    for name in ("alice", "bob"):
        await users.create_user(name, await hasher.ahash(PASSWORD))
    yield users
    await users.close()


@pytest.fixture
def received() -> Iterator[list[SecurityEvent]]:
    """Every event emitted while the test runs (a process-wide subscriber)."""
    got: list[SecurityEvent] = []
    unsubscribe = events.subscribe(got.append)
    yield got
    unsubscribe()
