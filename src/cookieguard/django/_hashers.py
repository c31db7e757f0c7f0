"""Django's password hashes, verified and written without Django, so a shared table stays Django's.

`DjangoPasswordHasher` is a `PasswordHasher` for a user table a Django site also reads. It
verifies every format Django 6.1 ships, plus the unsalted ones older Django wrote:

=================  ==============================================  ============================
algorithm          stored as                                       notes
=================  ==============================================  ============================
``pbkdf2_sha256``  ``pbkdf2_sha256$<iterations>$<salt>$<b64>``     Django's default
``pbkdf2_sha1``    ``pbkdf2_sha1$<iterations>$<salt>$<b64>``
``argon2``         ``argon2$argon2id$v=19$m=...,t=...,p=...$...``  needs argon2-cffi (a
                                                                   dependency of cookieguard)
``bcrypt_sha256``  ``bcrypt_sha256$$2b$<rounds>$...``              needs ``pip install bcrypt``
``bcrypt``         ``bcrypt$$2b$<rounds>$...``                     needs ``pip install bcrypt``
``scrypt``         ``scrypt$<n>$<salt>$<r>$<p>$<b64>``
``md5``            ``md5$<salt>$<hex>``                            legacy, always upgraded
unsalted MD5/SHA1  ``<32 hex>``, ``md5$$<hex>``, ``sha1$$<hex>``   ancient Django, upgraded
=================  ==============================================  ============================

It never writes a hash Django cannot read: new hashes and upgrades are in the `algorithm`
given (Django's ``PASSWORD_HASHERS[0]``: ``pbkdf2_sha256`` at Django 6.1's 1,500,000
iterations by default, or Django's ``argon2``, ``scrypt`` or ``bcrypt_sha256`` with Django's
parameters), and only when `upgrade` is on. A hash is due an upgrade exactly when Django's
``must_update`` would say so (another algorithm, other parameters, a short salt), so the two
sides never fight over a row.

Timing follows Django: an unknown user or unusable password costs one hash of the preferred
algorithm (``make_password``), and a wrong password on a PBKDF2 row with fewer iterations is
topped up to the preferred count (``harden_runtime``); a wrong password on an MD5 or SHA1 row
costs a full preferred hash too, so cheap rows do not stand out.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import math
import secrets
import string
from types import ModuleType
from typing import Final

import argon2
from argon2.exceptions import InvalidHashError, VerificationError

from cookieguard.auth._passwords import MAX_PASSWORD_LENGTH, PasswordCheck, PasswordHasher
from cookieguard.errors import ConfigError, InvalidPassword

__all__ = [
    "DJANGO_ALGORITHMS",
    "DJANGO_PBKDF2_ITERATIONS",
    "DjangoPasswordHasher",
    "is_django_hash",
]

logger = logging.getLogger("cookieguard.auth")

DJANGO_PBKDF2_ITERATIONS: Final = 1_500_000
"""``PBKDF2PasswordHasher.iterations`` in Django 6.1."""
DJANGO_ALGORITHMS: Final = ("pbkdf2_sha256", "pbkdf2_sha1", "argon2", "scrypt", "bcrypt_sha256")
"""The algorithms `DjangoPasswordHasher` can write (Django reads each with its default
``PASSWORD_HASHERS``; ``bcrypt_sha256`` also needs bcrypt on both sides)."""

_SALT_CHARS: Final = string.ascii_letters + string.digits  # Django's RANDOM_STRING_CHARS
_SALT_LENGTH: Final = 22  # ceil(128 / log2(62)): Django's salt_entropy of 128 bits
_PBKDF2: Final = {"pbkdf2_sha256": "sha256", "pbkdf2_sha1": "sha1"}
_MAX_PBKDF2: Final = 10_000_000
# Django's Argon2PasswordHasher and ScryptPasswordHasher parameters (6.1).
_ARGON2: Final = {"time_cost": 2, "memory_cost": 102_400, "parallelism": 8}
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 5
_BCRYPT_ROUNDS: Final = 12
_STAND_IN: Final = "-"
_WRITABLE_PREFIXES: Final = (
    "pbkdf2_sha256$",
    "pbkdf2_sha1$",
    "argon2$argon2",
    "scrypt$",
    "bcrypt_sha256$$",
    "bcrypt$$",
)
_HEX = frozenset("0123456789abcdef")


def is_django_hash(encoded: object) -> bool:
    """True if Django (default ``PASSWORD_HASHERS``) can read `encoded`: it may be stored.

    Unusable passwords (``!...``) count: Django writes them too.
    """
    return isinstance(encoded, str) and (
        encoded.startswith(_WRITABLE_PREFIXES) or encoded.startswith("!")
    )


def _salt() -> str:
    return "".join(secrets.choice(_SALT_CHARS) for _ in range(_SALT_LENGTH))


def _short_salt(salt: str) -> bool:
    """Django's ``must_update_salt``: under 128 bits at log2(62) bits per character."""
    return len(salt) * math.log2(len(_SALT_CHARS)) < 128


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("utf-8", "replace"), b.encode("utf-8", "replace"))


