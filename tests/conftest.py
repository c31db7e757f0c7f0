"""Shared fixtures. Real PostgreSQL and Redis on loopback; in CI a missing server fails.

`store` and `store_pair` give every server-side store kind (memory, SQLite, PostgreSQL,
Redis), each isolated per test (see tests/store_backends.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cookieguard.stores.base import SessionStore
from tests.store_backends import STORE_KINDS, store_backend


@pytest.fixture(params=STORE_KINDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SessionStore]:
    """A fresh, empty store of each kind (memory, sqlite, postgres, redis)."""
    async with store_backend(request.param, tmp_path) as make:
        yield make()


@pytest.fixture(params=STORE_KINDS)
async def store_pair(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[SessionStore, SessionStore]]:
    """Two store instances on the same data, as two app processes would have."""
    async with store_backend(request.param, tmp_path) as make:
        yield make(), make()
