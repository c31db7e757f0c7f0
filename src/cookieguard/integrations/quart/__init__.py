"""cookieguard for Quart: one extension, and Quart's own API keeps working.

``CookieGuard(app, store=...)`` (or ``guard = CookieGuard(...)`` then ``guard.init_app(app)``)
wraps ``app.asgi_app`` in cookieguard's middleware (sessions outermost, then CSRF, then the
auth context) and plugs into Quart:

* Quart's ``session`` is the server-side session (`QuartSession`); ``session.clear()`` ends
  it server-side, as ``cookieguard.logout(request)`` does;
* ``@guard.exempt`` (the same marker as ``cookieguard.csrf_exempt``) on a view, a
  ``View`` class or a blueprint exempts it from CSRF checks, read from Quart's URL map;
  a marked view in an app without the extension stops the app at startup;
* ``@login_required`` views; ``csrf_token()`` and ``csrf_input()`` in every template;
* ``cookieguard.login(request, user)`` / ``logout(request)`` with Quart's ``request``;
* `StoreUnavailable` raised in a view answers 503 (HTML, or JSON for API clients);
* WebSocket routes get the Origin check and a read-only session.

Settings come from the keyword arguments, else from ``app.config`` under ``COOKIEGUARD_``:
``STORE`` (a store or an `open_store` URL; one opened from a URL is closed after serving),
``SECRET_KEY`` (else Quart's ``SECRET_KEY`` and ``SECRET_KEY_FALLBACKS``), ``USERS``,
``CSRF`` (`CSRFConfig`), ``SESSION`` (`SessionConfig`), ``LOGIN_URL`` and
``RECHECK_INTERVAL`` (see `AuthConfig`). An unknown ``COOKIEGUARD_`` key is an error.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypeVar, cast

from quart import request

from cookieguard.asgi._responses import ApiPaths
from cookieguard.asgi._routes import EXEMPT_ATTRIBUTE, csrf_exempt
from cookieguard.asgi._types import ASGIApp
from cookieguard.asgi.csrf import CSRFMiddleware
from cookieguard.asgi.session import SessionMiddleware
from cookieguard.auth._context import AuthConfig, AuthMiddleware
from cookieguard.auth._passwords import PasswordHasher
from cookieguard.auth._users import UserStore
from cookieguard.backends import SessionBackend
from cookieguard.config import CSRFConfig, SessionConfig
from cookieguard.core.signing import KeyRing
from cookieguard.errors import ConfigError, StoreUnavailable
from cookieguard.integrations.quart._exemptions import EXTENSION_KEY, QuartExemptions
from cookieguard.integrations.quart._recent import require_recent_login
from cookieguard.integrations.quart._session import CookieGuardSessionInterface, QuartSession
from cookieguard.integrations.quart._views import (
    csrf_input,
    csrf_token,
    login_required,
    store_unavailable_response,
)
from cookieguard.stores import open_store
from cookieguard.stores.base import SessionStore

if TYPE_CHECKING:
    from quart import Quart, Response

__all__ = [
    "CookieGuard",
    "QuartSession",
    "csrf_exempt",
    "csrf_input",
    "csrf_token",
    "login_required",
    "require_recent_login",
]

_log = logging.getLogger("cookieguard.quart")

Marked = TypeVar("Marked")

_PREFIX = "COOKIEGUARD_"
_SETTINGS = ("STORE", "SECRET_KEY", "USERS", "CSRF", "SESSION", "LOGIN_URL", "RECHECK_INTERVAL")
_UNSET: Any = object()


def _keyring(value: object) -> KeyRing:
    if isinstance(value, KeyRing):
        return value
    if isinstance(value, str | bytes):
        return KeyRing(value)
    if isinstance(value, Sequence) and value and all(isinstance(k, str | bytes) for k in value):
        return KeyRing(value[0], tuple(value[1:]))
    raise ConfigError("secret_key must be a KeyRing, a str or bytes, or a list (current first)")


class CookieGuard:
    """The Quart extension (see the module notes for what it installs).

    Args:
        app: the app to set up now; or call `init_app` later (application factories).
        store: a `SessionStore`, a `SessionBackend` (`SignedCookieBackend`), or an `open_store` URL.
        secret_key: a `KeyRing`, a key, or keys (current first) for login's auth hash.
        users: the `UserStore` that `AuthMiddleware` re-checks sessions against.
        csrf: CSRF settings.
        session: session cookie and expiry settings.
        login_url: where `login_required` sends browsers (default ``/login``).
        recheck_interval: `AuthConfig.recheck_interval`; default 300 s with `users`,
            else None.
        passwords: the password hasher for `AuthConfig`.

    Attributes set by `init_app`: ``store``, ``users``, ``auth`` (the `AuthConfig`, or None
    without a secret key), ``csrf_config`` and ``session_config``.
    """

    store: SessionStore | SessionBackend
    users: UserStore | None
    auth: AuthConfig | None
    csrf_config: CSRFConfig
    session_config: SessionConfig

    def __init__(
        self,
        app: Quart | None = None,
        *,
        store: SessionStore | SessionBackend | str | None = None,
        secret_key: KeyRing | str | bytes | Sequence[str | bytes] | None = None,
        users: UserStore | None = None,
        csrf: CSRFConfig | None = None,
        session: SessionConfig | None = None,
        login_url: str | None = None,
        recheck_interval: int | None = _UNSET,
        passwords: PasswordHasher | None = None,
    ) -> None:
        given = {
            "STORE": store,
            "SECRET_KEY": secret_key,
            "USERS": users,
            "CSRF": csrf,
            "SESSION": session,
            "LOGIN_URL": login_url,
        }
        # An argument given wins over app.config; for recheck_interval None is a value.
        self._options: dict[str, Any] = {k: v for k, v in given.items() if v is not None}
        if recheck_interval is not _UNSET:
            self._options["RECHECK_INTERVAL"] = recheck_interval
        self._passwords = passwords
        if app is not None:
            self.init_app(app)

    @staticmethod
    def exempt(target: Marked) -> Marked:
        """Exempt a view function, a ``View`` class or a blueprint from CSRF checks.

        The same marker as `cookieguard.csrf_exempt`. Keep it for requests that prove
        themselves otherwise (a webhook's signature): a browser form there is unprotected.
        """
        setattr(target, EXEMPT_ATTRIBUTE, True)
        return target

    def _setting(self, app: Quart, name: str, kind: type | tuple[type, ...] = object) -> Any:
        value = self._options.get(name, app.config.get(_PREFIX + name))
        if value is not None and not isinstance(value, kind):
            raise ConfigError(f"{_PREFIX}{name} has the wrong type: {type(value).__name__}")
        return value

    def init_app(self, app: Quart) -> None:
        """Install cookieguard on `app` (once per app).

        Raises:
            ConfigError: no store, an unknown ``COOKIEGUARD_`` setting, `users` without a
                secret key, or the app already has a `CookieGuard`.
        """
        if EXTENSION_KEY in app.extensions:
            raise ConfigError("this Quart app already has a CookieGuard")
        unknown = sorted(
            key
            for key in app.config
            if key.startswith(_PREFIX) and key[len(_PREFIX) :] not in _SETTINGS
        )
        if unknown:
            raise ConfigError(f"unknown cookieguard settings in app.config: {', '.join(unknown)}")
        store = self._setting(app, "STORE")
        owned = isinstance(store, str)
        if owned:
            store = open_store(store)
        if not isinstance(store, SessionStore | SessionBackend):
            raise ConfigError(
                "CookieGuard needs store= (or COOKIEGUARD_STORE): a session store or a URL "
                "such as 'sqlite:///sessions.db'"
            )
        self.store = store
        self.users = self._setting(app, "USERS")
        self.csrf_config = self._setting(app, "CSRF", CSRFConfig) or CSRFConfig()
        self.session_config = self._setting(app, "SESSION", SessionConfig) or SessionConfig()
        self.auth = self._auth_config(app)

        stack = cast(ASGIApp, app.asgi_app)
        if self.auth is not None:
            stack = AuthMiddleware(stack, self.auth)
        stack = CSRFMiddleware(stack, self.csrf_config, exemptions=QuartExemptions(app))
        app.asgi_app = cast(Any, SessionMiddleware(stack, store, self.session_config))  # type: ignore[method-assign]
        app.session_interface = CookieGuardSessionInterface()  # type: ignore[assignment]
        app.extensions[EXTENSION_KEY] = self
        app.add_template_global(csrf_token, "csrf_token")
        app.add_template_global(csrf_input, "csrf_input")
        api = ApiPaths(self.session_config.api_prefixes)

        async def store_unavailable(exc: StoreUnavailable) -> Response:
            _log.error(
                "storage backend unavailable in a view (%s): answering 503", type(exc).__name__
            )
            return await store_unavailable_response(request.scope, api)  # type: ignore[arg-type]

        app.register_error_handler(StoreUnavailable, store_unavailable)
        app.before_serving(lambda: _check_installed(app))
        if owned:
            app.after_serving(store.close)

    def _auth_config(self, app: Quart) -> AuthConfig | None:
        secret = self._setting(app, "SECRET_KEY")
        if secret is None and app.config.get("SECRET_KEY"):
            secret = [app.config["SECRET_KEY"], *(app.config.get("SECRET_KEY_FALLBACKS") or ())]
        if secret is None:
            if self.users is not None:
                raise ConfigError("users= needs secret_key= (or SECRET_KEY) for login's auth hash")
            return None
        interval = self._setting(app, "RECHECK_INTERVAL")
        if (
            "RECHECK_INTERVAL" not in self._options
            and _PREFIX + "RECHECK_INTERVAL" not in app.config
        ):
            interval = 300 if self.users is not None else None
        return AuthConfig(
            keyring=_keyring(secret),
            user_store=self.users,
            passwords=self._passwords,
            login_url=self._setting(app, "LOGIN_URL", str) or "/login",
            recheck_interval=interval,
        )


def _check_installed(app: Quart) -> None:
    # Another extension installed after this one may take the session interface over.
    if not isinstance(app.session_interface, CookieGuardSessionInterface):
        raise ConfigError(
            "app.session_interface was replaced after CookieGuard(app): Quart's session "
            "would no longer be cookieguard's"
        )
