"""Who gets a redirect to the login page and who gets 401, and where the redirect points.

One decision for every framework's login guard (Starlette's `requires_login`, FastAPI's
`login_required`, Litestar's `requires_login` guard, Quart's `login_required`): an anonymous
API client (a path under one of `api_prefixes`, or an Accept header that prefers JSON) gets
401 JSON, a browser a redirect to the login page with a safe ``next`` back to where it was.
It reads the request's scope only, so each framework adapter renders the answer in its own
response type.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cookieguard.asgi._responses import accept_header, wants_json
from cookieguard.asgi._types import Connection, scope_of
from cookieguard.auth._context import AUTH_SCOPE_KEY, AuthConfig
from cookieguard.core.redirects import login_redirect_url, next_for

__all__ = ["API_HEADERS", "REDIRECT_HEADERS", "UNAUTHENTICATED", "LoginPolicy"]

UNAUTHENTICATED = "authentication required"
"""The ``error`` of the 401 JSON body."""
API_HEADERS = {"Cache-Control": "no-store", "Vary": "Accept, Cookie"}
"""Headers of the 401 answer: never cached, and it depends on who asks and how."""
REDIRECT_HEADERS = {"Vary": "Accept, Cookie"}
"""Headers of the redirect to the login page."""


class LoginPolicy:
    """How an anonymous request to a login-only page is answered.

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
        self.api_prefixes: tuple[str, ...] = tuple(api_prefixes)

    def is_api(self, conn: Connection) -> bool:
        """True when `conn` should get 401 JSON rather than a redirect."""
        scope = scope_of(conn)
        path = scope.get("path", "")
        if path.startswith(self.api_prefixes) or path + "/" in self.api_prefixes:
            return True
        return wants_json(accept_header(scope))

    def redirect_url(self, conn: Connection) -> str:
        """The login page URL with a ``next`` that brings the user back here (when safe)."""
        scope = scope_of(conn)
        login_url = self.login_url
        if login_url is None:
            config: Any = scope.get(AUTH_SCOPE_KEY)
            login_url = config.login_url if isinstance(config, AuthConfig) else "/login"
        path = scope.get("root_path", "") + scope.get("path", "")
        return login_redirect_url(
            login_url, next_for(path, scope.get("query_string", b"")), self.field
        )
