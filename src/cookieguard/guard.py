"""`CookieGuard`: sessions, CSRF protection and login for an ASGI app, in the right order.

The three middlewares work only nested one way, ``SessionMiddleware(CSRFMiddleware(
AuthMiddleware(app, auth)), store)``: sessions outermost (CSRF may keep its secret in the
session, and login rotates it), auth innermost (it reads the session). `CookieGuard` builds
exactly that stack from one call, so the common case has no order to get wrong; the separate
middlewares stay for stacks that need something in between, and refuse a wrong order when
constructed (`cookieguard.asgi._layering`). An HTTP request runs the three layers' steps in
one coroutine with one `send` wrapper (the layers' own methods, in the nested order), which
saves two coroutines per request and two wrapper calls per message; websockets and the
lifespan go through the nested stack.

For a Starlette or FastAPI app it also registers the exception handlers that app needs
(`cookieguard.integrations.starlette.install_exception_handlers`): a `StoreUnavailable`
raised in an endpoint answers 503 rather than the framework's 500, and the login-requiring
FastAPI dependencies answer with their redirect or 401 JSON.
"""

from __future__ import annotations

import dataclasses
import sys
from typing import Any

from cookieguard.asgi._layering import layers_below
from cookieguard.asgi._types import ASGIApp, Message, Receive, Scope, Send
from cookieguard.asgi.csrf import CSRFMiddleware
from cookieguard.asgi.session import SCOPE_KEY as SESSION_SCOPE_KEY
from cookieguard.asgi.session import SessionMiddleware
from cookieguard.auth._context import AuthConfig, AuthMiddleware
from cookieguard.auth._users import UserStore
from cookieguard.backends import SessionBackend
from cookieguard.config import CSRFConfig, SessionConfig
from cookieguard.core.csrf import SAFE_METHODS
from cookieguard.core.session import Session
from cookieguard.core.signing import KeyRing
from cookieguard.errors import ConfigError, StoreUnavailable
from cookieguard.stores import open_store
from cookieguard.stores.base import SessionStore

__all__ = ["CookieGuard"]

_MAX_DEPTH = 64


