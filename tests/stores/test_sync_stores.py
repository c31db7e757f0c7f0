"""What only the sync stores face: many threads at once, and several processes on one backend.

The contract itself (tests/stores/test_contract.py) already runs over every sync store; these
tests use the sync stores directly, with real threads and real processes.
"""

from __future__ import annotations

import json
import logging
import os
import stat
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from tests.store_backends import POSTGRES_DSN, REDIS_URL, free_port, require_server, store_backend

from cookieguard.core.tokens import hash_session_id, new_session_id
from cookieguard.errors import StoreUnavailable
from cookieguard.stores.base import SessionRecord, SyncSessionStore
from cookieguard.stores.purge import SyncPurger

NOW = 1_700_000_000.0
THREADS = 32


@pytest.fixture(params=["sync-memory", "sync-sqlite", "sync-postgres", "sync-redis"])
async def sync_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Any]:
    """A sync store of each backend (isolated namespace, cleaned up after)."""
    async with store_backend(request.param, tmp_path) as make:
        yield make().sync


@pytest.fixture
def fast_switching() -> Iterator[None]:
    """Switch threads every microsecond, so an unguarded read-modify-write would be torn."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(before)


def all_at_once(count: int, job: Callable[[int], Any]) -> list[Any]:
    """Run `job(i)` in `count` threads released together by a barrier."""
    barrier = threading.Barrier(count)

    def run(i: int) -> Any:
        barrier.wait()
        return job(i)

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(run, range(count)))


async def test_thirty_two_threads_on_one_counter_admit_exactly_the_limit(
    sync_store: SyncSessionStore, fast_switching: None
) -> None:
    limit = 10
    results = all_at_once(
        THREADS, lambda _: sync_store.hit("login:alice", window=60, now=NOW, limit=limit)
    )
    admitted = sorted(count for count, _ in results if count <= limit)
    assert admitted == list(range(1, limit + 1))  # each reservation handed out once
    assert [r for r in results if r[0] > limit] == [(limit + 1, NOW + 60)] * (THREADS - limit)
    assert sync_store.peek("login:alice", now=NOW) == (limit, NOW + 60)
    all_at_once(THREADS, lambda _: sync_store.release("login:alice", now=NOW))
    assert sync_store.peek("login:alice", now=NOW) == (0, NOW + 60)  # never below zero


async def test_thirty_two_threads_saving_one_session_all_land(
    sync_store: SyncSessionStore, fast_switching: None
) -> None:
    key = hash_session_id(new_session_id())
    sync_store.create(key, SessionRecord({}, "u", NOW, NOW, NOW + 3600))

    def save(i: int) -> bool:
        return sync_store.update(
            key,
            set_items={f"k{i}": i},
            delete_keys=(),
            last_seen=NOW + 1,
            expires_at=NOW + 3601,
            now=NOW + 1,
        )

    assert all(all_at_once(THREADS, save))
    loaded = sync_store.load(key, now=NOW + 2)
    assert loaded is not None and loaded.data == {f"k{i}": i for i in range(THREADS)}


_WORKER = """
import json, sys
from cookieguard.stores import open_sync_store
url, options, key, worker = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3], int(sys.argv[4])
store = open_sync_store(url, **options)
admitted = 0
for i in range(60):
    count, _ = store.hit("shared", window=60, now=1_700_000_000.0, limit=50)
    admitted += count <= 50
    assert store.update(key, set_items={f"w{worker}:{i}": i}, delete_keys=(),
                        last_seen=1_700_000_001.0, expires_at=1_700_003_601.0,
                        now=1_700_000_001.0)
