"""PostgresStore's own connections: concurrency, cancellation, timeouts, killed backends."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import pytest
from tests.store_backends import POSTGRES_DSN

from cookieguard.errors import StoreUnavailable
from cookieguard.stores.base import SessionRecord

NOW = 1_700_000_000.123456
RECORD = SessionRecord({"a": 1, "s": "é ☃"}, "u1", NOW, NOW + 0.5, NOW + 3600.25, "UA/1")


def make_store(table: str, **options: Any) -> Any:
    from cookieguard.stores.postgres import PostgresStore

    return PostgresStore(POSTGRES_DSN, table=table, **options)


async def backend_pids(store: Any) -> list[int]:
    """The server processes behind the store's connections (pipelined one included)."""
    pool = store._pool
    conns = [*pool._all, *([pool.pipe] if pool.pipe is not None else [])]
    return [conn.pgconn.backend_pid for conn in conns]


async def lock_table(*tables: str) -> Any:
    """Another client holding an exclusive lock: the store's statements on the table wait."""
    import psycopg

    other = await psycopg.AsyncConnection.connect(POSTGRES_DSN)
    await other.execute(f"LOCK TABLE {', '.join(tables)} IN ACCESS EXCLUSIVE MODE")
    return other


async def test_a_hundred_concurrent_loads_and_updates_share_few_connections(table: str) -> None:
    store = make_store(table, max_size=3)
    try:
        keys = [secrets.token_hex(32) for _ in range(100)]
        await asyncio.gather(*(store.create(k, RECORD) for k in keys))
        loaded = await asyncio.gather(*(store.load(k, now=NOW) for k in keys))
        assert loaded == [RECORD] * 100
        # 100 racing saves of different keys of one session all land.
        landed = await asyncio.gather(
            *(
                store.update(
                    keys[0],
                    set_items={f"k{i}": i},
                    delete_keys=(),
                    last_seen=NOW + 1,
                    expires_at=NOW + 3600,
                    now=NOW,
                )
                for i in range(100)
            )
        )
        assert landed == [True] * 100
        record = await store.load(keys[0], now=NOW)
        assert record is not None
        assert record.data == {"a": 1, "s": "é ☃", **{f"k{i}": i for i in range(100)}}
        assert len(store._pool._all) <= 3 and store._pool.pipe is not None
    finally:
        await store.close()


async def test_floats_and_awkward_keys_round_trip(table: str) -> None:
    store = make_store(table)
    try:
        key = secrets.token_hex(32)
        awkward = ['a"b', "c\\d", "{e,f}", "", "NULL", " sp ", "ü"]
        await store.create(
            key, SessionRecord(dict.fromkeys(awkward, 1) | {"keep": 2}, None, 0.1, 0.2, NOW)
        )
        loaded = await store.load(key, now=0.3)
        assert loaded == SessionRecord(dict.fromkeys(awkward, 1) | {"keep": 2}, None, 0.1, 0.2, NOW)
        assert await store.update(
            key, set_items={}, delete_keys=awkward, last_seen=1.5, expires_at=NOW, now=1.0
        )
        loaded = await store.load(key, now=1.0)
        assert loaded is not None and loaded.data == {"keep": 2} and loaded.last_seen == 1.5
        with pytest.raises(ValueError, match="not storable"):
            await store.update(
                key, set_items={}, delete_keys=["a\x00"], last_seen=1, expires_at=NOW, now=1
            )
        assert await store.load(key, now=1.0) == loaded
    finally:
        await store.close()


async def test_a_cancelled_request_never_leaves_its_result_to_the_next(table: str) -> None:
    store = make_store(table, max_size=1)
    try:
        first, second = secrets.token_hex(32), secrets.token_hex(32)
        other_record = SessionRecord({"b": 2}, "u2", NOW, NOW, NOW + 60)
        await store.create(first, RECORD)
        await store.create(second, other_record)
        other = await lock_table(table)
        try:
            stuck = asyncio.create_task(store.load(first, now=NOW))
            touch = asyncio.create_task(
                store.update(
                    second,
                    set_items={},
                    delete_keys=(),
                    last_seen=NOW,
                    expires_at=NOW + 60,
                    now=NOW,
                )
            )
            await asyncio.sleep(0.3)
            assert not stuck.done()
            stuck.cancel()
            touch.cancel()
            with pytest.raises(asyncio.CancelledError):
                await stuck
            with pytest.raises(asyncio.CancelledError):
                await touch
            follow = asyncio.create_task(store.load(second, now=NOW))
            await asyncio.sleep(0.1)
            assert not follow.done()  # the one connection still waits for the cancelled query
        finally:
            await other.commit()
            await other.close()
        assert await asyncio.wait_for(follow, 5) == other_record
        assert await store.load(first, now=NOW) == RECORD
        assert await store.peek("nothing", now=NOW) is None
        assert len(store._pool._all) == 1
    finally:
        await store.close()


