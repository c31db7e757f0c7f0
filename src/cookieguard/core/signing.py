"""HMAC-SHA256 signing with a key ring: the newest key signs, every key verifies.

Rotating the secret key means putting the new key first and keeping the old ones as
fallbacks until what they signed has expired. Every signature is bound to a `purpose`
(length-prefixed, so no two purposes can collide by concatenation).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass, field

from cookieguard.errors import ConfigError

__all__ = ["KeyRing", "Signer", "b64decode", "b64encode"]

_MIN_KEY_LENGTH = 16


def _as_bytes(key: str | bytes) -> bytes:
    return key.encode("utf-8") if isinstance(key, str) else key


def b64encode(data: bytes) -> str:
    """URL-safe base64 without padding (cookie- and URL-safe)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64decode(text: str) -> bytes:
    """Inverse of `b64encode`; raises ValueError on malformed input."""
    if not text.isascii():
        raise ValueError("non-ASCII base64")
    padded = text + "=" * (-len(text) % 4)
    return base64.urlsafe_b64decode(padded.encode("ascii"))


@dataclass(frozen=True, repr=False)
class KeyRing:
    """Secret keys, current first. Never printed: `repr` hides the material."""

    current: str | bytes
    fallbacks: Sequence[str | bytes] = field(default=())

    def __post_init__(self) -> None:
        for key in (self.current, *self.fallbacks):
            if len(_as_bytes(key)) < _MIN_KEY_LENGTH:
                raise ConfigError(f"secret keys must be at least {_MIN_KEY_LENGTH} bytes long")

    def __repr__(self) -> str:
        return f"KeyRing(<{1 + len(self.fallbacks)} keys hidden>)"

    def derive(self, purpose: str) -> tuple[bytes, ...]:
        """One HMAC key per secret, current first, bound to `purpose`."""
        label = f"cookieguard:{len(purpose)}:{purpose}".encode()
        return tuple(
            hmac.new(_as_bytes(k), label, hashlib.sha256).digest()
            for k in (self.current, *self.fallbacks)
        )


class Signer:
    """Signs and verifies byte strings for one purpose with a `KeyRing`."""

    __slots__ = ("_keys",)

    def __init__(self, keyring: KeyRing, purpose: str) -> None:
        self._keys = keyring.derive(purpose)

    def signature(self, message: bytes) -> bytes:
        """Raw HMAC-SHA256 of `message` under the current key."""
        return hmac.new(self._keys[0], message, hashlib.sha256).digest()

    def verify(self, message: bytes, signature: bytes) -> int | None:
        """Index of the key that made `signature` (0 = current), or None if none did."""
        for index, key in enumerate(self._keys):
            expected = hmac.new(key, message, hashlib.sha256).digest()
            if hmac.compare_digest(expected, signature):
                return index
        return None

    def sign(self, payload: bytes) -> str:
        """``base64(payload).base64(mac)``, a cookie-safe signed value."""
        body = b64encode(payload)
        mac = self.signature(body.encode("ascii"))
        return f"{body}.{b64encode(mac)}"

    def unsign(self, value: str) -> bytes | None:
        """The payload of a value made by `sign` with any key of the ring, else None."""
        body, sep, mac_text = value.rpartition(".")
        if not sep or not body.isascii():
            return None
        try:
            mac = b64decode(mac_text)
            if self.verify(body.encode("ascii"), mac) is None:
                return None
            return b64decode(body)
        except ValueError:
            return None
