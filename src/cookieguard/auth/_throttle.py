"""Login throttling over a shared `CounterStore` (the session store, usually).

Counting in the session store means the limits hold across every app server that shares it
(Redis, PostgreSQL, a SQLite file). The policy itself is in `cookieguard.core._throttle`.

An attempt is admitted in three steps, cheapest first, and a refused attempt writes nothing:

1. an in-flight slot for its address group, in this process: an address that already has
   `max_in_flight_per_address` password checks running is answered 429 at once, so a burst
   from one address cannot queue hash work in front of everyone else's logins;
2. one read of every counter (in parallel): a full one refuses;
3. an atomic conditional count (`CounterStore.hit` with a limit) on each: this reservation
   is what holds under concurrency. A counter found full here (a racing request took the
   last place) refuses, and the other reservations of this attempt are taken back.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from cookieguard._inline import gather
from cookieguard.asgi._types import Connection, scope_of
from cookieguard.core import _throttle as rules
from cookieguard.core._throttle import ThrottlePolicy
from cookieguard.errors import LoginThrottled
from cookieguard.stores.base import CounterStore

__all__ = ["LoginAttempt", "LoginThrottle", "ThrottlePolicy", "client_address"]

logger = logging.getLogger("cookieguard.auth")


class LoginAttempt:
    """An admitted login attempt: end it with `failed()` or `succeeded()` (either, once).

    Until then it holds an in-flight slot of its address; `authenticate` ends it in a
    ``finally`` so that an error (a store outage) never leaks one.
    """

    __slots__ = ("_done", "_group", "_keys", "_throttle", "_username")

    def __init__(
        self, throttle: LoginThrottle, username: str, group: str, keys: dict[str, str]
    ) -> None:
        self._throttle = throttle
        self._username = username
        self._group = group
        self._keys = keys  # the reserved counters, by kind
        self._done = False

    def _finish(self) -> bool:
        if self._done:
            return False
        self._done = True
        self._throttle._free_slot(self._group)
        return True

    async def failed(self) -> None:
        """The password was wrong (or the check could not finish): the reservations stand."""
        self._finish()

    async def succeeded(self) -> None:
        """Forget the username's attempts from this address, take back the failure
        reservations, and trust this address for this account for a while."""
        if not self._finish():
            return
        throttle, keys, now = self._throttle, self._keys, self._throttle._clock()
        counters, policy = throttle.counters, throttle.policy
        trusted = rules.trusted_key(self._username, self._group)

        async def trust() -> None:
            # Reset, then count: the trust lasts `trusted_address_for` from the latest success.
            await counters.reset(trusted)
            await counters.hit(trusted, window=policy.trusted_address_for, now=now)

        reserved = [key for kind, key in keys.items() if kind != rules.USER]
        await gather(
            counters.reset(keys[rules.USER]),
            trust(),
            *(counters.release(key, now=now) for key in reserved),
        )


class LoginThrottle:
    """Counts login attempts per (username, address), failures per address and per account.

    Call `begin` before checking a password: it raises `LoginThrottled` or returns a
    `LoginAttempt`, to be ended with its `failed()` or `succeeded()`. `authenticate` does
    all of it when given a throttle.

    Args:
        counters: Where counts live; any `CounterStore` (every session store is one).
        policy: Thresholds and window; OWASP-minded defaults.
        clock: Time source in epoch seconds (tests pass a fake).
    """

    def __init__(
        self,
        counters: CounterStore,
        policy: ThrottlePolicy | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.counters = counters
        self.policy: ThrottlePolicy = policy or ThrottlePolicy()
        self._clock = clock
        self._in_flight: dict[str, int] = {}  # address group -> admitted attempts running
        self._busy: set[str] = set()  # groups refused as busy since they last had none running
        # WSGI servers run attempts on several threads (`SyncLoginThrottle`); uncontended
        # on an event loop.
        self._slots = threading.Lock()

    def _take_slot(self, group: str) -> None:
        cap = self.policy.max_in_flight_per_address
        with self._slots:
            running = self._in_flight.get(group, 0)
            if cap is None or running < cap:
                self._in_flight[group] = running + 1
                return
            # One log line per burst, not one per refused request of a flood.
            first = group not in self._busy
            self._busy.add(group)
        if first:
            logger.warning("login refused: %d checks already running for one address", cap)
        raise LoginThrottled(1, reason=rules.BUSY)

    def _free_slot(self, group: str) -> None:
        with self._slots:
            running = self._in_flight.get(group, 0) - 1
            if running > 0:
                self._in_flight[group] = running
            else:
                self._in_flight.pop(group, None)
                self._busy.discard(group)

    def _keys(self, username: str, group: str) -> dict[str, str]:
        keys = {
            rules.USER: rules.user_key(username, group),
            rules.ADDRESS: rules.address_key(group),
            rules.ACCOUNT: rules.account_key(username),
        }
        return {kind: keys[kind] for kind in rules.limits(self.policy)}

    async def _trusted(self, username: str, group: str, now: float) -> bool:
        key = rules.trusted_key(username, group)
        return await self.counters.peek(key, now=now) is not None

    async def _read(
        self, username: str, group: str, keys: dict[str, str], now: float
    ) -> tuple[str, int] | None:
        """The refusal the counters give right now, without counting; may drop the account
        ceiling from `keys` when this address is trusted for this account."""
        caps = rules.limits(self.policy)
        values = await gather(*(self.counters.peek(k, now=now) for k in keys.values()))
        counters = dict(zip(keys, values, strict=True))
        found = rules.refusal(caps, counters, now)
        if (
            found is not None
            and found[0] == rules.ACCOUNT
            and await self._trusted(username, group, now)
        ):
            del keys[rules.ACCOUNT]
            caps.pop(rules.ACCOUNT)
            found = rules.refusal(caps, counters, now)
        return found

    async def begin(self, username: str, address: str) -> LoginAttempt:
        """Admit one attempt, counting it before the password is checked.

        Raises:
            LoginThrottled: over a limit (``.reason`` says which); answer 429.
            StoreUnavailable: the counter store is down; answer 503.
        """
        group = rules.address_group(address, self.policy.ipv6_prefix)
        self._take_slot(group)
        try:
            return await self._admit(username, group)
        except BaseException:
            self._free_slot(group)
            raise

    async def _admit(self, username: str, group: str) -> LoginAttempt:
        now, policy = self._clock(), self.policy
        keys = self._keys(username, group)
        found = await self._read(username, group, keys, now)
        if found is None:
            caps = rules.limits(policy)
            results = await gather(
                *(
                    self.counters.hit(key, window=policy.window, now=now, limit=caps[kind])
                    for kind, key in keys.items()
                )
            )
            counted = dict(zip(keys, results, strict=True))
            full = {k: c for k, c in counted.items() if c[0] > caps[k]}
            if list(full) == [rules.ACCOUNT] and await self._trusted(username, group, now):
                del keys[rules.ACCOUNT]  # the ceiling filled up meanwhile; not for this address
                full = {}
            if not full:
                return LoginAttempt(self, username, group, keys)
            # A racing request took the last place: take back what this one reserved.
            await gather(
                *(self.counters.release(keys[k], now=now) for k in counted if k not in full)
            )
            found = rules.refusal(caps, {k: (caps[k], c[1]) for k, c in full.items()}, now)
            assert found is not None
        kind, wait = found
        logger.warning("login throttled (%s limit) for %s; retry after %ds", kind, keys[kind], wait)
        raise LoginThrottled(wait, reason=kind)

    async def retry_after(self, username: str, address: str) -> int | None:
        """Seconds until `username` may log in again from `address`, without counting."""
        group = rules.address_group(address, self.policy.ipv6_prefix)
        keys = self._keys(username, group)
        found = await self._read(username, group, keys, self._clock())
        return None if found is None else found[1]


def client_address(conn: Connection) -> str:
    """The peer address of the connection, as the ASGI server reports it.

    Behind a reverse proxy this is the proxy: run the server with its trusted-proxy option
    (uvicorn ``--proxy-headers --forwarded-allow-ips``) so the real client shows here.
    """
    client = scope_of(conn).get("client")
    if client and isinstance(client[0], str):
        return client[0]
    return "unknown"
