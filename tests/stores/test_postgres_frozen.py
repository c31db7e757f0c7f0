"""A frozen PostgreSQL (every server process SIGSTOPped) gives 503 within `query_timeout`.

A hung server accepts connections in the kernel and never answers, so every wait of a call
(the statement in flight, the retry on a new connection, the connect) must fit in one
deadline. Before it did, a load waited the statement timeout, a watchdog tick and a connect
timeout on top (15.5 s with the defaults), and a shorter freeze gave no 503 at all.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Iterator
from typing import Any

import pytest
from tests.stores.pg_server import PrivatePostgres, private_postgres

from cookieguard.errors import StoreUnavailable
from cookieguard.stores.base import SessionRecord

NOW = 1_700_000_000.0
RECORD = SessionRecord({"a": 1}, "u", NOW, NOW, NOW + 3600)
QUERY_TIMEOUT = 1.0
# The connect timeout is longer than the call's bound on purpose: a connect must not outlast it.
CONNECT_TIMEOUT = 3.0
# Scheduling on a loaded machine; without one deadline a call took 3-4 s here.
SLACK = 0.75
TICK = 0.01


@pytest.fixture(scope="module")
def frozen_pg() -> Iterator[PrivatePostgres]:
    """A private server for this module: freezing it disturbs no other test."""
    with private_postgres() as server:
        yield server


def make_store(server: PrivatePostgres) -> Any:
    from cookieguard.stores.postgres import PostgresStore

    return PostgresStore(
        server.dsn,
        table=f"cg_test_{secrets.token_hex(6)}",
        query_timeout=QUERY_TIMEOUT,
        timeout=CONNECT_TIMEOUT,
    )


async def seconds_to_503(call: Awaitable[object], delay: float = 0.0) -> float:
    """Start `call` after `delay`; how long it took to raise StoreUnavailable."""
    await asyncio.sleep(delay)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(StoreUnavailable) as info:
        await call
    assert info.value.status_code == 503
    return loop.time() - started


async def test_a_frozen_server_gives_503_within_query_timeout_then_recovers(
    frozen_pg: PrivatePostgres, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="cookieguard.stores")
    store = make_store(frozen_pg)
    key = secrets.token_hex(32)
    try:
        await store.create(key, RECORD)
        assert await store.load(key, now=NOW) == RECORD
        assert await store.peek("counter", now=NOW) is None  # a pooled connection too
        with frozen_pg.frozen():
            # Statements on live connections: the pipelined one (load retries, create does
            # not) and a pooled one (peek retries, hit does not).
            live = await asyncio.gather(
                seconds_to_503(store.load(key, now=NOW)),
                seconds_to_503(store.create(secrets.token_hex(32), RECORD)),
                seconds_to_503(store.peek("counter", now=NOW)),
                seconds_to_503(store.hit("counter", window=60, now=NOW)),
            )
            # Those connections are gone: now every call connects to the frozen server, and
            # calls keep arriving while the first connect hangs.
            fresh = await asyncio.gather(
                *(seconds_to_503(store.load(key, now=NOW), delay=0.1 * i) for i in range(5)),
                seconds_to_503(store.list_user("u", now=NOW)),
            )
        assert min(live) >= QUERY_TIMEOUT - TICK, live  # each waited for its answer
        assert max(live + fresh) <= QUERY_TIMEOUT + SLACK, (live, fresh)
        assert "no answer within query_timeout (1 s)" in caplog.text
        # The same store serves again as soon as the server does.
        assert await store.load(key, now=NOW) == RECORD
        other = secrets.token_hex(32)
        await store.create(other, RECORD)
        assert await store.load(other, now=NOW) == RECORD
        assert await store.hit("counter", window=60, now=NOW) == (1, NOW + 60)
    finally:
        await store.close()


async def test_the_first_call_of_a_store_on_a_frozen_server(frozen_pg: PrivatePostgres) -> None:
    """Connect and schema creation share the call's deadline as well."""
    store = make_store(frozen_pg)
    try:
        with frozen_pg.frozen():
            took = await seconds_to_503(store.load(secrets.token_hex(32), now=NOW))
        assert took <= QUERY_TIMEOUT + SLACK
        assert await store.load(secrets.token_hex(32), now=NOW) is None
    finally:
        await store.close()


def test_the_sync_store_gives_503_within_query_timeout_then_recovers(
    frozen_pg: PrivatePostgres,
) -> None:
    """`SyncPostgresStore` keeps the same bound: a live connection, then a first connect."""
    import time
    from concurrent.futures import ThreadPoolExecutor

    from cookieguard.stores.postgres_sync import SyncPostgresStore

    def seconds(call: Any, *args: Any, **kwargs: Any) -> float:
        started = time.monotonic()
        with pytest.raises(StoreUnavailable):
            call(*args, **kwargs)
        return time.monotonic() - started

    table = f"cg_test_{secrets.token_hex(6)}"
    store = SyncPostgresStore(
        frozen_pg.dsn, table=table, query_timeout=QUERY_TIMEOUT, timeout=CONNECT_TIMEOUT
    )
    fresh = SyncPostgresStore(
        frozen_pg.dsn, table=table, query_timeout=QUERY_TIMEOUT, timeout=CONNECT_TIMEOUT
    )
    key = secrets.token_hex(32)
    try:
        store.create(key, RECORD)
        assert store.load(key, now=NOW) == RECORD
        with frozen_pg.frozen(), ThreadPoolExecutor(4) as pool:
            calls = [
                pool.submit(seconds, store.load, key, now=NOW),  # retried, within the deadline
                pool.submit(seconds, store.create, secrets.token_hex(32), RECORD),
                pool.submit(seconds, store.hit, "counter", window=60, now=NOW),
                pool.submit(seconds, fresh.load, key, now=NOW),  # connect + schema
            ]
            took = [call.result() for call in calls]
        assert min(took[:3]) >= QUERY_TIMEOUT - TICK, took
        assert max(took) <= QUERY_TIMEOUT + SLACK, took
        assert store.load(key, now=NOW) == RECORD
        assert fresh.load(key, now=NOW) == RECORD
    finally:
        store.close()
        fresh.close()
