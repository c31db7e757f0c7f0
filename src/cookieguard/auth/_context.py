"""Where login helpers find the app's secret keys, user store and password hasher.

`AuthMiddleware` puts one `AuthConfig` on every scope, so `login(request, user)` and friends
need no extra arguments in handlers. Every helper also accepts the pieces explicitly.

`AuthMiddleware` also re-checks a logged-in session against the user store once every
`AuthConfig.recheck_interval` seconds, so a password changed (or a user deleted or
deactivated) outside cookieguard ends that user's sessions within the interval, while the
requests in between make no user query.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from cookieguard.asgi._layering import check_layering
from cookieguard.asgi._types import ASGIApp, Connection, Receive, Scope, Send, scope_of
from cookieguard.asgi.session import SCOPE_KEY as SESSION_SCOPE_KEY
from cookieguard.auth._passwords import PasswordHasher
from cookieguard.auth._users import UserStore
from cookieguard.core._auth import SESSION_AUTH_CHECKED, SESSION_USER_ID, AuthHasher, recheck_due
from cookieguard.core._django_signing import DjangoAuthHasher
from cookieguard.core.redirects import is_safe_redirect
from cookieguard.core.session import Session
from cookieguard.core.signing import KeyRing
from cookieguard.errors import ConfigError
from cookieguard.events import Subscriber

__all__ = ["AUTH_SCOPE_KEY", "AuthConfig", "AuthMiddleware", "auth_config", "default_hasher"]

AUTH_SCOPE_KEY = "cookieguard.auth"
USER_SCOPE_KEY = "cookieguard.user"

_default: PasswordHasher | None = None
_default_lock = threading.Lock()


def default_hasher() -> PasswordHasher:
    """The shared default `PasswordHasher` (Argon2id, OWASP parameters), made on first use."""
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = PasswordHasher()
    return _default


@dataclass(frozen=True)
class AuthConfig:
    """What login, logout and the current-user helpers need.

    Args:
        keyring: Secret keys for the session auth hash (current first, then fallbacks).
        user_store: Where users are looked up by `get_user`.
        passwords: Password hasher; the shared Argon2id default when omitted.
        login_url: Where `login_required` sends browsers.
        recheck_interval: Seconds between checks of a logged-in session against
            `user_store` (`AuthMiddleware` runs them): a password changed outside
            cookieguard, or a deleted or inactive user, logs the session out within this
            time. 0 checks on every request; None never (then only `change_password` and
            `get_user` notice, and `user_store` may be None).
        clock: Epoch seconds for `recheck_interval`; inject one in tests.
        django_auth_backend: Share logins with a Django site (`cookieguard.django`): the
            ``_auth_user_backend`` value `login` writes (an entry of Django's
            ``AUTHENTICATION_BACKENDS``, e.g. ``django.contrib.auth.backends.ModelBackend``),
            and the session auth hash becomes Django's (`DjangoAuthHasher`), so a session
            made on either side is logged in on the other and a password change on either
            side ends the other's sessions at their next check. None: cookieguard's own.
        max_sessions_per_user: At most this many concurrent sessions per user: `login`
            ends the user's oldest sessions beyond N-1 (a `SESSION_REVOKED` event, reason
            ``cap``). None (the default): no cap. Needs a server-side session store.
        on_security_event: Called with every `cookieguard.events.SecurityEvent` of a
            request this middleware serves (besides the `cookieguard.events.subscribe`
            callbacks); sync or async. A callback that raises is logged, never fatal.
            CSRF refusals happen before this middleware runs: they reach the
            `subscribe` callbacks only.
    """

    keyring: KeyRing
    user_store: UserStore | None = None
    passwords: PasswordHasher | None = field(default=None, repr=False)
    login_url: str = "/login"
    recheck_interval: int | None = 300
    clock: Callable[[], float] = field(default=time.time, repr=False, compare=False)
    django_auth_backend: str | None = None
    max_sessions_per_user: int | None = None
    on_security_event: Subscriber | None = field(default=None, repr=False, compare=False)
    auth_hasher: AuthHasher = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.keyring, KeyRing):
            raise ConfigError("AuthConfig.keyring must be a cookieguard.KeyRing")
        interval = self.recheck_interval
        if interval is not None and (
            isinstance(interval, bool) or not isinstance(interval, int) or interval < 0
        ):
            raise ConfigError("recheck_interval must be a non-negative int of seconds, or None")
        cap = self.max_sessions_per_user
        if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int) or cap < 1):
            raise ConfigError("max_sessions_per_user must be a positive int, or None")
        if self.on_security_event is not None and not callable(self.on_security_event):
            raise ConfigError("on_security_event must be a callable taking a SecurityEvent")
        if not is_safe_redirect(self.login_url.partition("?")[0]):
            raise ConfigError("login_url must be a same-site path such as '/login'")
        backend = self.django_auth_backend
        if backend is None:
            hasher = AuthHasher(self.keyring)
        elif isinstance(backend, str) and backend:
            hasher = DjangoAuthHasher(self.keyring.current, tuple(self.keyring.fallbacks))
        else:
            raise ConfigError(
                "django_auth_backend must be a dotted path such as Django's "
                "'django.contrib.auth.backends.ModelBackend', or None"
            )
        object.__setattr__(self, "auth_hasher", hasher)

    @property
    def hasher(self) -> PasswordHasher:
        """The password hasher in use."""
        return self.passwords or default_hasher()


class AuthMiddleware:
    """Makes an `AuthConfig` available to the auth helpers, and re-checks logged-in sessions.

    Place it anywhere inside `SessionMiddleware`:
    ``SessionMiddleware(CSRFMiddleware(AuthMiddleware(app, config)), store)``.

    When a logged-in session's last check is `recheck_interval` seconds old, the user is
    loaded once and the session's auth hash verified before the app runs: a stale session
    is deleted from the store and the request continues anonymous; a valid one records the
    time of the check (one session write per interval). Other requests make no query. A
    user store that is down raises `StoreUnavailable` (`SessionMiddleware` answers 503).

    Raises:
        ConfigError: `recheck_interval` is set but `config.user_store` is None.
    """

    def __init__(self, app: ASGIApp, config: AuthConfig) -> None:
        if config.recheck_interval is not None and config.user_store is None:
            raise ConfigError(
                "AuthMiddleware re-checks sessions against AuthConfig.user_store: pass one, "
                "or recheck_interval=None to rely on change_password() alone"
            )
        from cookieguard.auth._revalidate import recheck  # revalidate imports this module

        check_layering("auth", app)
        self.app = app
        self.config = config
        self._interval = config.recheck_interval
        self._clock = config.clock
        self._recheck = recheck

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http" or kind == "websocket":
            due = self._enter(scope)
            if due is not None:
                await due
        await self.app(scope, receive, send)

    def _enter(self, scope: Scope) -> Coroutine[Any, Any, None] | None:
        """Put the config on the scope; the session re-check to await first, if one is due.

        Shared with `cookieguard.CookieGuard`'s single-layer path. The common request ends
        here with no coroutine made: anonymous, or a float check time less than an
        interval old (`recheck_due`'s rule, inlined for that case).
        """
        scope[AUTH_SCOPE_KEY] = self.config
        session = scope.get(SESSION_SCOPE_KEY)
        interval = self._interval
        # (a subclass, such as the Flask session, takes the slower isinstance test)
        if interval is not None and (type(session) is Session or isinstance(session, Session)):
            user_id = session.peek(SESSION_USER_ID)
            if user_id is not None:
                now = self._clock()
                checked = session.peek(SESSION_AUTH_CHECKED)
                if type(checked) is not float or not 0 <= now - checked < interval:
                    return self._check(scope, session, user_id, checked, now, interval)
        return None

    async def _check(
        self,
        scope: Scope,
        session: Session,
        user_id: object,
        checked: object,
        now: float,
        interval: int,
    ) -> None:
        # A user id get_user_id would not accept is an anonymous session: nothing to check.
        if type(user_id) is str and user_id and recheck_due(checked, now, interval):
            await self._recheck(scope, session, self.config, user_id, now)


def auth_config(conn: Connection, keyring: KeyRing | None = None) -> AuthConfig:
    """The `AuthConfig` for this request: built from `keyring` if given, else the scope's.

    Raises:
        ConfigError: neither a keyring nor `AuthMiddleware` is present.
    """
    scope = scope_of(conn)
    config: Any = scope.get(AUTH_SCOPE_KEY)
    if keyring is not None:
        if isinstance(config, AuthConfig) and config.keyring is keyring:
            return config
        if isinstance(config, AuthConfig):
            return dataclasses.replace(config, keyring=keyring)
        return AuthConfig(keyring=keyring)
    if not isinstance(config, AuthConfig):
        raise ConfigError(
            "no auth configuration: wrap the app in AuthMiddleware(app, AuthConfig(keyring=...))"
            " or pass keyring= explicitly"
        )
    return config
