"""`keep_address`: what a record keeps of a client address, and nothing for a malformed one."""

from __future__ import annotations

import pytest

from cookieguard.config import SessionConfig
from cookieguard.core._client_address import keep_address
from cookieguard.errors import ConfigError


@pytest.mark.parametrize(
    ("address", "truncated", "full"),
    [
        ("203.0.113.7", "203.0.113.0/24", "203.0.113.7"),
        ("255.255.255.255", "255.255.255.0/24", "255.255.255.255"),
        ("::ffff:192.0.2.1", "192.0.2.0/24", "192.0.2.1"),  # IPv4 on a dual-stack socket
        ("2001:db8:abcd:12::5", "2001:db8:abcd::/48", "2001:db8:abcd:12::5"),
        ("fe80::1%eth0", "fe80::/48", "fe80::1"),
        ("256.1.1.1", None, None),
        ("01.2.3.4", None, None),
        ("1.2.3", None, None),
        (" 1.2.3.4", None, None),
        ("\u0661.2.3.4", None, None),  # Arabic-Indic digit one
        ("not-an-ip", None, None),
        ("1:2:3:4:5:6:7:8:9", None, None),
        ("2001:db8::1" * 10, None, None),
        ("", None, None),
        (None, None, None),
        (12345, None, None),
    ],
)
def test_what_is_kept(address: object, truncated: str | None, full: str | None) -> None:
    assert keep_address(address, "truncated") == truncated
    assert keep_address(address, "full") == full
    assert keep_address(address, "none") is None


def test_an_unknown_mode_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="client_address"):
        SessionConfig(client_address="partial")  # type: ignore[arg-type]