store.close()
print(admitted)
"""


@pytest.mark.parametrize("kind", ["sqlite", "postgres", "redis"])
async def test_two_processes_share_counters_and_sessions(kind: str, tmp_path: Path) -> None:
    """Two worker processes on one backend: one limit between them, no save lost; and the
    async store of the same backend reads what the sync ones wrote."""
    async with store_backend(kind, tmp_path) as make:
        store = make()  # the async store on the same namespace
        if kind == "sqlite":
            url, options = f"sqlite:///{store.path}", {"table": store.table}
        elif kind == "postgres":
            url, options = POSTGRES_DSN, {"table": store.table}
        else:
            url, options = REDIS_URL, {"prefix": store.prefix}
        key = hash_session_id(new_session_id())
        await store.create(key, SessionRecord({"start": 1}, None, NOW, NOW, NOW + 3600))
        workers = [
            subprocess.Popen(
                [sys.executable, "-c", _WORKER, url, json.dumps(options), key, str(n)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for n in range(2)
        ]
        outputs = [worker.communicate(timeout=60) for worker in workers]
        assert all(w.returncode == 0 for w in workers), [err for _, err in outputs]
        assert sum(int(out) for out, _ in outputs) == 50
        assert await store.peek("shared", now=NOW) == (50, NOW + 60)
        loaded = await store.load(key, now=NOW + 2)
        expected = {f"w{n}:{i}": i for n in range(2) for i in range(60)}
        assert loaded is not None and loaded.data == {"start": 1, **expected}


async def test_a_new_sync_sqlite_file_is_owner_only(tmp_path: Path) -> None:
    from cookieguard.stores.sqlite_sync import SyncSQLiteStore

    path = tmp_path / "sessions.db"
    old = os.umask(0o022)
    try:
        store = SyncSQLiteStore(path)
        assert store.peek("x", now=NOW) is None
        store.hit("x", window=60, now=NOW)
    finally:
        os.umask(old)
    for name in ("sessions.db", "sessions.db-wal", "sessions.db-shm"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600, name
    store.close()


def test_sync_sqlite_waits_for_another_process_lock_then_gives_up(tmp_path: Path) -> None:
    """The async store's back-off, in a thread: a held write lock is waited for, up to
    `lock_timeout`, then `StoreUnavailable`."""
    import sqlite3

    from cookieguard.stores.sqlite_sync import SyncSQLiteStore

    path = tmp_path / "sessions.db"
    store = SyncSQLiteStore(path, lock_timeout=0.5)
    store.hit("warm", window=60, now=NOW)
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        other.execute("BEGIN IMMEDIATE")
        threading.Timer(0.2, other.execute, ("COMMIT",)).start()
        started = time.monotonic()
        assert store.hit("c", window=60, now=NOW) == (1, NOW + 60)  # waited, then wrote
        assert time.monotonic() - started >= 0.15
        other.execute("BEGIN IMMEDIATE")
        started = time.monotonic()
        with pytest.raises(StoreUnavailable):
            store.hit("c", window=60, now=NOW)
        assert 0.45 <= time.monotonic() - started < 5
        other.execute("COMMIT")
        assert store.peek("c", now=NOW) == (1, NOW + 60)  # the refused hit wrote nothing
    finally:
        other.close()
        store.close()


@pytest.mark.parametrize("kind", ["sync-memory", "sync-sqlite", "sync-postgres"])
async def test_sync_purger_deletes_expired_sessions_and_counters(kind: str, tmp_path: Path) -> None:
    async with store_backend(kind, tmp_path) as make:
        store = make().sync
        store.create("a" * 64, SessionRecord({"k": 1}, None, NOW - 200, NOW - 200, NOW - 1))
        store.create("b" * 64, SessionRecord({"k": 1}, None, NOW, NOW, NOW + 3600))
        store.hit("old", window=60, now=NOW - 120)
        with SyncPurger(store, interval=0.05, clock=lambda: NOW) as purger:
            assert purger.needed
            deadline = time.monotonic() + 10
            while store.peek("old", now=NOW - 100) is not None and time.monotonic() < deadline:
                time.sleep(0.02)
        assert store.peek("old", now=NOW - 100) is None
        assert store.load("a" * 64, now=NOW - 50) is None  # deleted, not just expired
        assert store.load("b" * 64, now=NOW) is not None


def test_sync_purger_logs_a_failing_cycle_and_keeps_going(
    caplog: pytest.LogCaptureFixture,
) -> None:
    require_server("PostgreSQL", "127.0.0.1", 5432)
    from cookieguard.stores.postgres_sync import SyncPostgresStore

    down = SyncPostgresStore(f"postgresql://postgres@127.0.0.1:{free_port()}/test", timeout=0.2)
    caplog.set_level(logging.WARNING, "cookieguard.stores")
    purger = SyncPurger(down, interval=0.02)
    try:
        purger.start()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if sum("purge of expired sessions failed" in m for m in caplog.messages) >= 2:
                break
            time.sleep(0.02)
        assert sum("purge of expired sessions failed" in m for m in caplog.messages) >= 2
        assert "connection refused" in caplog.text
        assert purger._thread is not None and purger._thread.is_alive()
    finally:
        purger.stop()
        down.close()


def test_sync_purger_leaves_redis_to_its_own_expiry() -> None:
    from cookieguard.stores.redis_sync import SyncRedisStore

    purger = SyncPurger(SyncRedisStore(REDIS_URL), interval=0.01)
    purger.start()
    assert not purger.needed and purger._thread is None
    purger.stop()


def test_sync_memory_store_loses_no_count_under_thread_switches(fast_switching: None) -> None:
    """The memory store's read-modify-writes are guarded: without its lock a thread switch
    between reading and writing a counter loses counts."""
    from cookieguard.stores.memory import SyncMemoryStore

    store = SyncMemoryStore()

    def hits(_: int) -> None:
        for _ in range(20_000):
            store.hit("c", window=60, now=NOW)

    all_at_once(8, hits)
    assert store.peek("c", now=NOW) == (8 * 20_000, NOW + 60)