async def test_a_statement_past_its_timeout_is_unavailable_and_the_store_recovers(
    table: str,
) -> None:
    store = make_store(table, query_timeout=0.5, timeout=1)
    try:
        key = secrets.token_hex(32)
        await store.create(key, RECORD)
        other = await lock_table(table)
        try:
            loop = asyncio.get_running_loop()
            started = loop.time()
            with pytest.raises(StoreUnavailable):
                await store.create(secrets.token_hex(32), RECORD)  # no retry: 1 x timeout
            with pytest.raises(StoreUnavailable):
                await store.load(key, now=NOW)  # a retry would stay inside the same 0.5 s
            assert loop.time() - started < 3
        finally:
            await other.commit()
            await other.close()
        assert await store.load(key, now=NOW) == RECORD
    finally:
        await store.close()


async def test_killed_backends_mid_statement_and_idle(table: str) -> None:
    import psycopg

    store = make_store(table, max_size=2)
    admin = await psycopg.AsyncConnection.connect(POSTGRES_DSN, autocommit=True)
    try:
        key = secrets.token_hex(32)
        await store.create(key, RECORD)
        # Mid-statement: a create and a counter hit (never retried) wait on a lock while their
        # backends die (the shared pipelined connection and a connection of its own).
        other = await lock_table(table, table + "_counters")
        try:
            create = asyncio.create_task(store.create(secrets.token_hex(32), RECORD))
            hit = asyncio.create_task(store.hit("ip:1", window=60, now=NOW))
            await asyncio.sleep(0.3)
            pids = await backend_pids(store)
            assert len(pids) == 2
            for pid in pids:
                await admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
            with pytest.raises(StoreUnavailable):
                await asyncio.wait_for(create, 5)
            with pytest.raises(StoreUnavailable):
                await asyncio.wait_for(hit, 5)
        finally:
            await other.commit()
            await other.close()
        assert await store.load(key, now=NOW) == RECORD
        assert await store.hit("ip:1", window=60, now=NOW) == (1, NOW + 60)
        # Idle connections killed between requests: the next request does not fail.
        for pid in await backend_pids(store):
            await admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        await asyncio.sleep(0.1)
        assert await store.load(key, now=NOW) == RECORD
        assert await store.create(secrets.token_hex(32), RECORD) is None
    finally:
        await admin.close()
        await store.close()


def test_the_store_follows_its_user_to_a_new_event_loop(table: str) -> None:
    store = make_store(table)
    key = secrets.token_hex(32)
    asyncio.run(store.create(key, RECORD))
    assert asyncio.run(store.load(key, now=NOW)) == RECORD

    async def load_and_close() -> SessionRecord | None:
        try:
            return await store.load(key, now=NOW)  # type: ignore[no-any-return]
        finally:
            await store.close()

    assert asyncio.run(load_and_close()) == RECORD


async def test_a_failing_statement_among_concurrent_ones_fails_alone(table: str) -> None:
    from cookieguard.stores.base import KeyCollision

    store = make_store(table)
    try:
        taken = secrets.token_hex(32)
        await store.create(taken, RECORD)
        fresh = [secrets.token_hex(32) for _ in range(30)]
        calls = [store.create(k, RECORD) for k in fresh]
        calls[10:10] = [store.create(taken, RECORD) for _ in range(3)]  # collisions in between
        calls.append(
            store.update(  # a value jsonb refuses, in the same burst
                taken,
                set_items={"bad": "\x00"},
                delete_keys=(),
                last_seen=NOW,
                expires_at=NOW + 60,
                now=NOW,
            )
        )
        outcomes = await asyncio.gather(*calls, return_exceptions=True)
        assert sum(isinstance(o, KeyCollision) for o in outcomes) == 3
        assert isinstance(outcomes[-1], ValueError)
        assert sum(o is None for o in outcomes) == 30
        assert await asyncio.gather(*(store.load(k, now=NOW) for k in fresh)) == [RECORD] * 30
        assert await store.load(taken, now=NOW) == RECORD
    finally:
        await store.close()


async def test_an_overdue_retry_behind_a_slow_statement_fails_alone(table: str) -> None:
    """A retry keeps its call's deadline, earlier than those queued before it on the shared
    connection: it fails at that deadline, and the connection serves on for the rest."""
    from cookieguard.stores._pgwire import ConnectionLost

    store = make_store(table, query_timeout=5)
    key = secrets.token_hex(32)
    try:
        await store.create(key, RECORD)
        other = await lock_table(table)  # the next update on the pipe waits for it
        loop = asyncio.get_running_loop()
        try:
            slow = asyncio.ensure_future(
                store.update(
                    key,
                    set_items={"b": 2},
                    delete_keys=(),
                    last_seen=NOW,
                    expires_at=NOW + 3600,
                    now=NOW,
                )
            )
            await asyncio.sleep(0.1)
            pool, (name, sql, _) = store._pool, store._load
            started = loop.time()
            with pytest.raises(ConnectionLost):  # as a retry with 0.3 s left would
                await pool.pipelined(name, sql, [key.encode(), repr(NOW).encode()], started + 0.3)
            assert loop.time() - started < 1.5
            assert not slow.done()
        finally:
            await other.commit()
            await other.close()
        assert await slow is True  # the shared connection was not dropped for it
        loaded = await store.load(key, now=NOW)
        assert loaded is not None and loaded.data == {**RECORD.data, "b": 2}
    finally:
        await store.close()
