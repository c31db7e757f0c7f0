"""Login, logout and the current user for WSGI apps: the async helpers' own code, inline.

Each function here finds the request's scope (`cookieguard.wsgi._scope`) and runs the
matching coroutine of `cookieguard.auth` with `run_inline`; user stores and counters are
seen through their inline views. Binding a user, flushing or cycling the session, deleting
the record at logout, rotating the CSRF secret, the auth-hash checks, timing equalisation
and throttling are therefore exactly the ASGI front door's.

Every function takes a Werkzeug/Flask request (``flask.request`` works), or the environ.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from cookieguard._inline import run_inline
from cookieguard.auth._context import AuthConfig, AuthMiddleware
from cookieguard.auth._login import authenticate as _authenticate
from cookieguard.auth._login import get_user as _get_user
from cookieguard.auth._login import get_user_id as _get_user_id
from cookieguard.auth._login import login as _login
from cookieguard.auth._login import logout as _logout
from cookieguard.auth._password_change import change_password as _change_password
from cookieguard.auth._passwords import PasswordHasher
from cookieguard.auth._recent import reauthenticate as _reauthenticate
from cookieguard.auth._sessions import SessionEntry
from cookieguard.auth._sessions import list_sessions as _list_sessions
from cookieguard.auth._sessions import revoke_all_sessions as _revoke_all_sessions
from cookieguard.auth._sessions import revoke_other_sessions as _revoke_other_sessions
from cookieguard.auth._sessions import revoke_session as _revoke_session
from cookieguard.auth._throttle import LoginAttempt, LoginThrottle
from cookieguard.auth._users import ManagedUserStore, User
from cookieguard.auth._users_sync import SyncManagedUserStore, SyncUserStore, inline_user_store
from cookieguard.core._throttle import ThrottlePolicy
from cookieguard.core.signing import KeyRing
from cookieguard.errors import ConfigError
from cookieguard.stores._inline import InlineCounters
from cookieguard.stores.base import SyncCounterStore
from cookieguard.wsgi._responses import WSGIApp
from cookieguard.wsgi._scope import WSGIEnviron, environ_of, scope_for, scope_of_request

__all__ = [
    "SyncLoginAttempt",
    "SyncLoginThrottle",
    "WSGIAuthMiddleware",
    "authenticate",
    "change_password",
    "client_address",
    "get_user",
    "get_user_id",
    "list_sessions",
    "login",
    "logout",
    "reauthenticate",
    "revoke_all_sessions",
    "revoke_other_sessions",
    "revoke_session",
    "sync_auth_config",
]


def sync_auth_config(
    keyring: KeyRing,
    users: SyncUserStore | None = None,
    *,
    recheck_interval: int | None = 300,
    **options: Any,
) -> AuthConfig:
    """An `AuthConfig` over a sync user store (the shared code sees its inline view).

    Without `users` nothing can be re-checked: `recheck_interval` is then None.
    """
    return AuthConfig(
        keyring=keyring,
        user_store=None if users is None else inline_user_store(users),
        recheck_interval=recheck_interval if users is not None else None,
        **options,
    )


async def _done(scope: Any, receive: Any, send: Any) -> None:
    """The inner app of the `AuthMiddleware` whose steps run inline: never called (the WSGI
    app runs after `WSGIAuthMiddleware.prepare` returns)."""


class WSGIAuthMiddleware:
    """Makes an `AuthConfig` available to the helpers and re-checks logged-in sessions.

    It runs `AuthMiddleware` itself, inline: a session whose last check is
    `AuthConfig.recheck_interval` old is verified against the user store before the app
    runs (a stale one is ended and the request is anonymous). Place it inside the session
    and CSRF layers.
    """

    def __init__(self, app: WSGIApp, config: AuthConfig) -> None:
        self.app = app
        self.config = config
        self.shared: AuthMiddleware = AuthMiddleware(_done, config)

    def prepare(self, environ: WSGIEnviron) -> None:
        """Bind the config and run the re-check (for front doors without this wrapper)."""
        # `AuthMiddleware.__call__`'s steps without its coroutine: most requests are due no
        # re-check, and driving a coroutine to learn that costs more than the rest.
        due = self.shared._enter(scope_for(environ))
        if due is not None:
            run_inline(due)

    def __call__(self, environ: WSGIEnviron, start_response: Callable[..., Any]) -> Iterable[bytes]:
        self.prepare(environ)
        return self.app(environ, start_response)


class SyncLoginAttempt:
    """An admitted attempt (see `LoginAttempt`): end it with `failed()` or `succeeded()`."""

    __slots__ = ("_attempt",)

    def __init__(self, attempt: LoginAttempt) -> None:
        self._attempt = attempt

    def failed(self) -> None:
        """The password was wrong (or the check could not finish)."""
        run_inline(self._attempt.failed())

    def succeeded(self) -> None:
        """Forget this username's failures from this address and trust the address."""
        run_inline(self._attempt.succeeded())


