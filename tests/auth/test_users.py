"""The built-in users tables (SQLite and PostgreSQL) against the same expectations."""

from __future__ import annotations

import asyncio
import socket
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from cookieguard.auth._sqlite_users import SQLiteUserStore
from cookieguard.auth._users import ManagedUserStore, User, UserStore, validate_username
from cookieguard.errors import ConfigError, StoreUnavailable, UserExists


async def test_create_and_look_up(users: Any) -> None:
    assert isinstance(users, UserStore) and isinstance(users, ManagedUserStore)
    alice = await users.create_user("alice", "$argon2id$h1")
    assert isinstance(alice, User) and alice.id.isdigit()
    assert await users.get_by_id(alice.id) == alice
    assert await users.get_by_username("alice") == alice
    bob = await users.create_user("Bob Smith", "$argon2id$h2")
    assert bob.id != alice.id
    assert await users.get_by_username("bob smith") is None  # usernames match exactly
    assert await users.get_by_username("Alice") is None


async def test_duplicate_username_is_refused(users: Any) -> None:
    await users.create_user("dup", "h")
    with pytest.raises(UserExists, match="dup"):
        await users.create_user("dup", "h2")
    stored = await users.get_by_username("dup")
    assert stored is not None and stored.password_hash == "h"


async def test_concurrent_creates_of_one_name_make_one_user(users: Any) -> None:
    results = await asyncio.gather(
        *(users.create_user("race", f"h{i}") for i in range(5)), return_exceptions=True
    )
    created = [r for r in results if isinstance(r, User)]
    assert len(created) == 1
    assert all(isinstance(r, UserExists) for r in results if not isinstance(r, User))


async def test_set_password(users: Any) -> None:
    user = await users.create_user("carol", "old")
    assert await users.set_password(user.id, "new") is True
    assert (await users.get_by_id(user.id)).password_hash == "new"
    assert await users.set_password("999999", "x") is False
    assert await users.set_password("not-an-id", "x") is False


@pytest.mark.parametrize(
    "user_id", ["", "abc", "-1", "1.5", "99999999999999999999999", "\u0661", "1 OR 1=1"]
)
async def test_odd_ids_match_nobody(users: Any, user_id: str) -> None:
    await users.create_user("dave", "h")
    assert await users.get_by_id(user_id) is None


@pytest.mark.parametrize("username", ["", "x" * 151, "\ud800", "a\x00b", "' OR ''='"])
async def test_odd_usernames_match_nobody(users: Any, username: str) -> None:
    await users.create_user("erin", "h")
    assert await users.get_by_username(username) is None


@pytest.mark.parametrize(
    "username", ["", " lead", "trail ", "x" * 151, "tab\there", "zero\u200bwidth", "e\u0301"]
)
def test_invalid_new_usernames(username: str) -> None:
    with pytest.raises(ValueError, match="usernames"):
        validate_username(username)


async def test_invalid_username_is_not_created(users: Any) -> None:
    with pytest.raises(ValueError, match="usernames"):
        await users.create_user("bad\nname", "h")


async def test_unicode_usernames_round_trip(users: Any) -> None:
    user = await users.create_user("J\u00f6rg M\u00fcller", "h")
    assert await users.get_by_username("J\u00f6rg M\u00fcller") == user


def test_table_name_is_validated(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        SQLiteUserStore(tmp_path / "u.db", table="users; DROP TABLE x")


async def test_sqlite_is_wal_and_shared_with_another_process_writer(tmp_path: Path) -> None:
    db = tmp_path / "site.db"
    site = SQLiteUserStore(db)
    try:
        await site.create_user("first", "h")
        # Another process (the adduser command) writes while the site holds its connection.
        other = sqlite3.connect(db)
        assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        other.execute(
            "INSERT INTO cookieguard_users (username, password_hash, created_at) VALUES (?,?,0)",
            ("second", "h2"),
        )
        other.commit()
        other.close()
        second = await site.get_by_username("second")
        assert second is not None and second.password_hash == "h2"
    finally:
        await site.close()


async def test_sqlite_locked_too_long_is_unavailable(tmp_path: Path) -> None:
    db = tmp_path / "locked.db"
    store = SQLiteUserStore(db, timeout=0.2)
    await store.create_user("x", "h")
    blocker = sqlite3.connect(db, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StoreUnavailable):
            await store.create_user("y", "h")
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert (await store.create_user("y", "h")).username == "y"  # recovered by itself
    await store.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_postgres_unreachable_is_unavailable() -> None:
    from cookieguard.auth.postgres_users import PostgresUserStore

    store = PostgresUserStore(f"postgresql://postgres@127.0.0.1:{free_port()}/test", timeout=1)
    try:
        with pytest.raises(StoreUnavailable):
            await store.get_by_username("anyone")
    finally:
        await store.close()
