"""`CookieGuardPlugin`: cookieguard installed the Litestar way, ``Litestar(plugins=[...])``.

``on_app_init`` registers, on the app:

* the middleware stack (`CookieGuardMiddleware`: sessions, CSRF, auth), first in the app's
  middleware list; Litestar runs it around each route handler after routing, which is what
  lets it honour each handler's exemption;
* exception handlers: `StoreUnavailable` becomes a 503 (never Litestar's 500), `LoginRequired`
  the redirect or 401 of the `requires_login` guard;
* closing the stores at shutdown (``close_stores``);
* the `dependencies` providers (``session``, ``csrf_token``, ``user``, ``current_user``), unless
  the app defines those names itself;
* ``csrf_token()`` and ``csrf_field()`` on the template engine, when the app has one.

``receive_route`` then checks every route as it is registered and raises `ConfigError`
(so ``Litestar(...)`` fails at startup) where a marker or a layer would silently not work:
an exemption option that is not a bool, Litestar's own ``csrf_config`` or session middleware
next to cookieguard's, a second cookieguard layer on a router, controller or handler, or a
handler that does not run inside the plugin's stack.
"""

from __future__ import annotations

import logging
from typing import Any

from litestar.config.app import AppConfig
from litestar.middleware.base import DefineMiddleware
from litestar.middleware.session.base import SessionMiddleware as LitestarSessionMiddleware
from litestar.plugins import InitPluginProtocol, ReceiveRoutePlugin
from litestar.response import Response
from litestar.routes import BaseRoute

from cookieguard.asgi._responses import ApiPaths, accept_header, render_error
from cookieguard.asgi._routes import EXEMPT_OPT_KEYS
from cookieguard.asgi.csrf import CSRFMiddleware
from cookieguard.asgi.session import SessionMiddleware
from cookieguard.auth._context import AuthConfig, AuthMiddleware
from cookieguard.auth._users import UserStore
from cookieguard.backends import SessionBackend
from cookieguard.config import CSRFConfig, SessionConfig
from cookieguard.core.signing import KeyRing
from cookieguard.errors import ConfigError, MiddlewareMissing, StoreUnavailable
from cookieguard.integrations.litestar._dependencies import dependencies as providers
from cookieguard.integrations.litestar._guards import LoginRequired, login_required_response
from cookieguard.integrations.litestar._middleware import (
    UNAVAILABLE_MESSAGE,
    CookieGuardMiddleware,
    StackConfig,
)
from cookieguard.integrations.litestar._recent import ReauthRequired, reauth_required_response
from cookieguard.integrations.litestar._templates import register_template_callables
from cookieguard.stores.base import SessionStore

__all__ = ["CookieGuardPlugin"]

logger = logging.getLogger("cookieguard.litestar")

_OURS = (SessionMiddleware, CSRFMiddleware, AuthMiddleware, CookieGuardMiddleware)


