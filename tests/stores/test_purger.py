"""The background purge: expired sessions and finished throttle windows go, over real stores."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest
from tests.store_backends import REDIS_URL, free_port, require_server, store_backend

from cookieguard.demo._db import DemoDatabase
from cookieguard.demo.app import create_app
from cookieguard.stores.base import SessionRecord, SessionStore
from cookieguard.stores.purge import Purger
from cookieguard.stores.sqlite import SQLiteStore

NOW = 1_800_000_000.0


def record(expires_at: float) -> SessionRecord:
    return SessionRecord({"k": 1}, None, expires_at - 100, expires_at - 100, expires_at)


async def seed(store: SessionStore, now: float) -> None:
    """Two sessions and two counters, one of each expired at `now`."""
    await store.create("a" * 64, record(now - 1))
    await store.create("b" * 64, record(now + 3600))
    await store.hit("cg:login:old", window=60, now=now - 120)
    await store.hit("cg:login:live", window=900, now=now)


async def eventually(check: Callable[[], Coroutine[Any, Any, bool]], timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():
            return True
        await asyncio.sleep(0.02)
    return False


@pytest.mark.parametrize("kind", ["memory", "sqlite", "postgres"])
async def test_expired_sessions_and_counters_go_after_one_cycle(kind: str, tmp_path: Path) -> None:
    async with store_backend(kind, tmp_path) as make:
        store = make()
        await seed(store, NOW)
        async with Purger(store, interval=0.05, clock=lambda: NOW):

            async def purged() -> bool:
                return await store.peek("cg:login:old", now=NOW - 100) is None

            assert await eventually(purged)
            # Reading with an old clock would still see them, had they not been deleted.
            assert await store.load("a" * 64, now=NOW - 50) is None
        assert await store.load("b" * 64, now=NOW) is not None
        assert await store.peek("cg:login:live", now=NOW) == (1, NOW + 900)


async def test_a_failing_cycle_is_logged_and_the_next_one_runs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    require_server("PostgreSQL", "127.0.0.1", 5432)
    from cookieguard.stores.postgres import PostgresStore

    down = PostgresStore(f"postgresql://postgres@127.0.0.1:{free_port()}/test", timeout=0.2)
    purger = Purger(down, interval=0.02)
    caplog.set_level(logging.WARNING, "cookieguard.stores")
    try:
        purger.start()

        async def failed_twice() -> bool:
            return sum("purge of expired sessions failed" in m for m in caplog.messages) >= 2

        assert await eventually(failed_twice)
        assert purger._task is not None and not purger._task.done()
    finally:
        await purger.stop()
        await down.close()


async def test_redis_is_left_to_its_own_expiry() -> None:
    require_server("Redis", "127.0.0.1", 6379)
    from cookieguard.stores.redis import RedisStore

    redis = RedisStore(REDIS_URL)
    purger = Purger(redis, interval=0.01)
    purger.start()
    assert not purger.needed and purger._task is None
    await purger.stop()
    await redis.close()


async def lifespan(app: Any) -> AsyncIterator[None]:
    inbox: asyncio.Queue[dict[str, str]] = asyncio.Queue()
    outbox: asyncio.Queue[dict[str, str]] = asyncio.Queue()
    scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
    task = asyncio.create_task(app(scope, inbox.get, outbox.put))
    await inbox.put({"type": "lifespan.startup"})
    assert (await outbox.get())["type"] == "lifespan.startup.complete"
    yield
    await inbox.put({"type": "lifespan.shutdown"})
    assert (await outbox.get())["type"] == "lifespan.shutdown.complete"
    await task


async def test_the_demo_purges_in_the_background(tmp_path: Path) -> None:
    path = str(tmp_path / "demo.sqlite3")
    store = SQLiteStore(path)
    now = time.time()
    await seed(store, now)
    app = create_app(DemoDatabase(path), store, secret_key="k" * 32, purge_interval=0.05)
    running = lifespan(app)
    await anext(running)
    try:

        async def purged() -> bool:
            # A cycle deletes expired sessions, then expired counters: wait for both.
            session_gone = await store.load("a" * 64, now=now - 50) is None
            return session_gone and await store.peek("cg:login:old", now=now - 100) is None

        assert await eventually(purged)
        assert await store.load("b" * 64, now=time.time()) is not None
    finally:
        with pytest.raises(StopAsyncIteration):
            await anext(running)
