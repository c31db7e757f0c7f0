"""Login-required views for WSGI: browsers are sent to the login page, API clients get 401.

The same answer as the ASGI helpers give (`cookieguard.integrations.starlette`): a 303 to
the login page with a safe ``next`` back here, or 401 JSON ``{"error": ...}`` for a path
under an API prefix or a client whose Accept header prefers JSON.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from cookieguard.asgi._responses import wants_json
from cookieguard.auth._context import AUTH_SCOPE_KEY, AuthConfig
from cookieguard.core.redirects import login_redirect_url, next_for
from cookieguard.wsgi._auth import get_user_id
from cookieguard.wsgi._responses import Refusal, WSGIApp
from cookieguard.wsgi._scope import WSGIEnviron, header, scope_for

__all__ = ["UNAUTHENTICATED", "LoginRequired", "login_required"]

UNAUTHENTICATED = "authentication required"


class LoginRequired:
    """The answer to an anonymous request for a page that needs a login.

    Args:
        login_url: the login page; defaults to `AuthConfig.login_url`, else ``/login``.
        api_prefixes: paths under these prefixes always get 401 JSON, never a redirect.
    """

    def __init__(
        self, login_url: str | None = None, *, api_prefixes: Sequence[str] = ("/api/",)
    ) -> None:
        self.login_url = login_url
        self.api_prefixes: tuple[str, ...] = tuple(api_prefixes)

    def is_api(self, environ: WSGIEnviron) -> bool:
        """True when the request should get 401 JSON rather than a redirect."""
        path = str(environ.get("PATH_INFO", ""))
        if path.startswith(self.api_prefixes) or path + "/" in self.api_prefixes:
            return True
        accept = header(environ, "HTTP_ACCEPT")
        return wants_json(accept.encode("latin-1") if accept else None)

    def redirect_url(self, environ: WSGIEnviron) -> str:
        """The login page with a ``next`` that brings the user back here (when safe)."""
        login_url = self.login_url
        if login_url is None:
            config: Any = scope_for(environ).get(AUTH_SCOPE_KEY)
            login_url = config.login_url if isinstance(config, AuthConfig) else "/login"
        scope = scope_for(environ)
        return login_redirect_url(
            login_url, next_for(scope["path"], environ.get("QUERY_STRING", ""))
        )

    def refusal(self, environ: WSGIEnviron) -> Refusal:
        """401 JSON or the 303 redirect."""
        if self.is_api(environ):
            body = json.dumps({"error": UNAUTHENTICATED}).encode("utf-8")
            return Refusal(
                401,
                [
                    ("Content-Type", "application/json"),
                    ("Content-Length", str(len(body))),
                    ("Cache-Control", "no-store"),
                    ("Vary", "Accept, Cookie"),
                ],
                body,
            )
        return Refusal(
            303,
            [
                ("Location", self.redirect_url(environ)),
                ("Content-Length", "0"),
                ("Vary", "Accept, Cookie"),
            ],
            b"",
        )


def login_required(app: WSGIApp | None = None, *, login_url: str | None = None) -> Any:
    """Wrap a WSGI app (or view) so that anonymous requests never reach it.

    Use as ``@login_required`` or ``@login_required(login_url="/signin")``.
    """
    guard = LoginRequired(login_url)

    def wrap(inner: WSGIApp) -> WSGIApp:
        @functools.wraps(inner)
        def wrapper(environ: WSGIEnviron, start_response: Callable[..., Any]) -> Iterable[bytes]:
            if get_user_id(environ) is None:
                return guard.refusal(environ).send(start_response)
            return inner(environ, start_response)

        return wrapper

    return wrap if app is None else wrap(app)
