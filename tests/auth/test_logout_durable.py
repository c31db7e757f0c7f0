"""`logout()` ends the session in the store at once, whatever the handler does next.

Nothing is saved for a 5xx response or when no response is sent, so a logout that waited for
response start would leave the old cookie logged in. Every server-side store kind is covered.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from cookieguard.auth import PasswordHasher, SQLiteUserStore
from cookieguard.backends import SignedCookieBackend
from cookieguard.core.tokens import hash_session_id
from cookieguard.errors import StoreUnavailable
from cookieguard.stores.base import SessionStore
from cookieguard.stores.memory import MemoryStore

from .session_app import T0, Clock, call_without_response, client, site


@pytest.fixture
async def alice(tmp_path: Path, fast_hasher: PasswordHasher) -> AsyncIterator[SQLiteUserStore]:
    users = SQLiteUserStore(tmp_path / "users.db")
    await users.create_user("alice", fast_hasher.hash("alice-pass"))
    yield users
    await users.close()


async def logged_in(http: Any) -> str:
    response = await http.post("/login?user=alice")
    assert response.status_code == 200
    assert (await http.get("/me")).json() == {"user": "1"}
    cookie = http.cookies.get("sessionid")
    assert cookie
    return str(cookie)


@pytest.mark.parametrize("route", ["/logout-then-raise", "/logout-then-500"])
async def test_logout_then_a_5xx_still_ends_the_session(
    store: SessionStore,
    alice: SQLiteUserStore,
    route: str,
) -> None:
    app = site(store, alice, Clock())
    async with client(app) as http:
        cookie = await logged_in(http)
        key = hash_session_id(cookie)
        assert [s.key_hash for s in await store.list_user("1", now=T0)] == [key]
        failed = await http.post(route)
        assert failed.status_code == 500
        assert "set-cookie" not in failed.headers  # nothing is saved for a 5xx ...
        assert http.cookies.get("sessionid") == cookie  # ... so the browser keeps the cookie
        assert (await http.get("/me")).json() == {"user": None}  # but it is dead
    assert await store.load(key, now=T0) is None
    assert await store.list_user("1", now=T0) == []  # gone from "my sessions" too


async def test_logout_then_no_response_still_ends_the_session(
    store: SessionStore,
    alice: SQLiteUserStore,
) -> None:
    app = site(store, alice, Clock())
    async with client(app) as http:
        cookie = await logged_in(http)
        assert await call_without_response(app, "/logout-then-nothing", cookie) == []
        assert (await http.get("/me")).json() == {"user": None}
    assert await store.load(hash_session_id(cookie), now=T0) is None
    assert await store.list_user("1", now=T0) == []


async def test_a_plain_logout_deletes_once_and_clears_the_cookie(
    store: SessionStore,
    alice: SQLiteUserStore,
) -> None:
    app = site(store, alice, Clock())
    async with client(app) as http:
        cookie = await logged_in(http)
        bye = await http.post("/logout")
        assert bye.status_code == 200
        cleared = bye.headers["set-cookie"]
        assert cleared.startswith("sessionid=") and "Max-Age=0" in cleared
        assert http.cookies.get("sessionid") is None
    assert await store.load(hash_session_id(cookie), now=T0) is None


class DeleteOutage(MemoryStore):
    """A real MemoryStore whose deletes fail while `down`, as a store going away mid-request."""

    down = False

    async def delete(self, key_hash: str) -> None:
        if self.down:
            raise StoreUnavailable("memory store switched off")
        await super().delete(key_hash)


@pytest.mark.parametrize("route", ["/logout", "/logout-swallowing-errors"])
async def test_logout_with_the_store_down_is_a_503_never_a_pretend_logout(
    alice: SQLiteUserStore, caplog: pytest.LogCaptureFixture, route: str
) -> None:
    outage = DeleteOutage()
    app = site(outage, alice, Clock())
    async with client(app) as http:
        cookie = await logged_in(http)
        outage.down = True
        with caplog.at_level(logging.ERROR, logger="cookieguard.sessions"):
            response = await http.post(route, headers={"accept": "application/json"})
        assert response.status_code == 503 and response.headers["retry-after"] == "5"
        assert "set-cookie" not in response.headers
        assert "unavailable" in caplog.text
        outage.down = False
        # The user was told it failed, and it did: the session is still there to log out.
        assert (await http.get("/me")).json() == {"user": "1"}
        assert (await http.post("/logout")).status_code == 200
        assert (await http.get("/me")).json() == {"user": None}
    assert await outage.load(hash_session_id(cookie), now=T0) is None


async def test_signed_cookie_logout_clears_the_cookie(alice: SQLiteUserStore) -> None:
    # No server record to delete: the deletion cookie is what ends the session (see
    # SignedCookieBackend's documented limits for copies taken earlier).
    app = site(SignedCookieBackend("cookie-store-key-0123456789abcdef"), alice, Clock())
    async with client(app) as http:
        await logged_in(http)
        bye = await http.post("/logout")
        assert bye.status_code == 200 and http.cookies.get("sessionid") is None
        assert (await http.get("/me")).json() == {"user": None}
