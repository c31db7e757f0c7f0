"""A password changed outside cookieguard logs its sessions out within `recheck_interval`.

The password hash is changed with plain SQL on the real SQLite or PostgreSQL users table, as
an admin script or a Django site sharing the table would. Until the interval has passed, the
session works and no request queries the user table; then the session ends server-side.
"""

from __future__ import annotations

import dataclasses
import secrets
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from cookieguard.auth import PasswordHasher, SQLiteUserStore
from cookieguard.auth._users import User
from cookieguard.config import SessionConfig
from cookieguard.core._auth import SESSION_AUTH_CHECKED
from cookieguard.core.tokens import hash_session_id
from cookieguard.stores.memory import MemoryStore
from tests.asgi.scopes import http_scope

from .conftest import POSTGRES_DSN, drop_postgres_table, require_postgres
from .session_app import T0, Clock, client, site

INTERVAL = 300
# No idle-expiry touches in these tests: every session write seen is the re-check's.
NO_TOUCH = SessionConfig(touch_interval=10**6)


class CountingSQLiteUsers(SQLiteUserStore):
    """The real SQLite users table, counting lookups by id (what a re-check costs)."""

    by_id = 0
    disabled: frozenset[str] = frozenset()

    async def get_by_id(self, user_id: str) -> User | None:
        self.by_id += 1
        user = await super().get_by_id(user_id)
        if user is not None and user.id in self.disabled:
            return dataclasses.replace(user, is_active=False)
        return user

    async def sql(self, statement: str, *params: Any) -> None:
        """Run `statement` (``{table}`` and ``?`` markers) on a connection of its own."""
        conn = sqlite3.connect(self.path, isolation_level=None)
        try:
            conn.execute(statement.format(table=self.table), params)
        finally:
            conn.close()


def counting_postgres_users(table: str) -> Any:
    from cookieguard.auth.postgres_users import PostgresUserStore

    class CountingPostgresUsers(PostgresUserStore):
        by_id = 0
        disabled: frozenset[str] = frozenset()

        async def get_by_id(self, user_id: str) -> User | None:
            self.by_id += 1
            user = await super().get_by_id(user_id)
            if user is not None and user.id in self.disabled:
                return dataclasses.replace(user, is_active=False)
            return user

        async def sql(self, statement: str, *params: Any) -> None:
            import psycopg

            query = statement.format(table=self.table).replace("?", "%s")
            async with await psycopg.AsyncConnection.connect(POSTGRES_DSN, autocommit=True) as c:
                await c.execute(query, params)

    return CountingPostgresUsers(POSTGRES_DSN, table=table)


@pytest.fixture(params=["sqlite", "postgres"])
async def users(
    request: pytest.FixtureRequest, tmp_path: Path, fast_hasher: PasswordHasher
) -> AsyncIterator[Any]:
    """A real users table holding alice, whose lookups by id are counted."""
    if request.param == "sqlite":
        store: Any = CountingSQLiteUsers(tmp_path / "users.db")
    else:
        require_postgres()
        store = counting_postgres_users(f"cg_users_{secrets.token_hex(6)}")
    await store.create_user("alice", fast_hasher.hash("alice-pass"))
    yield store
    await store.close()
    if request.param == "postgres":
        await drop_postgres_table(store.table)


async def log_in(http: Any) -> str:
    assert (await http.post("/login?user=alice")).status_code == 200
    cookie = http.cookies.get("sessionid")
    assert cookie
    return str(cookie)


async def me(http: Any) -> str | None:
    response = await http.get("/me")
    assert response.status_code == 200
    user: str | None = response.json()["user"]
    return user


async def test_changed_password_logs_out_after_the_interval_not_before(users: Any) -> None:
    clock, sessions = Clock(), MemoryStore()
    async with client(site(sessions, users, clock, sessions=NO_TOUCH)) as http:
        cookie = await log_in(http)
        user_id = await me(http)
        assert user_id is not None
        await users.sql(
            "UPDATE {table} SET password_hash = ? WHERE id = ?", "!elsewhere", int(user_id)
        )
        for step in (1, 100, INTERVAL - 1):
            clock.now = T0 + step
            response = await http.get("/me")
            assert response.json() == {"user": user_id}
            assert "set-cookie" not in response.headers  # no session write either
        assert users.by_id == 0  # the common request made no user query

        clock.now = T0 + INTERVAL
        ended = await http.get("/me")
        assert ended.json() == {"user": None}
        assert users.by_id == 1
        assert "Max-Age=0" in ended.headers["set-cookie"]
        assert await sessions.load(hash_session_id(cookie), now=clock.now) is None
        assert await sessions.list_user(user_id, now=clock.now) == []
        assert (await http.get("/me")).json() == {"user": None}


async def test_a_valid_session_is_checked_once_per_interval_and_records_when(users: Any) -> None:
    clock, sessions = Clock(), MemoryStore()
    async with client(site(sessions, users, clock, sessions=NO_TOUCH)) as http:
        cookie = await log_in(http)
        key = hash_session_id(cookie)
        record = await sessions.load(key, now=T0)
        assert record is not None and record.data[SESSION_AUTH_CHECKED] == T0  # login checked

        clock.now = T0 + INTERVAL + 5
        checked = await http.get("/me")
        assert checked.json()["user"] is not None and users.by_id == 1
        assert "set-cookie" in checked.headers  # the check time was saved, same id
        record = await sessions.load(key, now=clock.now)
        assert record is not None and record.data[SESSION_AUTH_CHECKED] == T0 + INTERVAL + 5

        for step in (1, 60, INTERVAL - 1):
            clock.now = T0 + INTERVAL + 5 + step
            response = await http.get("/me")
            assert response.json()["user"] is not None and "set-cookie" not in response.headers
        assert users.by_id == 1

        # get_user after a re-check in the same request reuses the loaded user.
        clock.now = T0 + 2 * INTERVAL + 5
        assert (await http.get("/user")).json() == {"user": "alice"}
        assert users.by_id == 2


