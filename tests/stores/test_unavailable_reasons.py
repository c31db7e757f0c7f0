"""A store that cannot be reached says why: refused on host:port, or the server's own words.

Each case connects for real (PostgreSQL and Redis of the test setup, a free port where
nothing listens); the message is what `cookieguard` prints and what the logs show.
"""

from __future__ import annotations

import time

import pytest
from tests.store_backends import POSTGRES_DSN, REDIS_URL, free_port, require_server

from cookieguard.errors import StoreUnavailable
from cookieguard.stores import open_store


async def _reason(url: str) -> str:
    store = open_store(url)
    try:
        with pytest.raises(StoreUnavailable) as info:
            await store.peek("probe", now=time.time())
    finally:
        await store.close()
    return str(info.value)


@pytest.fixture
def postgres_up() -> None:
    require_server("PostgreSQL", "127.0.0.1", 5432)


@pytest.fixture
def redis_up() -> None:
    require_server("Redis", "127.0.0.1", 6379)


async def test_postgres_wrong_port() -> None:
    port = free_port()
    message = await _reason(f"postgresql://postgres@127.0.0.1:{port}/test")
    assert f"connection refused on 127.0.0.1:{port}" in message


@pytest.mark.usefixtures("postgres_up")
async def test_postgres_unknown_database() -> None:
    base = POSTGRES_DSN.rsplit("/", 1)[0]
    message = await _reason(f"{base}/no_such_db_cg")
    assert 'database "no_such_db_cg" does not exist' in message


@pytest.mark.usefixtures("postgres_up")
async def test_postgres_unknown_role_and_no_password_in_the_message() -> None:
    message = await _reason("postgresql://no_such_role_cg:hunter2@127.0.0.1:5432/test")
    assert "no_such_role_cg" in message
    assert "hunter2" not in message


async def test_redis_wrong_port() -> None:
    port = free_port()
    message = await _reason(f"redis://127.0.0.1:{port}/0")
    assert f"connection refused on 127.0.0.1:{port}" in message


@pytest.mark.usefixtures("redis_up")
async def test_redis_database_out_of_range() -> None:
    base = REDIS_URL.rsplit("/", 1)[0]
    message = await _reason(f"{base}/999999")
    assert "DB index is out of range" in message


@pytest.mark.usefixtures("redis_up")
async def test_redis_wrong_password_is_not_repeated() -> None:
    host = REDIS_URL.split("://", 1)[1].split("/", 1)[0]
    message = await _reason(f"redis://nobody_cg:hunter2@{host}/0")
    assert "WRONGPASS" in message or "AUTH" in message
    assert "hunter2" not in message


async def test_redis_cluster_unreachable_is_store_unavailable() -> None:
    port = free_port()
    message = await _reason(f"redis+cluster://127.0.0.1:{port}")
    assert str(port) in message
