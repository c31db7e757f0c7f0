"""LoginThrottle over every real store: limits, windows, resets, bursts, IPv6, account ceiling."""

from __future__ import annotations

import asyncio
import statistics
import time
from pathlib import Path

import pytest

from cookieguard.auth._login import authenticate
from cookieguard.auth._passwords import PasswordHasher
from cookieguard.auth._sqlite_users import SQLiteUserStore
from cookieguard.auth._throttle import LoginThrottle, client_address
from cookieguard.core._throttle import ThrottlePolicy
from cookieguard.errors import LoginThrottled
from cookieguard.stores.base import SessionStore
from tests.asgi.scopes import http_scope

NO_IN_FLIGHT_CAP = ThrottlePolicy(max_in_flight_per_address=None)


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


async def attempt(throttle: LoginThrottle, user: str, address: str, ok: bool = False) -> int:
    """One login attempt; returns 200/303 as a login page would, or 429."""
    try:
        admitted = await throttle.begin(user, address)
    except LoginThrottled:
        return 429
    if ok:
        await admitted.succeeded()
        return 303
    await admitted.failed()
    return 200


async def reason(throttle: LoginThrottle, user: str, address: str) -> str | None:
    """The refusal reason of one failed attempt, or None if it was admitted."""
    try:
        await (await throttle.begin(user, address)).failed()
    except LoginThrottled as exc:
        return exc.reason
    return None


async def test_limit_window_and_reset(store: SessionStore) -> None:
    clock = Clock()
    throttle = LoginThrottle(store, clock=clock)
    assert [await attempt(throttle, "alice", "a1") for _ in range(10)] == [200] * 10
    assert await throttle.retry_after("alice", "a1") == 900
    clock.now += 100
    with pytest.raises(LoginThrottled) as info:
        await throttle.begin("alice", "a1")
    assert info.value.retry_after == 800 and info.value.status_code == 429
    assert info.value.reason == "user"
    assert await attempt(throttle, "alice", "a1", ok=True) == 429  # right password too
    assert await attempt(throttle, "alice", "a2", ok=True) == 303  # other address
    clock.now += 800
    assert await throttle.retry_after("alice", "a1") is None
    assert await attempt(throttle, "alice", "a1", ok=True) == 303
    # The success reset the counter: ten more failures are answered normally.
    assert [await attempt(throttle, "alice", "a1") for _ in range(10)] == [200] * 10


async def test_address_limit_across_usernames(store: SessionStore) -> None:
    clock = Clock()
    throttle = LoginThrottle(store, ThrottlePolicy(max_failures_per_address=100), clock=clock)
    results = [await attempt(throttle, f"user{i}", "nat") for i in range(100)]
    assert results == [200] * 100
    assert await reason(throttle, "someone-else", "nat") == "address"
    assert await attempt(throttle, "someone-else", "other", ok=True) == 303
    clock.now += 901
    assert await attempt(throttle, "someone-else", "nat", ok=True) == 303


async def test_a_success_takes_back_its_address_reservation(store: SessionStore) -> None:
    # Many users behind one NAT logging in fine never use up the address's failure budget.
    throttle = LoginThrottle(store, ThrottlePolicy(max_failures_per_address=5), clock=Clock())
    assert [await attempt(throttle, f"user{i}", "nat", ok=True) for i in range(20)] == [303] * 20
    assert [await attempt(throttle, f"bad{i}", "nat") for i in range(6)] == [200] * 5 + [429]


async def test_a_concurrent_burst_cannot_exceed_the_limit(store_pair) -> None:
    # Two app servers sharing one store, twenty guesses at once.
    first, second = (LoginThrottle(s, NO_IN_FLIGHT_CAP, clock=Clock()) for s in store_pair)
    results = await asyncio.gather(
        *(attempt(first if i % 2 else second, "alice", "a1") for i in range(20))
    )
    assert sorted(results) == [200] * 10 + [429] * 10


class CountingHasher(PasswordHasher):
    """Argon2id with tiny costs that counts the password checks it runs."""

    def __init__(self, **costs: int) -> None:
        super().__init__(**({"time_cost": 1, "memory_cost": 1024} | costs))
        self.checks = 0

    def verify_dummy(self, password: str = "") -> object:  # type: ignore[override]
        self.checks += 1
        return super().verify_dummy(password)


@pytest.fixture
async def users(tmp_path: Path):
    table = SQLiteUserStore(tmp_path / "users.db")
    yield table
    await table.close()


async def login(users, hasher, throttle, username, password, address) -> int:
    try:
        user = await authenticate(
            users, username, password, hasher=hasher, throttle=throttle, address=address
        )
    except LoginThrottled:
        return 429
    return 200 if user is None else 303


