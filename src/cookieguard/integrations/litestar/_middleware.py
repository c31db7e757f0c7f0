"""The cookieguard stack as one Litestar middleware, run per route handler, after routing.

Litestar applies app-level middleware around each route handler once the router has picked
it, so ``scope["route_handler"]`` (and its merged ``opt``) is known here: CSRF exemption is
read from the handler that really serves the request, never from a path. The stack is
cookieguard's own ASGI layers, outermost first::

    SessionMiddleware(CSRF(AuthMiddleware(SessionBridge(route))), store)

`SessionBridge` makes Litestar's own session API cookieguard's. ``request.set_session(d)``
and ``request.clear_session()`` replace ``scope["session"]``, which cookieguard's
`SessionMiddleware` never looks at again; the bridge notices at response start (and when the
handler ends without a response) and carries the change out on the real `Session`:

* cleared (``Empty`` or None): `cookieguard.auth.logout`: the record is deleted from the
  store now, the cookie expired, the CSRF secret rotated: a logout written the Litestar way
  logs out, even on an error response;
* replaced by a mapping (or anything Litestar can serialise, e.g. a dataclass): the data is
  replaced key by key, so the save writes the change; dropping the logged-in user's id ends
  the session's ownership too (a new session id, off the user's session list).

It sits inside the CSRF layer so that logout's rotated CSRF cookie rides on the same response.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from litestar.serialization import decode_json, encode_json
from litestar.types import Empty

from cookieguard.asgi._responses import ApiPaths, accept_header, send_error
from cookieguard.asgi._routes import handler_is_marked
from cookieguard.asgi._types import ASGIApp, Message, Receive, Scope, Send
from cookieguard.asgi.csrf import CSRFMiddleware
from cookieguard.asgi.session import SCOPE_KEY as SESSION_SCOPE_KEY
from cookieguard.asgi.session import SessionMiddleware
from cookieguard.auth._context import AuthConfig, AuthMiddleware
from cookieguard.auth._login import logout
from cookieguard.backends import SessionBackend
from cookieguard.config import CSRFConfig, SessionConfig
from cookieguard.core._auth import SESSION_USER_ID
from cookieguard.core.session import Session
from cookieguard.errors import StoreUnavailable
from cookieguard.stores.base import SessionStore

__all__ = ["UNAVAILABLE_MESSAGE", "CookieGuardMiddleware", "SessionBridge", "StackConfig"]

logger = logging.getLogger("cookieguard.litestar")

UNAVAILABLE_MESSAGE = "The storage backend is unavailable. Please try again in a moment."
"""The sentence of the 503s the Litestar integration answers itself (as SessionMiddleware's)."""


@dataclass(frozen=True)
class StackConfig:
    """What `CookieGuardMiddleware` builds for each route (one instance per plugin)."""

    store: SessionStore | SessionBackend
    csrf: CSRFConfig
    session: SessionConfig
    auth: AuthConfig | None


class _RouteCSRF(CSRFMiddleware):
    """`CSRFMiddleware` that asks the routed handler, not a route table, about exemption."""

    def _route_exempt(self, scope: Scope) -> bool:
        handler = scope.get("route_handler")
        return handler is not None and handler_is_marked(handler)


def _as_data(value: object) -> dict[str, Any]:
    """What ``request.set_session(value)`` means as session data."""
    if isinstance(value, Mapping):
        return dict(value)
    data = decode_json(encode_json(value))  # Litestar's serialisers: dataclasses, msgspec...
    if not isinstance(data, dict):
        raise TypeError(f"set_session() needs a mapping, not {type(value).__name__}")
    return data


def _replace(session: Session, data: dict[str, Any]) -> None:
    owner = session.get(SESSION_USER_ID)
    # Key by key, not clear(): on cookieguard's session clear() ends the session.
    for key in [key for key in session if key not in data]:
        del session[key]
    for key, value in data.items():
        session[key] = value  # TypeError for a value that is not JSON, as at assignment
    if owner is not None and data.get(SESSION_USER_ID) != owner:
        session.set_user(None)  # no longer that user's: new id, off their session list


class SessionBridge:
    """Carries Litestar's ``set_session`` / ``clear_session`` out on cookieguard's session.

    Args:
        app: the route's ASGI app (Litestar's handler chain).
        api: paths whose 503 is JSON (`SessionConfig.api_prefixes`).
    """

    def __init__(self, app: ASGIApp, api: ApiPaths) -> None:
        self.app = app
        self._api = api

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        session = scope.get(SESSION_SCOPE_KEY)
        if scope["type"] != "http" or not isinstance(session, Session):
            await self.app(scope, receive, send)
            return
        done = failed = False

        async def settle() -> None:
            nonlocal done
            done = True
            current = scope.get(SESSION_SCOPE_KEY)
            if current is session:
                return
            scope[SESSION_SCOPE_KEY] = session  # the outer layers and later readers see it
            if current is Empty or current is None:
                await logout(scope)
            else:
                _replace(session, _as_data(current))

        async def send_wrapper(message: Message) -> None:
            nonlocal failed
            if failed:
                return  # our error response went out instead; drop the app's
            if not done and message["type"] == "http.response.start":
                try:
                    await settle()
                except StoreUnavailable as exc:
                    logger.error("session store unavailable at logout (%s): 503", exc)
                    failed = True
                    await self._error(scope, send, 503, UNAVAILABLE_MESSAGE, "store_unavailable")
                    return
                except (TypeError, ValueError) as exc:
                    logger.error("set_session() value not stored: %s", exc)
                    failed = True
                    await self._error(scope, send, 500, "Internal server error.", "server_error")
                    return
            await send(message)

        await self.app(scope, receive, send_wrapper)
        if not done:  # no response at all: a cleared session still ends
            await settle()

    async def _error(self, scope: Scope, send: Send, status: int, message: str, code: str) -> None:
        headers = [(b"retry-after", b"5")] if status == 503 else []
        as_json = self._api.wants_json(scope, accept_header(scope))
        await send_error(send, status, message, as_json=as_json, code=code, headers=headers)


class CookieGuardMiddleware:
    """Sessions, CSRF and auth for one Litestar route; `CookieGuardPlugin` registers it.

    Args:
        app: the route's ASGI app, given by Litestar.
        stack: the plugin's settings.
    """

    def __init__(self, app: ASGIApp, stack: StackConfig) -> None:
        inner: ASGIApp = SessionBridge(app, ApiPaths(stack.session.api_prefixes))
        if stack.auth is not None:
            inner = AuthMiddleware(inner, stack.auth)
        self._app = SessionMiddleware(_RouteCSRF(inner, stack.csrf), stack.store, stack.session)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._app(scope, receive, send)
