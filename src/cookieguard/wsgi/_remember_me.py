"""Remember me for WSGI apps: `cookieguard.auth._remember`'s own code, driven inline.

``RememberConfig(sync_store)`` (a store from `open_sync_store`: series live beside the
sessions) configures it; `WSGIRememberMiddleware` restores a login from the cookie before
the app runs and adds the cookie's change to the response. Rotation, the grace window,
theft detection, password binding and the security events are therefore exactly the ASGI
front door's. The Flask extension calls `restore` and `cookie_header` from its hooks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from cookieguard._inline import run_inline
from cookieguard.auth._remember import RememberConfig
from cookieguard.auth._remember import forget as _forget
from cookieguard.auth._remember import remember as _remember
from cookieguard.auth._remember import restore as _restore
from cookieguard.auth._remember import settle as _settle
from cookieguard.auth._users import User
from cookieguard.errors import ConfigError
from cookieguard.wsgi._responses import WSGIApp
from cookieguard.wsgi._scope import WSGIEnviron, scope_for, scope_of_request

__all__ = ["WSGIRememberMiddleware", "cookie_header", "forget", "remember", "restore"]


def _checked(config: RememberConfig) -> RememberConfig:
    if not isinstance(config, RememberConfig):
        raise ConfigError("remember-me needs a RememberConfig")
    if not config.sync:
        raise ConfigError(
            "a WSGI app's RememberConfig needs a sync store (open_sync_store), not an async one"
        )
    return config


def restore(request: object, config: RememberConfig) -> None:
    """Log the request in from its remember cookie when its session is anonymous.

    Run it after the session, CSRF and auth layers have prepared the request.

    Raises:
        StoreUnavailable: the store is down; answer 503.
    """
    run_inline(_restore(scope_of_request(request), config))


def cookie_header(request: object, config: RememberConfig) -> str | None:
    """The remember cookie's Set-Cookie value for this response, or None (no change).

    A request that ends logged out without `logout` (``session.clear()``) ends its series
    here too (see `cookieguard.auth._remember.settle`).

    Raises:
        StoreUnavailable: the store is down; answer 503.
    """
    return run_inline(_settle(scope_of_request(request), config))


def remember(request: object, user: User) -> None:
    """Start a remember-me series for `user`, just logged in, and set its cookie.

    Raises:
        ConfigError: remember-me is not configured for this app.
        StoreUnavailable: the store is down; answer 503.
    """
    run_inline(_remember(scope_of_request(request), user))


def forget(request: object) -> None:
    """End the request's series and delete its cookie (`logout` does it already)."""
    run_inline(_forget(scope_of_request(request)))


class WSGIRememberMiddleware:
    """Restores logins from remember-me cookies; place it inside `WSGIAuthMiddleware`.

    ``WSGIAuthMiddleware(WSGIRememberMiddleware(app, RememberConfig(store)), auth)``
    (`CookieGuardWSGI` does it with ``remember=``).

    Raises:
        ConfigError: `config` is over an async store.
    """

    def __init__(self, app: WSGIApp, config: RememberConfig) -> None:
        self.app = app
        self.config: RememberConfig = _checked(config)

    def __call__(self, environ: WSGIEnviron, start_response: Callable[..., Any]) -> Iterable[bytes]:
        config = self.config
        scope = scope_for(environ)
        run_inline(_restore(scope, config))

        def start_with_cookie(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Any:
            header = run_inline(_settle(scope, config))
            if header is not None:
                headers = [*headers, ("Set-Cookie", header)]
            return start_response(status, headers, exc_info)

        return self.app(environ, start_with_cookie)
