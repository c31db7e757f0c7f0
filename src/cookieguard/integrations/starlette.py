"""Starlette and FastAPI helpers: require a login, find the current user, answer 503.

``login_required`` is a FastAPI dependency (``Depends(login_required)`` gives the user id);
``requires_login`` decorates a Starlette endpoint. Both answer an anonymous request the same
way: a browser is redirected (303) to the login page with a safe ``next`` pointing back, an
API client (a path under ``/api/``, or an Accept header that prefers JSON) gets 401 JSON.
The check reads the session only; no user query.

A dependency cannot return a response, so it raises `NotAuthenticated`, which carries the
exact response; `install_exception_handlers` (which `cookieguard.CookieGuard` calls for a
Starlette or FastAPI app) makes the app send it, and turns a `StoreUnavailable` raised in an
endpoint into the same 503 the session middleware sends. Starlette answers an exception it
has no handler for with its own 500 before any middleware outside it can do better.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar, overload

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket

from cookieguard.asgi._responses import ApiPaths, accept_header, send_error
from cookieguard.asgi.csrf import csrf_header_name, get_csrf_token
from cookieguard.auth._login import get_user, get_user_id
from cookieguard.auth._login_policy import (
    API_HEADERS,
    REDIRECT_HEADERS,
    UNAUTHENTICATED,
    LoginPolicy,
)
from cookieguard.auth._users import User, UserStore
from cookieguard.errors import StoreUnavailable
from cookieguard.integrations._starlette_sessions import SessionMiddleware

__all__ = [
    "LoginRequired",
    "csrf_token_endpoint",
    "NotAuthenticated",
    "install_exception_handlers",
    "login_required",
    "request_user",
    "request_user_id",
    "requires_login",
    "SessionMiddleware",
]

Endpoint = TypeVar("Endpoint", bound=Callable[..., Awaitable[Response]])

_NOT_FORWARDED = frozenset({"content-length", "content-type"})

_log = logging.getLogger("cookieguard.integrations")


class NotAuthenticated(HTTPException):
    """An anonymous request reached a dependency that needs a login.

    `response` is the answer `LoginRequired.response` chose (the redirect, or 401 JSON
    ``{"error": ...}``); the handler of `install_exception_handlers` sends it as is. Without
    that handler FastAPI still answers with the same status and headers, in its own
    ``{"detail": ...}`` shape.
    """

    def __init__(self, response: Response) -> None:
        headers = {k: v for k, v in response.headers.items() if k not in _NOT_FORWARDED}
        detail = UNAUTHENTICATED if response.status_code == 401 else "login required"
        super().__init__(status_code=response.status_code, detail=detail, headers=headers)
        self.response = response


def request_user_id(conn: HTTPConnection) -> str | None:
    """The logged-in user's id, from the session alone (None when anonymous)."""
    return get_user_id(conn)


async def request_user(conn: HTTPConnection, user_store: UserStore | None = None) -> User | None:
    """The logged-in `User`, loaded and verified once per request (see `get_user`)."""
    return await get_user(conn, user_store)


class LoginRequired(LoginPolicy):
    """Refuses anonymous requests: a redirect for browsers, 401 JSON for API clients.

    An instance is a FastAPI dependency returning the user id; `endpoint` (or the
    `requires_login` decorator) wraps a Starlette endpoint. Who gets which answer is
    `LoginPolicy`'s decision, shared with the other frameworks' guards.

    Args:
        login_url: The login page; defaults to `AuthConfig.login_url`, else ``/login``.
        field: Query parameter carrying the way back.
        api_prefixes: Paths under these prefixes always get 401 JSON, never a redirect.
    """

    def response(self, conn: HTTPConnection) -> Response:
        """The answer to an anonymous request."""
        if self.is_api(conn):
            return JSONResponse({"error": UNAUTHENTICATED}, status_code=401, headers=API_HEADERS)
        return RedirectResponse(self.redirect_url(conn), status_code=303, headers=REDIRECT_HEADERS)

    def refuse(self, conn: HTTPConnection) -> NotAuthenticated:
        """The exception a dependency raises for an anonymous request (see `response`)."""
        return NotAuthenticated(self.response(conn))

    def __call__(self, request: Request) -> str:
        """FastAPI dependency: the user id, or `NotAuthenticated` (the redirect or 401)."""
        user_id = get_user_id(request)
        if user_id is not None:
            return user_id
        raise self.refuse(request)

    def endpoint(self, func: Endpoint) -> Endpoint:
        """Wrap an endpoint ``async def f(request)``: anonymous requests never reach it."""

        @functools.wraps(func)
        async def wrapper(request: Request, *args: Any, **kwargs: Any) -> Response:
            if get_user_id(request) is None:
                return self.response(request)
            return await func(request, *args, **kwargs)

        return wrapper  # type: ignore[return-value]


