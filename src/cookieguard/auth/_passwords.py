"""Password hashing: Argon2id for new hashes, Django's formats verified and upgraded.

New hashes use Argon2id in the standard PHC string form
(``$argon2id$v=19$m=7168,t=5,p=1$salt$hash``). The parameters are the 7 MiB, 5 passes, 1 lane
row of OWASP's Password Storage Cheat Sheet, which lists it as equivalent in strength to its
19 MiB / 2 passes row: the same defence for less than half the memory per hash, which is what
a server's resident size is made of after logins. Hashes made with other parameters (the
19 MiB row included; Argon2 records them in the hash) still verify and report that a rehash
is due. Existing Django user tables work as they are: ``pbkdf2_sha256$...``,
``pbkdf2_sha1$...`` and Django's ``argon2$argon2id$...`` verify and report a rehash too, so
the next successful login upgrades them. Unusable passwords (``!...``) never verify.

A Django PBKDF2 row can be wrapped without its password (`PasswordHasher.wrap`, or
``cookieguard users wrap-legacy``): ``argon2id_pbkdf2_sha256$<iterations>$<salt>$<PHC>``
holds Argon2id of the PBKDF2 output, so a leaked table holds no bare PBKDF2 hash. It verifies
like the row it replaces (PBKDF2, then Argon2id) and is upgraded to plain Argon2id at the next
successful login.

Every failure costs the same: one full Argon2 verification at this hasher's parameters, of the
same bytes whether the user exists or not (a password over `MAX_PASSWORD_LENGTH` or not valid
text is replaced by the same stand-in on every path), plus PBKDF2 up to `legacy_iterations`.
PBKDF2 cannot be made cheaper without the password, so while a table still holds PBKDF2 rows
(plain or wrapped), set `legacy_iterations` to their iteration count: a failed check on an
Argon2 row or an unknown user then runs the PBKDF2 iterations a legacy row would (as Django's
``harden_runtime`` does), and the response time tells nobody which accounts exist or how old
their hash is. Hashing takes tens of milliseconds of CPU: the
``a``-prefixed methods run it off the event loop, on one small executor shared by every
hasher (`HASH_THREADS` threads). Bounding the threads bounds the memory: at most that many
Argon2 blocks exist at once however many logins arrive (a login flood queues rather than
allocating 7 MiB per request), and only those threads' malloc arenas ever hold one.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

import argon2
from argon2.exceptions import InvalidHashError, VerificationError

from cookieguard._inline import off_loop
from cookieguard.core.tokens import new_csrf_secret
from cookieguard.errors import ConfigError, InvalidPassword

__all__ = [
    "HASH_THREADS",
    "MAX_PASSWORD_LENGTH",
    "PasswordCheck",
    "PasswordHasher",
    "acceptable_password",
]

logger = logging.getLogger("cookieguard.auth")

MAX_PASSWORD_LENGTH = 4096
"""Longer passwords are refused outright (they can only be an attack on the hash's cost)."""

_PBKDF2 = {"pbkdf2_sha256": "sha256", "pbkdf2_sha1": "sha1"}
_PBKDF2_MAX_ITERATIONS = 10_000_000  # a crafted row must not pin a CPU for minutes
_DJANGO_ARGON2_PREFIX = "argon2$"
_WRAPPED = {"argon2id_pbkdf2_sha256": "sha256", "argon2id_pbkdf2_sha1": "sha1"}
_PAD_SALT = b"cookieguard-timing-pad"
_STAND_IN = b"-"  # hashed in place of a password that is too long or not valid text

HASH_THREADS = 2
"""Threads that run password hashing for the async methods, shared by every hasher."""

_T = TypeVar("_T")
_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def _hash_executor() -> ThreadPoolExecutor:
    global _executor
    if _executor is None:
        with _executor_lock:
            if _executor is None:
                _executor = ThreadPoolExecutor(HASH_THREADS, thread_name_prefix="cookieguard-hash")
    return _executor


async def _off_loop(func: Callable[..., _T], *args: str) -> _T:
    # In place when no loop runs: the sync front door (WSGI) drives these coroutines inline.
    return await off_loop(_hash_executor, func, *args)


@dataclass(frozen=True, slots=True)
class PasswordCheck:
    """Result of verifying a password against a stored hash."""

    ok: bool
    """The password is right."""
    needs_rehash: bool = False
    """Right, but the hash uses an older algorithm or parameters: store `hash(password)`."""


_FAIL = PasswordCheck(ok=False)


def _encode(password: object) -> bytes | None:
    # The length check comes first, so an oversized input is never even encoded.
    if not isinstance(password, str) or len(password) > MAX_PASSWORD_LENGTH:
        return None
    try:
        return password.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates from a broken client
        return None


def acceptable_password(password: object) -> bool:
    """Whether `password` can be checked at all (a string of valid text, at most 4096 chars).

    Anything else fails every check; `authenticate` then skips the user lookup, so known and
    unknown usernames run the very same code.
    """
    return bool(_encode(password))


def _pbkdf2_b64(algorithm: str, data: bytes, salt: str, iterations: int) -> str:
    derived = hashlib.pbkdf2_hmac(algorithm, data, salt.encode("utf-8"), iterations)
    return base64.b64encode(derived).decode("ascii")


def _split_pbkdf2(encoded: str) -> tuple[str, int, str, str] | None:
    """(algorithm prefix, iterations, salt, rest) of a PBKDF2-style row, or None if corrupt."""
    parts = encoded.split("$", 3)
    if len(parts) != 4 or not parts[1].isdigit() or not parts[1].isascii():
        return None
    return parts[0], int(parts[1]), parts[2], parts[3]


class PasswordHasher:
    """Hashes and verifies passwords.

    Args:
        time_cost: Argon2 passes (OWASP's row for 7 MiB: 5).
        memory_cost: Argon2 memory in KiB (7168, i.e. 7 MiB).
        parallelism: Argon2 lanes.
        legacy_iterations: PBKDF2 iterations every failed check costs at least (0: none).
            Set it to the iteration count of the table's Django PBKDF2 rows (plain or
            wrapped; ``cookieguard users wrap-legacy`` prints it) while any remain, so that a
            legacy row's cost does not reveal that its account exists. It is paid on every
            failed login, so set it back to 0 once those rows are upgraded or reset.
    """

    def __init__(
        self,
        *,
        time_cost: int = 5,
        memory_cost: int = 7168,
        parallelism: int = 1,
        legacy_iterations: int = 0,
    ):
        if not 0 <= legacy_iterations <= _PBKDF2_MAX_ITERATIONS:
            raise ConfigError(f"legacy_iterations must be 0 to {_PBKDF2_MAX_ITERATIONS}")
        self.legacy_iterations = legacy_iterations
        self._argon = argon2.PasswordHasher(
            time_cost=time_cost,
            memory_cost=memory_cost,
            parallelism=parallelism,
            hash_len=32,
            salt_len=16,
            type=argon2.Type.ID,
        )
        # What unknown users are checked against: same parameters, unguessable password.
        # Made on first use (in a worker thread when called through the async methods).
        self._dummy: str | None = None
        self._dummy_lock = threading.Lock()

    def hash(self, password: str) -> str:
        """A new Argon2id hash of `password`.

        Raises:
            InvalidPassword: if the password is empty, longer than `MAX_PASSWORD_LENGTH`, or not
                encodable as UTF-8.
        """
        data = _encode(password)
        if not data:
            raise InvalidPassword(
                f"passwords must be 1 to {MAX_PASSWORD_LENGTH} characters of valid text"
            )
        return self._argon.hash(data)

    def verify(self, encoded: str, password: str) -> PasswordCheck:
        """Check `password` against a stored hash in any supported format.

        Never raises for bad input: an unknown format, a corrupt hash or an unusable
        password is a failed check that cost as much time as a real one.
        """
        data = _encode(password)
        if data is None or not isinstance(encoded, str):
            return self.verify_dummy()
        if encoded.startswith("$argon2"):
            return self._verify_argon2(encoded, data, ours=True)
        if encoded.startswith(_DJANGO_ARGON2_PREFIX):
            return self._verify_argon2(encoded[len("argon2") :], data, ours=False)
        algorithm, _, _ = encoded.partition("$")
        if algorithm in _PBKDF2 or algorithm in _WRAPPED:
            return self._verify_pbkdf2(encoded, data)
        if not encoded.startswith("!"):
            logger.warning("password hash in an unknown format; the login fails")
        return self.verify_dummy(password)

    def verify_dummy(self, password: str = "") -> PasswordCheck:
        """Spend the time of a failed verification and fail (unknown user, bad input)."""
        data = _encode(password) or _STAND_IN
        with contextlib.suppress(VerificationError):
            self._argon.verify(self._dummy or self._make_dummy(), data)
        return self._failed(data, spent=0)

    def _make_dummy(self) -> str:
        with self._dummy_lock:
            if self._dummy is None:
                self._dummy = self._argon.hash(new_csrf_secret())
            return self._dummy

    def wrap(self, encoded: str) -> str | None:
        """`encoded` (a Django PBKDF2 row) wrapped in Argon2id, or None if it is not one.

        Needs no password: Argon2id hashes the row's PBKDF2 output. The result verifies the
        same passwords and is upgraded to plain Argon2id at the next successful login.
        """
        parts = _split_pbkdf2(encoded) if isinstance(encoded, str) else None
        if parts is None or parts[0] not in _PBKDF2 or not parts[3]:
            return None
        algorithm, iterations, salt, expected = parts
        if not 0 < iterations <= _PBKDF2_MAX_ITERATIONS:
            return None
        inner = self._argon.hash(expected.encode("utf-8", "replace"))
        return f"argon2id_{algorithm}${iterations}${salt}${inner}"

    def _failed(self, data: bytes, *, spent: int) -> PasswordCheck:
        # Top the PBKDF2 work of this check up to legacy_iterations (see the module docstring).
        if (pad := self.legacy_iterations - spent) > 0:
            hashlib.pbkdf2_hmac("sha256", data, _PAD_SALT, pad)
        return _FAIL

    def _verify_argon2(self, encoded: str, data: bytes, *, ours: bool) -> PasswordCheck:
        try:
            self._argon.verify(encoded, data)
        except VerificationError:
            return self._failed(data, spent=0)
        except InvalidHashError:
            logger.warning("corrupt Argon2 password hash; the login fails")
            return self.verify_dummy()
        return PasswordCheck(
            ok=True, needs_rehash=not ours or self._argon.check_needs_rehash(encoded)
        )

    def _verify_pbkdf2(self, encoded: str, data: bytes) -> PasswordCheck:
        """A Django PBKDF2 row, or one wrapped in Argon2id (``argon2id_pbkdf2_...``)."""
        parts = _split_pbkdf2(encoded)
        if parts is None:
            logger.warning("corrupt PBKDF2 password hash; the login fails")
            return self.verify_dummy()
        prefix, iterations, salt, rest = parts
        if not 0 < iterations <= _PBKDF2_MAX_ITERATIONS:
            logger.warning("PBKDF2 password hash with %d iterations refused", iterations)
            return self.verify_dummy()
        wrapped = prefix in _WRAPPED
        algorithm = _WRAPPED[prefix] if wrapped else _PBKDF2[prefix]
        actual = _pbkdf2_b64(algorithm, data, salt, iterations)
        if wrapped:
            try:
                self._argon.verify(rest, actual.encode("ascii"))
            except VerificationError:
                return self._failed(data, spent=iterations)
            except InvalidHashError:
                logger.warning("corrupt wrapped PBKDF2 password hash; the login fails")
                return self.verify_dummy()
            return PasswordCheck(ok=True, needs_rehash=True)
        if not hmac.compare_digest(actual.encode("ascii"), rest.encode("utf-8", "replace")):
            # A plain row costs no Argon2: spend one, so it fails like every other row.
            with contextlib.suppress(VerificationError):
                self._argon.verify(self._dummy or self._make_dummy(), data)
            return self._failed(data, spent=iterations)
        return PasswordCheck(ok=True, needs_rehash=True)

    async def ahash(self, password: str) -> str:
        """`hash` on the hashing threads."""
        return await _off_loop(self.hash, password)

    async def averify(self, encoded: str, password: str) -> PasswordCheck:
        """`verify` on the hashing threads."""
        return await _off_loop(self.verify, encoded, password)

    async def averify_dummy(self, password: str = "") -> PasswordCheck:
        """`verify_dummy` on the hashing threads."""
        return await _off_loop(self.verify_dummy, password)

    async def awrap(self, encoded: str) -> str | None:
        """`wrap` on the hashing threads."""
        return await _off_loop(self.wrap, encoded)
