"""Login throttling policy: counter keys, thresholds and the Retry-After value.

Two fixed-window counters guard the login form:

* per (username, client address): counts login attempts since the last success. Past
  `max_attempts_per_user` within `window` seconds, that username is refused from that
  address, even with the right password, until the window ends. Counting the attempt before
  the password is checked makes the limit exact under concurrent requests.
* per client address: counts failures across usernames (password spraying). Its default is
  high because many users can share one address behind NAT.

Usernames are case-folded and NFKC-normalised in keys, so ``Alice`` and ``ALICE`` share a
counter. Keys hold a SHA-256 prefix, never the username or address themselves.
"""

from __future__ import annotations

import hashlib
import math
import unicodedata
from dataclasses import dataclass

from cookieguard.errors import ConfigError

KEY_PREFIX = "cg:login:"


@dataclass(frozen=True)
class ThrottlePolicy:
    """How many failed logins are tolerated, and for how long a lock lasts."""

    max_attempts_per_user: int = 10
    """Failed attempts for one username from one address that are still answered normally;
    the next attempt in the window gets 429."""
    max_failures_per_address: int | None = 200
    """Failed logins from one address across usernames before that address gets 429; None
    disables this limit. Keep it well above 100: offices and mobile carriers share addresses."""
    window: int = 900
    """Seconds of the fixed window, counted from the first failure (15 minutes)."""

    def __post_init__(self) -> None:
        if self.max_attempts_per_user < 1:
            raise ConfigError("max_attempts_per_user must be at least 1")
        if self.max_failures_per_address is not None and self.max_failures_per_address < 1:
            raise ConfigError("max_failures_per_address must be at least 1 or None")
        if self.window < 1:
            raise ConfigError("window must be at least one second")


def normalise_username(username: str) -> str:
    """The form of a username used for throttling keys (NFKC, case-folded, stripped)."""
    return unicodedata.normalize("NFKC", username).casefold().strip()


def _digest(*parts: str) -> str:
    data = "\x00".join(parts).encode("utf-8", "surrogatepass")
    return hashlib.sha256(data).hexdigest()[:32]


def user_key(username: str, address: str) -> str:
    """Counter key for attempts on `username` from `address`."""
    return f"{KEY_PREFIX}u:{_digest(normalise_username(username), address)}"


def address_key(address: str) -> str:
    """Counter key for failures from `address` across usernames."""
    return f"{KEY_PREFIX}a:{_digest(address)}"


def retry_after(window_end: float, now: float) -> int:
    """Whole seconds until `window_end` for a Retry-After header (at least 1)."""
    return max(1, math.ceil(window_end - now))


def user_verdict(
    policy: ThrottlePolicy, attempts: int, window_end: float, now: float
) -> int | None:
    """Retry-After seconds if this attempt (number `attempts` in the window) is refused."""
    if attempts > policy.max_attempts_per_user:
        return retry_after(window_end, now)
    return None


def address_verdict(
    policy: ThrottlePolicy, counter: tuple[int, float] | None, now: float
) -> int | None:
    """Retry-After seconds if the address's failure `counter` (count, end) blocks logins."""
    limit = policy.max_failures_per_address
    if limit is None or counter is None:
        return None
    count, window_end = counter
    if count >= limit and window_end > now:
        return retry_after(window_end, now)
    return None