class CookieGuard:
    """Sessions, CSRF protection and login for any ASGI app, in one call.

    ``app = CookieGuard(api, store="sqlite:///site.db", secret_key=..., users=users)`` does
    what ``SessionMiddleware(CSRFMiddleware(AuthMiddleware(api, auth), csrf), store, session)``
    does (that stack is ``guard.app``), with an HTTP request served as one ASGI layer.

    Args:
        app: the ASGI app to protect (a FastAPI or Starlette app, or anything ASGI).
        store: a `SessionStore`, a `SessionBackend` (e.g. `SignedCookieBackend`), or an
            `open_store` URL such as ``"sqlite:///sessions.db"`` or
            ``"redis://127.0.0.1:6379/0"``. A store opened
            from a URL belongs to the guard: it is closed at lifespan shutdown.
        secret_key: signs the session auth hash: a long random string (or bytes), or a
            `KeyRing` to rotate keys. May be omitted when `auth` carries the keyring.
        users: where users live, for `get_user`, the FastAPI user dependencies and the
            periodic re-check of logged-in sessions (every 300 s by default). Without
            users there is no re-check: only `change_password` ends other sessions.
        csrf: CSRF settings; Django's names and lifetimes by default.
        session: session cookie and expiry settings; Django's names by default.
        auth: full auth settings (login page, re-check interval, password hasher), used
            instead of the defaults built from `secret_key` and `users`.

    Raises:
        ConfigError: no keys, keys or users given twice and different, an invalid store
            URL, or an app that already contains a cookieguard middleware.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        store: SessionStore | SessionBackend | str,
        secret_key: str | bytes | KeyRing | None = None,
        users: UserStore | None = None,
        csrf: CSRFConfig | None = None,
        session: SessionConfig | None = None,
        auth: AuthConfig | None = None,
    ) -> None:
        inner = [layer for layer, _ in layers_below(app)]
        if inner:
            raise ConfigError(
                f"CookieGuard installs sessions, CSRF and auth itself, but the app already "
                f"has cookieguard's {', '.join(inner)} middleware: remove it, or build the "
                "stack by hand"
            )
        self.auth: AuthConfig | None = _auth_config(secret_key, users, auth)
        self.csrf_config: CSRFConfig = csrf or CSRFConfig()
        self.session_config: SessionConfig = session or SessionConfig()
        self._owns_store = isinstance(store, str)
        self.store: SessionStore | SessionBackend = (
            open_store(store) if isinstance(store, str) else store
        )
        self.user_app = app
        self._auth_layer = AuthMiddleware(app, self.auth)
        self._csrf_layer = CSRFMiddleware(self._auth_layer, self.csrf_config)
        self._session_layer = SessionMiddleware(self._csrf_layer, self.store, self.session_config)
        self.app: ASGIApp = self._session_layer
        """The three middlewares, nested: what serves websockets and the lifespan."""
        _install_framework_handlers(app, self.session_config)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """HTTP runs the three layers' own steps in their nested order, in one coroutine with
        one `send` wrapper: session load (or 503), CSRF state and check, auth re-check, app;
        at the response start the CSRF cookie and ``Vary`` go on, then the session's save.
        Websockets and the lifespan take the nested middlewares (`self.app`).
        """
        if scope["type"] != "http":
            if scope["type"] == "lifespan" and self._owns_store:
                await self._lifespan(scope, receive, send)
            else:
                await self.app(scope, receive, send)
            return
        sessions, csrf = self._session_layer, self._csrf_layer
        value, now = sessions._enter(scope)
        session = await sessions._load(scope, send, value, now) if value else Session(now)
        if session is None:
            return
        scope[SESSION_SCOPE_KEY] = session
        state = csrf._state_for(scope)
        replaced = started = app_running = False

        async def send_wrapper(message: Message) -> None:
            nonlocal replaced, started
            if replaced:
                return  # the error response already went out; swallow the app's body
            # The CSRF step's copy of the message already varies on Cookie.
            varied = app_running and (state.cookie_pending or state.token_issued)
            if varied and message["type"] == "http.response.start":
                message = csrf._with_cookie(scope, state, message)
            if started:
                await send(message)
                return
            started = True
            if message["type"] == "http.response.start" and not session.untouched:
                sent = await sessions._on_start(scope, session, message, now, send, varied)
                if sent is None:
                    replaced = True
                    return
                message = sent
            await send(message)

        try:
            if scope["method"] not in SAFE_METHODS:
                checked = await csrf._check(scope, receive, send_wrapper, state)
                if checked is None:
                    return
                receive = checked
            due = self._auth_layer._enter(scope)
            if due is not None:
                await due
            app_running = True
            await self.user_app(scope, receive, send_wrapper)
            if not csrf._exemption_check.done:
                csrf._exemption_check.after_request(scope)
        except StoreUnavailable as exc:
            if started or replaced:
                raise  # too late for a 503: the server logs it and drops the connection
            await sessions._inner_unavailable(scope, send, exc)

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The app's lifespan, then the store the guard opened is closed at shutdown."""

        async def closing_send(message: Message) -> None:
            if message.get("type") in ("lifespan.shutdown.complete", "lifespan.shutdown.failed"):
                await self.store.close()
            await send(message)

        await self.app(scope, receive, closing_send)


def _keyring(secret_key: str | bytes | KeyRing | None) -> KeyRing | None:
    if secret_key is None or isinstance(secret_key, KeyRing):
        return secret_key
    if isinstance(secret_key, str | bytes):
        return KeyRing(secret_key)
    raise ConfigError("secret_key must be a str, bytes or a cookieguard.KeyRing")


def _auth_config(
    secret_key: str | bytes | KeyRing | None, users: UserStore | None, auth: AuthConfig | None
) -> AuthConfig:
    keyring = _keyring(secret_key)
    if auth is None:
        if keyring is None:
            raise ConfigError("CookieGuard needs secret_key= (a long random string or KeyRing)")
        # Without a user store nothing can be re-checked (AuthMiddleware insists).
        return AuthConfig(
            keyring=keyring, user_store=users, recheck_interval=300 if users is not None else None
        )
    if keyring is not None and keyring != auth.keyring:
        raise ConfigError("secret_key and auth.keyring differ: give the keys once")
    if users is not None and auth.user_store is None:
        return dataclasses.replace(auth, user_store=users)
    if users is not None and auth.user_store is not users:
        raise ConfigError("users and auth.user_store differ: give the user store once")
    return auth


def _install_framework_handlers(app: object, session: SessionConfig) -> None:
    """Register cookieguard's exception handlers on a Starlette/FastAPI app inside `app`."""
    applications: Any = sys.modules.get("starlette.applications")
    if applications is None:
        return  # no Starlette loaded, so `app` is not one (and importing it would cost)
    current: object = app
    for _ in range(_MAX_DEPTH):
        if isinstance(current, applications.Starlette):
            from cookieguard.integrations.starlette import install_exception_handlers

            install_exception_handlers(current, api_prefixes=session.api_prefixes)
            return
        current = getattr(current, "app", None)
        if current is None:
            return