class DjangoPasswordHasher(PasswordHasher):
    """Verifies Django's hashes and writes only Django's (see the module docs).

    Args:
        algorithm: what new hashes and upgrades use; one of `DJANGO_ALGORITHMS` (Django's
            ``PASSWORD_HASHERS[0]``; `from_django_settings` reads it).
        iterations: PBKDF2 iterations for the ``pbkdf2_*`` algorithms (Django 6.1's default;
            match a custom ``PBKDF2PasswordHasher`` subclass if the Django site has one).
        upgrade: rehash outdated rows at a successful login. False never writes a hash at
            login (a Django site with a custom preferred hasher keeps upgrading them itself).

    Raises:
        ConfigError: an algorithm Django cannot read back, or bcrypt is not installed.
    """

    def __init__(
        self,
        *,
        algorithm: str = "pbkdf2_sha256",
        iterations: int = DJANGO_PBKDF2_ITERATIONS,
        upgrade: bool = True,
    ) -> None:
        super().__init__()
        if algorithm not in DJANGO_ALGORITHMS:
            raise ConfigError(f"DjangoPasswordHasher writes one of {DJANGO_ALGORITHMS}")
        if not 0 < iterations <= _MAX_PBKDF2:
            raise ConfigError(f"iterations must be 1 to {_MAX_PBKDF2}")
        if algorithm == "bcrypt_sha256" and _bcrypt() is None:
            raise ConfigError("bcrypt_sha256 needs bcrypt: pip install bcrypt")
        self.algorithm = algorithm
        self.iterations = iterations
        self.upgrade = upgrade

    def __repr__(self) -> str:
        return f"DjangoPasswordHasher(algorithm={self.algorithm!r}, upgrade={self.upgrade})"

    # -- writing -----------------------------------------------------------------------------

    def hash(self, password: str) -> str:
        """A new hash of `password` in `algorithm`, exactly as Django's ``make_password``.

        Raises:
            InvalidPassword: an empty password, one over `MAX_PASSWORD_LENGTH` characters, or
                one that is not valid text.
        """
        if not isinstance(password, str) or not 0 < len(password) <= MAX_PASSWORD_LENGTH:
            raise InvalidPassword(
                f"passwords must be 1 to {MAX_PASSWORD_LENGTH} characters of valid text"
            )
        try:
            data = password.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidPassword("passwords must be valid text") from None
        return self._encode(data)

    def _encode(self, data: bytes) -> str:
        algorithm = self.algorithm
        if algorithm in _PBKDF2:
            salt = _salt()
            derived = hashlib.pbkdf2_hmac(_PBKDF2[algorithm], data, salt.encode(), self.iterations)
            return f"{algorithm}${self.iterations}${salt}${_b64(derived)}"
        if algorithm == "argon2":
            phc = argon2.low_level.hash_secret(
                data, _salt().encode(), hash_len=32, type=argon2.Type.ID, **_ARGON2
            )
            return "argon2" + phc.decode("ascii")
        if algorithm == "scrypt":
            salt = _salt()
            derived = hashlib.scrypt(
                data, salt=salt.encode(), n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, dklen=64
            )
            return f"scrypt${_SCRYPT_N}${salt}${_SCRYPT_R}${_SCRYPT_P}${_b64(derived)}"
        bcrypt = _bcrypt()
        assert bcrypt is not None  # checked in __init__
        digest = binascii.hexlify(hashlib.sha256(data).digest())
        hashed: bytes = bcrypt.hashpw(digest, bcrypt.gensalt(_BCRYPT_ROUNDS))
        return "bcrypt_sha256$" + hashed.decode("ascii")

    def wrap(self, encoded: str) -> str | None:
        """None: a wrapped hash (``argon2id_pbkdf2_...``) is one Django cannot read."""
        return None

    # -- verifying ---------------------------------------------------------------------------

    def verify(self, encoded: str, password: str) -> PasswordCheck:
        """Check `password` against a Django hash; never raises for bad input (see module)."""
        if not isinstance(password, str) or len(password) > MAX_PASSWORD_LENGTH:
            return self.verify_dummy()
        try:
            data = password.encode("utf-8")
        except UnicodeEncodeError:
            return self.verify_dummy()
        if not isinstance(encoded, str) or not encoded or encoded.startswith("!"):
            return self.verify_dummy()
        algorithm = _identify(encoded)
        try:
            ok, current = self._check(algorithm, encoded, data)
        except (ValueError, TypeError, IndexError, OverflowError, MemoryError) as exc:
            logger.warning(
                "password hash (%s) unreadable (%s); the login fails", algorithm, type(exc).__name__
            )
            return self.verify_dummy()
        if not ok:
            return _FAIL
        return PasswordCheck(ok=True, needs_rehash=self.upgrade and not current)

    def verify_dummy(self, password: str = "") -> PasswordCheck:
        """Spend one preferred hash (Django's ``make_password`` for unknown users) and fail."""
        self._encode(_STAND_IN.encode())
        return _FAIL

    def _check(self, algorithm: str, encoded: str, data: bytes) -> tuple[bool, bool]:
        """(right password, already in the preferred format); raises ValueError if corrupt."""
        if algorithm in _PBKDF2:
            return self._check_pbkdf2(algorithm, encoded, data)
        if algorithm == "argon2":
            return self._check_argon2(encoded, data)
        if algorithm == "scrypt":
            return self._check_scrypt(encoded, data)
        if algorithm in ("bcrypt_sha256", "bcrypt"):
            return self._check_bcrypt(algorithm, encoded, data)
        if algorithm in ("md5", "unsalted_md5", "unsalted_sha1"):
            ok = _check_legacy(algorithm, encoded, data)
            if not ok:
                self.verify_dummy()  # a cheap row must not fail faster than a real one
            return ok, False
        logger.warning("password hash in an unknown format; the login fails")
        self.verify_dummy()
        return False, False

    def _check_pbkdf2(self, algorithm: str, encoded: str, data: bytes) -> tuple[bool, bool]:
        _, iterations_text, salt, expected = encoded.split("$", 3)
        if not (iterations_text.isascii() and iterations_text.isdigit()):
            raise ValueError("iterations")
        iterations = int(iterations_text)
        if not 0 < iterations <= _MAX_PBKDF2:
            raise ValueError("iterations out of range")
        derived = hashlib.pbkdf2_hmac(_PBKDF2[algorithm], data, salt.encode(), iterations)
        ok = _same(_b64(derived), expected)
        same_algorithm = algorithm == self.algorithm
        if not ok and same_algorithm and iterations < self.iterations:
            # Django's harden_runtime: an old row fails as slowly as a current one.
            hashlib.pbkdf2_hmac("sha256", data, salt.encode(), self.iterations - iterations)
        current = same_algorithm and iterations == self.iterations and not _short_salt(salt)
        return ok, current

    def _check_argon2(self, encoded: str, data: bytes) -> tuple[bool, bool]:
        phc = encoded[len("argon2") :]
        try:
            params = argon2.extract_parameters(phc)
        except InvalidHashError as exc:
            raise ValueError("argon2 hash") from exc
        if params.memory_cost > 1 << 20 or params.time_cost > 64 or params.parallelism > 64:
            raise ValueError("argon2 parameters out of range")
        ok: bool
        try:
            ok = argon2.PasswordHasher().verify(phc, data)
        except VerificationError:
            ok = False
        except InvalidHashError as exc:
            raise ValueError("argon2 hash") from exc
        salt_b64 = phc.split("$")[-2]
        salt = base64.b64decode(salt_b64 + "=" * (-len(salt_b64) % 4)).decode("latin-1")
        current = (
            self.algorithm == "argon2"
            and params.type is argon2.Type.ID
            and params.version == argon2.low_level.ARGON2_VERSION
            and params.hash_len == 32
            and (params.time_cost, params.memory_cost, params.parallelism)
            == (_ARGON2["time_cost"], _ARGON2["memory_cost"], _ARGON2["parallelism"])
            and not _short_salt(salt)
        )
        return ok, current

    def _check_scrypt(self, encoded: str, data: bytes) -> tuple[bool, bool]:
        _, n_text, salt, r_text, p_text, expected = encoded.split("$", 5)
        n, r, p = int(n_text), int(r_text), int(p_text)
        if not (1 < n <= 2**20 and n & (n - 1) == 0 and 0 < r <= 64 and 0 < p <= 64):
            raise ValueError("scrypt parameters out of range")
        # maxmem 0 is OpenSSL's 32 MiB default, as in Django: a crafted row cannot ask for more.
        derived = hashlib.scrypt(data, salt=salt.encode(), n=n, r=r, p=p, maxmem=0, dklen=64)
        current = self.algorithm == "scrypt" and (n, r, p) == (_SCRYPT_N, _SCRYPT_R, _SCRYPT_P)
        return _same(_b64(derived), expected), current

    def _check_bcrypt(self, algorithm: str, encoded: str, data: bytes) -> tuple[bool, bool]:
        bcrypt = _bcrypt()
        if bcrypt is None:
            logger.warning(
                "a bcrypt password hash, but bcrypt is not installed: pip install bcrypt"
            )
            self.verify_dummy()
            return False, False
        stored = encoded.split("$", 1)[1]
        rounds = int(stored.split("$")[2])
        if not 4 <= rounds <= 20:
            raise ValueError("bcrypt rounds out of range")
        if algorithm == "bcrypt_sha256":
            secret = binascii.hexlify(hashlib.sha256(data).digest())
        else:
            secret = data[:72]  # what bcrypt before 5.0 hashed (and Django stored) silently
        ok = bcrypt.checkpw(secret, stored.encode("ascii"))
        return ok, algorithm == self.algorithm and rounds == _BCRYPT_ROUNDS


