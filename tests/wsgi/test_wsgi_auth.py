"""Sync login, logout, throttling and the re-check: the async helpers' own rules, for WSGI."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from cookieguard import LoginThrottled, SQLiteUserStore, SyncSQLiteStore, ThrottlePolicy
from cookieguard.core.tokens import hash_session_id
from cookieguard.wsgi import SyncLoginThrottle, authenticate
from tests.conftest import Opened

from .site import alice_hash, client, guard, make_users


def _login(c, password: str = "alice-pass"):  # type: ignore[no-untyped-def]
    token = c.get("/token").text
    return c.post(
        "/login",
        data={"username": "alice", "password": password},
        headers={"X-CSRFToken": token},
    )


def test_login_cycles_the_session_and_rotates_the_csrf_secret(
    tmp_path: Path, opened: Opened
) -> None:
    store = opened(SyncSQLiteStore(tmp_path / "s.db"))
    c = client(guard(store, opened(make_users(str(tmp_path / "u.db")))))
    token = c.get("/token").text
    c.post("/set", data={"key": "cart", "value": "3"}, headers={"X-CSRFToken": token})
    before, secret = c.cookies["sessionid"], c.cookies["csrftoken"]
    response = _login(c)
    assert response.text == "in"
    assert c.cookies["sessionid"] != before and c.cookies["csrftoken"] != secret
    assert c.get("/whoami").json() == "1"
    assert c.get("/get?cart").json() == "3"  # an anonymous session keeps its data
    assert store.load(hash_session_id(before), now=time.time()) is None
    # A token from before the login is dead.
    assert (
        c.post("/set", data={"key": "a", "value": "b"}, headers={"X-CSRFToken": token}).status_code
        == 403
    )


def test_wrong_password_changes_nothing(tmp_path: Path, opened: Opened) -> None:
    c = client(
        guard(
            opened(SyncSQLiteStore(tmp_path / "s.db")), opened(make_users(str(tmp_path / "u.db")))
        )
    )
    assert _login(c, "nope").text == "no"
    assert "sessionid" not in c.cookies
    assert c.get("/whoami").json() is None


def test_logout_deletes_the_record_at_once(tmp_path: Path, opened: Opened) -> None:
    store = opened(SyncSQLiteStore(tmp_path / "s.db"))
    c = client(guard(store, opened(make_users(str(tmp_path / "u.db")))))
    _login(c)
    session_id = c.cookies["sessionid"]
    token = c.get("/token").text
    assert c.post("/logout", headers={"X-CSRFToken": token}).text == "out"
    assert store.load(hash_session_id(session_id), now=time.time()) is None
    replay = client(guard(store, opened(make_users(str(tmp_path / "u2.db")))))
    replay.cookies.set("sessionid", session_id, domain="testserver.local")
    assert replay.get("/whoami").json() is None


def test_a_password_changed_elsewhere_ends_the_session_at_the_recheck(
    tmp_path: Path, opened: Opened
) -> None:
    import asyncio

    store = opened(SyncSQLiteStore(tmp_path / "s.db"))
    users = opened(make_users(str(tmp_path / "u.db")))
    app = guard(store, users)
    c = client(app)
    _login(c)
    assert c.get("/whoami").json() == "1"
    users.set_password("1", alice_hash() + "changed")  # behind the library's back
    session_id = c.cookies["sessionid"]
    record = store.load(hash_session_id(session_id), now=time.time())
    assert record is not None
    store.update(
        hash_session_id(session_id),
        set_items={"_auth_checked_at": 0.0},  # the last check is long ago
        delete_keys=(),
        last_seen=record.last_seen,
        expires_at=record.expires_at,
        now=time.time(),
    )
    assert c.get("/whoami").json() is None
    assert store.load(hash_session_id(session_id), now=time.time()) is None
    assert asyncio.iscoroutinefunction(SQLiteUserStore.get_by_id)  # the code it ran


def test_the_sync_throttle_counts_in_the_store(tmp_path: Path, opened: Opened) -> None:
    store = opened(SyncSQLiteStore(tmp_path / "s.db"))
    users = opened(make_users(str(tmp_path / "u.db")))
    throttle = SyncLoginThrottle(store, ThrottlePolicy(max_attempts_per_user=3))
    for _ in range(3):
        assert authenticate(users, "alice", "wrong", throttle=throttle, address="192.0.2.1") is None
    with pytest.raises(LoginThrottled) as refused:
        authenticate(users, "alice", "alice-pass", throttle=throttle, address="192.0.2.1")
    assert refused.value.retry_after > 0
    # Another process sharing the store sees the same counts.
    other = SyncLoginThrottle(opened(SyncSQLiteStore(tmp_path / "s.db")), throttle.policy)
    assert other.retry_after("alice", "192.0.2.1") is not None
    # Another address is not held back by this one's failures.
    user = authenticate(users, "alice", "alice-pass", throttle=throttle, address="198.51.100.9")
    assert user is not None and user.username == "alice"


def test_an_async_user_store_is_refused(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="sync user store"):
        authenticate(SQLiteUserStore(tmp_path / "u.db"), "alice", "x")  # type: ignore[arg-type]
