"""PostgreSQL specifics: schema and indexes, and tables created safely by concurrent starts."""

from __future__ import annotations

import asyncio

import pytest
from tests.store_backends import POSTGRES_DSN

from cookieguard.stores.base import SessionRecord

NOW = 1_700_000_000.0


async def test_concurrent_first_use_creates_the_schema_once(table: str) -> None:
    import psycopg

    from cookieguard.stores.postgres import PostgresStore

    stores = [PostgresStore(POSTGRES_DSN, table=table) for _ in range(6)]
    try:
        record = SessionRecord({"n": 1}, "u", NOW, NOW, NOW + 60, "UA")
        await asyncio.gather(*(s.create(f"{i:064d}", record) for i, s in enumerate(stores)))
        assert len(await stores[0].list_user("u", now=NOW)) == 6
    finally:
        await asyncio.gather(*(s.close() for s in stores))

    async with await psycopg.AsyncConnection.connect(POSTGRES_DSN) as conn:
        cur = await conn.execute(
            "SELECT column_name, data_type FROM information_schema.columns"
            " WHERE table_name = %s ORDER BY ordinal_position",
            (table,),
        )
        assert await cur.fetchall() == [
            ("key", "text"),
            ("data", "jsonb"),
            ("user_id", "text"),
            ("created_at", "double precision"),
            ("last_seen", "double precision"),
            ("expires_at", "double precision"),
            ("user_agent", "text"),
            ("client_address", "text"),
        ]
        cur = await conn.execute("SELECT indexname FROM pg_indexes WHERE tablename = %s", (table,))
        assert {r[0] for r in await cur.fetchall()} == {
            f"{table}_pkey",
            f"{table}_user",
            f"{table}_expiry",
        }
        cur = await conn.execute(f"SELECT data FROM {table} LIMIT 1")
        assert await cur.fetchone() == ({"n": 1},)


async def test_a_value_jsonb_cannot_hold_is_a_value_error(table: str) -> None:
    from cookieguard.stores.postgres import PostgresStore

    store = PostgresStore(POSTGRES_DSN, table=table)
    try:
        await store.create("k" * 64, SessionRecord({"a": 1}, None, NOW, NOW, NOW + 60))
        with pytest.raises(ValueError, match="not storable"):
            await store.update(
                "k" * 64,
                set_items={"a": 2, "nul": "a\x00b"},
                delete_keys=(),
                last_seen=NOW,
                expires_at=NOW + 60,
                now=NOW,
            )
        loaded = await store.load("k" * 64, now=NOW)
        assert loaded is not None and loaded.data == {"a": 1}
    finally:
        await store.close()
