"""Login throttling over a shared `CounterStore` (the session store, usually).

Counting in the session store means the limits hold across every app server that shares it
(Redis, PostgreSQL, a SQLite file). The policy itself is in `cookieguard.core.throttle`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from cookieguard.asgi.types import Connection, scope_of
from cookieguard.core import throttle as policy_rules
from cookieguard.core.throttle import ThrottlePolicy
from cookieguard.errors import LoginThrottled
from cookieguard.stores.base import CounterStore

__all__ = ["LoginThrottle", "ThrottlePolicy", "client_address"]

logger = logging.getLogger("cookieguard.auth")


class LoginThrottle:
    """Counts login attempts per (username, address) and failures per address.

    Call `begin` before checking a password (it raises `LoginThrottled`), then `failed` or
    `succeeded` with the outcome. `authenticate` does all three when given a throttle.

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
        self.policy = policy or ThrottlePolicy()
        self._clock = clock

    async def begin(self, username: str, address: str) -> None:
        """Count this attempt; raise `LoginThrottled` if it is over a limit.

        The attempt is counted before the password is checked, so a burst of concurrent
        guesses cannot slip past the limit.
        """
        rules, policy, now = policy_rules, self.policy, self._clock()
        user_hit = self.counters.hit(
            rules.user_key(username, address), window=policy.window, now=now
        )
        if policy.max_failures_per_address is None:
            (attempts, end), address_counter = await user_hit, None
        else:
            address_peek = self.counters.peek(rules.address_key(address), now=now)
            (attempts, end), address_counter = await asyncio.gather(user_hit, address_peek)
        wait = rules.user_verdict(policy, attempts, end, now)
        if wait is None:
            wait = rules.address_verdict(policy, address_counter, now)
        if wait is not None:
            logger.warning(
                "login throttled for %s (retry after %ds)", rules.user_key(username, address), wait
            )
            raise LoginThrottled(wait)

    async def failed(self, username: str, address: str) -> None:
        """Record a failed login (the per-user attempt was already counted by `begin`)."""
        if self.policy.max_failures_per_address is not None:
            await self.counters.hit(
                policy_rules.address_key(address), window=self.policy.window, now=self._clock()
            )

    async def succeeded(self, username: str, address: str) -> None:
        """Forget the username's attempts from this address."""
        await self.counters.reset(policy_rules.user_key(username, address))

    async def retry_after(self, username: str, address: str) -> int | None:
        """Seconds until `username` may log in again from `address`, without counting."""
        rules, policy, now = policy_rules, self.policy, self._clock()
        counter = await self.counters.peek(rules.user_key(username, address), now=now)
        if counter is not None and counter[0] >= policy.max_attempts_per_user:
            return rules.retry_after(counter[1], now)
        return rules.address_verdict(
            policy, await self.counters.peek(rules.address_key(address), now=now), now
        )


def client_address(conn: Connection) -> str:
    """The peer address of the connection, as the ASGI server reports it.

    Behind a reverse proxy this is the proxy: run the server with its trusted-proxy option
    (uvicorn ``--proxy-headers --forwarded-allow-ips``) so the real client shows here.
    """
    client = scope_of(conn).get("client")
    if client and isinstance(client[0], str):
        return client[0]
    return "unknown"