_FAIL: Final = PasswordCheck(ok=False)


def _identify(encoded: str) -> str:
    """Django's ``identify_hasher`` naming, as a string ("unknown" for anything else)."""
    if (len(encoded) == 32 and "$" not in encoded) or (
        len(encoded) == 37 and encoded.startswith("md5$$")
    ):
        return "unsalted_md5"
    if len(encoded) == 46 and encoded.startswith("sha1$$"):
        return "unsalted_sha1"
    algorithm = encoded.split("$", 1)[0]
    known = ("md5", "argon2", "scrypt", "bcrypt_sha256", "bcrypt", *_PBKDF2)
    return algorithm if algorithm in known else "unknown"


def _check_legacy(algorithm: str, encoded: str, data: bytes) -> bool:
    if algorithm == "unsalted_md5":
        expected = encoded[-32:]
        actual = hashlib.md5(data, usedforsecurity=False).hexdigest()
    elif algorithm == "unsalted_sha1":
        expected = encoded[6:]
        actual = hashlib.sha1(data, usedforsecurity=False).hexdigest()
    else:
        _, salt, expected = encoded.split("$", 2)
        actual = hashlib.md5(salt.encode() + data, usedforsecurity=False).hexdigest()
    return _HEX.issuperset(expected) and _same(actual, expected)


def _bcrypt() -> ModuleType | None:
    """The bcrypt module, or None: only needed for bcrypt rows, so not a dependency."""
    try:
        import bcrypt
    except ImportError:
        return None
    return bcrypt
