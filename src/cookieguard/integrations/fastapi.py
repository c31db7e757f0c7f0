"""FastAPI dependencies: the session, the CSRF token, the current user, a required login.

Each is an ``Annotated`` type to put on an endpoint parameter, in ``async def`` and ``def``
endpoints alike::

    @app.get("/account")
    async def account(user: RequiredUser, session: SessionDep) -> dict[str, str]: ...

* `SessionDep`: the request's `Session` (the same object as ``request.session``);
* `CSRFTokenDep`: a fresh masked CSRF token, for a page or an SPA's ``X-CSRFToken`` header;
* `CurrentUser`: the logged-in `User`, or None (loaded and verified once per request);
* `RequiredUser` (a `User`) and `RequiredUserId` (its id, from the session alone): an
  anonymous request never reaches the endpoint. It gets what `LoginRequired` answers: a 303
  to the login page with ``next`` for browsers, 401 JSON ``{"error": ...}`` for API clients.
  These routes list the session cookie as their security scheme in the OpenAPI document.
  `require_user` / `require_login` build variants (another login page, API prefixes, cookie
  name).

The answers need the exception handlers of `install` (`cookieguard.CookieGuard` installs
them on the FastAPI app it wraps); they also turn a `StoreUnavailable` raised in an endpoint
into a 503 instead of FastAPI's 500.

This module does not use ``from __future__ import annotations``: FastAPI reads the
dependency functions' annotations, and those built in `require_user` name a local scheme.
"""

from collections.abc import Awaitable, Callable, Sequence
from typing import Annotated

from fastapi import Depends, FastAPI, Request, Security
from fastapi.security import APIKeyCookie

from cookieguard.asgi._csrf_state import get_csrf_token
from cookieguard.asgi.session import get_session
from cookieguard.auth._login import get_user, get_user_id
from cookieguard.auth._users import User, UserStore
from cookieguard.core.session import Session
from cookieguard.integrations.starlette import (
    LoginRequired,
    NotAuthenticated,
    install_exception_handlers,
    login_required,
)
from cookieguard.integrations.starlette_recent import RecentLoginRequired

__all__ = [
    "CSRFTokenDep",
    "CurrentUser",
    "LoginRequired",
    "NotAuthenticated",
    "RequiredUser",
    "RequiredUserId",
    "SessionDep",
    "current_user",
    "install",
    "request_csrf_token",
    "request_session",
    "require_login",
    "require_recent_login",
    "require_user",
]

SESSION_COOKIE = "sessionid"


def request_session(request: Request) -> Session:
    """The request's `Session` (`SessionMiddleware` or `CookieGuard` must wrap the app)."""
    return get_session(request)


def request_csrf_token(request: Request) -> str:
    """A fresh masked CSRF token (`CSRFMiddleware` or `CookieGuard` must wrap the app)."""
    return get_csrf_token(request)


async def current_user(request: Request) -> User | None:
    """The logged-in `User`, or None; from `AuthConfig.user_store` (``users=`` of CookieGuard)."""
    return await get_user(request)


SessionDep = Annotated[Session, Depends(request_session)]
"""The request's session: ``session: SessionDep``."""
CSRFTokenDep = Annotated[str, Depends(request_csrf_token)]
"""A masked CSRF token for this response: ``token: CSRFTokenDep``."""
CurrentUser = Annotated[User | None, Depends(current_user)]
"""The logged-in user, or None for anonymous requests: ``user: CurrentUser``."""


def _scheme(cookie_name: str) -> APIKeyCookie:
    # Only documents the cookie in OpenAPI: the session itself is read from the scope.
    return APIKeyCookie(
        name=cookie_name,
        scheme_name=cookie_name,
        description="The session cookie set at login (HttpOnly; sent by the browser).",
        auto_error=False,
    )


def require_user(
    guard: LoginRequired | None = None,
    *,
    cookie_name: str = SESSION_COOKIE,
    user_store: UserStore | None = None,
) -> Callable[..., Awaitable[User]]:
    """A dependency giving the logged-in `User`; anonymous requests get `guard`'s answer.

    A session whose user is gone, inactive or whose password changed counts as anonymous
    (see `get_user`).

    Args:
        guard: how to answer anonymous requests (login page, API prefixes); the default
            `login_required` uses `AuthConfig.login_url` and treats ``/api/`` as API.
        cookie_name: the session cookie's name as browsers send it, for the OpenAPI
            security scheme (``__Host-sessionid`` with ``host_prefix=True``).
        user_store: where users live; defaults to `AuthConfig.user_store`.
    """
    refuse = (guard or login_required).refuse
    scheme = _scheme(cookie_name)

    async def logged_in_user(
        request: Request, _cookie: Annotated[str | None, Security(scheme)]
    ) -> User:
        user = await get_user(request, user_store)
        if user is None:
            raise refuse(request)
        return user

    return logged_in_user


def require_login(
    guard: LoginRequired | None = None, *, cookie_name: str = SESSION_COOKIE
) -> Callable[..., Awaitable[str]]:
    """A dependency giving the logged-in user's id from the session alone (no user query).

    Anonymous requests get `guard`'s answer, as with `require_user`.
    """
    refuse = (guard or login_required).refuse
    scheme = _scheme(cookie_name)

    async def logged_in_user_id(
        request: Request, _cookie: Annotated[str | None, Security(scheme)]
    ) -> str:
        user_id = get_user_id(request)
        if user_id is None:
            raise refuse(request)
        return user_id

    return logged_in_user_id


def require_recent_login(
    max_age: float,
    *,
    reauth_url: str = "/reauth",
    fallback_next: str | None = None,
    cookie_name: str = SESSION_COOKIE,
    api_prefixes: Sequence[str] = ("/api/",),
) -> Callable[..., Awaitable[str]]:
    """A dependency for sensitive actions: the user id when the password was entered within
    `max_age` seconds in this session (see `cookieguard.auth._recent`).

    Otherwise: anonymous requests get the login answer; a browser a 303 to `reauth_url`
    with a safe ``next``, an API client 403 JSON ``{"error": "reauthentication_required"}``.
    """
    guard = RecentLoginRequired(
        max_age, reauth_url=reauth_url, fallback_next=fallback_next, api_prefixes=api_prefixes
    )
    scheme = _scheme(cookie_name)

    async def recently_logged_in_user_id(
        request: Request, _cookie: Annotated[str | None, Security(scheme)]
    ) -> str:
        return guard(request)

    return recently_logged_in_user_id


RequiredUser = Annotated[User, Depends(require_user())]
"""The logged-in user; anonymous requests are redirected to the login page or get 401."""
RequiredUserId = Annotated[str, Depends(require_login())]
"""The logged-in user's id (no user query); anonymous requests as with `RequiredUser`."""


def install(app: FastAPI, *, api_prefixes: Sequence[str] = ()) -> None:
    """Register the handlers the dependencies need on `app` (CookieGuard does it for you).

    `NotAuthenticated` becomes the login redirect or 401 JSON; a `StoreUnavailable` raised
    in an endpoint or dependency becomes a 503 (JSON under `api_prefixes` or for JSON
    clients). Handlers `app` already has for these exceptions are kept.
    """
    install_exception_handlers(app, api_prefixes=api_prefixes)