login_required: LoginRequired = LoginRequired()
"""The default `LoginRequired`: ``Depends(login_required)`` in FastAPI."""


@overload
def requires_login(endpoint: Endpoint, /) -> Endpoint: ...
@overload
def requires_login(
    endpoint: None = None, /, *, login_url: str | None = None, api_prefixes: Sequence[str] = ...
) -> Callable[[Endpoint], Endpoint]: ...


def requires_login(
    endpoint: Endpoint | None = None,
    /,
    *,
    login_url: str | None = None,
    api_prefixes: Sequence[str] = ("/api/",),
) -> Endpoint | Callable[[Endpoint], Endpoint]:
    """Decorate a Starlette endpoint: anonymous browsers go to the login page, APIs get 401.

    Use bare (``@requires_login``) or with options (``@requires_login(login_url="/signin")``).
    """
    guard = (
        login_required
        if login_url is None and tuple(api_prefixes) == ("/api/",)
        else LoginRequired(login_url, api_prefixes=api_prefixes)
    )
    if endpoint is not None:
        return guard.endpoint(endpoint)
    return guard.endpoint


class _StoreUnavailableResponse(Response):
    """The 503 `SessionMiddleware` sends for a store outage, from inside the app."""

    def __init__(self, api: ApiPaths) -> None:
        super().__init__(status_code=503)
        self._api = api

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send_error(
            send,
            503,
            "The storage backend is unavailable. Please try again in a moment.",
            as_json=self._api.wants_json(scope, accept_header(scope)),
            code="store_unavailable",
            headers=[(b"retry-after", b"5")],
        )


def install_exception_handlers(app: Starlette, *, api_prefixes: Sequence[str] = ()) -> None:
    """Make a Starlette or FastAPI `app` answer cookieguard's exceptions itself.

    * `NotAuthenticated` (a login-requiring dependency, anonymous request): the redirect
      or 401 JSON ``{"error": ...}`` it carries;
    * `StoreUnavailable` raised in an endpoint or dependency (``logout`` with the session
      store down, a throttle or user store that does not answer): 503 with ``Retry-After``,
      JSON under `api_prefixes` or for JSON clients, else a small HTML page, as
      `SessionMiddleware` answers; a WebSocket is closed with 1013 (try again later).

    Handlers the app registered itself for these exceptions are kept. Call it before the app
    serves its first request (Starlette builds its handler table then).
    """
    api = ApiPaths(api_prefixes)

    async def not_authenticated(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, NotAuthenticated)
        return exc.response

    async def store_unavailable(conn: HTTPConnection, exc: Exception) -> Response | None:
        _log.error(
            "a store is unavailable (%s) in %s: answering 503", type(exc).__name__, _path(conn)
        )
        if isinstance(conn, WebSocket):
            await conn.close(code=1013)
            return None
        return _StoreUnavailableResponse(api)

    app.exception_handlers.setdefault(NotAuthenticated, not_authenticated)
    app.exception_handlers.setdefault(StoreUnavailable, store_unavailable)


def _path(conn: HTTPConnection) -> str:
    # Escaped, so a crafted path cannot forge log lines.
    return ascii(str(conn.scope.get("path", ""))[:300])


async def csrf_token_endpoint(request: Request) -> JSONResponse:
    """``{"csrfToken": ..., "headerName": ...}`` for a single-page app that has no HTML page.

    Mount it as a GET route (Starlette ``Route("/csrf", csrf_token_endpoint)``, FastAPI
    ``app.get("/csrf")(csrf_token_endpoint)``). The token is a fresh masked one; asking for
    it sets the CSRF cookie when the browser has none (or a malformed one), so the token works
    for the next unsafe request sent in ``headerName``. ``Cache-Control: no-store``: a shared
    cache must never hand one browser's token to another (the middleware adds
    ``Vary: Cookie`` too). A GET cannot be forged into anything harmful, and another site's
    script cannot read the answer (same-origin policy), so the endpoint needs no login.
    """
    return JSONResponse(
        {"csrfToken": get_csrf_token(request), "headerName": csrf_header_name(request)},
        headers={"cache-control": "no-store"},
    )
