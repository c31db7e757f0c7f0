"""The request as the shared code sees it: an ASGI-shaped scope kept in the WSGI environ.

Login, logout, the CSRF helpers and the user re-check are written once, over the ASGI scope
(``scope["session"]``, the backend, the auth config, the CSRF state). The WSGI front door
builds one small scope per request from the environ, keeps it at ``environ[SCOPE_KEY]`` and
hands it to that code, so no helper exists twice. The CSRF state also sits at
``environ[CSRF_STATE_KEY]`` (the seam of `cookieguard.csrf_rotation`).

Apps never touch it: the sync helpers (`cookieguard.wsgi.login`, ...) take a Werkzeug/Flask
request, Flask's ``request`` proxy, or the environ itself, and find the scope here.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from cookieguard.errors import MiddlewareMissing

__all__ = ["SCOPE_KEY", "WSGIEnviron", "environ_of", "header", "scope_for", "scope_of_request"]

SCOPE_KEY = "cookieguard.scope"
"""Where the per-request scope lives in the environ."""

WSGIEnviron = dict[str, Any]

# Only the headers the shared code reads, as raw ASGI pairs: the cookies (session, CSRF,
# remember-me), the User-Agent (device names, new-device events, what a new record keeps)
# and Accept (JSON or a redirect for the login and recent-login guards).
_SHARED_HEADERS = (
    (b"cookie", "HTTP_COOKIE"),
    (b"user-agent", "HTTP_USER_AGENT"),
    (b"accept", "HTTP_ACCEPT"),
)


def _decoded(value: str) -> str:
    # PEP 3333 carries the raw bytes as latin-1; routers (and exempt paths) see UTF-8 text.
    # ASCII (most paths, and the empty SCRIPT_NAME) reads the same either way.
    if value.isascii():
        return value
    return value.encode("latin-1").decode("utf-8", "replace")


def header(environ: WSGIEnviron, name: str) -> str | None:
    """Request header `name` (``HTTP_*`` form, e.g. ``"HTTP_ORIGIN"``), or None."""
    value = environ.get(name)
    return value if isinstance(value, str) else None


def scope_for(environ: WSGIEnviron) -> dict[str, Any]:
    """The request's scope, made on first use and kept in `environ`."""
    scope = environ.get(SCOPE_KEY)
    if scope is not None:
        return scope  # type: ignore[no-any-return]
    root = _decoded(environ.get("SCRIPT_NAME", ""))
    headers = []
    for name, key in _SHARED_HEADERS:  # `header`, inlined: every request builds this
        value = environ.get(key)
        if isinstance(value, str):
            headers.append((name, value.encode("latin-1")))
    address = environ.get("REMOTE_ADDR")
    port = str(environ.get("REMOTE_PORT", ""))
    scope = {
        "type": "http",
        "method": environ.get("REQUEST_METHOD", "GET").upper(),
        "scheme": environ.get("wsgi.url_scheme", "http"),
        "root_path": root,
        "path": root + _decoded(environ.get("PATH_INFO", "")),
        "query_string": str(environ.get("QUERY_STRING", "")).encode("latin-1", "replace"),
        "headers": headers,
        "client": (address, int(port) if port.isdigit() else 0) if address else None,
    }
    environ[SCOPE_KEY] = scope
    return scope


def environ_of(request: object) -> WSGIEnviron:
    """The environ behind `request`: a Werkzeug/Flask request (or proxy), or the environ."""
    environ = getattr(request, "environ", request)
    # A plain dict first: an isinstance check against the ABC costs three Python calls.
    if (
        type(environ) is not dict and not isinstance(environ, MutableMapping)
    ) or "REQUEST_METHOD" not in environ:
        raise TypeError(
            f"expected a WSGI request (Flask/Werkzeug) or environ, got {type(request).__name__}"
        )
    return environ  # type: ignore[return-value]


def scope_of_request(request: object) -> dict[str, Any]:
    """The scope cookieguard's WSGI layers made for `request`.

    Raises:
        MiddlewareMissing: no cookieguard layer runs for this request.
    """
    scope = environ_of(request).get(SCOPE_KEY)
    if scope is None:
        raise MiddlewareMissing(
            "cookieguard is not installed around this app: wrap it in CookieGuardWSGI "
            "(or CookieGuard(app) for Flask)"
        )
    return scope  # type: ignore[no-any-return]
