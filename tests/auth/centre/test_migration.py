"""Tables made by a release without `client_address` gain the column in place, rows kept."""

from __future__ import annotations

import secrets
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from cookieguard.stores.base import SessionInfo, SessionRecord
from cookieguard.stores.postgres import PostgresStore
from cookieguard.stores.postgres_sync import SyncPostgresStore
from cookieguard.stores.sqlite import SQLiteStore
from cookieguard.stores.sqlite_sync import SyncSQLiteStore
from tests.store_backends import POSTGRES_DSN, require_server

NOW = 1_800_000_000.0
OLD = "old0" * 16
NEW = "new0" * 16
OLD_SCHEMA = (
    "CREATE TABLE {t} (key TEXT PRIMARY KEY, data TEXT NOT NULL, user_id TEXT,"
    " created_at REAL NOT NULL, last_seen REAL NOT NULL, expires_at REAL NOT NULL,"
    " user_agent TEXT)"
)
ROW = (OLD, '{"n": 1}', "u", NOW, NOW, NOW + 3600, "Firefox/140")
RECORD = SessionRecord({"m": 2}, "u", NOW, NOW + 1, NOW + 3600, "Safari", "192.0.2.0/24")
EXPECTED = [
    SessionInfo(NEW, "u", NOW, NOW + 1, NOW + 3600, "Safari", "192.0.2.0/24"),
    SessionInfo(OLD, "u", NOW, NOW, NOW + 3600, "Firefox/140", None),
]


def _old_sqlite(path: Path) -> None:
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute(OLD_SCHEMA.format(t="cookieguard_sessions"))
        conn.execute("INSERT INTO cookieguard_sessions VALUES (?, ?, ?, ?, ?, ?, ?)", ROW)


async def test_an_old_sqlite_table_gains_the_column(tmp_path: Path) -> None:
    path = tmp_path / "sessions.db"
    _old_sqlite(path)
    store = SQLiteStore(path)
    try:
        old = await store.load(OLD, now=NOW)
        assert old is not None and old.data == {"n": 1} and old.client_address is None
        await store.create(NEW, RECORD)
        assert await store.load(NEW, now=NOW) == RECORD
        assert await store.list_user("u", now=NOW) == EXPECTED
    finally:
        await store.close()
    again = SyncSQLiteStore(path)  # a second start finds the column there already
    try:
        assert again.list_user("u", now=NOW) == EXPECTED
    finally:
        again.close()


def test_an_old_sqlite_table_gains_the_column_from_the_sync_store(tmp_path: Path) -> None:
    path = tmp_path / "sessions.db"
    _old_sqlite(path)
    store = SyncSQLiteStore(path)
    try:
        store.create(NEW, RECORD)
        assert store.list_user("u", now=NOW) == EXPECTED
    finally:
        store.close()


@pytest.mark.parametrize("sync", [False, True])
async def test_an_old_postgres_table_gains_the_column(sync: bool) -> None:
    require_server("PostgreSQL", "127.0.0.1", 5432)
    import psycopg

    table = f"cg_old_{secrets.token_hex(6)}"
    async with await psycopg.AsyncConnection.connect(POSTGRES_DSN, autocommit=True) as conn:
        await conn.execute(
            OLD_SCHEMA.replace("TEXT", "text")
            .replace("REAL", "double precision")
            .replace("data text", "data jsonb")
            .format(t=table)
        )
        await conn.execute(f"INSERT INTO {table} VALUES (%s, %s, %s, %s, %s, %s, %s)", ROW)
    try:
        if sync:
            sync_store = SyncPostgresStore(POSTGRES_DSN, table=table)
            try:
                sync_store.create(NEW, RECORD)
                assert sync_store.list_user("u", now=NOW) == EXPECTED
            finally:
                sync_store.close()
        else:
            store = PostgresStore(POSTGRES_DSN, table=table)
            try:
                await store.create(NEW, RECORD)
                assert await store.load(NEW, now=NOW) == RECORD
                assert await store.list_user("u", now=NOW) == EXPECTED
            finally:
                await store.close()
    finally:
        async with await psycopg.AsyncConnection.connect(POSTGRES_DSN, autocommit=True) as conn:
            await conn.execute(f"DROP TABLE IF EXISTS {table}")
            await conn.execute(f"DROP TABLE IF EXISTS {table}_counters")
