"""What an anonymous request to a login-only endpoint gets, decided once for every framework.

A browser is redirected to the login page with a safe ``next`` pointing back; an API client
(a path under one of the API prefixes, or an Accept header that prefers JSON) gets 401 JSON.
The Starlette/FastAPI and Quart decorators only turn these answers into their framework's
response objects, so the rule cannot drift between front doors.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cookieguard.asgi.responses import wants_json
from cookieguard.asgi.types import Scope
from cookieguard.auth.context import AUTH_SCOPE_KEY, AuthConfig
from cookieguard.core.redirects import login_redirect_url, next_for

__all__ = [
    "API_HEADERS",
    "REDIRECT_HEADERS",
    "UNAUTHENTICATED",
    "is_api_request",
    "login_redirect_for",
]

UNAUTHENTICATED = "authentication required"
"""The ``error`` of the 401 JSON body."""
API_HEADERS = {"Cache-Control": "no-store", "Vary": "Accept, Cookie"}
"""Headers of the 401 answer: never cached, and it depends on who asks and how."""
REDIRECT_HEADERS = {"Vary": "Accept, Cookie"}
"""Headers of the redirect to the login page."""


def is_api_request(scope: Scope, accept: bytes | None, api_prefixes: Sequence[str]) -> bool:
    """True when the request should get 401 JSON rather than a redirect.

    Args:
        scope: the request's ASGI scope (its ``path`` is matched against `api_prefixes`).
        accept: the request's Accept header.
        api_prefixes: paths under these prefixes (``"/api/"`` also covers ``/api``) are APIs.
    """
    path = scope.get("path", "")
    prefixes = tuple(api_prefixes)
    if path.startswith(prefixes) or path + "/" in prefixes:
        return True
    return wants_json(accept)


def login_redirect_for(scope: Scope, login_url: str | None, field: str = "next") -> str:
    """The login page URL with a ``next`` that brings the user back to this request (if safe).

    Args:
        scope: the request's ASGI scope.
        login_url: the login page; None: `AuthConfig.login_url` from the scope, else ``/login``.
        field: the query parameter carrying the way back.
    """
    if login_url is None:
        config: Any = scope.get(AUTH_SCOPE_KEY)
        login_url = config.login_url if isinstance(config, AuthConfig) else "/login"
    path = scope.get("root_path", "") + scope.get("path", "")
    return login_redirect_url(login_url, next_for(path, scope.get("query_string", b"")), field)
