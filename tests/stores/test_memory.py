"""MemoryStore specifics: the decoded data it keeps between loads never leaks or goes stale."""

from __future__ import annotations

from cookieguard.core.tokens import hash_session_id, new_session_id
from cookieguard.stores.base import SessionRecord
from cookieguard.stores.memory import MemoryStore

NOW = 1_700_000_000.0


def _record(data: dict[str, object]) -> SessionRecord:
    return SessionRecord(
        data=data,
        user_id="7",
        created_at=NOW,
        last_seen=NOW,
        expires_at=NOW + 3600,
        user_agent=None,
    )


async def test_loads_are_independent_copies_and_follow_updates() -> None:
    store = MemoryStore()
    key = hash_session_id(new_session_id())
    await store.create(key, _record({"name": "ann", "n": 1, "ok": True, "none": None}))
    first = await store.load(key, now=NOW)
    assert first is not None
    first.data["name"] = "changed by the caller"
    first.data["extra"] = 1
    second = await store.load(key, now=NOW)
    assert second is not None and second.data == {"name": "ann", "n": 1, "ok": True, "none": None}

    assert await store.update(
        key, set_items={"n": 2}, delete_keys=("ok",), last_seen=NOW, expires_at=NOW + 60, now=NOW
    )
    third = await store.load(key, now=NOW)
    assert third is not None and third.data == {"name": "ann", "n": 2, "none": None}
    assert third.expires_at == NOW + 60


async def test_nested_values_come_back_fresh_on_every_load() -> None:
    store = MemoryStore()
    key = hash_session_id(new_session_id())
    await store.create(key, _record({"cart": [1, 2], "prefs": {"a": 1}}))
    first = await store.load(key, now=NOW)
    assert first is not None
    first.data["cart"].append(3)
    first.data["prefs"]["a"] = 2
    second = await store.load(key, now=NOW)
    assert second is not None and second.data == {"cart": [1, 2], "prefs": {"a": 1}}