class SyncLoginThrottle:
    """`LoginThrottle` over a `SyncCounterStore` (every sync session store is one).

    Args: as `LoginThrottle`. Limits hold across processes that share the store.
    """

    def __init__(
        self,
        counters: SyncCounterStore,
        policy: ThrottlePolicy | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.counters = counters
        self.inline: LoginThrottle = LoginThrottle(InlineCounters(counters), policy, clock=clock)
        """The async throttle this one drives inline."""
        self.policy: ThrottlePolicy = self.inline.policy

    def begin(self, username: str, address: str) -> SyncLoginAttempt:
        """Admit one attempt (raises `LoginThrottled` over a limit; see `LoginThrottle.begin`)."""
        return SyncLoginAttempt(run_inline(self.inline.begin(username, address)))

    def retry_after(self, username: str, address: str) -> int | None:
        """Seconds until `username` may log in again from `address`, without counting."""
        return run_inline(self.inline.retry_after(username, address))


def authenticate(
    user_store: SyncUserStore,
    username: object,
    password: object,
    *,
    hasher: PasswordHasher | None = None,
    throttle: SyncLoginThrottle | None = None,
    address: str = "",
    request: object | None = None,
) -> User | None:
    """The user whose username and password these are, or None (see the async twin).

    With `request`, the failure and throttling events carry the client's (truncated)
    address and reach `AuthConfig.on_security_event`, as the async twin's `conn` does.

    Raises:
        LoginThrottled: too many failed attempts; answer 429 with ``Retry-After``.
        StoreUnavailable: the user store or counter store is down; answer 503.
    """
    return run_inline(
        _authenticate(
            inline_user_store(user_store),
            username,
            password,
            hasher=hasher,
            throttle=None if throttle is None else throttle.inline,
            address=address,
            conn=None if request is None else scope_of_request(request),
        )
    )


def reauthenticate(
    request: object,
    password: object,
    user_store: SyncUserStore | None = None,
    *,
    hasher: PasswordHasher | None = None,
    throttle: SyncLoginThrottle | None = None,
    address: str = "",
    keyring: KeyRing | None = None,
) -> bool:
    """Check the logged-in user's `password` again; True: the login is recent again.

    The async twin's code (`cookieguard.auth._recent.reauthenticate`): the session keeps its
    data and user under a new id, and a wrong password counts toward `throttle` as a failed
    login of the session's own user from `address`. `user_store` defaults to the
    `AuthConfig`'s.

    Raises:
        LoginThrottled: too many failures; answer 429 with ``Retry-After``.
        StoreUnavailable: a store is down; answer 503.
    """
    store = None if user_store is None else inline_user_store(user_store)
    return run_inline(
        _reauthenticate(
            scope_of_request(request),
            store,
            password,
            hasher=hasher,
            throttle=None if throttle is None else throttle.inline,
            address=address,
            keyring=keyring,
        )
    )


def login(request: object, user: User, *, keyring: KeyRing | None = None) -> None:
    """Bind `user` to the session under a new id, and rotate the CSRF secret."""
    run_inline(_login(scope_of_request(request), user, keyring=keyring))


def logout(request: object) -> None:
    """Delete the session server-side now, clear its cookie, rotate the CSRF secret.

    Raises:
        StoreUnavailable: the session store is down (the layers answer 503).
    """
    run_inline(_logout(scope_of_request(request)))


def get_user_id(request: object) -> str | None:
    """The logged-in user's id from the session, without a query (None: anonymous)."""
    user_id: str | None = _get_user_id(scope_of_request(request))
    return user_id


def get_user(
    request: object, user_store: SyncUserStore | None = None, *, keyring: KeyRing | None = None
) -> User | None:
    """The logged-in `User`, loaded and verified once per request (see the async twin)."""
    store = None if user_store is None else inline_user_store(user_store)
    return run_inline(_get_user(scope_of_request(request), store, keyring=keyring))


def change_password(
    request: object,
    user_store: SyncManagedUserStore,
    user: User,
    new_password: str,
    *,
    keyring: KeyRing | None = None,
    hasher: PasswordHasher | None = None,
) -> User:
    """Set a new password and end every other session of `user` (see the async twin)."""
    store = inline_user_store(user_store)
    if not isinstance(store, ManagedUserStore):
        raise ConfigError("change_password() needs a store with set_password()")
    return run_inline(
        _change_password(
            scope_of_request(request), store, user, new_password, keyring=keyring, hasher=hasher
        )
    )


def list_sessions(request: object, *, now: float | None = None) -> list[SessionEntry]:
    """The logged-in user's live sessions, most recently seen first."""
    return run_inline(_list_sessions(scope_of_request(request), now=now))


def revoke_session(request: object, handle: object, *, now: float | None = None) -> bool:
    """End the logged-in user's session named by `handle`."""
    return run_inline(_revoke_session(scope_of_request(request), handle, now=now))


def revoke_other_sessions(request: object) -> int:
    """End every session of the logged-in user except this one."""
    return run_inline(_revoke_other_sessions(scope_of_request(request)))


def revoke_all_sessions(request: object) -> int:
    """End every session of the logged-in user, this one too (a logout)."""
    return run_inline(_revoke_all_sessions(scope_of_request(request)))


def client_address(request: object) -> str:
    """The peer address (``REMOTE_ADDR``); behind a proxy, configure the server's trust."""
    address = environ_of(request).get("REMOTE_ADDR")
    return address if isinstance(address, str) and address else "unknown"