async def test_password_checks_under_a_concurrent_burst_stay_within_the_limit(
    store: SessionStore,
    users: SQLiteUserStore,
) -> None:
    # 400 guesses at 64-way concurrency from one address, each for another username: the
    # per-address limit (200) is reserved before hashing, so no more than 200 checks run.
    hasher = CountingHasher()
    policy = ThrottlePolicy(max_failures_per_address=200, max_in_flight_per_address=None)
    throttle = LoginThrottle(store, policy)
    gate = asyncio.Semaphore(64)

    async def one(i: int) -> int:
        async with gate:
            return await login(users, hasher, throttle, f"user{i}", "guess", "198.51.100.7")

    results = await asyncio.gather(*(one(i) for i in range(400)))
    assert hasher.checks == results.count(200) == 200
    assert results.count(429) == 200


async def test_a_burst_from_one_address_does_not_slow_down_another_users_login(
    store: SessionStore,
    users: SQLiteUserStore,
) -> None:
    # Argon2 costs that dominate a login (a few ms), so queued hash work shows in latency.
    hasher = CountingHasher(memory_cost=8192, time_cost=2)
    await users.create_user("victim", await hasher.ahash("right"))
    throttle = LoginThrottle(store)  # the default in-flight cap per address

    async def victim() -> float:
        start = time.perf_counter()
        assert await login(users, hasher, throttle, "victim", "right", "203.0.113.9") == 303
        return time.perf_counter() - start

    idle = [await victim() for _ in range(5)]
    during: list[float] = []
    refused = 0
    for round_ in range(3):  # each round from another address, under its limits
        burst = [
            asyncio.create_task(
                login(users, hasher, throttle, f"u{i}", "guess", f"198.51.100.{round_}")
            )
            for i in range(300)
        ]
        await asyncio.sleep(0)  # the burst is under way before the victim comes
        during.append(await victim())
        results = await asyncio.gather(*burst)
        refused += results.count(429)
        assert set(results) <= {200, 429}
    ratio = statistics.median(during) / statistics.median(idle)
    # A few hashes may be ahead of the victim's (at most the cap); 300 queued were ~150x.
    assert ratio < 10, (idle, during)
    # The cap answers most of the burst at once instead of queueing 300 hashes.
    assert refused >= 3 * 280


async def test_ipv6_addresses_count_per_64(store: SessionStore) -> None:
    throttle = LoginThrottle(store, clock=Clock())
    # A client rotating through its /64 is still one address.
    results = [await attempt(throttle, "alice", f"2001:db8:1:2::{i:x}") for i in range(11)]
    assert results == [200] * 10 + [429]
    assert await attempt(throttle, "alice", "2001:db8:1:2:ffff:ffff:ffff:ffff") == 429
    assert await attempt(throttle, "alice", "2001:db8:1:3::1", ok=True) == 303  # next /64
    # IPv4-mapped IPv6 is the IPv4 address.
    assert [await attempt(throttle, "bob", "192.0.2.1") for _ in range(10)] == [200] * 10
    assert await attempt(throttle, "bob", "::ffff:192.0.2.1") == 429


@pytest.mark.parametrize("username", ["alice", "no-such-user"])
async def test_an_account_attacked_from_many_addresses_hits_a_ceiling(
    store: SessionStore,
    username: str,
) -> None:
    clock = Clock()
    throttle = LoginThrottle(store, clock=clock)  # default ceiling: 50 per account
    # The real user logged in from home some days ago.
    assert await attempt(throttle, username, "192.0.2.10", ok=True) == 303
    clock.now += 3 * 86400
    # 300 guesses: 10 from each of 30 addresses (each under the per-address limits).
    results = [
        await attempt(throttle, username, f"198.51.100.{a}") for a in range(30) for _ in range(10)
    ]
    assert results.count(200) == 50 and results.count(429) == 250
    assert await reason(throttle, username, "203.0.113.1") == "account"
    # A right password from a new address waits for the window too...
    assert await attempt(throttle, username, "203.0.113.2", ok=True) == 429
    # ...but the user's own usual address still gets in, and the ceiling stays for others.
    assert await attempt(throttle, username, "192.0.2.10", ok=True) == 303
    assert await attempt(throttle, username, "203.0.113.3", ok=True) == 429
    # The trusted address still has its own per-address limit of ten.
    assert [await attempt(throttle, username, "192.0.2.10") for _ in range(11)][-1] == 429
    clock.now += 901
    assert await attempt(throttle, username, "203.0.113.2", ok=True) == 303


async def test_trust_expires(store: SessionStore) -> None:
    clock = Clock()
    policy = ThrottlePolicy(max_failures_per_account=5, trusted_address_for=3600)
    throttle = LoginThrottle(store, policy, clock=clock)
    assert await attempt(throttle, "carol", "192.0.2.10", ok=True) == 303
    clock.now += 3601
    assert [await attempt(throttle, "carol", f"198.51.100.{a}") for a in range(6)][-1] == 429
    assert await attempt(throttle, "carol", "192.0.2.10", ok=True) == 429


def test_client_address() -> None:
    assert client_address(http_scope(client=("192.0.2.7", 5555))) == "192.0.2.7"
    assert client_address(http_scope(client=None)) == "unknown"
    no_client = http_scope()
    del no_client["client"]  # the key is optional in ASGI
    assert client_address(no_client) == "unknown"
