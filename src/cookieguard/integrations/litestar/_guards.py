"""Login required, in Litestar's idiom: a guard that raises, an exception handler that answers.

``guards=[requires_login]`` on a handler, controller or router refuses anonymous requests by
raising `LoginRequired` (a `NotAuthorizedException`). The plugin's exception handler then
answers as every cookieguard front door does (`LoginPolicy` decides): API clients get 401
JSON ``{"error": "authentication required"}``, browsers a 303 to the login page with a safe
``next`` back. The check reads the session alone; no user query.
"""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException
from litestar.handlers.base import BaseRouteHandler
from litestar.response import Redirect, Response

from cookieguard.asgi.session import SCOPE_KEY as SESSION_SCOPE_KEY
from cookieguard.auth._login import get_user_id
from cookieguard.auth._login_policy import UNAUTHENTICATED, LoginPolicy
from cookieguard.errors import ConfigError

__all__ = ["LoginGuard", "LoginRequired", "login_required_response", "requires_login"]

_VARY = "Accept, Cookie"


class LoginRequired(NotAuthorizedException):
    """Raised for an anonymous request to a login-only handler (status 401).

    Attributes:
        redirect_to: the login URL for a browser, or None for an API client (401 JSON).
    """

    def __init__(self, redirect_to: str | None) -> None:
        super().__init__(detail=UNAUTHENTICATED)
        self.redirect_to: str | None = redirect_to


class LoginGuard(LoginPolicy):
    """A Litestar guard refusing anonymous requests (see `LoginPolicy` for the arguments).

    ``requires_login`` is the default instance; make your own for another login page or
    other API prefixes: ``guards=[LoginGuard("/signin", api_prefixes=["/v1/"])]``.
    """

    def refusal(self, connection: ASGIConnection[Any, Any, Any, Any]) -> LoginRequired:
        """The exception that answers an anonymous `connection`."""
        return LoginRequired(None if self.is_api(connection) else self.redirect_url(connection))

    def __call__(self, connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        if SESSION_SCOPE_KEY not in connection.scope:
            raise ConfigError("requires_login needs CookieGuardPlugin in Litestar(plugins=[...])")
        if get_user_id(connection) is None:
            raise self.refusal(connection)


requires_login: LoginGuard = LoginGuard()
"""The default guard: ``@get("/private", guards=[requires_login])``."""


def login_required_response(_: Any, exc: LoginRequired) -> Response[Any]:
    """The plugin's exception handler for `LoginRequired`: the redirect or the 401 JSON."""
    if exc.redirect_to is not None:
        return Redirect(exc.redirect_to, status_code=303, headers={"Vary": _VARY})
    return Response(
        {"error": UNAUTHENTICATED},
        status_code=401,
        headers={"Cache-Control": "no-store", "Vary": _VARY},
    )
