"""Dependency providers (``Provide``) for handlers: the session, a CSRF token, the user.

The plugin registers them app-wide under `DEPENDENCY_KEYS` (never replacing a dependency
of the same name the app defines itself), so a handler just names them::

    @get("/account")
    async def account(current_user: NamedDependency[User], csrf_token: NamedDependency[str]) -> ...
"""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.di import Provide

from cookieguard.asgi.csrf import get_csrf_token
from cookieguard.asgi.session import get_session
from cookieguard.auth._login import get_user
from cookieguard.auth._users import User
from cookieguard.core.session import Session
from cookieguard.integrations.litestar._guards import requires_login

__all__ = [
    "DEPENDENCY_KEYS",
    "dependencies",
    "provide_csrf_token",
    "provide_current_user",
    "provide_session",
    "provide_user",
]


async def provide_session(request: Request[Any, Any, Any]) -> Session:
    """The request's cookieguard `Session` (also ``request.session``)."""
    return get_session(request)


async def provide_csrf_token(request: Request[Any, Any, Any]) -> str:
    """A freshly masked CSRF token (sets the CSRF cookie when the client has none)."""
    return get_csrf_token(request)


async def provide_user(request: Request[Any, Any, Any]) -> User | None:
    """The logged-in `User`, loaded and verified once per request, or None (`get_user`)."""
    return await get_user(request)


async def provide_current_user(request: Request[Any, Any, Any]) -> User:
    """The logged-in `User`; anonymous (or a stale session) is answered as `requires_login`."""
    user = await get_user(request)
    if user is None:
        raise requires_login.refusal(request)
    return user


DEPENDENCY_KEYS = ("session", "csrf_token", "user", "current_user")
"""The names handlers use: `Session`, `str`, `User | None` and `User`."""


def dependencies() -> dict[str, Provide]:
    """The providers by name, for ``Litestar(dependencies=...)`` or a router's."""
    return {
        "session": Provide(provide_session),
        "csrf_token": Provide(provide_csrf_token),
        "user": Provide(provide_user),
        "current_user": Provide(provide_current_user),
    }
