"""The session centre over every real store: what a login stores, the list, revocation, the cap."""

from __future__ import annotations

from typing import Any

import pytest

from cookieguard.auth._passwords import PasswordHasher
from cookieguard.auth._sqlite_users import SQLiteUserStore
from cookieguard.config import SessionConfig
from cookieguard.events import EventType, SecurityEvent
from cookieguard.stores.base import SessionStore
from cookieguard.stores.memory import MemoryStore
from tests.auth.centre.centre_app import CHROME_WINDOWS, FIREFOX, SAFARI_IPHONE, client, site
from tests.auth.centre.conftest import PASSWORD

pytestmark = pytest.mark.usefixtures("received")

LOGIN = f"/login?user=alice&password={PASSWORD.replace(' ', '+')}"


async def _user_id(users: SQLiteUserStore, name: str = "alice") -> str:
    user = await users.get_by_username(name)
    assert user is not None
    return user.id


async def _stored(store: SessionStore, users: SQLiteUserStore) -> dict[str | None, Any]:
    import time

    infos = await store.list_user(await _user_id(users), now=time.time())
    return {info.user_agent: info for info in infos}


async def test_a_login_stores_device_and_truncated_address(
    store: SessionStore, users: SQLiteUserStore, hasher: PasswordHasher
) -> None:
    asgi = site(store, users, hasher)
    async with (
        client(asgi, address="203.0.113.77", user_agent=FIREFOX) as laptop,
        client(asgi, address="2001:db8:abcd:12::5", user_agent=SAFARI_IPHONE) as phone,
    ):
        assert (await laptop.get(LOGIN)).status_code == 200
        assert (await phone.get(LOGIN)).status_code == 200
        listed = (await laptop.get("/sessions")).json()

    stored = await _stored(store, users)
    assert stored[FIREFOX].client_address == "203.0.113.0/24"
    assert stored[SAFARI_IPHONE].client_address == "2001:db8:abcd::/48"
    by_device = {entry["device"]: entry for entry in listed}
    assert set(by_device) == {"Firefox on Linux", "Safari on iPhone"}
    assert by_device["Firefox on Linux"]["client_address"] == "203.0.113.0/24"
    assert by_device["Firefox on Linux"]["current"] is True
    assert by_device["Safari on iPhone"]["client_address"] == "2001:db8:abcd::/48"


@pytest.mark.parametrize(
    ("mode", "expected"),
    [("full", "203.0.113.77"), ("none", None), ("truncated", "203.0.113.0/24")],
)
async def test_the_address_kept_is_configurable(
    users: SQLiteUserStore, hasher: PasswordHasher, mode: Any, expected: str | None
) -> None:
    store = MemoryStore()
    asgi = site(store, users, hasher, sessions=SessionConfig(client_address=mode))
    async with client(asgi, address="203.0.113.77") as browser:
        assert (await browser.get(LOGIN)).status_code == 200
    assert (await _stored(store, users))[FIREFOX].client_address == expected


@pytest.mark.parametrize(
    ("address", "user_agent"),
    [
        ("not-an-address", "x" * 20_000),
        ("999.1.1.1", "\x00\x1b[31m\xff garbage \x7f"),
        ("1.2.3.4" * 40, "Mozilla/5.0 (" * 300),
        ("", ""),
    ],
)
async def test_bad_client_input_stores_nothing_odd(
    store: SessionStore,
    users: SQLiteUserStore,
    hasher: PasswordHasher,
    address: str,
    user_agent: str,
) -> None:
    asgi = site(store, users, hasher)
    async with client(asgi, address=address, user_agent=user_agent) as browser:
        assert (await browser.get(LOGIN)).status_code == 200
        listed = (await browser.get("/sessions")).json()
    [info] = (await _stored(store, users)).values()
    assert info.client_address is None
    assert info.user_agent is None or len(info.user_agent) <= 512
    assert info.user_agent is None or info.user_agent.isprintable()
    assert [entry["device"] for entry in listed] == ["Unknown device"]


