"""The store examples: the purge script run as the README says, and the PostgreSQL and Redis
construction examples, first as written (they must not connect to their made-up hosts when
built), then against the local servers with only the URL (and table or prefix) swapped.
"""

from __future__ import annotations

import secrets
import subprocess
import sys
import time
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from cookieguard.asgi.session import SessionMiddleware, get_session
from cookieguard.core.tokens import hash_session_id
from cookieguard.stores.base import SessionRecord, SessionStore
from cookieguard.stores.sqlite import SQLiteStore
from tests.store_backends import POSTGRES_DSN, REDIS_URL, require_server

from .conftest import EXAMPLES, Loader, browser


async def test_purge_example(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "sessions.db")
    now = time.time()
    try:
        for name, expires_at in (("old", now - 60), ("live", now + 3600)):
            record = SessionRecord({"n": name}, None, now - 120, now - 120, expires_at)
            await store.create(hash_session_id(name * 8), record)
    finally:
        await store.close()
    ran = subprocess.run(
        [sys.executable, str(EXAMPLES / "purge_sessions.py")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert ran.stdout == "purged 1 expired sessions\n"
    store = SQLiteStore(tmp_path / "sessions.db")
    try:
        assert await store.load(hash_session_id("live" * 8), now=time.time()) is not None
    finally:
        await store.close()


async def _session_round_trip(store: SessionStore) -> None:
    """A session created, changed and flushed through the middleware, on `store`."""

    async def visit(request: Request) -> JSONResponse:
        session = get_session(request)
        session["visits"] = session.get("visits", 0) + 1
        return JSONResponse(dict(session))

    async def leave(request: Request) -> JSONResponse:
        get_session(request).flush()
        return JSONResponse({})

    routes = [Route("/visit", visit, methods=["POST"]), Route("/leave", leave, methods=["POST"])]
    app = SessionMiddleware(Starlette(routes=routes), store)
    async with browser(app) as http:
        assert (await http.post("/visit")).json() == {"visits": 1}
        assert (await http.post("/visit")).json() == {"visits": 2}
        key_hash = hash_session_id(http.cookies["sessionid"])
        assert await store.load(key_hash, now=time.time()) is not None
        await http.post("/leave")
        assert await store.load(key_hash, now=time.time()) is None


async def test_postgres_example(load: Loader) -> None:
    as_written = load("postgres_store")
    assert as_written.store.__class__.__name__ == "PostgresStore"  # built, nothing connected
    require_server("PostgreSQL", "127.0.0.1", 5432)
    import psycopg

    source = (EXAMPLES / "postgres_store.py").read_text()
    table = f"cg_example_{secrets.token_hex(6)}"
    for old, new in (
        ('"postgresql://app@db.internal:5432/app?sslmode=verify-full"', repr(POSTGRES_DSN)),
        ('table="app_sessions"', f"table={table!r}"),
    ):
        assert source.count(old) == 1, old
        source = source.replace(old, new)
    example = load("postgres_store", source=source)
    try:
        await _session_round_trip(example.store)
    finally:
        await example.store.close()
        async with await psycopg.AsyncConnection.connect(POSTGRES_DSN, autocommit=True) as conn:
            await conn.execute(f"DROP TABLE IF EXISTS {table}, {table}_counters")


async def test_redis_example(load: Loader) -> None:
    as_written = load("redis_store")
    assert as_written.store.__class__.__name__ == "RedisStore"  # built, nothing connected
    require_server("Redis", "127.0.0.1", 6379)

    source = (EXAMPLES / "redis_store.py").read_text()
    prefix = f"cgexample:{secrets.token_hex(6)}:"
    for old, new in (
        ('"redis://app:s3cret@redis.internal:6379/2"', repr(REDIS_URL)),
        ('prefix="myapp:"', f"prefix={prefix!r}"),
    ):
        assert source.count(old) == 1, old
        source = source.replace(old, new)
    example = load("redis_store", source=source)
    await _session_round_trip(example.store)