async def test_deleted_user_is_logged_out_after_the_interval(users: Any) -> None:
    clock, sessions = Clock(), MemoryStore()
    async with client(site(sessions, users, clock)) as http:
        cookie = await log_in(http)
        user_id = await me(http)
        await users.sql("DELETE FROM {table} WHERE id = ?", int(user_id or 0))
        clock.now = T0 + INTERVAL - 1
        assert await me(http) == user_id and users.by_id == 0
        clock.now = T0 + INTERVAL
        assert await me(http) is None
    assert await sessions.load(hash_session_id(cookie), now=clock.now) is None


async def test_inactive_user_is_logged_out_after_the_interval(users: Any) -> None:
    clock, sessions = Clock(), MemoryStore()
    async with client(site(sessions, users, clock)) as http:
        cookie = await log_in(http)
        user_id = await me(http)
        users.disabled = frozenset({user_id})
        clock.now = T0 + INTERVAL
        assert await me(http) is None
    assert await sessions.load(hash_session_id(cookie), now=clock.now) is None


async def test_interval_zero_checks_every_request(users: Any) -> None:
    clock, sessions = Clock(), MemoryStore()
    async with client(site(sessions, users, clock, recheck_interval=0)) as http:
        await log_in(http)
        user_id = await me(http)
        assert user_id is not None and users.by_id == 1
        await users.sql("UPDATE {table} SET password_hash = 'x' WHERE id = ?", int(user_id))
        assert await me(http) is None and users.by_id == 2


async def test_user_store_down_at_a_recheck_is_a_503_and_keeps_the_session(
    fast_hasher: PasswordHasher,
) -> None:
    require_postgres()
    from cookieguard.auth.postgres_users import PostgresUserStore
    from tests.store_backends import free_port

    alice = User(id="1", username="alice", password_hash=fast_hasher.hash("alice-pass"))

    class Unreachable(PostgresUserStore):
        async def get_by_username(self, username: str) -> User | None:
            return alice  # the test's login route looks alice up; the re-check really queries

    # A users database that does not answer: nothing listens on this port.
    users = Unreachable(f"postgresql://postgres@127.0.0.1:{free_port()}/test", timeout=0.5)
    clock, sessions = Clock(), MemoryStore()
    try:
        async with client(site(sessions, users, clock)) as http:
            cookie = await log_in(http)
            clock.now = T0 + INTERVAL
            response = await http.get("/me", headers={"accept": "application/json"})
            assert response.status_code == 503 and response.headers["retry-after"] == "5"
            assert response.json()["error"] == "store_unavailable"
        assert await sessions.load(hash_session_id(cookie), now=clock.now) is not None
    finally:
        await users.close()


def test_rechecks_need_a_user_store_and_a_sane_interval() -> None:
    from cookieguard.auth import AuthConfig, AuthMiddleware
    from cookieguard.errors import ConfigError

    from .session_app import KEYRING, app

    with pytest.raises(ConfigError, match="user_store"):
        AuthMiddleware(app, AuthConfig(keyring=KEYRING))
    AuthMiddleware(app, AuthConfig(keyring=KEYRING, recheck_interval=None))  # opted out
    for bad in (-1, 1.5, True, "300"):
        with pytest.raises(ConfigError, match="recheck_interval"):
            AuthConfig(keyring=KEYRING, recheck_interval=bad)  # type: ignore[arg-type]
    assert AuthConfig(keyring=KEYRING).recheck_interval == 300


async def test_login_refuses_an_inactive_user(users: Any) -> None:
    from cookieguard.auth import login
    from cookieguard.core.session import Session

    from .session_app import KEYRING

    users.disabled = frozenset({"1"})
    inactive = await users.get_by_id("1")
    assert inactive is not None and inactive.is_active is False
    scope = http_scope(session=Session(0.0))
    with pytest.raises(ValueError, match="inactive"):
        await login(scope, inactive, keyring=KEYRING)
    assert scope["session"].peek("_auth_user_id") is None
    assert scope["session"].session_id is None  # nothing to save


async def test_authenticate_refuses_an_inactive_user_with_the_right_password(
    fast_hasher: PasswordHasher, tmp_path: Path
) -> None:
    from cookieguard.auth import authenticate

    class Disabled(SQLiteUserStore):
        async def get_by_username(self, username: str) -> User | None:
            user = await super().get_by_username(username)
            return None if user is None else dataclasses.replace(user, is_active=False)

    users = Disabled(str(tmp_path / "users.db"))
    active = SQLiteUserStore(str(tmp_path / "users.db"))
    try:
        await users.create_user("carol", fast_hasher.hash("carol-pass"))
        assert await authenticate(users, "carol", "carol-pass", hasher=fast_hasher) is None
        assert await authenticate(active, "carol", "carol-pass", hasher=fast_hasher) is not None
    finally:
        await users.close()
        await active.close()