async def test_revoke_one_others_and_all(
    store: SessionStore,
    users: SQLiteUserStore,
    hasher: PasswordHasher,
    received: list[SecurityEvent],
) -> None:
    asgi = site(store, users, hasher)
    async with (
        client(asgi, user_agent=FIREFOX) as a,
        client(asgi, user_agent=SAFARI_IPHONE) as b,
        client(asgi, user_agent=CHROME_WINDOWS) as c,
    ):
        for browser in (a, b, c):
            assert (await browser.get(LOGIN)).status_code == 200
        listed = (await a.get("/sessions")).json()
        phone = next(e["handle"] for e in listed if e["device"] == "Safari on iPhone")
        assert (await a.get(f"/revoke?handle={phone}")).json() == {"ok": True}
        assert (await b.get("/sessions")).json() == []  # the phone is logged out
        assert SAFARI_IPHONE not in await _stored(store, users)

        assert (await a.get("/revoke-others")).json() == {"ended": 1}
        assert set(await _stored(store, users)) == {FIREFOX}
        assert (await c.get("/sessions")).json() == []

        assert (await b.get(LOGIN)).status_code == 200
        assert (await a.get("/revoke-all")).json() == {"ended": 2}
        assert await _stored(store, users) == {}
        assert (await a.get("/sessions")).json() == []
    revoked = [(e.reason, e.count) for e in received if e.type is EventType.SESSION_REVOKED]
    assert revoked == [("one", 1), ("others", 1), ("all", 2)]


async def test_the_cap_ends_the_oldest_sessions_at_login(
    store: SessionStore,
    users: SQLiteUserStore,
    hasher: PasswordHasher,
    received: list[SecurityEvent],
) -> None:
    asgi = site(store, users, hasher, max_sessions=2)
    async with (
        client(asgi, user_agent=FIREFOX) as first,
        client(asgi, user_agent=SAFARI_IPHONE) as second,
        client(asgi, user_agent=CHROME_WINDOWS) as third,
    ):
        for browser in (first, second, third):
            assert (await browser.get(LOGIN)).status_code == 200
        assert set(await _stored(store, users)) == {SAFARI_IPHONE, CHROME_WINDOWS}
        assert (await first.get("/sessions")).json() == []  # the oldest one ended
        assert len((await third.get("/sessions")).json()) == 2
        # Logging in again on a capped account's live session does not end another one.
        assert (await third.get(LOGIN)).status_code == 200
        assert set(await _stored(store, users)) == {SAFARI_IPHONE, CHROME_WINDOWS}
    capped = [e for e in received if e.type is EventType.SESSION_REVOKED]
    assert [(e.reason, e.count, e.user_id) for e in capped] == [("cap", 1, await _user_id(users))]


async def test_a_login_from_a_new_device_is_an_event(
    store: SessionStore,
    users: SQLiteUserStore,
    hasher: PasswordHasher,
    received: list[SecurityEvent],
) -> None:
    asgi = site(store, users, hasher)
    async with (
        client(asgi, address="203.0.113.5", user_agent=FIREFOX) as laptop,
        client(asgi, address="198.51.100.9", user_agent=FIREFOX) as same_kind,
        client(asgi, address="198.51.100.9", user_agent=SAFARI_IPHONE) as phone,
    ):
        await laptop.get(LOGIN)  # the first session of the account: a new device
        await same_kind.get(LOGIN)  # Firefox on Linux is known
        await phone.get(LOGIN)
    new = [e for e in received if e.type is EventType.NEW_DEVICE]
    assert [(e.device, e.client_address) for e in new] == [
        ("Firefox on Linux", "203.0.113.0/24"),
        ("Safari on iPhone", "198.51.100.0/24"),
    ]
    alice = await _user_id(users)
    assert all(e.user_id == alice for e in new)
