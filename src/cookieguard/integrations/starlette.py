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
from cookieguard.auth.login_policy import UNAUTHENTICATED, LoginPolicy
from cookieguard.auth.users import User, UserStore

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
            return JSONResponse(
                {"error": UNAUTHENTICATED},
                status_code=401,
                headers={"Cache-Control": "no-store", "Vary": "Accept, Cookie"},
            )
        return RedirectResponse(
            self.redirect_url(conn), status_code=303, headers={"Vary": "Accept, Cookie"}
        )

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
