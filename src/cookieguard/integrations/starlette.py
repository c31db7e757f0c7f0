"""Starlette and FastAPI helpers: require a login, find the current user.

``login_required`` is a FastAPI dependency (``Depends(login_required)`` gives the user id);
``requires_login`` decorates a Starlette endpoint. Both answer an anonymous request the same
way: a browser is redirected (303) to the login page with a safe ``next`` pointing back, an
API client (a path under ``/api/``, or an Accept header that prefers JSON) gets 401 JSON.
The check reads the session only; no user query.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar, overload

from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from cookieguard.auth.login import get_user, get_user_id
from cookieguard.auth.users import User, UserStore
from cookieguard.integrations.anonymous import (
    API_HEADERS,
    REDIRECT_HEADERS,
    UNAUTHENTICATED,
    is_api_request,
    login_redirect_for,
)

__all__ = [
    "LoginRequired",
    "login_required",
    "request_user",
    "request_user_id",
    "requires_login",
]

Endpoint = TypeVar("Endpoint", bound=Callable[..., Awaitable[Response]])


def request_user_id(conn: HTTPConnection) -> str | None:
    """The logged-in user's id, from the session alone (None when anonymous)."""
    return get_user_id(conn)


async def request_user(conn: HTTPConnection, user_store: UserStore | None = None) -> User | None:
    """The logged-in `User`, loaded and verified once per request (see `get_user`)."""
    return await get_user(conn, user_store)


class LoginRequired:
    """Refuses anonymous requests: a redirect for browsers, 401 JSON for API clients.

    An instance is a FastAPI dependency returning the user id; `endpoint` (or the
    `requires_login` decorator) wraps a Starlette endpoint.

    Args:
        login_url: The login page; defaults to `AuthConfig.login_url`, else ``/login``.
        field: Query parameter carrying the way back.
        api_prefixes: Paths under these prefixes always get 401 JSON, never a redirect.
    """

    def __init__(
        self,
        login_url: str | None = None,
        *,
        field: str = "next",
        api_prefixes: Sequence[str] = ("/api/",),
    ) -> None:
        self.login_url = login_url
        self.field = field
        self.api_prefixes = tuple(api_prefixes)

    def is_api(self, conn: HTTPConnection) -> bool:
        """True when `conn` should get 401 JSON rather than a redirect."""
        accept = conn.headers.get("accept")
        return is_api_request(
            conn.scope, accept.encode("latin-1") if accept else None, self.api_prefixes
        )

    def redirect_url(self, conn: HTTPConnection) -> str:
        """The login page URL with a ``next`` that brings the user back here (when safe)."""
        return login_redirect_for(conn.scope, self.login_url, self.field)

    def response(self, conn: HTTPConnection) -> Response:
        """The answer to an anonymous request."""
        if self.is_api(conn):
            return JSONResponse({"error": UNAUTHENTICATED}, status_code=401, headers=API_HEADERS)
        return RedirectResponse(self.redirect_url(conn), status_code=303, headers=REDIRECT_HEADERS)

    def __call__(self, request: Request) -> str:
        """FastAPI dependency: the user id, or an HTTPException with the redirect or 401."""
        user_id = get_user_id(request)
        if user_id is not None:
            return user_id
        if self.is_api(request):
            raise HTTPException(
                status_code=401, detail=UNAUTHENTICATED, headers={"Cache-Control": "no-store"}
            )
        raise HTTPException(
            status_code=303,
            detail="login required",
            headers={"Location": self.redirect_url(request)},
        )

    def endpoint(self, func: Endpoint) -> Endpoint:
        """Wrap an endpoint ``async def f(request)``: anonymous requests never reach it."""

        @functools.wraps(func)
        async def wrapper(request: Request, *args: Any, **kwargs: Any) -> Response:
            if get_user_id(request) is None:
                return self.response(request)
            return await func(request, *args, **kwargs)

        return wrapper  # type: ignore[return-value]


login_required = LoginRequired()
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
