"""Recent-login ("sudo") mode for WSGI apps and the Flask extension.

`RecentLoginPolicy` (`cookieguard.auth._recent`) decides, over the request's scope, exactly
as for the ASGI front doors; this module renders its verdict as a WSGI response:

* anonymous: the login answer of `LoginRequired` (303 to the login page, or 401 JSON);
* a login older than ``max_age`` (or restored from a remember-me cookie): a 303 to the
  re-authentication page with a safe ``next`` (a GET's own URL, a POST's
  ``fallback_next``), or 403 JSON ``{"error": "reauthentication_required"}`` for API
  clients (a path under ``api_prefixes``, or an Accept header preferring JSON).

The re-authentication page checks the password with `cookieguard.wsgi.reauthenticate`.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from cookieguard.auth._login_policy import API_HEADERS, REDIRECT_HEADERS
from cookieguard.auth._recent import REAUTH_REQUIRED, RecentLoginPolicy
from cookieguard.wsgi._login_required import LoginRequired
from cookieguard.wsgi._responses import Refusal, WSGIApp
from cookieguard.wsgi._scope import WSGIEnviron, environ_of, scope_of_request

__all__ = ["RecentLoginRequired", "require_recent_login"]


class RecentLoginRequired(RecentLoginPolicy):
    """The answer to a request for a sensitive page (see the module docstring).

    Args: as `RecentLoginPolicy` (``max_age`` seconds, ``reauth_url``, ``fallback_next``,
    ``login_url``, ``api_prefixes``).
    """

    def refusal(self, request: object) -> Refusal | None:
        """None to let the request through, else the response to send instead."""
        environ = environ_of(request)
        scope = scope_of_request(environ)
        verdict = self.verdict(scope)
        if verdict is None:
            return None
        guard = LoginRequired(self.login_url, api_prefixes=self.api_prefixes)
        if verdict == "login":
            return guard.refusal(environ)
        if guard.is_api(environ):
            body = json.dumps({"error": REAUTH_REQUIRED}).encode("utf-8")
            headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
            return Refusal(403, headers + list(API_HEADERS.items()), body)
        location = self.reauth_target(scope["method"], scope["path"], scope["query_string"])
        headers = [("Location", location), ("Content-Length", "0")]
        return Refusal(303, headers + list(REDIRECT_HEADERS.items()), b"")


def require_recent_login(
    max_age: float,
    *,
    reauth_url: str = "/reauth",
    fallback_next: str | None = None,
    login_url: str | None = None,
    api_prefixes: Sequence[str] = ("/api/",),
) -> Callable[[WSGIApp], WSGIApp]:
    """Wrap a WSGI app (or view): the password must have been entered within `max_age` s."""
    guard = RecentLoginRequired(
        max_age,
        reauth_url=reauth_url,
        fallback_next=fallback_next,
        login_url=login_url,
        api_prefixes=tuple(api_prefixes),
    )

    def wrap(inner: WSGIApp) -> WSGIApp:
        @functools.wraps(inner)
        def wrapper(environ: WSGIEnviron, start_response: Callable[..., Any]) -> Iterable[bytes]:
            refusal = guard.refusal(environ)
            if refusal is not None:
                return refusal.send(start_response)
            return inner(environ, start_response)

        return wrapper

    return wrap
