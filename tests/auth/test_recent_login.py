"""Recent-login ("sudo") mode on every store: login makes it recent, time makes it stale,
`reauthenticate` refreshes it in place (data kept, new id), wrong passwords are throttled."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cookieguard.auth import PasswordHasher, SQLiteUserStore
from cookieguard.core.tokens import hash_session_id
from cookieguard.stores.base import SessionStore

from .sudo_app import MAX_AGE, T0, Clock, client, site


@pytest.fixture
async def alice(tmp_path: Path, fast_hasher: PasswordHasher) -> AsyncIterator[SQLiteUserStore]:
    users = SQLiteUserStore(tmp_path / "users.db")
    await users.create_user("alice", fast_hasher.hash("alice-pass"))
    yield users
    await users.close()


LOGIN = {"username": "alice", "password": "alice-pass"}


async def test_sudo_is_recent_then_stale_then_refreshed_in_place(
    store: SessionStore,
    alice: SQLiteUserStore,
) -> None:
    clock = Clock()
    async with client(site(store, alice, clock)) as http:
        assert (await http.post("/login", data=LOGIN)).status_code == 200
        assert (await http.get("/settings/danger")).status_code == 200
        clock.now = T0 + MAX_AGE + 1
        stale = await http.get("/settings/danger?tab=1")
        assert stale.status_code == 303
        assert stale.headers["location"] == "/reauth?next=/settings/danger%3Ftab%3D1"
        posted = await http.post("/settings/danger")
        assert posted.status_code == 303
        assert posted.headers["location"] == "/reauth?next=/settings"  # fallback_next
        api = await http.post("/api/danger")
        assert api.status_code == 403
        assert api.json() == {"error": "reauthentication_required"}
        assert api.headers["cache-control"] == "no-store"

        old = http.cookies["sessionid"]
        wrong = await http.post("/reauth", data={"password": "nope"})
        assert wrong.status_code == 401
        assert (await http.get("/settings/danger")).status_code == 303
        right = await http.post("/reauth", data={"password": "alice-pass"})
        assert right.status_code == 200
        new = http.cookies["sessionid"]
        assert new != old  # a new id, the same login and data: no second login
        assert await store.load(hash_session_id(old), now=clock.now) is None
        me = (await http.get("/me")).json()
        assert me == {"user": "1", "age": 0.0, "cart": "kept"}
        assert (await http.get("/settings/danger")).status_code == 200


async def test_anonymous_gets_the_login_answer(
    store: SessionStore,
    alice: SQLiteUserStore,
) -> None:
    async with client(site(store, alice, Clock())) as http:
        page = await http.get("/settings/danger")
        assert page.status_code == 303
        assert page.headers["location"].startswith("/login?next=")
        assert (await http.post("/api/danger")).status_code == 401


async def test_wrong_reauth_passwords_count_toward_the_login_throttle(
    store: SessionStore,
    alice: SQLiteUserStore,
) -> None:
    clock = Clock()
    async with client(site(store, alice, clock, failures=3)) as http:
        assert (await http.post("/login", data=LOGIN)).status_code == 200
        for _ in range(3):
            assert (await http.post("/reauth", data={"password": "guess"})).status_code == 401
        # The fourth attempt is refused before the password is checked, even the right one.
        assert (await http.post("/reauth", data={"password": "alice-pass"})).status_code == 429
