"""Both backends carry out core's outcomes the same way, on real stores and without a server."""

from __future__ import annotations

import time

import pytest

from cookieguard.backends import SignedCookieBackend, StoreBackend, backend_for
from cookieguard.config import SessionConfig
from cookieguard.core.cookies import CookieSpec
from cookieguard.core.session import Session
from cookieguard.core.session_plan import Create, Delete, Touch, Update
from cookieguard.stores.base import SessionStore

CONFIG = SessionConfig(idle_timeout=3600, touch_interval=60)
SPEC = CookieSpec("sessionid")


def value_of(header: str | None) -> str:
    assert header is not None
    return header.split(";", 1)[0].removeprefix("sessionid=")


async def test_store_backend_create_update_touch_delete(store: SessionStore) -> None:
    backend = backend_for(store)
    assert isinstance(backend, StoreBackend) and backend.store is store
    now = time.time()
    session = Session(now)
    session["cart"] = ["tea"]
    created = session.plan_save(CONFIG, now)
    assert isinstance(created, Create)
    header = await backend.commit(session, created, cookie=SPEC, user_agent="Firefox")
    assert value_of(header) == session.session_id and "Max-Age=3600" in (header or "")

    loaded = await backend.load(value_of(header), now=now + 1)
    assert loaded is not None and loaded == {"cart": ["tea"]}
    loaded["n"] = 1
    updated = loaded.plan_save(CONFIG, now + 1)
    assert isinstance(updated, Update)
    assert value_of(await backend.commit(loaded, updated, cookie=SPEC)) == session.session_id

    again = await backend.load(value_of(header), now=now + 120)
    assert again is not None and again == {"cart": ["tea"], "n": 1}
    touch = again.plan_save(CONFIG, now + 120)
    assert isinstance(touch, Touch)
    await store.delete(touch.key_hash)  # logged out in another tab meanwhile
    assert await backend.commit(again, touch, cookie=SPEC) is None  # a touch never deletes
    again["x"] = 1
    gone = again.plan_save(CONFIG, now + 120)
    assert isinstance(gone, Update)
    assert "Max-Age=0" in (await backend.commit(again, gone, cookie=SPEC) or "")  # not revived
    assert await backend.load(value_of(header), now=now + 121) is None


async def test_store_backend_delete_removes_the_record(store: SessionStore) -> None:
    backend = StoreBackend(store)
    now = time.time()
    session = Session(now)
    session["a"] = 1
    header = await backend.commit(session, session.plan_save(CONFIG, now), cookie=SPEC)
    loaded = await backend.load(value_of(header), now=now)
    assert loaded is not None
    loaded.clear()
    ended = loaded.plan_save(CONFIG, now)
    assert isinstance(ended, Delete)
    assert "Max-Age=0" in (await backend.commit(loaded, ended, cookie=SPEC) or "")
    assert await store.load(ended.key_hash, now=now) is None


async def test_signed_backend_round_trip_and_no_store() -> None:
    backend = SignedCookieBackend("a-signing-key-0123456789")
    assert backend_for(backend) is backend and backend.store is None
    now = time.time()
    session = Session(now)
    session["a"] = 1
    header = await backend.commit(session, session.plan_save(CONFIG, now), cookie=SPEC)
    loaded = await backend.load(value_of(header), now=now + 1)
    assert loaded is not None and loaded == {"a": 1}
    assert loaded.session_id == session.session_id and loaded.created_at == now
    assert await backend.load(value_of(header), now=now + 3601) is None  # expiry is signed in


def test_anything_else_is_refused() -> None:
    with pytest.raises(TypeError, match="SessionStore"):
        backend_for(object())  # type: ignore[arg-type]
