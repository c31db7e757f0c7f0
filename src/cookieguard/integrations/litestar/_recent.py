"""Recent-login ("sudo") mode as a Litestar guard.

``guards=[require_recent_login(max_age=600)]`` on a sensitive handler: an anonymous request
gets the login answer (`LoginRequired`), a login older than `max_age` seconds (or restored
from a remember-me cookie) raises `ReauthRequired`, which the plugin answers with a 303 to
the re-authentication page (browsers) or 403 JSON ``{"error": "reauthentication_required"}``
(API clients). `RecentLoginPolicy` decides.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.response import Redirect, Response

from cookieguard.asgi.session import SCOPE_KEY as SESSION_SCOPE_KEY
from cookieguard.auth._recent import REAUTH_REQUIRED, RecentLoginPolicy
from cookieguard.errors import ConfigError
from cookieguard.integrations.litestar._guards import LoginGuard

__all__ = ["ReauthRequired", "RecentLoginGuard", "reauth_required_response", "require_recent_login"]

_VARY = "Accept, Cookie"


class ReauthRequired(PermissionDeniedException):
    """Raised when a sensitive handler needs the password again (status 403).

    Attributes:
        redirect_to: the re-authentication URL for a browser, or None for an API client.
    """

    def __init__(self, redirect_to: str | None) -> None:
        super().__init__(detail=REAUTH_REQUIRED)
        self.redirect_to = redirect_to


class RecentLoginGuard(RecentLoginPolicy):
    """A Litestar guard admitting only logins at most `max_age` seconds old."""

    def __call__(self, connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        if SESSION_SCOPE_KEY not in connection.scope:
            raise ConfigError("require_recent_login needs CookieGuardPlugin in Litestar(plugins=)")
        verdict = self.verdict(connection)
        if verdict == "login":
            guard = LoginGuard(self.login_url, api_prefixes=self.api_prefixes)
            raise guard.refusal(connection)
        if verdict == "reauth":
            api = self.is_api(connection)
            raise ReauthRequired(None if api else self.reauth_redirect_url(connection))


def require_recent_login(
    max_age: float,
    *,
    reauth_url: str = "/reauth",
    fallback_next: str | None = None,
    login_url: str | None = None,
    api_prefixes: Sequence[str] = ("/api/",),
) -> RecentLoginGuard:
    """The guard for ``guards=[...]``: the password entered within `max_age` seconds."""
    return RecentLoginGuard(
        max_age,
        reauth_url=reauth_url,
        fallback_next=fallback_next,
        login_url=login_url,
        api_prefixes=tuple(api_prefixes),
    )


def reauth_required_response(_: Any, exc: ReauthRequired) -> Response[Any]:
    """The plugin's exception handler for `ReauthRequired`: the redirect or the 403 JSON."""
    if exc.redirect_to is not None:
        return Redirect(exc.redirect_to, status_code=303, headers={"Vary": _VARY})
    return Response(
        {"error": REAUTH_REQUIRED},
        status_code=403,
        headers={"Cache-Control": "no-store", "Vary": _VARY},
    )
