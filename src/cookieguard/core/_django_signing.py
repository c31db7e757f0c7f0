"""Django's signing format, re-implemented without Django: session rows and the auth hash.

A cookieguard service that shares ``django_session`` with a Django site must read and write
``session_data`` byte for byte as Django does, and compute the same session auth hash, but
cookieguard must not depend on Django. So this module re-implements the small part of
``django.core.signing`` and ``django.utils.crypto`` those need (Django 6.1), sans-IO:

* ``salted_hmac(key_salt, value, secret)``: HMAC-SHA256 under the key
  ``SHA-256(key_salt + secret)``;
* ``signing.dumps(obj, salt=..., compress=True)``: compact ASCII JSON, zlib-compressed when
  that is more than one byte shorter (then prefixed with ``.``), URL-safe base64 without
  padding, then ``:`` + the time in base 62, then ``:`` + the signature: base64 of
  ``salted_hmac(salt + "signer", value, secret)``;
* ``signing.loads``: the same, verified with ``SECRET_KEY`` and then each of
  ``SECRET_KEY_FALLBACKS`` (constant-time comparisons).

Sessions use the salt ``"django.contrib.sessions." + SessionStore.__qualname__``, i.e.
`DJANGO_SESSION_SALT` for the database backend (a custom store class changes it). Django
6.1's change to signing salts (CVE-2026-6873) touched signed *cookies* only
(``get_cookie_signer``); session data and the auth hash are signed as before.

Nothing here unpickles, evaluates or trusts unsigned data: `SessionCodec.decode` answers
None for anything that is not a JSON object signed by one of the keys.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import zlib
from collections.abc import Sequence
from typing import Any, Final

from cookieguard.core._auth import AuthHasher, HashCheck

__all__ = [
    "AUTH_HASH_SALT",
    "DJANGO_SESSION_SALT",
    "DjangoAuthHasher",
    "SessionCodec",
    "b62_decode",
    "b62_encode",
    "salted_hmac",
    "session_salt",
]

DJANGO_SESSION_SALT: Final = "django.contrib.sessions.SessionStore"
"""The salt of ``django.contrib.sessions.backends.db.SessionStore`` (its qualname is
``SessionStore``; Django 6.1)."""
AUTH_HASH_SALT: Final = "django.contrib.auth.models.AbstractBaseUser.get_session_auth_hash"
"""The key salt of Django's session auth hash."""

_BASE62: Final = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_B62_INDEX: Final = {c: i for i, c in enumerate(_BASE62)}
_MAX_INFLATED = 16 * 1024 * 1024  # a signed row can still not make us inflate without bound
_compact = json.JSONEncoder(separators=(",", ":")).encode  # ensure_ascii, as Django's


def session_salt(store_qualname: str = "SessionStore") -> str:
    """The signing salt of a Django session store class, given its ``__qualname__``."""
    return "django.contrib.sessions." + store_qualname


def _bytes(value: str | bytes) -> bytes:
    return value.encode("utf-8", "surrogatepass") if isinstance(value, str) else value


def salted_hmac(key_salt: str, value: str | bytes, secret: str | bytes) -> hmac.HMAC:
    """Django's ``salted_hmac(key_salt, value, secret, algorithm="sha256")``."""
    key = hashlib.sha256(_bytes(key_salt) + _bytes(secret)).digest()
    return hmac.new(key, _bytes(value), hashlib.sha256)


def b62_encode(number: int) -> str:
    """Django's base 62 (digits, then A-Z, then a-z), as timestamps are written."""
    if number == 0:
        return "0"
    sign = "-" if number < 0 else ""
    number = abs(number)
    digits = []
    while number:
        number, remainder = divmod(number, 62)
        digits.append(_BASE62[remainder])
    return sign + "".join(reversed(digits))


def b62_decode(text: str) -> int:
    """Inverse of `b62_encode`; raises ValueError on anything else."""
    sign, body = (-1, text[1:]) if text.startswith("-") else (1, text)
    if not body or len(body) > 12:
        raise ValueError("not a base 62 timestamp")
    value = 0
    for char in body:
        digit = _B62_INDEX.get(char)
        if digit is None:
            raise ValueError("not a base 62 timestamp")
        value = value * 62 + digit
    return sign * value


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    padded = text + "=" * (-len(text) % 4)
    return base64.b64decode(padded.encode("ascii"), altchars=b"-_", validate=True)


