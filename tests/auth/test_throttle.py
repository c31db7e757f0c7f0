"""LoginThrottle over every real store: limits, windows, resets, concurrent bursts."""

from __future__ import annotations

import asyncio

import pytest

from cookieguard.auth.throttle import LoginThrottle, client_address
from cookieguard.core.throttle import ThrottlePolicy
from cookieguard.errors import LoginThrottled
from cookieguard.stores.base import SessionStore
from tests.stores.conftest import store, store_pair  # noqa: F401


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


async def attempt(throttle: LoginThrottle, user: str, address: str, ok: bool = False) -> int:
    """One login attempt; returns 200/303 as a login page would, or 429."""
    try:
        await throttle.begin(user, address)
    except LoginThrottled:
        return 429
    if ok:
        await throttle.succeeded(user, address)
        return 303
    await throttle.failed(user, address)
    return 200


async def test_limit_window_and_reset(store: SessionStore) -> None:  # noqa: F811
    clock = Clock()
    throttle = LoginThrottle(store, clock=clock)
    assert [await attempt(throttle, "alice", "a1") for _ in range(10)] == [200] * 10
    assert await throttle.retry_after("alice", "a1") == 900
    clock.now += 100
    with pytest.raises(LoginThrottled) as info:
        await throttle.begin("alice", "a1")
    assert info.value.retry_after == 800 and info.value.status_code == 429
    assert await attempt(throttle, "alice", "a1", ok=True) == 429  # right password too
    assert await attempt(throttle, "alice", "a2", ok=True) == 303  # other address
    clock.now += 800
    assert await throttle.retry_after("alice", "a1") is None
    assert await attempt(throttle, "alice", "a1", ok=True) == 303
    # The success reset the counter: ten more failures are answered normally.
    assert [await attempt(throttle, "alice", "a1") for _ in range(10)] == [200] * 10


async def test_address_limit_across_usernames(store: SessionStore) -> None:  # noqa: F811
    clock = Clock()
    throttle = LoginThrottle(store, ThrottlePolicy(max_failures_per_address=100), clock=clock)
    results = [await attempt(throttle, f"user{i}", "nat") for i in range(100)]
    assert results == [200] * 100
    assert await attempt(throttle, "someone-else", "nat", ok=True) == 429
    assert await attempt(throttle, "someone-else", "other", ok=True) == 303
    clock.now += 901
    assert await attempt(throttle, "someone-else", "nat", ok=True) == 303


async def test_a_concurrent_burst_cannot_exceed_the_limit(store_pair) -> None:  # noqa: F811
    # Two app servers sharing one store, twenty guesses at once.
    first, second = (LoginThrottle(s, clock=Clock()) for s in store_pair)
    results = await asyncio.gather(
        *(attempt(first if i % 2 else second, "alice", "a1") for i in range(20))
    )
    assert sorted(results) == [200] * 10 + [429] * 10


def test_client_address() -> None:
    assert client_address({"type": "http", "client": ("192.0.2.7", 5555)}) == "192.0.2.7"
    assert client_address({"type": "http", "client": None}) == "unknown"
    assert client_address({"type": "http"}) == "unknown"
