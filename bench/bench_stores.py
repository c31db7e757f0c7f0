"""Session store cost against each client's own raw round trip, and load latency vs table size.

For every store, one "request" is a load plus a one-key delta save with a sliding expiry.
The raw baseline is the same client doing the same job with no store around it, one round
trip each way: sqlite3 SELECT + UPDATE by primary key (data, last seen, expiry); psycopg
SELECT + UPDATE likewise (prepared, one autocommit connection, no pool); redis-py HGETALL,
then HSET + PEXPIRE in one pipelined round trip. The raw side neither decodes the JSON nor
checks expiry. Rounds alternate between store and raw, each side going first in turn, and the
reported ratio is the median of per-round ratios (target: at most 1.2). The memory store's
"raw" side is a bare dict, a floor rather than a target.

The size test loads random sessions from SQLite and PostgreSQL tables holding 1k and then 1M
rows (``--big N`` changes the second size; ``--big 0`` skips it).

Run: .venv/bin/python bench/bench_stores.py [--stores sqlite,postgres,redis,memory]
     [--requests 500] [--rounds 21] [--big 1000000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import secrets
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from cookieguard.core.tokens import hash_session_id, new_session_id
from cookieguard.stores.base import SessionRecord, SessionStore
from cookieguard.stores.memory import MemoryStore
from cookieguard.stores.postgres import PostgresStore
from cookieguard.stores.redis import RedisStore
from cookieguard.stores.sqlite import SQLiteStore

POSTGRES_DSN = "postgresql://postgres@127.0.0.1:5432/test"
REDIS_URL = "redis://127.0.0.1:6379/0"
NOW = time.time()
IDLE = 1_209_600
DATA = {
    "_auth_user_id": "42",
    "_auth_user_hash": "9f2c" * 16,
    "_csrftoken": "x" * 32,
    "cart": [{"sku": "A-1", "qty": 2}, {"sku": "B-7", "qty": 1}],
    "theme": "dark",
}
DATA_JSON = json.dumps(DATA, separators=(",", ":"))

Op = Callable[[int], Awaitable[None]]


async def timed(op: Op, count: int) -> float:
    """Microseconds per call of `op` over `count` calls."""
    start = time.perf_counter()
    for i in range(count):
        await op(i)
    return (time.perf_counter() - start) / count * 1e6


async def compare(store_op: Op, raw_op: Op, requests: int, rounds: int) -> dict[str, float]:
    """Median µs per request of store and raw, and the median of per-round ratios.

    Rounds alternate which side goes first, so load on the machine hits both alike.
    """
    await timed(store_op, requests // 4)  # warm caches and prepared statements
    await timed(raw_op, requests // 4)
    store_t, raw_t = [], []
    for r in range(rounds):
        if r % 2:
            raw_t.append(await timed(raw_op, requests))
            store_t.append(await timed(store_op, requests))
        else:
            store_t.append(await timed(store_op, requests))
            raw_t.append(await timed(raw_op, requests))
    ratios = [s / r for s, r in zip(store_t, raw_t, strict=True)]
    return {
        "store_us": statistics.median(store_t),
        "raw_us": statistics.median(raw_t),
        "ratio": statistics.median(ratios),
    }


def store_request(store: SessionStore, keys: list[str]) -> Op:
    async def op(i: int) -> None:
        key = keys[i % len(keys)]
        record = await store.load(key, now=time.time())
        assert record is not None
        now = time.time()
        ok = await store.update(
            key,
            set_items={"visits": i},
            delete_keys=(),
            last_seen=now,
            expires_at=now + IDLE,
            now=now,
        )
        assert ok

    return op


async def populate(store: SessionStore, count: int) -> list[str]:
    keys = [hash_session_id(new_session_id()) for _ in range(count)]
    record = SessionRecord(DATA, "42", NOW, NOW, NOW + IDLE, "bench")
    for key in keys:
        await store.create(key, record)
    return keys


async def bench_sqlite(tmp: Path, args: argparse.Namespace) -> dict[str, Any]:
    store = SQLiteStore(tmp / "bench.db")
    keys = await populate(store, 1000)
    # The raw side gets its own copy of the database, so each side pays for its own WAL
    # checkpoints: inside commits for raw sqlite3 (its default), in a worker thread for the store.
    raw = sqlite3.connect(tmp / "raw.db", isolation_level=None, check_same_thread=False)
    source = sqlite3.connect(tmp / "bench.db")
    source.backup(raw)
    source.close()
    raw.execute("PRAGMA journal_mode=WAL")
    raw.execute("PRAGMA synchronous=NORMAL")
    select = (
        "SELECT data, user_id, created_at, last_seen, expires_at, user_agent"
        " FROM cookieguard_sessions WHERE key = ?"
    )
    update = "UPDATE cookieguard_sessions SET data = ?, last_seen = ?, expires_at = ? WHERE key = ?"

    async def raw_op(i: int) -> None:
        key = keys[i % len(keys)]
        raw.execute(select, (key,)).fetchone()
        now = time.time()
        raw.execute(update, (DATA_JSON, now, now + IDLE, key))

    async def threaded_op(i: int) -> None:  # the same raw queries, each hopping to a thread
        key = keys[i % len(keys)]
        await asyncio.to_thread(lambda: raw.execute(select, (key,)).fetchone())
        now = time.time()
        await asyncio.to_thread(raw.execute, update, (DATA_JSON, now, now + IDLE, key))

    result = await compare(store_request(store, keys), raw_op, args.requests, args.rounds)
    result["raw_in_thread_us"] = statistics.median(
        [await timed(threaded_op, args.requests // 2) for _ in range(3)]
    )
    raw.close()
    await store.close()
    return result


async def bench_postgres(args: argparse.Namespace) -> dict[str, Any]:
    import psycopg

    table = f"cg_bench_{secrets.token_hex(4)}"
    store = PostgresStore(POSTGRES_DSN, table=table)
    raw = await psycopg.AsyncConnection.connect(POSTGRES_DSN, autocommit=True)
    try:
        keys = await populate(store, 1000)
        select = (
            "SELECT data, user_id, created_at, last_seen, expires_at, user_agent"
            f" FROM {table} WHERE key = %s"
        )
        update = (
            f"UPDATE {table} SET data = %s::jsonb, last_seen = %s, expires_at = %s WHERE key = %s"
        )

        async def raw_op(i: int) -> None:
            key = keys[i % len(keys)]
            cur = await raw.execute(select, (key,), prepare=True)
            await cur.fetchone()
            now = time.time()
            await raw.execute(update, (DATA_JSON, now, now + IDLE, key), prepare=True)

        return await compare(store_request(store, keys), raw_op, args.requests, args.rounds)
    finally:
        await raw.execute(f"DROP TABLE IF EXISTS {table}, {table}_counters")
        await raw.close()
        await store.close()


async def bench_redis(args: argparse.Namespace) -> dict[str, Any]:
    import redis.asyncio as aioredis

    prefix = f"cgbench:{secrets.token_hex(4)}:"
    store = RedisStore(REDIS_URL, prefix=prefix)
    raw = aioredis.Redis.from_url(REDIS_URL, decode_responses=True)
    try:
        keys = await populate(store, 1000)
        names = [store.session_key(k) for k in keys]

        async def raw_op(i: int) -> None:
            name = names[i % len(names)]
            await raw.hgetall(name)
            now = time.time()
            async with raw.pipeline(transaction=False) as pipe:
                pipe.hset(name, mapping={"k:visits": str(i), "m:l": now, "m:e": now + IDLE})
                pipe.pexpire(name, IDLE * 1000)
                await pipe.execute()

        return await compare(store_request(store, keys), raw_op, args.requests, args.rounds)
    finally:
        doomed = [k async for k in raw.scan_iter(match=f"{prefix}*", count=1000)]
        for i in range(0, len(doomed), 1000):
            await raw.delete(*doomed[i : i + 1000])
        await raw.aclose()
        await store.close()


async def bench_memory(args: argparse.Namespace) -> dict[str, Any]:
    store = MemoryStore()
    keys = await populate(store, 1000)
    table = {k: DATA_JSON for k in keys}

    async def raw_op(i: int) -> None:  # a dict lookup and store: the floor, not a target
        key = keys[i % len(keys)]
        json.loads(table[key])
        table[key] = DATA_JSON

    return await compare(store_request(store, keys), raw_op, args.requests, args.rounds)


async def load_latency(store: SessionStore, keys: list[str], samples: int) -> float:
    """Median µs of a load of a random existing session."""
    picks = random.choices(keys, k=samples)
    times = []
    for key in picks:
        start = time.perf_counter()
        await store.load(key, now=NOW)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e6


async def grow_sqlite(store: SQLiteStore, total: int) -> list[str]:
    keys = [hash_session_id(str(i)) for i in range(total)]
    conn = sqlite3.connect(store.path, timeout=30)
    with conn:
        conn.executemany(
            f"INSERT INTO {store.table} VALUES (?, ?, '42', ?, ?, ?, 'bench')",
            ((k, DATA_JSON, NOW, NOW, NOW + IDLE) for k in keys),
        )
    conn.close()
    return keys


async def grow_postgres(store: PostgresStore, total: int) -> None:
    import psycopg

    async with await psycopg.AsyncConnection.connect(POSTGRES_DSN, autocommit=True) as conn:
        await conn.execute(
            f"INSERT INTO {store.table} SELECT encode(sha256(i::text::bytea), 'hex'), %s::jsonb,"
            " '42', %s, %s, %s, 'bench' FROM generate_series(1, %s) i ON CONFLICT DO NOTHING",
            (DATA_JSON, NOW, NOW, NOW + IDLE, total),
        )
        await conn.execute(f"VACUUM ANALYZE {store.table}")


async def size_test(tmp: Path, kind: str, big: int, samples: int) -> dict[str, Any]:
    """Load latency with 1k rows, then with `big` rows, in the same table."""
    if kind == "sqlite":
        sqlite_store = SQLiteStore(tmp / "size.db")
        await sqlite_store.load("0" * 64, now=NOW)
        store: SessionStore = sqlite_store
        keys = await grow_sqlite(sqlite_store, 1000)
    else:
        pg_store = PostgresStore(POSTGRES_DSN, table=f"cg_bench_{secrets.token_hex(4)}")
        await pg_store.load("0" * 64, now=NOW)
        store = pg_store
        await grow_postgres(pg_store, 1000)
        keys = [hash_session_id(str(i)) for i in range(1, 1001)]
    result: dict[str, Any] = {}
    try:
        await load_latency(store, keys, samples // 4)
        result["1k_us"] = await load_latency(store, keys, samples)
        started = time.perf_counter()
        if kind == "sqlite":
            await grow_sqlite_more(sqlite_store, 1000, big)
            keys = [hash_session_id(str(i)) for i in range(big)]
        else:
            await grow_postgres(pg_store, big)
            keys = [hash_session_id(str(i)) for i in range(1, big + 1)]
        result["fill_s"] = time.perf_counter() - started
        await load_latency(store, keys, samples // 4)
        result[f"{big}_us"] = await load_latency(store, keys, samples)
        result["big"] = big
    finally:
        if kind == "postgres":
            import psycopg

            async with await psycopg.AsyncConnection.connect(POSTGRES_DSN, autocommit=True) as c:
                await c.execute(f"DROP TABLE IF EXISTS {pg_store.table}, {pg_store.table}_counters")
        await store.close()
    return result


async def grow_sqlite_more(store: SQLiteStore, have: int, total: int) -> None:
    conn = sqlite3.connect(store.path, timeout=30)
    with conn:
        conn.executemany(
            f"INSERT INTO {store.table} VALUES (?, ?, '42', ?, ?, ?, 'bench')",
            (
                (hash_session_id(str(i)), DATA_JSON, NOW, NOW, NOW + IDLE)
                for i in range(have, total)
            ),
        )
    conn.execute("ANALYZE")
    conn.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stores", default="sqlite,postgres,redis,memory")
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--big", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=20_000)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        for kind in args.stores.split(","):
            if kind == "sqlite":
                results[kind] = await bench_sqlite(tmp, args)
            elif kind == "postgres":
                results[kind] = await bench_postgres(args)
            elif kind == "redis":
                results[kind] = await bench_redis(args)
            elif kind == "memory":
                results[kind] = await bench_memory(args)
            print(kind, json.dumps(results[kind]), flush=True)
        if args.big:
            for kind in ("sqlite", "postgres"):
                if kind in args.stores:
                    results[f"{kind}_size"] = await size_test(tmp, kind, args.big, args.samples)
                    print(f"{kind}_size", json.dumps(results[f"{kind}_size"]), flush=True)

    print("\n| store | load+save µs | raw client µs | ratio |")
    print("|---|---:|---:|---:|")
    for kind in ("sqlite", "postgres", "redis", "memory"):
        if kind in results:
            r = results[kind]
            print(f"| {kind} | {r['store_us']:.1f} | {r['raw_us']:.1f} | {r['ratio']:.2f} |")
    if "sqlite" in results:
        threaded = results["sqlite"]["raw_in_thread_us"]
        print(f"\nsqlite raw queries via asyncio.to_thread: {threaded:.1f} µs")
    if args.big:
        print(f"\n| store | load µs at 1k | load µs at {args.big:,} |")
        print("|---|---:|---:|")
        for kind in ("sqlite", "postgres"):
            if f"{kind}_size" in results:
                r = results[f"{kind}_size"]
                print(f"| {kind} | {r['1k_us']:.1f} | {r[f'{args.big}_us']:.1f} |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