class SessionCodec:
    """Encodes and decodes ``django_session.session_data`` exactly as Django does.

    Args:
        secret_key: Django's ``SECRET_KEY`` (signs new values).
        fallbacks: Django's ``SECRET_KEY_FALLBACKS`` (accepted when reading).
        salt: ``"django.contrib.sessions." + <SessionStore class qualname>``.
    """

    __slots__ = ("_keys", "_salt")

    def __init__(
        self,
        secret_key: str | bytes,
        fallbacks: Sequence[str | bytes] = (),
        *,
        salt: str = DJANGO_SESSION_SALT,
    ) -> None:
        if isinstance(fallbacks, (str, bytes)):
            raise TypeError("fallbacks is a sequence of keys, not one key")
        signer_salt = _bytes(salt + "signer")
        # salted_hmac's derived key, once per secret rather than once per row.
        self._keys = tuple(
            hashlib.sha256(signer_salt + _bytes(k)).digest() for k in (secret_key, *fallbacks)
        )
        self._salt = salt

    def __repr__(self) -> str:
        return f"SessionCodec(salt={self._salt!r}, <{len(self._keys)} keys hidden>)"

    def _signature(self, key: bytes, value: str) -> str:
        return _b64encode(hmac.new(key, value.encode("ascii"), hashlib.sha256).digest())

    def encode(self, data: dict[str, Any], *, now: float) -> str:
        """``signing.dumps(data, salt=..., compress=True)`` as signed at epoch time `now`."""
        raw = _compact(data).encode("latin-1")
        packed = zlib.compress(raw)
        # Compressed only when more than one byte shorter, flagged by a leading ".".
        body = "." + _b64encode(packed) if len(packed) < len(raw) - 1 else _b64encode(raw)
        value = f"{body}:{b62_encode(int(now))}"
        return f"{value}:{self._signature(self._keys[0], value)}"

    def verify(self, session_data: str) -> str | None:
        """The signed part (``body:timestamp``) if any key signed `session_data`, else None."""
        if not isinstance(session_data, str) or not session_data.isascii():
            return None
        value, sep, signature = session_data.rpartition(":")
        if not sep:
            return None
        wanted = signature.encode("ascii")
        matched = False
        for key in self._keys:  # every key is tried: the time does not tell which one signed
            matched |= hmac.compare_digest(self._signature(key, value).encode("ascii"), wanted)
        return value if matched else None

    def decode(self, session_data: str) -> tuple[dict[str, Any] | None, str]:
        """(the session dict, "") or (None, why it was refused): never raises, never trusts.

        Refused: a value no key signed (an unknown or rotated-out key, tampering, an old
        pickle-era row), or a signed value that is not a compact JSON object (a pickled
        session from ``PickleSerializer``, corruption). The reason names no data.
        """
        value = self.verify(session_data)
        if value is None:
            return None, "bad signature"
        body, sep, stamp = value.rpartition(":")
        try:
            if not sep:
                raise ValueError("no timestamp")
            b62_decode(stamp)
            deflated = body.startswith(".")
            payload = _b64decode(body[1:] if deflated else body)
            if deflated:
                inflater = zlib.decompressobj()
                payload = inflater.decompress(payload, _MAX_INFLATED)
                if inflater.unconsumed_tail:
                    raise ValueError("inflates too far")
            data = json.loads(payload.decode("latin-1"))
        except (ValueError, binascii.Error, zlib.error, RecursionError):
            return None, "signed but not JSON (pickled or corrupt)"
        if not isinstance(data, dict):
            return None, "signed JSON that is not an object"
        return data, ""


class DjangoAuthHasher(AuthHasher):
    """The session auth hash as Django computes it, so both sides verify the other's.

    ``salted_hmac(AUTH_HASH_SALT, password_hash, SECRET_KEY, algorithm="sha256")`` in hex
    (``AbstractBaseUser.get_session_auth_hash``); a hash made with one of
    ``SECRET_KEY_FALLBACKS`` is valid and reported for upgrade, as ``django.contrib.auth.get_user``
    does. A password change on either side changes the hash, and the other side's sessions
    of that user end at their next check.
    """

    __slots__ = ("_secrets",)

    def __init__(self, secret_key: str | bytes, fallbacks: Sequence[str | bytes] = ()) -> None:
        if isinstance(fallbacks, (str, bytes)):
            raise TypeError("fallbacks is a sequence of keys, not one key")
        self._secrets = tuple(
            hashlib.sha256(_bytes(AUTH_HASH_SALT) + _bytes(k)).digest()
            for k in (secret_key, *fallbacks)
        )

    def __repr__(self) -> str:
        return f"DjangoAuthHasher(<{len(self._secrets)} keys hidden>)"

    def _hex(self, key: bytes, password_hash: str) -> bytes:
        return hmac.new(key, _bytes(password_hash), hashlib.sha256).hexdigest().encode("ascii")

    def auth_hash(self, password_hash: str) -> str:
        """Django's ``user.get_session_auth_hash()`` for this password hash."""
        return self._hex(self._secrets[0], password_hash).decode("ascii")

    def check(self, stored: object, password_hash: str) -> HashCheck:
        """Compare a session's ``_auth_user_hash`` (untrusted) with `password_hash`."""
        if not isinstance(stored, str) or len(stored) != 64 or not stored.isascii():
            return HashCheck.INVALID
        wanted = stored.encode("ascii")
        for index, key in enumerate(self._secrets):
            if hmac.compare_digest(self._hex(key, password_hash), wanted):
                return HashCheck.VALID if index == 0 else HashCheck.UPGRADE
        return HashCheck.INVALID
