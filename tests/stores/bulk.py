"""Fast bulk loading of session rows, per backend, for purge and benchmark tests."""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
import sqlite3
from typing import Any

from cookieguard.stores.base import SessionRecord, SessionStore
from cookieguard.stores.memory import MemoryStore
from cookieguard.stores.postgres import PostgresStore
from cookieguard.stores.redis import RedisStore
from cookieguard.stores.sqlite import SQLiteStore


def _keys(count: int) -> list[str]:
    salt = secrets.token_bytes(8)
    return [hashlib.sha256(salt + i.to_bytes(8, "big")).hexdigest() for i in range(count)]


async def bulk_insert_expired(store: SessionStore, count: int, *, expires_at: float) -> None:
    """Insert `count` anonymous sessions `{"n": i}` that expire at `expires_at`."""
    await bulk_insert(store, count, expires_at=expires_at, created_at=expires_at - 3600)


async def bulk_insert(
    store: SessionStore, count: int, *, expires_at: float, created_at: float
) -> list[str]:
    """Insert `count` sessions with the backend's fastest path; returns their key hashes."""
    keys = _keys(count)
    sync = getattr(store, "sync", None)  # a sync store behind tests.stores.sync_adapter
    if sync is not None:
        await asyncio.to_thread(_bulk_insert_sync, sync, keys, expires_at, created_at)
        return keys
    if isinstance(store, MemoryStore):
        for i, k in enumerate(keys):
            await store.create(k, SessionRecord({"n": i}, None, created_at, created_at, expires_at))
    elif isinstance(store, SQLiteStore):
        await store.load("0" * 64, now=0)  # connects and creates the schema
        conn = sqlite3.connect(store.path, timeout=30)
        try:
            with conn:
                conn.executemany(
                    f"INSERT INTO {store.table} VALUES (?, ?, NULL, ?, ?, ?, NULL, NULL)",
                    (
                        (k, json.dumps({"n": i}), created_at, created_at, expires_at)
                        for i, k in enumerate(keys)
                    ),
                )
        finally:
            conn.close()
    elif isinstance(store, PostgresStore):
        await store.load("0" * 64, now=0)
        import psycopg

        conn = await psycopg.AsyncConnection.connect(store._dsn, autocommit=True)
        sql = f"COPY {store.table} (key, data, created_at, last_seen, expires_at) FROM STDIN"
        try:
            async with conn.cursor() as cur, cur.copy(sql) as copy:
                for i, k in enumerate(keys):
                    row = (k, json.dumps({"n": i}), created_at, created_at, expires_at)
                    await copy.write_row(row)
        finally:
            await conn.close()
    elif isinstance(store, RedisStore):
        import redis.asyncio as aioredis

        factory = aioredis.RedisCluster if store.cluster else aioredis.Redis
        client = factory.from_url(store._url)
        try:
            for start in range(0, count, 5000):
                async with client.pipeline(transaction=False) as pipe:
                    for i in range(start, min(start + 5000, count)):
                        name = store.session_key(keys[i])
                        pipe.hset(
                            name,
                            mapping={
                                "m:c": repr(created_at),
                                "m:l": repr(created_at),
                                "m:e": repr(expires_at),
                                "k:n": str(i),
                            },
                        )
                        pipe.expire(name, 3600)
                    await pipe.execute()
        finally:
            await client.aclose()
    else:
        raise TypeError(type(store))
    return keys


def _bulk_insert_sync(store: Any, keys: list[str], expires_at: float, created_at: float) -> None:
    from cookieguard.stores.memory import SyncMemoryStore
    from cookieguard.stores.sqlite_sync import SyncSQLiteStore

    rows = [
        (k, json.dumps({"n": i}), created_at, created_at, expires_at) for i, k in enumerate(keys)
    ]
    if isinstance(store, SyncMemoryStore):
        for i, k in enumerate(keys):
            store.create(k, SessionRecord({"n": i}, None, created_at, created_at, expires_at))
    elif isinstance(store, SyncSQLiteStore):
        store.load("0" * 64, now=0)  # connects and creates the schema
        conn = sqlite3.connect(store.path, timeout=30)
        try:
            with conn:
                conn.executemany(
                    f"INSERT INTO {store.table} VALUES (?, ?, NULL, ?, ?, ?, NULL, NULL)", rows
                )
        finally:
            conn.close()
    elif type(store).__name__ == "SyncPostgresStore":
        import psycopg

        store.load("0" * 64, now=0)
        sql = f"COPY {store.table} (key, data, created_at, last_seen, expires_at) FROM STDIN"
        with (
            psycopg.connect(store._dsn, autocommit=True) as conn,
            conn.cursor() as cur,
            cur.copy(sql) as copy,
        ):
            for row in rows:
                copy.write_row(row)
    elif type(store).__name__ == "SyncRedisStore":
        import redis

        client = redis.Redis.from_url(store._url)
        try:
            for start in range(0, len(rows), 5000):
                with client.pipeline(transaction=False) as pipe:
                    for k, _, _, _, _ in rows[start : start + 5000]:
                        name = store.session_key(k)
                        pipe.hset(
                            name,
                            mapping={
                                "m:c": repr(created_at),
                                "m:l": repr(created_at),
                                "m:e": repr(expires_at),
                                "k:n": "0",
                            },
                        )
                        pipe.expire(name, 3600)
                    pipe.execute()
        finally:
            client.close()
    else:
        raise TypeError(type(store))
