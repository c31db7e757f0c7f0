"""Real store backends for tests: where the servers are, and isolated stores on them.

`store_backend` makes stores of one kind in a namespace of their own: PostgreSQL gets a random
table name and Redis a random key prefix, removed afterwards, so concurrent test runs never
collide. When a server is missing the test is skipped, or fails when ``CI=true``
(`require_server`, `missing`). The `store` and `store_pair` fixtures over it are in
tests/conftest.py, for every test package.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, NoReturn

import pytest

from cookieguard.stores.base import SessionStore
from cookieguard.stores.memory import MemoryStore
from cookieguard.stores.sqlite import SQLiteStore

POSTGRES_DSN = os.environ.get(
    "COOKIEGUARD_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("COOKIEGUARD_TEST_REDIS", "redis://127.0.0.1:6379/0")
STORE_KINDS = ("memory", "sqlite", "postgres", "redis")
SYNC_KINDS = ("sync-memory", "sync-sqlite", "sync-postgres", "sync-redis")
"""The sync stores, seen through `sync_adapter.AsyncView` (calls in worker threads)."""

_reachable: dict[str, bool] = {}


def require_server(name: str, host: str, port: int) -> None:
    """Skip (or, under CI=true, fail) unless something listens on host:port."""
    key = f"{host}:{port}"
    if key not in _reachable:
        try:
            with socket.create_connection((host, port), timeout=1):
                _reachable[key] = True
        except OSError:
            _reachable[key] = False
    if not _reachable[key]:
        missing(f"{name} is not reachable on {key}")


def missing(message: str) -> NoReturn:
    """Skip a test whose server or tool is missing; under CI=true, fail it instead."""
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def free_port() -> int:
    """A loopback TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@asynccontextmanager
async def store_backend(kind: str, tmp_path: Path) -> AsyncIterator[Callable[[], Any]]:
    """Yield a factory of store instances sharing one isolated namespace; clean up after.

    Every instance the factory made is closed on exit. For "memory" the factory always
    returns the same instance (a memory store cannot be shared any other way). A "sync-"
    kind makes the sync store of the same backend and namespace, wrapped in `AsyncView`.
    """
    made: list[SessionStore] = []
    cleanup: Callable[[], Any] | None = None
    if kind.startswith("sync-"):
        views: list[Any] = []
        async with store_backend(kind.removeprefix("sync-"), tmp_path) as make_async:

            def make_view() -> Any:
                if kind == "sync-memory" and views:
                    return views[0]
                views.append(_sync_twin(make_async()))
                return views[-1]

            try:
                yield make_view
            finally:
                for view in views:
                    await view.close()
        return
    if kind == "memory":
        memory = MemoryStore()

        def make() -> SessionStore:
            return memory

    elif kind == "sqlite":
        db = tmp_path / "sessions.db"

        def make() -> SessionStore:
            return SQLiteStore(db)

    elif kind == "postgres":
        require_server("PostgreSQL", "127.0.0.1", 5432)
        from cookieguard.stores.postgres import PostgresStore

        table = f"cg_test_{secrets.token_hex(6)}"

        def make() -> SessionStore:
            return PostgresStore(POSTGRES_DSN, table=table)

        async def cleanup() -> None:
            import psycopg

            async with await psycopg.AsyncConnection.connect(POSTGRES_DSN, autocommit=True) as c:
                await c.execute(f"DROP TABLE IF EXISTS {table}, {table}_counters")

    elif kind == "redis":
        require_server("Redis", "127.0.0.1", 6379)
        from cookieguard.stores.redis import RedisStore

        prefix = f"cgtest:{secrets.token_hex(6)}:"

        def make() -> SessionStore:
            return RedisStore(REDIS_URL, prefix=prefix)

        async def cleanup() -> None:
            import redis.asyncio as aioredis

            client = aioredis.Redis.from_url(REDIS_URL)
            try:
                keys = [k async for k in client.scan_iter(match=f"{prefix}*", count=1000)]
                for i in range(0, len(keys), 1000):
                    await client.delete(*keys[i : i + 1000])
            finally:
                await client.aclose()

    else:
        raise ValueError(kind)

    def tracked() -> SessionStore:
        instance = make()
        if instance not in made:
            made.append(instance)
        return instance

    try:
        yield tracked
    finally:
        for instance in made:
            await instance.close()
        if cleanup is not None:
            await cleanup()


def _sync_twin(store: Any) -> Any:
    """The sync store on the same data and settings as async `store`, as an `AsyncView`."""
    from cookieguard.stores.memory import SyncMemoryStore
    from cookieguard.stores.sqlite_sync import SyncSQLiteStore
    from tests.stores.sync_adapter import AsyncView

    if isinstance(store, MemoryStore):
        return AsyncView(SyncMemoryStore())
    if isinstance(store, SQLiteStore):
        return AsyncView(SyncSQLiteStore(store.path, table=store.table))
    from cookieguard.stores.postgres import PostgresStore

    if isinstance(store, PostgresStore):
        from cookieguard.stores.postgres_sync import SyncPostgresStore

        return AsyncView(SyncPostgresStore(store._dsn, table=store.table))
    from cookieguard.stores.redis import RedisStore

    if isinstance(store, RedisStore):
        from cookieguard.stores.redis_sync import SyncRedisStore

        return AsyncView(SyncRedisStore(store._url, prefix=store.prefix))
    raise TypeError(type(store))
