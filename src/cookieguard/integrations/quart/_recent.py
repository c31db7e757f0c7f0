"""Recent-login ("sudo") mode as a Quart view decorator.

``@require_recent_login(max_age=600)`` under the route decorator: anonymous requests get
the login answer (as `login_required`), a login older than `max_age` seconds (or restored
from a remember-me cookie) a 303 to the re-authentication page with a safe ``next``
(browsers) or 403 JSON ``{"error": "reauthentication_required"}`` (API clients).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from quart import Response, current_app, jsonify, redirect, request

from cookieguard.asgi._types import Scope
from cookieguard.auth._login_policy import API_HEADERS, REDIRECT_HEADERS
from cookieguard.auth._recent import REAUTH_REQUIRED, RecentLoginPolicy
from cookieguard.integrations.quart._views import _anonymous

__all__ = ["require_recent_login"]

View = TypeVar("View", bound=Callable[..., Any])


def _refusal(policy: RecentLoginPolicy, scope: Scope) -> Any:
    if policy.is_api(scope):
        response: Response = jsonify({"error": REAUTH_REQUIRED})
        response.status_code = 403
        response.headers.update(API_HEADERS)
        return response
    answer = redirect(policy.reauth_redirect_url(scope), 303)
    answer.headers.update(REDIRECT_HEADERS)
    return answer


def require_recent_login(
    max_age: float,
    *,
    reauth_url: str = "/reauth",
    fallback_next: str | None = None,
    login_url: str | None = None,
    api_prefixes: Sequence[str] = ("/api/",),
) -> Callable[[View], View]:
    """Decorate a Quart view: the password must have been entered within `max_age` seconds."""
    policy = RecentLoginPolicy(
        max_age,
        reauth_url=reauth_url,
        fallback_next=fallback_next,
        login_url=login_url,
        api_prefixes=tuple(api_prefixes),
    )

    def decorate(func: View) -> View:
        @functools.wraps(func)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            scope: Scope = request.scope  # type: ignore[assignment]
            verdict = policy.verdict(scope)
            if verdict == "login":
                return _anonymous(login_url, policy.api_prefixes)
            if verdict == "reauth":
                return _refusal(policy, scope)
            return await current_app.ensure_async(func)(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate
