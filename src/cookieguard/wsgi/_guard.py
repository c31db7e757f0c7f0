"""`CookieGuardWSGI`: sessions, CSRF protection and login for any WSGI app, in one call.

The layers work only nested one way, as under ASGI: sessions outermost (CSRF may keep its
secret in the session, and login rotates it), auth innermost (it reads the session).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from cookieguard.auth._context import AuthConfig
from cookieguard.auth._remember import RememberConfig
from cookieguard.auth._users_sync import SyncUserStore
from cookieguard.config import CSRFConfig, SessionConfig
from cookieguard.core.signing import KeyRing
from cookieguard.errors import ConfigError
from cookieguard.stores import open_sync_store
from cookieguard.wsgi._auth import WSGIAuthMiddleware, sync_auth_config
from cookieguard.wsgi._csrf import WSGICSRFMiddleware
from cookieguard.wsgi._remember_me import WSGIRememberMiddleware
from cookieguard.wsgi._responses import WSGIApp
from cookieguard.wsgi._scope import WSGIEnviron
from cookieguard.wsgi._session import WSGISessionMiddleware

__all__ = ["CookieGuardWSGI", "keyring_of"]


def keyring_of(secret_key: str | bytes | KeyRing | None, fallbacks: Iterable[Any] = ()) -> KeyRing:
    """A `KeyRing` from a secret (newest) and older fallbacks that still verify.

    Raises:
        ConfigError: no usable secret.
    """
    if isinstance(secret_key, KeyRing):
        return secret_key
    if not isinstance(secret_key, str | bytes) or not secret_key:
        raise ConfigError("cookieguard needs a secret key (a long random string or a KeyRing)")
    return KeyRing(secret_key, tuple(fallbacks))


class CookieGuardWSGI:
    """Sessions, CSRF protection and login for any WSGI app.

    ``app = CookieGuardWSGI(wsgi_app, store="sqlite:///site.db", secret_key=..., users=...)``
    is ``WSGISessionMiddleware(WSGICSRFMiddleware(WSGIAuthMiddleware(wsgi_app, auth), csrf),
    store, session)``.

    Args:
        app: the WSGI app to protect.
        store: a sync store (`open_sync_store`, `SyncSQLiteStore`, ...), a
            `SignedCookieBackend`, or an `open_sync_store` URL; a store opened from a URL
            belongs to the guard (`close` closes it).
        secret_key: signs the session auth hash: a long random string, or a `KeyRing`.
        users: a sync user store (`SyncSQLiteUserStore`, or your own `SyncUserStore`), for
            `get_user` and the periodic re-check of logged-in sessions (every 300 s).
        csrf: CSRF settings (``exempt_paths`` for webhooks); Django's names by default.
        session: session cookie and expiry settings; Django's names by default.
        auth: full auth settings (`sync_auth_config`), instead of `secret_key` and `users`.
        remember: remember-me: True keeps series in `store` with the defaults, or a
            `RememberConfig` over a sync store; None/False (the default): off.
    """

    def __init__(
        self,
        app: WSGIApp,
        *,
        store: object,
        secret_key: str | bytes | KeyRing | None = None,
        users: SyncUserStore | None = None,
        csrf: CSRFConfig | None = None,
        session: SessionConfig | None = None,
        auth: AuthConfig | None = None,
        remember: RememberConfig | bool | None = None,
    ) -> None:
        if auth is None:
            auth = sync_auth_config(keyring_of(secret_key), users)
        elif secret_key is not None or users is not None:
            raise ConfigError("pass auth= or secret_key=/users=, not both")
        self.auth = auth
        self._owns_store = isinstance(store, str)
        self.store: object = open_sync_store(store) if isinstance(store, str) else store
        self.user_app = app
        if remember is True:
            remember = RememberConfig(self.store)  # type: ignore[arg-type]
        inner = WSGIRememberMiddleware(app, remember) if remember else app
        self.app: WSGISessionMiddleware = WSGISessionMiddleware(
            WSGICSRFMiddleware(WSGIAuthMiddleware(inner, auth), csrf), self.store, session
        )

    def __call__(self, environ: WSGIEnviron, start_response: Callable[..., Any]) -> Iterable[bytes]:
        return self.app(environ, start_response)

    def close(self) -> None:
        """Close the store the guard opened from a URL (a store passed in is the app's)."""
        if self._owns_store:
            self.app.io.backend.close()
