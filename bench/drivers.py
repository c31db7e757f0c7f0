"""The stores' hand-written clients against the maintained drivers, at the client level.

    bench/.venvs/asgi/bin/python bench/drivers.py [--rounds 5] [--ops 2000]

The project keeps `stores/_resp.py` (RESP over an asyncio Protocol) and `stores/_pgwire.py`
(libpq pipeline mode through psycopg's `pq` layer) only while they beat the best maintained
driver by at least 10%. This measures what a session store asks of each, one op being:

- Redis: `HGETALL key` (the load) then `EVALSHA` of a save script on the same key (HSET +
  PEXPIRE), two round trips, as `RedisStore` does. Clients: our `RespClient`, redis-py
  (asyncio, hiredis parser), coredis.
- PostgreSQL: a prepared `SELECT data, expires ... WHERE id = $1` then a prepared `UPDATE`
  of data and expiry, as `PostgresStore` does. Clients: our `WirePool` as the store uses it
  (the load on its pipelined connection, the save on a pool connection), the same with both
  on the pipelined connection (`pgwire-pipe`, the store until the saves moved), psycopg 3 async
  (`prepare=True`; a psycopg_pool pool at concurrency 16), asyncpg (its statement cache; an
  asyncpg pool at concurrency 16).

Every client runs on uvloop (what uvicorn[standard] and granian use), in its own process, so
its RSS is its own: RSS is VmRSS after the run minus VmRSS before the driver was imported.
Concurrency 1 is one op at a time (the round trip plus the client's CPU); concurrency 16 is
16 tasks sharing the client, as 16 connections to one worker would. Rounds rotate the
clients' order; each figure is the median over rounds: µs of wall time per op, µs of client
CPU per op (process_time: the servers' own work is in other processes). Keys and the table
get random names and are removed. Written to bench/results/drivers.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"
REDIS = ("127.0.0.1", 6379)
POSTGRES_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
SAVE_LUA = (
    "redis.call('HSET', KEYS[1], 'data', ARGV[1]); "
    "redis.call('PEXPIRE', KEYS[1], ARGV[2]); return 1"
)
DATA = json.dumps({"_auth_user_id": "1", "_auth_user_hash": "x" * 64, "csrf": "y" * 32})
REDIS_CLIENTS = ["resp", "redis-py", "coredis"]
PG_CLIENTS = ["pgwire", "pgwire-pipe", "psycopg", "asyncpg"]
# pgwire: as `PostgresStore` runs them (the load on the shared pipelined connection, the save
# on a pool connection of its own, so commits run in parallel); pgwire-pipe: both statements
# on the pipelined connection, as the store did before (commits one after another).
Op = Callable[[int], Awaitable[None]]


def _rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def _redis_op(client: str, prefix: str) -> tuple[Op, Callable[[], Awaitable[None]]]:
    import hashlib

    sha = hashlib.sha1(SAVE_LUA.encode()).hexdigest()
    keys = [f"{prefix}{i}".encode() for i in range(16)]
    if client == "resp":
        from cookieguard.stores import _resp

        rc = _resp.RespClient(*REDIS)
        await rc.execute(_resp.pack(("SCRIPT", "LOAD", SAVE_LUA)))
        loads = [_resp.pack(("HGETALL", k)) for k in keys]

        async def op(i: int) -> None:
            await rc.execute(loads[i])
            save = _resp.pack(("EVALSHA", sha, 1, keys[i], DATA, 1209600000))
            try:
                await rc.execute(save)
            except _resp.ReplyError:  # NOSCRIPT: the script cache was flushed (as the store)
                await rc.execute(_resp.pack(("SCRIPT", "LOAD", SAVE_LUA)))
                await rc.execute(save)

        return op, rc.close
    if client == "redis-py":
        import redis
        import redis.asyncio as aioredis

        r = aioredis.Redis(host=REDIS[0], port=REDIS[1], max_connections=16)
        await r.script_load(SAVE_LUA)

        async def op(i: int) -> None:
            await r.hgetall(keys[i])
            try:
                await r.evalsha(sha, 1, keys[i], DATA, 1209600000)
            except redis.exceptions.NoScriptError:
                await r.script_load(SAVE_LUA)
                await r.evalsha(sha, 1, keys[i], DATA, 1209600000)

        return op, r.aclose
    import coredis

    c = coredis.Redis(host=REDIS[0], port=REDIS[1], max_connections=16)
    await c.__aenter__()
    await c.script_load(SAVE_LUA)

    async def op(i: int) -> None:
        await c.hgetall(keys[i])
        try:
            await c.evalsha(sha, keys=[keys[i]], args=[DATA, 1209600000])
        except coredis.exceptions.NoScriptError:
            await c.script_load(SAVE_LUA)
            await c.evalsha(sha, keys=[keys[i]], args=[DATA, 1209600000])

    async def close() -> None:
        await c.__aexit__(None, None, None)

    return op, close


async def _pg_op(client: str, table: str, concurrency: int) -> tuple[Op, Callable[[], Any]]:
    select = f"SELECT data, expires FROM {table} WHERE id = $1"
    update = f"UPDATE {table} SET data = $2, expires = $3 WHERE id = $1"
    ids = [f"session-{i}" for i in range(16)]
    if client.startswith("pgwire"):
        from cookieguard.stores import _pg_sql as pg
        from cookieguard.stores._pgwire import WirePool

        pool = WirePool(POSTGRES_URL, max_size=10, timeout=3, query_timeout=10, setup=pg.SETUP)
        s, u = select.encode(), update.encode()
        bids = [i.encode() for i in ids]
        save = pool.pipelined if client == "pgwire-pipe" else pool.execute

        async def op(i: int) -> None:
            deadline = pool.deadline()
            res = await pool.pipelined(b"bench_load", s, [bids[i]], deadline)
            res.get_value(0, 0)
            deadline = pool.deadline()
            await save(b"bench_save", u, [bids[i], DATA.encode(), b"1"], deadline)

        return op, pool.close
    if client == "psycopg":
        import psycopg
        from psycopg_pool import AsyncConnectionPool

        s = select.replace("$1", "%s")
        u = f"UPDATE {table} SET data = %s, expires = %s WHERE id = %s"
        if concurrency == 1:
            conn = await psycopg.AsyncConnection.connect(POSTGRES_URL, autocommit=True)

            async def op(i: int) -> None:
                cur = await conn.execute(s, (ids[i],), prepare=True)
                await cur.fetchone()
                await conn.execute(u, (DATA, 1, ids[i]), prepare=True)

            return op, conn.close
        ppool = AsyncConnectionPool(
            POSTGRES_URL, min_size=10, max_size=10, kwargs={"autocommit": True}, open=False
        )
        await ppool.open(wait=True)

        async def op(i: int) -> None:
            async with ppool.connection() as conn:
                cur = await conn.execute(s, (ids[i],), prepare=True)
                await cur.fetchone()
                await conn.execute(u, (DATA, 1, ids[i]), prepare=True)

        return op, ppool.close
    import asyncpg

    if concurrency == 1:
        aconn = await asyncpg.connect(POSTGRES_URL)

        async def op(i: int) -> None:
            await aconn.fetchrow(select, ids[i])
            await aconn.execute(update, ids[i], DATA, 1)

        return op, aconn.close
    apool = await asyncpg.create_pool(POSTGRES_URL, min_size=10, max_size=10)

    async def op(i: int) -> None:
        async with apool.acquire() as conn:
            await conn.fetchrow(select, ids[i])
            await conn.execute(update, ids[i], DATA, 1)

    return op, apool.close


async def _child(client: str, ops: int, concurrency: int, name: str) -> dict[str, float]:
    before = _rss_kib()
    if client in REDIS_CLIENTS:
        op, close = await _redis_op(client, name)
    else:
        op, close = await _pg_op(client, name, concurrency)
    for i in range(200):  # warm-up: connections, prepared statements, caches
        await op(i % 16)
    per_task = ops // concurrency

    async def worker(slot: int) -> None:
        for _ in range(per_task):
            await op(slot)

    wall, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker(s % 16) for s in range(concurrency)))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    done = per_task * concurrency
    rss = _rss_kib() - before
    result = close()
    if asyncio.iscoroutine(result):
        await result
    return {"us_per_op": wall / done * 1e6, "cpu_us_per_op": cpu / done * 1e6, "rss_kib": rss}


def _setup_pg(table: str) -> None:
    import psycopg

    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {table} (id text PRIMARY KEY, data text, expires bigint)")
        for i in range(16):
            conn.execute(f"INSERT INTO {table} VALUES (%s, %s, 1)", (f"session-{i}", DATA))


def _cleanup(table: str, prefix: str) -> None:
    import psycopg
    import redis

    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {table}")
    r = redis.Redis(host=REDIS[0], port=REDIS[1])
    keys = list(r.scan_iter(f"{prefix}*"))
    if keys:
        r.delete(*keys)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--ops", type=int, default=2000)
    parser.add_argument("--stores", default="redis,postgres", help="which clients to run")
    parser.add_argument("--child", nargs=4, metavar=("CLIENT", "OPS", "CONCURRENCY", "NAME"))
    args = parser.parse_args()
    if args.child:
        import uvloop

        client, ops, conc, name = args.child
        out = uvloop.run(_child(client, int(ops), int(conc), name))
        print(json.dumps(out))
        return 0
    table = f"bench_drivers_{secrets.token_hex(4)}"
    prefix = f"bench-drivers-{secrets.token_hex(4)}:"
    _setup_pg(table)
    load = [os.getloadavg()[0]]
    samples: dict[tuple[str, int], list[dict[str, float]]] = {}
    try:
        for r in range(args.rounds):
            for group in _groups(args.stores):
                for conc in (1, 16):
                    order = group[r % len(group) :] + group[: r % len(group)]
                    for client in order:
                        name = prefix if client in REDIS_CLIENTS else table
                        cmd = [sys.executable, __file__, "--child", client, str(args.ops)]
                        cmd += [str(conc), name]
                        done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
                        if done.returncode != 0:
                            raise RuntimeError(f"{client}: {done.stderr[-2000:]}")
                        got = json.loads(done.stdout.strip().splitlines()[-1])
                        samples.setdefault((client, conc), []).append(got)
                        print(f"round {r + 1} {client:11} c={conc:<2} {got}", flush=True)
            load.append(os.getloadavg()[0])
    finally:
        _cleanup(table, prefix)
    lines = report(samples, args, load)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "drivers.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


def _groups(stores: str) -> list[list[str]]:
    wanted = stores.split(",")
    return [g for g, n in ((REDIS_CLIENTS, "redis"), (PG_CLIENTS, "postgres")) if n in wanted]


def _gain(
    med: Callable[[str, int, str], float], ours: str, others: list[str], conc: int, key: str
) -> str:
    """How much less `key` ours needs than the best other client, with the 10% rule's verdict."""
    best = min(others, key=lambda c: med(c, conc, key))
    gain = med(best, conc, key) / med(ours, conc, key) - 1
    what = "CPU" if key.startswith("cpu") else "wall"
    verdict = "held" if gain >= 0.10 else "**not held**"
    return f"c={conc} {what} {gain:+.0%} vs {best}: {verdict}"


