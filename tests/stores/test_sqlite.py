"""SQLite specifics: WAL, the schema and indexes, and several processes sharing one file."""

from __future__ import annotations

import asyncio
import sqlite3
import sys
from pathlib import Path

import pytest

from cookieguard.errors import StoreUnavailable
from cookieguard.stores.base import SessionRecord
from cookieguard.stores.sqlite import SQLiteStore

NOW = 1_700_000_000.0

WRITER = """
import asyncio, sys
from cookieguard.stores.sqlite import SQLiteStore

async def main(path, key, tag):
    store = SQLiteStore(path)
    results = await asyncio.gather(*(
        store.update(key, set_items={f"{tag}{i}": i}, delete_keys=(), last_seen=1.0,
                     expires_at=4e9, now=1.0)
        for i in range(100)
    ))
    await store.close()
    sys.exit(0 if all(results) else 1)

asyncio.run(main(*sys.argv[1:]))
"""


async def test_database_is_wal_with_indexes_on_user_and_expiry(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db", table="app_sessions")
    await store.create("k" * 64, SessionRecord({"a": 1}, "u", NOW, NOW, NOW + 60, "UA"))
    await store.close()
    conn = sqlite3.connect(tmp_path / "s.db")
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        columns = [r[1] for r in conn.execute("PRAGMA table_info(app_sessions)")]
        assert columns == [
            "key",
            "data",
            "user_id",
            "created_at",
            "last_seen",
            "expires_at",
            "user_agent",
            "client_address",
        ]
        indexes = {r[1]: r[2] for r in conn.execute("PRAGMA index_list(app_sessions)")}
        assert {"app_sessions_user", "app_sessions_expiry"} <= set(indexes)
        # The key is the primary key, and it is the SHA-256 hex the caller gave, nothing else.
        assert conn.execute("SELECT key, data FROM app_sessions").fetchall() == [
            ("k" * 64, '{"a":1}')
        ]
        plan = conn.execute(
            "EXPLAIN QUERY PLAN SELECT key FROM app_sessions WHERE user_id = 'u'"
        ).fetchall()
        assert "app_sessions_user" in str(plan)
        assert conn.execute("SELECT count(*) FROM app_sessions_counters").fetchone() == (0,)
    finally:
        conn.close()


async def test_three_processes_writing_one_session_lose_nothing(tmp_path: Path) -> None:
    path = str(tmp_path / "shared.db")
    store = SQLiteStore(path)
    key = "s" * 64
    await store.create(key, SessionRecord({}, None, 1.0, 1.0, 4e9))
    procs = [
        await asyncio.create_subprocess_exec(sys.executable, "-c", WRITER, path, key, tag)
        for tag in ("a", "b")
    ]
    local = await asyncio.gather(
        *(
            store.update(
                key, set_items={f"c{i}": i}, delete_keys=(), last_seen=1.0, expires_at=4e9, now=1.0
            )
            for i in range(100)
        )
    )
    codes = [await asyncio.wait_for(p.wait(), 60) for p in procs]
    assert codes == [0, 0] and all(local)
    loaded = await store.load(key, now=2.0)
    assert loaded is not None
    assert loaded.data == {f"{t}{i}": i for t in "abc" for i in range(100)}
    await store.close()


async def test_a_dropped_table_is_recreated_on_the_next_connection(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    await store.create("k" * 64, SessionRecord({}, None, NOW, NOW, NOW + 60))
    conn = sqlite3.connect(tmp_path / "s.db")
    conn.execute("DROP TABLE cookieguard_sessions")
    conn.commit()
    conn.close()
    with pytest.raises(StoreUnavailable):  # the first request sees it as an outage
        await store.load("k" * 64, now=NOW)
    assert await store.load("k" * 64, now=NOW) is None
    await store.create("k" * 64, SessionRecord({}, None, NOW, NOW, NOW + 60))
    await store.close()


@pytest.mark.parametrize(("every", "small"), [(100, True), (10**9, False)])
async def test_wal_is_checkpointed_in_the_background(
    tmp_path: Path, every: int, small: bool
) -> None:
    path = tmp_path / "s.db"
    store = SQLiteStore(path, checkpoint_every=every)
    await store.create("k" * 64, SessionRecord({}, None, 1.0, 1.0, 4e9))
    for i in range(6000):
        assert await store.update(
            "k" * 64, set_items={"n": i}, delete_keys=(), last_seen=1.0, expires_at=4e9, now=1.0
        )
        if i % 100 == 0:
            await asyncio.sleep(0.001)  # let a background checkpoint finish, as real traffic would
    wal_size = (tmp_path / "s.db-wal").stat().st_size
    # The loop connection never checkpoints by itself, so without the background job the WAL
    # holds every write.
    assert (wal_size < 16_000_000) is small, wal_size
    await store.close()
