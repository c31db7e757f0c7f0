"""`SecurityHeadersMiddleware`: response headers that forbid framing (and, optionally, caching).

A page that acts on a logged-in session must not be framed by another page: a same-site (or,
without SameSite cookies, any) page could overlay it and have the user click its buttons
(clickjacking). CSRF tokens do not help there, since the clicks come from the user's own
browser on the real page. Browsers refuse to frame a response carrying
``Content-Security-Policy: frame-ancestors 'none'`` (current browsers) or
``X-Frame-Options: DENY`` (older ones), so the middleware sends both by default.

``no_store=True`` adds ``Cache-Control: no-store`` as Django's ``never_cache`` does: a page
with a CSRF token or a user's data must not be kept by a shared cache or shown from the
browser's history after logout.

Headers the app set itself are never replaced (compared by name, case-insensitively): an app
with its own ``Content-Security-Policy`` or a cacheable static file keeps its own. An app
whose own policy lacks ``frame-ancestors`` is still covered by ``X-Frame-Options``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType

from cookieguard.asgi._types import ASGIApp, Message, Receive, Scope, Send
from cookieguard.errors import ConfigError

__all__ = ["SecurityHeadersMiddleware"]

_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # RFC 9110 field name
_BAD_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # no CR/LF/NUL: no header injection


class SecurityHeadersMiddleware:
    """Add security headers to every HTTP response that does not set them itself.

    Put it outermost, so that the error pages other middlewares answer with (403, 503) get
    the headers too: ``SecurityHeadersMiddleware(SessionMiddleware(CSRFMiddleware(app),
    store), no_store=True)``.

    Args:
        app: the ASGI app to wrap. WebSocket and lifespan scopes pass through untouched.
        headers: name → value of the headers to add; by default `DEFAULTS` (no framing).
            Passing a mapping replaces the defaults, e.g. ``{**DEFAULTS, "referrer-policy":
            "same-origin"}`` to add one.
        no_store: also send ``Cache-Control: no-store`` on responses that set no
            Cache-Control of their own.

    Raises:
        ConfigError: a header name that is not an HTTP token, or a value with a control
            character (which would split the response).
    """

    DEFAULTS: Mapping[str, str] = MappingProxyType(
        {
            "content-security-policy": "frame-ancestors 'none'",
            "x-frame-options": "DENY",
        }
    )
    """Forbid every page, same-site ones included, to frame the response."""

    def __init__(
        self, app: ASGIApp, headers: Mapping[str, str] | None = None, *, no_store: bool = False
    ) -> None:
        self.app = app
        chosen = {
            name.lower(): value
            for name, value in (self.DEFAULTS if headers is None else headers).items()
        }
        if no_store:
            chosen.setdefault("cache-control", "no-store")
        for name, value in chosen.items():
            if not _TOKEN.fullmatch(name):
                raise ConfigError(f"header name {name!r} is not an HTTP token")
            if _BAD_VALUE.search(value) or not value.isascii():
                raise ConfigError(f"header {name!r} has a control or non-ASCII character")
        self.headers: tuple[tuple[bytes, bytes], ...] = tuple(
            (name.encode("ascii"), value.encode("ascii")) for name, value in chosen.items()
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = self._with_headers(message)
            await send(message)

        await self.app(scope, receive, send_wrapper)

    def _with_headers(self, message: Message) -> Message:
        # A copy: an app may send the same message dict for every response.
        headers = list(message.get("headers", ()))
        present = {bytes(key).lower() for key, _ in headers}
        headers.extend(item for item in self.headers if item[0] not in present)
        return {**message, "headers": headers}
