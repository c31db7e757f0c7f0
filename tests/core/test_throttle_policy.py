"""Throttle policy: keys, thresholds and Retry-After, with time passed in."""

from __future__ import annotations

import pytest

from cookieguard.core._throttle import (
    ADDRESS,
    USER,
    ThrottlePolicy,
    address_key,
    limits,
    refusal,
    retry_after,
    user_key,
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
    caps = limits(policy)
    # The counter as read before this attempt: ten earlier attempts leave no room.
    for earlier in range(10):
        assert refusal(caps, {USER: (earlier, end)}, now=1000.0 + earlier) is None
    assert refusal(caps, {USER: (10, end)}, now=1011.0) == (USER, 889)
    assert refusal(caps, {USER: (49, end)}, now=1899.2) == (USER, 1)


def test_address_limit() -> None:
    caps = limits(ThrottlePolicy(max_failures_per_address=100))
    assert refusal(caps, {ADDRESS: None}, now=0.0) is None
    assert refusal(caps, {ADDRESS: (99, 900.0)}, now=10.0) is None
    assert refusal(caps, {ADDRESS: (100, 900.0)}, now=10.0) == (ADDRESS, 890)
    assert refusal(caps, {ADDRESS: (100, 900.0)}, now=900.0) is None
    off = limits(ThrottlePolicy(max_failures_per_address=None))
    assert refusal(off, {ADDRESS: (10_000, 900.0)}, now=10.0) is None


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
