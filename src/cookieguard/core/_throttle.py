"""Login throttling policy: counter keys, thresholds, admission and the Retry-After value.

Fixed-window counters guard the login form, each counted *before* the password is checked (a
reservation), so that concurrent requests cannot slip past a limit:

* per (username, client address): login attempts since the last success. Past
  `max_attempts_per_user` within `window` seconds, that username is refused from that
  address, even with the right password, until the window ends.
* per client address: failures across usernames (password spraying). Its default is high
  because many users can share one address behind NAT. A success takes its reservation back.
* per username, across addresses: a ceiling for an account attacked from many addresses. It
  does not apply from an address that logged in to this account successfully within
  `trusted_address_for` seconds, so an attacker cannot lock the real user out of their own
  usual address; from anywhere else the account is refused until the window ends. A success
  takes its reservation back.

Unknown and known usernames are counted alike: a verdict never depends on whether an account
exists. Client addresses are grouped first: an IPv6 address counts as its /64 (`ipv6_prefix`),
the block one subscriber gets, and an IPv4-mapped IPv6 address as the IPv4 address.

Usernames are case-folded and NFKC-normalised in keys, so ``Alice`` and ``ALICE`` share a
counter. Keys hold a SHA-256 prefix, never the username or address themselves.
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass

from cookieguard.errors import ConfigError

KEY_PREFIX = "cg:login:"

USER = "user"
"""Refused by the per-(username, address) limit."""
ADDRESS = "address"
"""Refused by the per-address limit."""
ACCOUNT = "account"
"""Refused by the per-account ceiling."""
BUSY = "busy"
"""Refused because the address already has `max_in_flight_per_address` checks running."""

Counter = tuple[int, float]
"""(count, window end) of a live counter window."""


@dataclass(frozen=True)
class ThrottlePolicy:
    """How many failed logins are tolerated, and for how long a lock lasts."""

    max_attempts_per_user: int = 10
    """Failed attempts for one username from one address that are still answered normally;
    the next attempt in the window gets 429."""
    max_failures_per_address: int | None = 200
    """Failed logins from one address across usernames before that address gets 429; None
    disables this limit. Keep it well above 100: offices and mobile carriers share addresses."""
    max_failures_per_account: int | None = 50
    """Failed logins for one username across all addresses before the account gets 429 from
    addresses it has not logged in from recently; None disables this ceiling."""
    window: int = 900
    """Seconds of the fixed window, counted from the first failure (15 minutes)."""
    max_in_flight_per_address: int | None = 4
    """Password checks one address may have running at once; the next gets 429 with
    Retry-After: 1 at once, without queueing hash work. None: no cap."""
    trusted_address_for: int = 30 * 86400
    """Seconds after a successful login during which that address is exempt from the
    per-account ceiling for that account (30 days)."""
    ipv6_prefix: int = 64
    """IPv6 addresses are grouped by this prefix length before counting."""

    def __post_init__(self) -> None:
        if self.max_attempts_per_user < 1:
            raise ConfigError("max_attempts_per_user must be at least 1")
        for name in ("max_failures_per_address", "max_failures_per_account"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ConfigError(f"{name} must be at least 1 or None")
        if self.max_in_flight_per_address is not None and self.max_in_flight_per_address < 1:
            raise ConfigError("max_in_flight_per_address must be at least 1 or None")
        if self.window < 1 or self.trusted_address_for < 1:
            raise ConfigError("window and trusted_address_for must be at least one second")
        if not 1 <= self.ipv6_prefix <= 128:
            raise ConfigError("ipv6_prefix must be between 1 and 128")


def normalise_username(username: str) -> str:
    """The form of a username used for throttling keys (NFKC, case-folded, stripped)."""
    return unicodedata.normalize("NFKC", username).casefold().strip()


def address_group(address: str, ipv6_prefix: int = 64) -> str:
    """The unit an address is counted as: IPv4 itself, IPv6 its network of `ipv6_prefix` bits.

    A string that is not an IP address (a Unix socket path, "unknown") is its own group.
    """
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone id
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, ipv6_prefix), strict=False))
    return str(ip)


def _digest(*parts: str) -> str:
    data = "\x00".join(parts).encode("utf-8", "surrogatepass")
    return hashlib.sha256(data).hexdigest()[:32]


def user_key(username: str, address: str) -> str:
    """Counter key for attempts on `username` from `address` (an `address_group`)."""
    return f"{KEY_PREFIX}u:{_digest(normalise_username(username), address)}"


def address_key(address: str) -> str:
    """Counter key for failures from `address` (an `address_group`) across usernames."""
    return f"{KEY_PREFIX}a:{_digest(address)}"


def account_key(username: str) -> str:
    """Counter key for failures on `username` across addresses."""
    return f"{KEY_PREFIX}n:{_digest(normalise_username(username))}"


def trusted_key(username: str, address: str) -> str:
    """Key marking that `username` logged in successfully from `address` recently."""
    return f"{KEY_PREFIX}t:{_digest(normalise_username(username), address)}"


def retry_after(window_end: float, now: float) -> int:
    """Whole seconds until `window_end` for a Retry-After header (at least 1)."""
    return max(1, math.ceil(window_end - now))


def limits(policy: ThrottlePolicy) -> dict[str, int]:
    """The counters an attempt reserves, by kind (`USER`, `ADDRESS`, `ACCOUNT`): their limits."""
    found = {USER: policy.max_attempts_per_user}
    if policy.max_failures_per_address is not None:
        found[ADDRESS] = policy.max_failures_per_address
    if policy.max_failures_per_account is not None:
        found[ACCOUNT] = policy.max_failures_per_account
    return found


def refusal(
    caps: Mapping[str, int], counters: Mapping[str, Counter | None], now: float
) -> tuple[str, int] | None:
    """(kind, Retry-After seconds) of the first full counter, or None: the attempt may go on.

    `counters` holds each kind's live counter as read before counting this attempt; a counter
    at its limit leaves no room. The order is fixed (user, address, account), so the answer
    is the same on every app server.
    """
    for kind in (USER, ADDRESS, ACCOUNT):
        counter = counters.get(kind)
        if kind in caps and counter is not None:
            count, window_end = counter
            if count >= caps[kind] and window_end > now:
                return kind, retry_after(window_end, now)
    return None
