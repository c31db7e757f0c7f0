"""The session side of authentication: which keys a login writes, and the auth hash.

A logged-in session holds the user's id and an *auth hash*: an HMAC-SHA256, under the app's
secret keys, of the user's password hash. Changing the password changes the auth hash, so a
session made before the change no longer verifies. The HMAC (rather than the password hash
itself) keeps anything derived from the password out of the session store. Hashes made with a
fallback key still verify and are reported for upgrade, so rotating the secret key logs
nobody out.

A password changed behind the library's back (SQL on the users table, a shared Django user
table) cannot end sessions through the per-user index, so a session also records when its
auth hash was last checked against the user store; `recheck_due` says when to check again.
"""

from __future__ import annotations

import enum
import hmac

from cookieguard.core.signing import KeyRing, Signer

SESSION_USER_ID = "_auth_user_id"
"""Session key of the logged-in user's id (a string), as Django names it."""
SESSION_AUTH_HASH = "_auth_user_hash"
"""Session key of the auth hash (hex), as Django names it."""
SESSION_AUTH_BACKEND = "_auth_user_backend"
"""Session key of the Django authentication backend that logged the user in (written only
when sharing logins with Django: `AuthConfig.django_auth_backend`)."""
SESSION_AUTH_CHECKED = "_auth_checked_at"
"""Session key of when the auth hash was last checked against the user store (epoch seconds)."""
SESSION_VERIFIED_AT = "_auth_verified_at"
"""Session key of when the user last entered their password (epoch seconds): recent-login
("sudo") mode. A session restored from a remember-me cookie has none."""
AUTH_HASH_PURPOSE = "cookieguard.auth.session-auth-hash"
"""Purpose the auth-hash HMAC keys are bound to (see `KeyRing.derive`)."""

_HEX_LENGTH = 64


class HashCheck(enum.Enum):
    """Outcome of checking a session's stored auth hash against the user's current one."""

    VALID = "valid"
    """Made with the current key."""
    UPGRADE = "upgrade"
    """Made with a fallback key: valid, but store `AuthHasher.auth_hash` in its place."""
    INVALID = "invalid"
    """Missing, malformed, or made from another password hash: the session must end."""


class AuthHasher:
    """Computes and verifies auth hashes with a `KeyRing` (current key first)."""

    __slots__ = ("_signer",)

    def __init__(self, keyring: KeyRing) -> None:
        self._signer = Signer(keyring, AUTH_HASH_PURPOSE)

    def auth_hash(self, password_hash: str) -> str:
        """Hex HMAC-SHA256 of `password_hash` under the current key."""
        return self._signer.signature(password_hash.encode("utf-8", "surrogatepass")).hex()

    def check(self, stored: object, password_hash: str) -> HashCheck:
        """Compare a session's `stored` value (untrusted) with `password_hash`."""
        if not isinstance(stored, str) or len(stored) != _HEX_LENGTH:
            return HashCheck.INVALID
        try:
            mac = bytes.fromhex(stored)
        except ValueError:
            return HashCheck.INVALID
        index = self._signer.verify(password_hash.encode("utf-8", "surrogatepass"), mac)
        if index is None:
            return HashCheck.INVALID
        return HashCheck.VALID if index == 0 else HashCheck.UPGRADE

    def matches(self, stored: object, password_hash: str) -> bool:
        """True if `stored` verifies under any key (VALID or UPGRADE)."""
        return self.check(stored, password_hash) is not HashCheck.INVALID


def same_user(stored_id: object, user_id: str) -> bool:
    """Constant-time equality of a session's stored user id with `user_id`."""
    if not isinstance(stored_id, str):
        return False
    return hmac.compare_digest(
        stored_id.encode("utf-8", "surrogatepass"), user_id.encode("utf-8", "surrogatepass")
    )


def recheck_due(checked_at: object, now: float, interval: int) -> bool:
    """True when a session last checked at `checked_at` must be checked against the user store.

    A missing or malformed time, or one in the future (clocks of several servers disagree),
    is due: an unverifiable claim is never trusted. With ``interval == 0`` every request is due.
    """
    if type(checked_at) is not float and type(checked_at) is not int:
        return True
    return not 0 <= now - checked_at < interval  # NaN and infinities compare False: due
