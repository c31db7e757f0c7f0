"""Experiment: `cookieguard demo` with `PostgresStore.load` batched through one pipeline.

    BENCH_COOKIEGUARD=bench/experiments/cookieguard-pgbatch python3 bench/run.py \
        --cookieguard-rev HEAD --subjects cookieguard-postgres --workloads W2,W3,W4 --nice -10

A measurement aid, not library code: the loads issued in one event-loop tick are sent
together on one dedicated connection in psycopg's pipeline mode (one round trip for the
batch) instead of one pooled connection and one round trip each. No reconnect, no error
mapping. The numbers it gave are in BENCHMARKS.md ("Where the demo's time goes").
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import psycopg

from cookieguard.stores import postgres as pg_store
from cookieguard.stores.base import SessionRecord


class _Batcher:
    def __init__(self, dsn: str, sql: str) -> None:
        self.dsn, self.sql = dsn, sql
        self.conn: psycopg.AsyncConnection[Any] | None = None
        self.queue: list[tuple[tuple[Any, ...], asyncio.Future[Any]]] = []
        self.lock = asyncio.Lock()
        self.scheduled = False

    def load(self, params: tuple[Any, ...]) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self.queue.append((params, future))
        if not self.scheduled:
            self.scheduled = True
            loop.call_soon(lambda: asyncio.ensure_future(self._run()))
        return future

    async def _run(self) -> None:
        async with self.lock:
            self.scheduled = False
            batch, self.queue = self.queue, []
            if not batch:
                return
            if self.conn is None:
                self.conn = await psycopg.AsyncConnection.connect(self.dsn, autocommit=True)
            try:
                async with self.conn.pipeline():
                    cursors = [
                        await self.conn.execute(self.sql, params, prepare=True)
                        for params, _ in batch
                    ]
                rows = [await cur.fetchall() for cur in cursors]
            except Exception as exc:  # every waiter learns of the failure
                for _, future in batch:
                    future.set_exception(exc)
                return
            for (_, future), result in zip(batch, rows, strict=True):
                future.set_result(result)


_BATCHERS: dict[int, _Batcher] = {}


async def load(self: Any, key_hash: str, *, now: float) -> SessionRecord | None:
    if not self._schema_ready:
        await self._get_pool()
    batcher = _BATCHERS.get(id(self))
    if batcher is None:
        batcher = _BATCHERS[id(self)] = _Batcher(self._dsn, self._load_sql)
    rows = await batcher.load((key_hash, now))
    if not rows:
        return None
    data, user_id, created_at, last_seen, expires_at, user_agent = rows[0]
    return SessionRecord(data, user_id, created_at, last_seen, expires_at, user_agent)


if __name__ == "__main__":
    pg_store.PostgresStore.load = load  # type: ignore[method-assign]
    from cookieguard.cli import main

    sys.exit(main(sys.argv[1:]))