def report(
    samples: dict[tuple[str, int], list[dict[str, float]]],
    args: argparse.Namespace,
    load: list[float],
) -> list[str]:
    def med(client: str, conc: int, key: str) -> float:
        return statistics.median(s[key] for s in samples[(client, conc)])

    lines = [
        f"# Store clients vs maintained drivers ({time.strftime('%Y-%m-%d %H:%M %Z')})",
        "",
        f"{args.rounds} rounds x {args.ops} ops per client and concurrency, uvloop; medians. "
        "1-minute load average at the start and after each round: "
        + ", ".join(f"{x:.2f}" for x in load),
        "",
        "| store op | client | c=1 µs/op | c=1 CPU µs/op | c=16 µs/op | c=16 CPU µs/op "
        "| RSS KiB (c=16) | ours vs the best other (≥ +10% keeps ours) |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for group, label in (
        (REDIS_CLIENTS, "Redis HGETALL + EVALSHA"),
        (PG_CLIENTS, "PG SELECT + UPDATE"),
    ):
        if group not in _groups(args.stores):
            continue
        ours = group[0]
        others = [c for c in group[1:] if not c.startswith(ours)]
        for client in group:
            verdict = ""
            if client == ours:
                verdict = "; ".join(
                    _gain(med, ours, others, conc, key)
                    for conc, key in ((16, "cpu_us_per_op"), (16, "us_per_op"), (1, "us_per_op"))
                )
            lines.append(
                f"| {label} | {client} | {med(client, 1, 'us_per_op'):.1f} | "
                f"{med(client, 1, 'cpu_us_per_op'):.1f} | {med(client, 16, 'us_per_op'):.1f} | "
                f"{med(client, 16, 'cpu_us_per_op'):.1f} | {med(client, 16, 'rss_kib'):,.0f} | "
                f"{verdict} |"
            )
    return lines


if __name__ == "__main__":
    sys.exit(main())
