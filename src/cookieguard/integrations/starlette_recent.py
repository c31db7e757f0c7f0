"""Recent-login ("sudo") mode for Starlette endpoints and FastAPI dependencies.

``@require_recent_login(max_age=600)`` on a Starlette endpoint, or
``Depends(RecentLoginRequired(600))`` in FastAPI (`cookieguard.integrations.fastapi`'s
``require_recent_login`` adds the OpenAPI cookie scheme): anonymous requests get the login
answer, a login older than `max_age` seconds (or restored from a remember-me cookie) gets a
303 to the re-authentication page, or 403 JSON ``{"error": "reauthentication_required"}``
for API clients. `RecentLoginPolicy` decides; this module only renders.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from cookieguard.auth._login import get_user_id
from cookieguard.auth._login_policy import API_HEADERS, REDIRECT_HEADERS
from cookieguard.auth._recent import REAUTH_REQUIRED, RecentLoginPolicy
from cookieguard.integrations.starlette import Endpoint, LoginRequired, NotAuthenticated

__all__ = ["RecentLoginRequired", "require_recent_login"]


class RecentLoginRequired(RecentLoginPolicy):
    """A FastAPI dependency (giving the user id) and Starlette endpoint wrapper."""

    def response(self, request: Request) -> Response | None:
        """None to let `request` through, else the answer to send."""
        verdict = self.verdict(request)
        if verdict is None:
            return None
        if verdict == "login":
            return LoginRequired(self.login_url, api_prefixes=self.api_prefixes).response(request)
        if self.is_api(request):
            return JSONResponse({"error": REAUTH_REQUIRED}, status_code=403, headers=API_HEADERS)
        return RedirectResponse(
            self.reauth_redirect_url(request), status_code=303, headers=REDIRECT_HEADERS
        )

    def __call__(self, request: Request) -> str:
        """FastAPI dependency: the user id, or `NotAuthenticated` carrying the answer."""
        answer = self.response(request)
        if answer is not None:
            raise NotAuthenticated(answer)
        user_id = get_user_id(request)
        assert user_id is not None
        return user_id

    def endpoint(self, func: Endpoint) -> Endpoint:
        """Wrap an endpoint ``async def f(request)``: only recent logins reach it."""

        @functools.wraps(func)
        async def wrapper(request: Request, *args: Any, **kwargs: Any) -> Response:
            answer = self.response(request)
            if answer is not None:
                return answer
            return await func(request, *args, **kwargs)

        return wrapper  # type: ignore[return-value]


def require_recent_login(
    max_age: float,
    *,
    reauth_url: str = "/reauth",
    fallback_next: str | None = None,
    login_url: str | None = None,
    api_prefixes: Sequence[str] = ("/api/",),
) -> Callable[[Endpoint], Endpoint]:
    """Decorate a Starlette endpoint: the password must have been entered within `max_age` s."""
    guard = RecentLoginRequired(
        max_age,
        reauth_url=reauth_url,
        fallback_next=fallback_next,
        login_url=login_url,
        api_prefixes=tuple(api_prefixes),
    )
    return guard.endpoint
