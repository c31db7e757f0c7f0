"""cookieguard's exceptions: one shallow tree, data on attributes.

CookieguardError
├── ConfigError            invalid settings, or an optional driver not installed (ValueError)
│   └── MiddlewareMissing  a helper ran where its middleware is not installed (RuntimeError)
├── RequestRejected        malformed or oversized input: .reason, .status_code (400/413)
├── SessionError
│   ├── SessionTooLarge    a cookie-stored session would exceed the browser's 4 KB limit
│   ├── KeyCollision       a store's create() found the new key taken (retry with a new id)
│   └── InvalidSessionChange  a change a session cannot take: a bad expiry, or discarding
│                          pending changes (ValueError)
├── StoreUnavailable       a store cannot be reached: answer 503, never as anonymous
└── AuthError
    ├── UserExists         a username is taken
    ├── InvalidUsername    a username a new account cannot have (ValueError)
    ├── InvalidPassword    a password no hash can be made of: empty, too long, not text (ValueError)
    ├── InactiveUser       login() was given a deactivated user (ValueError)
    ├── UserNotFound       the user was deleted meanwhile (LookupError)
    └── LoginThrottled     .retry_after (seconds), .reason: answer 429

The classes marked with a builtin also subclass it: it is what the library raised before the
class existed, so an existing ``except ValueError`` (or ``LookupError``) still catches them.
"""

from __future__ import annotations

__all__ = [
    "AuthError",
    "ConfigError",
    "CookieguardError",
    "InactiveUser",
    "InvalidPassword",
    "InvalidSessionChange",
    "InvalidUsername",
    "KeyCollision",
    "LoginThrottled",
    "MiddlewareMissing",
    "RequestRejected",
    "SessionError",
    "SessionTooLarge",
    "StoreUnavailable",
    "UserExists",
    "UserNotFound",
]


class CookieguardError(Exception):
    """Base class of every error cookieguard raises on purpose."""


class ConfigError(CookieguardError, ValueError):
    """Settings that cannot work, detected at construction time."""


class MiddlewareMissing(ConfigError, RuntimeError):
    """A helper needs a middleware that does not wrap this request (a wiring mistake).

    Also a `RuntimeError`, which the session helpers raised before this class existed.
    """


class RequestRejected(CookieguardError):
    """The request itself is malformed or too large to check."""

    def __init__(self, reason: str, status_code: int = 400) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status_code = status_code


class SessionError(CookieguardError):
    """Base class of session errors."""


class SessionTooLarge(SessionError):
    """A cookie-stored session would be dropped silently by browsers, so it is refused."""


class KeyCollision(SessionError):
    """`create` found the key already present (astronomically unlikely; retry with a new id)."""


class InvalidSessionChange(SessionError, ValueError):
    """A change the session refuses, rather than saving something it cannot honour.

    Raised by `Session.set_expiry` for anything but a non-negative int or None, and when
    code sets ``session.modified = False`` to drop pending changes (use ``flush()``).
    """


class StoreUnavailable(CookieguardError):
    """A store did not answer; the request must fail with 503, not continue anonymously."""

    status_code = 503


class AuthError(CookieguardError):
    """Base class of login and user errors."""


class UserExists(AuthError):
    """The username is already taken."""


class InvalidUsername(AuthError, ValueError):
    """A new account's username is empty, too long, not NFC, or holds invisible characters.

    Refused at creation so that two accounts cannot look alike on screen; the message says
    which rule failed (it is meant for the person choosing the name).
    """


class InvalidPassword(AuthError, ValueError):
    """A password no hash is made of: empty, over `MAX_PASSWORD_LENGTH`, or not valid text.

    Raised by the `hash` methods of the password hashers; `verify` just answers "no".
    """


class InactiveUser(AuthError, ValueError):
    """`login` was handed a user whose ``is_active`` is false; nobody was logged in.

    `authenticate` never returns such a user, so this is a programming error in the caller
    (a user fetched some other way), not a failed login.
    """


class UserNotFound(AuthError, LookupError):
    """The user an operation names no longer exists (deleted between lookup and change)."""


class LoginThrottled(AuthError):
    """Too many failed logins; retry after `retry_after` seconds.

    `reason` names the limit: ``"user"`` (this username from this address), ``"address"``,
    ``"account"`` (this username from everywhere) or ``"busy"`` (checks already running for
    this address), as in `cookieguard.core._throttle`.
    """

    status_code = 429

    def __init__(self, retry_after: int, reason: str = "user") -> None:
        super().__init__(f"too many failed logins; retry after {retry_after} seconds")
        self.retry_after = retry_after
        self.reason = reason
