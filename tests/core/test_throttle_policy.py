"""Throttle policy: keys, thresholds and Retry-After, with time passed in."""

from __future__ import annotations

import pytest

from cookieguard.core._throttle import (
    ThrottlePolicy,
    address_key,
    address_verdict,
    retry_after,
    user_key,
    user_verdict,
)
from cookieguard.errors import ConfigError


def test_defaults_meet_the_demo_contract() -> None:
    policy = ThrottlePolicy()
    assert policy.max_attempts_per_user == 10
    assert policy.window == 900
    assert policy.max_failures_per_address is not None
    assert policy.max_failures_per_address >= 100


def test_eleventh_attempt_is_refused_until_the_window_ends() -> None:
    policy = ThrottlePolicy()
    end = 1000.0 + 900
    for attempt in range(1, 11):
        assert user_verdict(policy, attempt, end, now=1000.0 + attempt) is None
    assert user_verdict(policy, 11, end, now=1011.0) == 889
    assert user_verdict(policy, 50, end, now=1899.2) == 1


def test_address_limit() -> None:
    policy = ThrottlePolicy(max_failures_per_address=100)
    assert address_verdict(policy, None, now=0.0) is None
    assert address_verdict(policy, (99, 900.0), now=10.0) is None
    assert address_verdict(policy, (100, 900.0), now=10.0) == 890
    assert address_verdict(policy, (100, 900.0), now=900.0) is None
    off = ThrottlePolicy(max_failures_per_address=None)
    assert address_verdict(off, (10_000, 900.0), now=10.0) is None


def test_retry_after_rounds_up_and_is_never_zero() -> None:
    assert retry_after(100.2, 100.0) == 1
    assert retry_after(100.0, 100.0) == 1
    assert retry_after(160.5, 100.0) == 61


def test_keys_normalise_usernames_and_hide_inputs() -> None:
    assert user_key("Alice", "10.0.0.1") == user_key("ALICE ", "10.0.0.1")
    assert user_key("\uff41lice", "10.0.0.1") == user_key("alice", "10.0.0.1")
    assert user_key("alice", "10.0.0.1") != user_key("alice", "10.0.0.2")
    assert user_key("alice", "10.0.0.1") != user_key("bob", "10.0.0.1")
    key = user_key("alice", "10.0.0.1")
    assert "alice" not in key and "10.0.0.1" not in key
    assert address_key("10.0.0.1") != address_key("10.0.0.2")
    assert user_key("\ud800", "x").startswith("cg:login:u:")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_attempts_per_user": 0},
        {"max_failures_per_address": 0},
        {"window": 0},
        {"max_failures_per_account": 0},
        {"max_in_flight_per_address": 0},
        {"trusted_address_for": 0},
        {"ipv6_prefix": 0},
        {"ipv6_prefix": 129},
    ],
)
def test_invalid_policies(kwargs: dict[str, int]) -> None:
    with pytest.raises(ConfigError):
        ThrottlePolicy(**kwargs)


def test_address_groups() -> None:
    from cookieguard.core._throttle import address_group

    assert address_group("192.0.2.7") == "192.0.2.7"
    assert address_group("2001:db8:1:2:3:4:5:6") == "2001:db8:1:2::/64"
    assert address_group("2001:DB8:1:2::ffff") == "2001:db8:1:2::/64"
    assert address_group("fe80::1%eth0") == "fe80::/64"
    assert address_group("::ffff:192.0.2.7") == "192.0.2.7"
    assert address_group("2001:db8:1:2::1", 48) == "2001:db8:1::/48"
    assert address_group("unknown") == "unknown"


def test_refusal_order_and_limits() -> None:
    from cookieguard.core._throttle import limits, refusal

    caps = limits(ThrottlePolicy())
    assert caps == {"user": 10, "address": 200, "account": 50}
    assert refusal(caps, {"user": (9, 900.0), "address": None, "account": None}, 0.0) is None
    assert refusal(caps, {"user": (10, 900.0)}, 100.0) == ("user", 800)
    both = {"user": (10, 900.0), "account": (50, 500.0)}
    assert refusal(caps, both, 100.0) == ("user", 800)
    assert refusal(caps, {"account": (50, 500.0)}, 100.0) == ("account", 400)
    assert refusal(caps, {"account": (50, 500.0)}, 500.0) is None  # the window is over
    off = limits(ThrottlePolicy(max_failures_per_address=None, max_failures_per_account=None))
    assert off == {"user": 10}
