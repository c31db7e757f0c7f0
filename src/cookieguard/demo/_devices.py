"""The demo's device names: the library's (`cookieguard.auth.devices`)."""

from cookieguard.auth.devices import UNKNOWN, device_name

__all__ = ["UNKNOWN", "device_name"]
