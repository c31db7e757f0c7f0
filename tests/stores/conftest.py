"""Fixtures of the store tests; every async test here runs on asyncio's loop and on uvloop.

The `store` and `store_pair` fixtures (every server-side store) are in tests/conftest.py.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import pytest
from tests import loops
from tests.store_backends import POSTGRES_DSN, require_server

pytest_asyncio_loop_factories = loops.pytest_asyncio_loop_factories


@pytest.fixture
async def table() -> AsyncIterator[str]:
    """A fresh PostgreSQL table name for one test; the table and its counters are dropped after."""
    require_server("PostgreSQL", "127.0.0.1", 5432)
    import psycopg

    name = f"cg_test_{secrets.token_hex(6)}"
    yield name
    async with await psycopg.AsyncConnection.connect(POSTGRES_DSN, autocommit=True) as conn:
        await conn.execute(f"DROP TABLE IF EXISTS {name}, {name}_counters")
