"""Fixtures for the auth tests: real SQLite files and a real PostgreSQL on loopback."""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cookieguard.auth._passwords import PasswordHasher
from cookieguard.auth._sqlite_users import SQLiteUserStore

POSTGRES_DSN = os.environ.get(
    "COOKIEGUARD_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test"
)


def require_postgres() -> None:
    """Skip (or, under CI=true, fail) unless PostgreSQL listens on 127.0.0.1:5432."""
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            return
    except OSError:
        message = "PostgreSQL is not reachable on 127.0.0.1:5432"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


async def drop_postgres_table(table: str) -> None:
    """Drop a test's users table (straight through psycopg: the store has no such method)."""
    import psycopg

    async with await psycopg.AsyncConnection.connect(POSTGRES_DSN, autocommit=True) as conn:
        await conn.execute(f"DROP TABLE IF EXISTS {table}")


@pytest.fixture(scope="session")
def fast_hasher() -> PasswordHasher:
    """Argon2id with tiny costs, for tests that hash many passwords."""
    return PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


@pytest.fixture
async def sqlite_users(tmp_path: Path) -> AsyncIterator[SQLiteUserStore]:
    store = SQLiteUserStore(tmp_path / "users.db")
    yield store
    await store.close()


@pytest.fixture
async def postgres_users() -> AsyncIterator[object]:
    require_postgres()
    from cookieguard.auth.postgres_users import PostgresUserStore

    store = PostgresUserStore(POSTGRES_DSN, table=f"cg_users_{secrets.token_hex(6)}")
    yield store
    await store.close()
    await drop_postgres_table(store.table)


@pytest.fixture(params=["sqlite", "postgres"])
async def users(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[object]:
    """Every built-in users table, isolated per test."""
    if request.param == "sqlite":
        store: object = SQLiteUserStore(tmp_path / "users.db")
        yield store
        await store.close()  # type: ignore[attr-defined]
        return
    require_postgres()
    from cookieguard.auth.postgres_users import PostgresUserStore

    pg = PostgresUserStore(POSTGRES_DSN, table=f"cg_users_{secrets.token_hex(6)}")
    yield pg
    await pg.close()
    await drop_postgres_table(pg.table)
