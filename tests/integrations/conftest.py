"""Fixtures for the framework integration tests: a users database holding alice, browsers."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cookieguard.auth._passwords import PasswordHasher
from cookieguard.auth._sqlite_users import SQLiteUserStore

SECRET_KEY = "integration-tests-secret-key-0123456789"
TOKEN_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([A-Za-z0-9]{64})"')


def token_in(page: str) -> str:
    """The masked CSRF token of the page's hidden form field."""
    match = TOKEN_INPUT.search(page)
    assert match is not None, f"no csrfmiddlewaretoken input in {page[:200]!r}"
    return match[1]


@pytest.fixture
async def users_db(tmp_path: Path) -> str:
    """An SQLite users database with "alice" / "alice-pass" (as the conformance suite has)."""
    path = tmp_path / "users.db"
    users = SQLiteUserStore(path)
    hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    await users.create_user("alice", hasher.hash("alice-pass"))
    await users.close()
    return str(path)
