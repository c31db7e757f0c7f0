"""One contract for every server-side store: what the session middleware and login rely on."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from tests.store_backends import STORE_KINDS, SYNC_KINDS, store_backend

from cookieguard.core.tokens import hash_session_id, new_session_id
from cookieguard.stores.base import KeyCollision, SessionInfo, SessionRecord, SessionStore

NOW = 1_700_000_000.0


@pytest.fixture(params=STORE_KINDS + SYNC_KINDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SessionStore]:
    """Every store, async and sync (the sync ones through `AsyncView`, calls in threads)."""
    async with store_backend(request.param, tmp_path) as make:
        yield make()


@pytest.fixture(params=STORE_KINDS + SYNC_KINDS)
async def store_pair(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[SessionStore, SessionStore]]:
    """Two instances on the same data, async and sync alike."""
    async with store_backend(request.param, tmp_path) as make:
        yield make(), make()


def key() -> str:
    return hash_session_id(new_session_id())


def rec(
    data: dict[str, Any] | None = None,
    *,
    user: str | None = None,
    now: float = NOW,
    ttl: float = 3600,
    ua: str | None = None,
    address: str | None = None,
) -> SessionRecord:
    return SessionRecord(
        data=data if data is not None else {},
        user_id=user,
        created_at=now,
        last_seen=now,
        expires_at=now + ttl,
        user_agent=ua,
        client_address=address,
    )


async def update(
    store: SessionStore,
    k: str,
    set_items: dict[str, Any] | None = None,
    delete: tuple[str, ...] = (),
    *,
    now: float = NOW + 1,
    ttl: float = 3600,
) -> bool:
    return await store.update(
        k,
        set_items=set_items or {},
        delete_keys=delete,
        last_seen=now,
        expires_at=now + ttl,
        now=now,
    )


async def test_round_trip_keeps_every_field(store: SessionStore) -> None:
    k = key()
    data = {"n": 1, "f": 0.1, "s": "héllo ✓", "l": [1, "2", None], "d": {"x": {"y": True}}}
    record = SessionRecord(
        data, "user-7", NOW - 10.25, NOW - 0.5, NOW + 99.75, "Firefox/140", "198.51.100.0/24"
    )
    await store.create(k, record)
    assert await store.load(k, now=NOW) == record
    assert await store.load(key(), now=NOW) is None


async def test_loaded_data_belongs_to_the_caller(store: SessionStore) -> None:
    # Session.restore adopts the dict it is given: changing it must never reach the store.
    k = key()
    await store.create(k, SessionRecord({"n": 1}, None, NOW, NOW, NOW + 60))
    first = await store.load(k, now=NOW)
    assert first is not None
    first.data["n"] = 2
    first.data["extra"] = True
    second = await store.load(k, now=NOW)
    assert second is not None and second.data == {"n": 1}
    assert second.data is not first.data


async def test_expired_record_is_a_miss(store: SessionStore) -> None:
    k = key()
    await store.create(k, rec({"a": 1}, ttl=60))
    assert await store.load(k, now=NOW + 59.9) is not None
    assert await store.load(k, now=NOW + 60) is None
    assert await store.load(k, now=NOW + 600) is None


async def test_update_applies_only_the_delta(store: SessionStore) -> None:
    k = key()
    await store.create(k, rec({"keep": 1, "change": 1, "drop": 1, "nested": {"x": 1}}))
    changed = await update(
        store, k, {"change": 2, "new": [1], "nested": {"y": None}}, ("drop", "absent")
    )
    assert changed is True
    loaded = await store.load(k, now=NOW + 2)
    assert loaded is not None
    # A nested value is replaced whole, never merged into the old one.
    assert loaded.data == {"keep": 1, "change": 2, "new": [1], "nested": {"y": None}}
    assert (loaded.last_seen, loaded.expires_at) == (NOW + 1, NOW + 3601)
    assert (loaded.created_at, loaded.user_id) == (NOW, None)


async def test_awkward_key_names_round_trip(store: SessionStore) -> None:
    names = ["é", "a.b", "$", "[0]", "sp ace", 'quo"te', "back\\slash", "tab\t", "", "x'y"]
    k = key()
    await store.create(k, rec({n: 0 for n in names}))
    assert await update(store, k, {n: n for n in names[::2]}, tuple(names[1::2]))
    loaded = await store.load(k, now=NOW + 2)
    assert loaded is not None
    assert loaded.data == {n: n for n in names[::2]}


async def test_set_wins_over_delete_of_the_same_key(store: SessionStore) -> None:
    k = key()
    await store.create(k, rec({"a": 1}))
    assert await update(store, k, {"a": 2}, ("a",))
    loaded = await store.load(k, now=NOW + 2)
    assert loaded is not None and loaded.data == {"a": 2}


async def test_empty_delta_is_an_idle_expiry_touch(store: SessionStore) -> None:
    k = key()
    await store.create(k, rec({"a": 1}, ttl=60))
    assert await update(store, k, now=NOW + 50, ttl=60)
    loaded = await store.load(k, now=NOW + 100)
    assert loaded is not None
    assert (loaded.data, loaded.last_seen, loaded.expires_at) == ({"a": 1}, NOW + 50, NOW + 110)


async def test_update_never_recreates_a_deleted_or_expired_session(store: SessionStore) -> None:
    gone, expired = key(), key()
    assert await update(store, gone, {"a": 1}) is False
    assert await store.load(gone, now=NOW) is None

    await store.create(gone, rec({"a": 1}, user="u"))
    await store.delete(gone)
    await store.delete(gone)  # deleting twice is fine
    assert await update(store, gone, {"a": 2}) is False
    assert await store.load(gone, now=NOW + 2) is None
    assert await store.list_user("u", now=NOW) == []

    await store.create(expired, rec({"a": 1}, ttl=10))
    assert await update(store, expired, {"a": 2}, now=NOW + 10, ttl=3600) is False
    assert await store.load(expired, now=NOW + 11) is None
    unchanged = await store.load(expired, now=NOW + 5)
    assert unchanged is not None and unchanged.data == {"a": 1}


async def test_logout_racing_writes_is_not_resurrected(store: SessionStore) -> None:
    k = key()
    await store.create(k, rec({"a": 0}))
    writes = [update(store, k, {f"w{i}": i}) for i in range(20)]
    results = await asyncio.gather(*writes[:10], store.delete(k), *writes[10:])
    assert await store.load(k, now=NOW + 2) is None
    assert all(r in (True, False) for r in results[:10] + results[11:])


async def test_unencodable_value_fails_and_changes_nothing(store: SessionStore) -> None:
    k = key()
    await store.create(k, rec({"a": 1}))
    with pytest.raises((TypeError, ValueError)):
        await update(store, k, {"b": 2, "bad": object()})
    with pytest.raises(ValueError):
        await update(store, k, {"nan": math.nan})
    loaded = await store.load(k, now=NOW + 2)
    assert loaded is not None and loaded.data == {"a": 1}


async def test_key_collision_keeps_the_existing_record(store: SessionStore) -> None:
    k, other = key(), key()
    await store.create(other, rec({"other": 1}))
    await store.create(k, rec({"first": 1}))
    with pytest.raises(KeyCollision):
        await store.create(k, rec({"second": 1}), replaces=other)
    loaded = await store.load(k, now=NOW)
    assert loaded is not None and loaded.data == {"first": 1}
    assert await store.load(other, now=NOW) is not None


async def test_cycling_replaces_the_old_record(store: SessionStore) -> None:
    old, new = key(), key()
    await store.create(old, rec({"cart": [1]}, user="u"))
    await store.create(new, rec({"cart": [1]}, user="u", now=NOW + 5), replaces=old)
    assert await store.load(old, now=NOW + 6) is None
    assert await update(store, old, {"late": 1}, now=NOW + 6) is False
    loaded = await store.load(new, now=NOW + 6)
    assert loaded is not None and loaded.data == {"cart": [1]}
    assert [i.key_hash for i in await store.list_user("u", now=NOW + 6)] == [new]


async def test_list_user_newest_first_without_expired(store: SessionStore) -> None:
    a, b, c, dead, other = key(), key(), key(), key(), key()
    await store.create(a, rec(user="u", now=NOW, ua="A", address="2001:db8:7::/48"))
    await store.create(b, rec(user="u", now=NOW + 20, ua="B", address="192.0.2.1"))
    await store.create(c, rec(user="u", now=NOW + 10))
    await store.create(dead, rec(user="u", now=NOW, ttl=5))
    await store.create(other, rec(user="v", now=NOW))
    await store.create(key(), rec({"anonymous": 1}))
    assert await update(store, a, {"x": 1}, now=NOW + 30)
    infos = await store.list_user("u", now=NOW + 40)
    assert infos == [
        SessionInfo(a, "u", NOW, NOW + 30, NOW + 3630, "A", "2001:db8:7::/48"),
        SessionInfo(b, "u", NOW + 20, NOW + 20, NOW + 3620, "B", "192.0.2.1"),
        SessionInfo(c, "u", NOW + 10, NOW + 10, NOW + 3610, None),
    ]
    assert await store.list_user("nobody", now=NOW) == []


async def test_delete_user_keeps_the_current_session(store: SessionStore) -> None:
    mine = [key() for _ in range(3)]
    theirs = key()
    for k in mine:
        await store.create(k, rec(user="u"))
    await store.create(theirs, rec(user="v"))
    assert await store.delete_user("u", keep=mine[0]) == 2
    assert [i.key_hash for i in await store.list_user("u", now=NOW)] == [mine[0]]
    assert await store.load(mine[1], now=NOW) is None
    assert await update(store, mine[2], {"a": 1}) is False
    assert await store.load(theirs, now=NOW) is not None
    assert await store.delete_user("u") == 1
    assert await store.load(mine[0], now=NOW) is None
    assert await store.delete_user("u") == 0


async def test_counters_count_in_fixed_windows(store: SessionStore) -> None:
    assert await store.peek("login:alice", now=NOW) is None
    assert await store.hit("login:alice", window=60, now=NOW) == (1, NOW + 60)
    assert await store.hit("login:alice", window=60, now=NOW + 30) == (2, NOW + 60)
    assert await store.hit("login:bob", window=60, now=NOW + 30) == (1, NOW + 90)
    assert await store.peek("login:alice", now=NOW + 59) == (2, NOW + 60)
    assert await store.peek("login:alice", now=NOW + 60) is None
    # The next window starts with the first event after the previous one ended.
    assert await store.hit("login:alice", window=60, now=NOW + 75) == (1, NOW + 135)
    await store.reset("login:alice")
    assert await store.peek("login:alice", now=NOW + 76) is None
    assert await store.peek("login:bob", now=NOW + 76) == (1, NOW + 90)


async def test_concurrent_counter_hits_all_count(store: SessionStore) -> None:
    await asyncio.gather(*(store.hit("ip:1", window=60, now=NOW) for _ in range(50)))
    assert await store.peek("ip:1", now=NOW) == (50, NOW + 60)


async def test_purge_removes_only_expired_in_bounded_batches(store: SessionStore) -> None:
    live = [key() for _ in range(5)]
    dead = [key() for _ in range(25)]
    for k in live:
        await store.create(k, rec({"a": 1}, user="u", ttl=3600))
    for k in dead:
        await store.create(k, rec({"a": 1}, user="u", ttl=10))
    await store.hit("old-counter", window=5, now=NOW)
    counts = [n async for n in store.purge_expired(now=NOW + 100, batch_size=10)]
    assert sum(counts) == 25
    assert all(0 < n <= 10 for n in counts)
    for k in live:
        assert await store.load(k, now=NOW + 100) is not None
    assert sorted(i.key_hash for i in await store.list_user("u", now=NOW)) == sorted(live)
    assert [n async for n in store.purge_expired(now=NOW + 100)] == []


async def test_hundred_concurrent_writers_all_land(store: SessionStore) -> None:
    k = key()
    await store.create(k, rec({}))
    results = await asyncio.gather(*(update(store, k, {f"k{i}": i}) for i in range(100)))
    assert all(results)
    loaded = await store.load(k, now=NOW + 2)
    assert loaded is not None
    assert loaded.data == {f"k{i}": i for i in range(100)}


async def test_two_instances_sharing_data_lose_no_writes(
    store_pair: tuple[SessionStore, SessionStore],
) -> None:
    first, second = store_pair
    k = key()
    await first.create(k, rec({}))
    writes = [update(first if i % 2 else second, k, {f"k{i}": i}) for i in range(100)]
    assert all(await asyncio.gather(*writes))
    for instance in store_pair:
        loaded = await instance.load(k, now=NOW + 2)
        assert loaded is not None and loaded.data == {f"k{i}": i for i in range(100)}


async def test_close_then_use_reconnects(store: SessionStore) -> None:
    k = key()
    await store.create(k, rec({"a": 1}))
    await store.close()
    assert await store.load(k, now=NOW) is not None
    await store.close()
    await store.close()


async def test_hundred_thousand_expired_rows_purge_in_bounded_time(
    store: SessionStore,
) -> None:
    from tests.stores.bulk import bulk_insert_expired

    await bulk_insert_expired(store, 100_000, expires_at=NOW - 1)
    survivor = key()
    await store.create(survivor, rec({"a": 1}))
    started = time.monotonic()
    counts = [n async for n in store.purge_expired(now=NOW, batch_size=5000)]
    elapsed = time.monotonic() - started
    assert sum(counts) == 100_000
    assert max(counts) <= 5000
    assert elapsed < 60, f"purge took {elapsed:.1f}s"
    assert await store.load(survivor, now=NOW) is not None
