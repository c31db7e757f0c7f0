"""How much of a client's address to keep: the whole address, its network, or nothing.

A session list that shows "192.0.2.0/24" lets a user tell home from abroad without the
store holding a full address (personal data) for every session; `full` keeps it all and
`none` keeps nothing. Only what `ipaddress` parses is kept, in its canonical form: a
malformed or oversized value from a misconfigured proxy is dropped, never stored as sent.
"""

from __future__ import annotations

import ipaddress
from typing import Literal

__all__ = ["ADDRESS_MODES", "AddressMode", "keep_address"]

AddressMode = Literal["truncated", "full", "none"]
ADDRESS_MODES: tuple[str, ...] = ("truncated", "full", "none")
IPV4_PREFIX = 24
IPV6_PREFIX = 48
_MAX_LENGTH = 64  # an IPv6 address with a zone id fits; anything longer is not an address
_OCTET = {str(n): True for n in range(256)}  # canonical decimal octets: no "01", "+1", " 1"


def keep_address(address: object, mode: str) -> str | None:
    """What to keep of `address` under `mode`: "192.0.2.0/24", the address, or None."""
    if mode == "none" or not isinstance(address, str) or not 0 < len(address) <= _MAX_LENGTH:
        return None
    if ":" not in address:  # IPv4 by hand: `ipaddress` costs ~20x more, on every new session
        octets = address.split(".")
        if len(octets) != 4 or not all(_OCTET.get(o) for o in octets):
            return None
        return address if mode == "full" else f"{octets[0]}.{octets[1]}.{octets[2]}.0/24"
    try:
        ip = ipaddress.ip_address(address.partition("%")[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:192.0.2.1 is an IPv4 client on a dual-stack socket
    if mode == "full":
        return str(ip)
    prefix = IPV4_PREFIX if ip.version == 4 else IPV6_PREFIX
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))
