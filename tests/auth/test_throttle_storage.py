"""What login throttling writes: nothing for a refused attempt, on SQLite and PostgreSQL too."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from cookieguard.auth._throttle import LoginThrottle
from cookieguard.core._throttle import ThrottlePolicy
from cookieguard.errors import LoginThrottled
from cookieguard.stores.memory import MemoryStore
from tests.store_backends import POSTGRES_DSN, store_backend


async def counter_rows(store: Any) -> list[tuple[Any, ...]]:
    """Every counter row the store holds, read straight from its table."""
    if isinstance(store, MemoryStore):
        return sorted((k, *v) for k, v in store._counters.items())
    table = f"{store.table}_counters"
    sql = f"SELECT key, count, window_end FROM {table} ORDER BY key"
    if hasattr(store, "path"):
        with closing(sqlite3.connect(store.path)) as conn:
            return conn.execute(sql).fetchall()
    import psycopg

    async with await psycopg.AsyncConnection.connect(POSTGRES_DSN) as conn:
        cursor = await conn.execute(sql)
        return await cursor.fetchall()


async def refused(throttle: LoginThrottle, username: str, address: str) -> bool:
    try:
        await (await throttle.begin(username, address)).failed()
    except LoginThrottled:
        return True
    return False


@pytest.mark.parametrize("kind", ["memory", "sqlite", "postgres"])
async def test_refused_attempts_write_no_counter(kind: str, tmp_path: Path) -> None:
    now = [1_800_000_000.0]
    async with store_backend(kind, tmp_path) as make:
        store = make()
        policy = ThrottlePolicy(max_failures_per_address=20, max_in_flight_per_address=None)
        throttle = LoginThrottle(store, policy, clock=lambda: now[0])
        # Fill the address's limit, then lock one username at another address.
        assert not any([await refused(throttle, f"user{i}", "192.0.2.1") for i in range(20)])
        assert not any([await refused(throttle, "alice", "192.0.2.2") for _ in range(10)])
        before = await counter_rows(store)
        now[0] += 60
        # 2,000 refused attempts: new usernames from the full address, and the locked one.
        for i in range(1000):
            assert await refused(throttle, f"sprayed{i}", "192.0.2.1")
            assert await refused(throttle, "alice", "192.0.2.2")
        assert await counter_rows(store) == before
