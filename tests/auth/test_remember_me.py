"""Remember me on every store: cookie attributes, what is stored, restore and rotation with a
grace window, replay and forgery (series revoked), password binding, logout."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cookieguard.auth import PasswordHasher, SQLiteUserStore
from cookieguard.auth._remember import REMEMBER_LABEL, series_key
from cookieguard.stores.base import SessionStore

from .sudo_app import GRACE, T0, Clock, client, site

LOGIN = {"username": "alice", "password": "alice-pass", "remember": "1"}


@pytest.fixture
async def alice(tmp_path: Path, fast_hasher: PasswordHasher) -> AsyncIterator[SQLiteUserStore]:
    users = SQLiteUserStore(tmp_path / "users.db")
    await users.create_user("alice", fast_hasher.hash("alice-pass"))
    yield users
    await users.close()


def _set_cookie(response: object, name: str) -> str:
    headers = response.headers.get_list("set-cookie")  # type: ignore[attr-defined]
    found = [h for h in headers if h.startswith(name + "=")]
    assert len(found) == 1, headers
    return str(found[0])


async def test_cookie_attributes_and_only_a_hash_stored(
    store: SessionStore,
    alice: SQLiteUserStore,
) -> None:
    clock = Clock()
    async with client(site(store, alice, clock)) as http:
        response = await http.post("/login", data=LOGIN)
        header = _set_cookie(response, "remember")
        for attribute in ("HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=2592000"):
            assert attribute in header
        assert "Secure" not in header  # plain http
        value = http.cookies["remember"]
        selector, validator = value.split(".")
    record = await store.load(series_key(selector), now=T0)
    assert record is not None and record.user_id == "1"
    assert record.user_agent is not None and record.user_agent.startswith(REMEMBER_LABEL)
    stored = repr(record.data)
    assert validator not in stored and selector not in stored
    assert [s.user_agent for s in await store.list_user("1", now=T0)].count(record.user_agent) == 1
    async with client(site(store, alice, clock), "https://testserver") as https:
        secure = _set_cookie(await https.post("/login", data=LOGIN), "__Host-remember")
        assert "Secure" in secure and "HttpOnly" in secure and "Domain" not in secure


async def test_restore_rotates_is_not_recent_and_tolerates_a_racing_tab(
    store: SessionStore,
    alice: SQLiteUserStore,
) -> None:
    clock = Clock()
    app = site(store, alice, clock)
    async with client(app) as http:
        await http.post("/login", data=LOGIN)
        first = http.cookies["remember"]
        http.cookies.delete("sessionid")
        clock.now += 3600
        me = await http.get("/me")
        assert me.json()["user"] == "1"
        assert me.json()["age"] is None  # restored: not a recent login
        assert http.cookies["remember"] != first  # rotated
        assert http.cookies["remember"].split(".")[0] == first.split(".")[0]  # same series
        sudo = await http.get("/settings/danger")
        assert sudo.status_code == 303 and sudo.headers["location"].startswith("/reauth")
    # Another tab sent the old validator at the same moment: within the grace window.
    async with client(app) as tab:
        tab.cookies.set("remember", first)
        clock.now += GRACE - 1
        assert (await tab.get("/me")).json()["user"] == "1"


async def test_a_replay_after_the_grace_window_revokes_the_series(
    store: SessionStore,
    alice: SQLiteUserStore,
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    app = site(store, alice, clock)
    async with client(app) as http:
        await http.post("/login", data=LOGIN)
        stolen = http.cookies["remember"]
        http.cookies.delete("sessionid")
        assert (await http.get("/me")).json()["user"] == "1"  # the user's restore rotates
        current = http.cookies["remember"]
    clock.now += GRACE + 1
    async with client(app) as thief:
        thief.cookies.set("remember", stolen)
        with caplog.at_level(logging.WARNING, "cookieguard.auth"):
            replay = await thief.get("/me")
        assert replay.status_code == 200 and replay.json()["user"] is None
        assert "Max-Age=0" in _set_cookie(replay, "remember")
    assert "replayed or forged" in caplog.text and stolen not in caplog.text
    assert await store.load(series_key(stolen.split(".")[0]), now=clock.now) is None
    async with client(app) as user:  # the whole series is dead: the user notices
        user.cookies.set("remember", current)
        assert (await user.get("/me")).json()["user"] is None


@pytest.mark.parametrize("cookie", ["garbage", "a.b", "x" * 500, "abc.def\x01", ".", "Zm9v.YmFy"])
async def test_forged_cookies_get_nothing_and_no_500(
    store: SessionStore,
    alice: SQLiteUserStore,
    cookie: str,
) -> None:
    async with client(site(store, alice, Clock())) as http:
        response = await http.get("/me", headers={"cookie": f"remember={cookie}"})
        assert response.status_code == 200
        assert response.json()["user"] is None
        assert "Max-Age=0" in _set_cookie(response, "remember")


async def test_a_password_change_kills_the_series(
    store: SessionStore,
    alice: SQLiteUserStore,
    fast_hasher: PasswordHasher,
) -> None:
    clock = Clock()
    async with client(site(store, alice, clock)) as http:
        await http.post("/login", data=LOGIN)
        value = http.cookies["remember"]
        # Changed behind the library's back: only the fingerprint can notice.
        assert await alice.set_password("1", fast_hasher.hash("new-pass"))
        http.cookies.delete("sessionid")
        response = await http.get("/me")
        assert response.json()["user"] is None
        assert "Max-Age=0" in _set_cookie(response, "remember")
    assert await store.load(series_key(value.split(".")[0]), now=clock.now) is None


async def test_logout_clears_the_cookie_and_ends_the_series(
    store: SessionStore,
    alice: SQLiteUserStore,
) -> None:
    clock = Clock()
    async with client(site(store, alice, clock)) as http:
        await http.post("/login", data=LOGIN)
        value = http.cookies["remember"]
        bye = await http.post("/logout")
        assert "Max-Age=0" in _set_cookie(bye, "remember")
        assert "remember" not in http.cookies
    assert await store.load(series_key(value.split(".")[0]), now=clock.now) is None
