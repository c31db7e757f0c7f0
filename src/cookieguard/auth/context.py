"""Where login helpers find the app's secret keys, user store and password hasher.

`AuthMiddleware` puts one `AuthConfig` on every scope, so `login(request, user)` and friends
need no extra arguments in handlers. Every helper also accepts the pieces explicitly.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from cookieguard.asgi.types import ASGIApp, Connection, Receive, Scope, Send, scope_of
from cookieguard.auth.passwords import PasswordHasher
from cookieguard.auth.users import UserStore
from cookieguard.core.auth import AuthHasher
from cookieguard.core.redirects import is_safe_redirect
from cookieguard.core.signing import KeyRing
from cookieguard.errors import ConfigError

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
    """

    keyring: KeyRing
    user_store: UserStore | None = None
    passwords: PasswordHasher | None = field(default=None, repr=False)
    login_url: str = "/login"
    auth_hasher: AuthHasher = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.keyring, KeyRing):
            raise ConfigError("AuthConfig.keyring must be a cookieguard.KeyRing")
        if not is_safe_redirect(self.login_url.partition("?")[0]):
            raise ConfigError("login_url must be a same-site path such as '/login'")
        object.__setattr__(self, "auth_hasher", AuthHasher(self.keyring))

    @property
    def hasher(self) -> PasswordHasher:
        """The password hasher in use."""
        return self.passwords or default_hasher()


class AuthMiddleware:
    """Makes an `AuthConfig` available to the auth helpers on every request.

    Place it anywhere inside `SessionMiddleware`:
    ``SessionMiddleware(CSRFMiddleware(AuthMiddleware(app, config)), store)``.
    """

    def __init__(self, app: ASGIApp, config: AuthConfig) -> None:
        self.app = app
        self.config = config

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            scope[AUTH_SCOPE_KEY] = self.config
        await self.app(scope, receive, send)


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
        base = config if isinstance(config, AuthConfig) else None
        return AuthConfig(
            keyring=keyring,
            user_store=base.user_store if base else None,
            passwords=base.passwords if base else None,
        )
    if not isinstance(config, AuthConfig):
        raise ConfigError(
            "no auth configuration: wrap the app in AuthMiddleware(app, AuthConfig(keyring=...))"
            " or pass keyring= explicitly"
        )
    return config