class CookieGuardPlugin(InitPluginProtocol, ReceiveRoutePlugin):
    """Sessions, CSRF protection and login for a Litestar app.

    Args:
        store: where sessions live (`open_store(url)`, or a `SignedCookieBackend`).
        secret_key: the key (or a `KeyRing`) that signs the session auth hash; without it
            (and without `auth`) login is unavailable, sessions and CSRF still work.
        users: the user store `get_user` and the periodic re-check read.
        csrf: CSRF settings; `CSRFConfig()` by default.
        session: session cookie and expiry settings; `SessionConfig()` by default.
        auth: a complete `AuthConfig`, instead of `secret_key` and `users`.
        dependencies: register the `dependencies` providers app-wide.
        close_stores: close `store` (and `users`) at app shutdown, on the event loop that
            served the requests (the stores' connections belong to it).

    Raises:
        ConfigError: `auth` given together with `secret_key` or `users`.
    """

    def __init__(
        self,
        *,
        store: SessionStore | SessionBackend,
        secret_key: str | KeyRing | None = None,
        users: UserStore | None = None,
        csrf: CSRFConfig | None = None,
        session: SessionConfig | None = None,
        auth: AuthConfig | None = None,
        dependencies: bool = True,
        close_stores: bool = True,
    ) -> None:
        if auth is not None and (secret_key is not None or users is not None):
            raise ConfigError("pass either auth= or secret_key=/users=, not both")
        if auth is None and secret_key is not None:
            keyring = secret_key if isinstance(secret_key, KeyRing) else KeyRing(secret_key)
            auth = AuthConfig(
                keyring=keyring, user_store=users, recheck_interval=300 if users else None
            )
        elif auth is None and users is not None:
            raise ConfigError("users= needs secret_key= (it signs the session auth hash)")
        self.store = store
        self.users = users
        self._close_stores = close_stores
        self.stack: StackConfig = StackConfig(
            store=store, csrf=csrf or CSRFConfig(), session=session or SessionConfig(), auth=auth
        )
        self._api = ApiPaths(self.stack.session.api_prefixes)
        self._dependencies = dependencies
        # Litestar types middleware with its own TypedDict scopes; ours takes plain mappings.
        factory: Any = CookieGuardMiddleware
        self.middleware: DefineMiddleware = DefineMiddleware(factory, stack=self.stack)

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        """Register the stack, handlers, dependencies and template callables on the app."""
        if app_config.csrf_config is not None:
            raise ConfigError(
                "Litestar(csrf_config=...) and CookieGuardPlugin would both check CSRF, with "
                "different tokens: remove csrf_config (the plugin honours its "
                "exclude_from_csrf route option)"
            )
        app_config.middleware.insert(0, self.middleware)
        handlers = app_config.exception_handlers
        handlers.setdefault(StoreUnavailable, self.store_unavailable_response)
        handlers.setdefault(LoginRequired, login_required_response)
        handlers.setdefault(ReauthRequired, reauth_required_response)
        if self._dependencies:
            for key, provider in providers().items():
                app_config.dependencies.setdefault(key, provider)
        self._install_templates(app_config)
        if self._close_stores:
            app_config.on_shutdown.append(self.close)
        return app_config

    async def close(self) -> None:
        """Close the session store and the user store the plugin was given."""
        await self.store.close()
        close = getattr(self.users, "close", None)
        if close is not None:
            await close()

    def store_unavailable_response(self, request: Any, exc: StoreUnavailable) -> Response[Any]:
        """A `StoreUnavailable` raised by a handler, guard or dependency: 503, never 500."""
        logger.error("a store unavailable in %s (%s): answering 503", request.url.path, exc)
        as_json = self._api.wants_json(request.scope, accept_header(request.scope))
        content_type, body = render_error(
            503, UNAVAILABLE_MESSAGE, as_json=as_json, code="store_unavailable"
        )
        return Response(
            body,
            status_code=503,
            media_type=content_type.decode("ascii"),
            headers={
                "Retry-After": "5",
                "Cache-Control": "no-store",
                "X-Content-Type-Options": "nosniff",
            },
        )

    @staticmethod
    def _install_templates(app_config: AppConfig) -> None:
        config: Any = app_config.template_config
        if config is None:
            return
        if config.instance is not None or "engine_instance" in vars(config):
            register_template_callables(config.engine_instance)
            return
        previous = config.engine_callback

        def callback(engine: Any) -> None:
            if previous is not None:
                previous(engine)
            register_template_callables(engine)

        config.engine_callback = callback

    def receive_route(self, route: BaseRoute) -> None:
        """Refuse, at registration, a handler whose marker or stack would silently not work."""
        handlers = getattr(route, "route_handlers", None) or [getattr(route, "route_handler", None)]
        for handler in handlers:
            self._check_handler(route, handler)

    def _check_handler(self, route: BaseRoute, handler: Any) -> None:
        where = f"handler {handler.handler_name!r} of route {route.path!r}"
        for key in EXEMPT_OPT_KEYS:
            value = handler.opt.get(key)
            if value is not None and not isinstance(value, bool):
                raise ConfigError(f"{where}: opt[{key!r}] must be True or False, not {value!r}")
        stack = handler.resolve_middleware()
        if sum(entry is self.middleware for entry in stack) != 1:
            raise MiddlewareMissing(f"{where} does not run inside CookieGuardPlugin's middleware")
        for entry in stack:
            if entry is self.middleware:
                continue
            kind = _middleware_class(entry)
            if kind is not None and issubclass(kind, LitestarSessionMiddleware):
                raise ConfigError(
                    f"{where}: Litestar's session middleware replaces cookieguard's sessions; "
                    "remove it (CookieGuardPlugin provides request.session)"
                )
            if kind is not None and issubclass(kind, _OURS):
                raise ConfigError(
                    f"{where}: {kind.__name__} is a second cookieguard layer inside the "
                    "plugin's; remove it (the plugin installs sessions, CSRF and auth once)"
                )


def _middleware_class(entry: object) -> type | None:
    """The class behind a middleware list entry (a `DefineMiddleware`, class or instance)."""
    target = entry.middleware if isinstance(entry, DefineMiddleware) else entry
    if isinstance(target, type):
        return target
    return type(target) if target is not None else None
