"""`BodyLimitMiddleware`: no request body larger than its route needs is ever read.

`CSRFConfig.max_body_size` bounds only what the CSRF middleware reads itself (a form without
a token header). Once the token came in a header, the app's own ``await request.form()`` or
``request.body()`` would read whatever the client sends, so one anonymous POST can make the
process hold hundreds of MiB. This middleware bounds every body, whatever reads it:

* a ``Content-Length`` over the limit: 413 at once; the app is not called, nothing is read;
* otherwise the bytes are counted as the app receives them. The message that would cross the
  limit is not handed over: the 413 goes out, and from then on the app's `receive` answers
  ``http.disconnect`` (what every ASGI app already handles when a client leaves) and what
  the app still sends is dropped. If the app had already started its response, no 413 can be
  sent: that response is left unfinished and the server closes the connection.

The 413 carries ``Connection: close``: the rest of the body is never read. A body whose size
the HTTP framing already fixes within the limit (a ``Content-Length`` the server enforces, or
an HTTP/1.x request with neither length nor ``Transfer-Encoding``, which has no body) is passed
through untouched, so bounded requests cost one header scan.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from cookieguard.asgi._responses import RefusalPage, accept_header, send_error
from cookieguard.asgi._routes import route_path
from cookieguard.asgi._types import ASGIApp, Message, Receive, Scope, Send
from cookieguard.errors import ConfigError

__all__ = ["DEFAULT_MAX_BODY_SIZE", "BodyLimitMiddleware"]

logger = logging.getLogger("cookieguard.body")

DEFAULT_MAX_BODY_SIZE = 2_621_440
"""Django's ``DATA_UPLOAD_MAX_MEMORY_SIZE`` (2.5 MiB), as `CSRFConfig.max_body_size`."""

_CLOSE = [(b"connection", b"close")]
_HTTP1 = frozenset({"1.0", "1.1"})


def _log_path(scope: Scope) -> str:
    # Escape control and non-ASCII characters so a crafted path cannot forge log lines.
    return ascii(str(scope.get("path", ""))[:300])[1:-1]


def _check_limit(name: str, value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ConfigError(f"{name} must be a non-negative number of bytes, got {value!r}")
    return value


def _framing(scope: Scope) -> tuple[int | None, bool]:
    """The declared Content-Length (None: absent or unreadable) and whether TE was sent."""
    length: int | None = None
    transfer_encoding = False
    for key, value in scope.get("headers", ()):
        if key == b"content-length":
            text = bytes(value).strip()
            # Servers refuse malformed or conflicting lengths; the largest one counts here.
            if text.isdigit():
                length = max(length or 0, int(text))
        elif key == b"transfer-encoding":
            transfer_encoding = True
    return length, transfer_encoding


class BodyLimitMiddleware:
    """Pure ASGI middleware answering 413 to request bodies over a per-route limit.

    Args:
        app: the ASGI app to protect. Put this middleware outermost, so an oversized request
            is refused before a session is loaded or a token checked.
        max_body_size: the largest body accepted, in bytes, for any path not in `path_limits`.
        path_limits: larger (or smaller) limits for exact paths, as the app's routes spell
            them (without ``root_path``), e.g. ``{"/upload": 50 * 2**20}``. Any other spelling
            of a path gets `max_body_size`, so keep that the smallest limit the app can live with.
        error_page: renders the HTML 413 in the app's look (see `CSRFConfig.error_page`);
            None: the built-in page. JSON refusals are unchanged.

    Raises:
        ConfigError: a limit that is not a non-negative int.
    """

    def __init__(
        self,
        app: ASGIApp,
        max_body_size: int = DEFAULT_MAX_BODY_SIZE,
        *,
        path_limits: Mapping[str, int] | None = None,
        error_page: RefusalPage | None = None,
    ) -> None:
        self.app = app
        self.error_page = error_page
        self.max_body_size: int = _check_limit("max_body_size", max_body_size)
        self.path_limits: dict[str, int] = {
            path: _check_limit(f"path_limits[{path!r}]", limit)
            for path, limit in (path_limits or {}).items()
        }

    def limit_for(self, scope: Scope) -> int:
        """The body limit that applies to the request in `scope`."""
        if self.path_limits:
            return self.path_limits.get(route_path(scope), self.max_body_size)
        return self.max_body_size

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length, transfer_encoding = _framing(scope)
        if length is None and not transfer_encoding and scope.get("http_version") in _HTTP1:
            await self.app(scope, receive, send)  # HTTP/1.x framing: no body at all
            return
        limit = self.limit_for(scope)
        if length is not None and length > limit:
            logger.warning(
                "Request body too large (Content-Length %d > %d bytes): %s",
                length,
                limit,
                _log_path(scope),
            )
            await _refuse(scope, send, self.error_page)
            return
        if length is not None and not transfer_encoding:
            await self.app(scope, receive, send)  # the server stops at the declared length
            return
        await _Counted(limit, scope, receive, send, self.error_page).run(self.app)


async def _refuse(scope: Scope, send: Send, page: RefusalPage | None) -> None:
    await send_error(
        send,
        413,
        "The request body is too large.",
        accept=accept_header(scope),
        code="body_too_large",
        headers=_CLOSE,
        page=page,
    )


class _Counted:
    """One request whose body is counted as the app reads it, cut off past the limit."""

    __slots__ = (
        "left",
        "limit",
        "outer_receive",
        "outer_send",
        "page",
        "scope",
        "started",
        "tripped",
    )

    def __init__(
        self, limit: int, scope: Scope, receive: Receive, send: Send, page: RefusalPage | None
    ) -> None:
        self.limit = limit
        self.page = page
        self.left = limit
        self.scope = scope
        self.outer_receive = receive
        self.outer_send = send
        self.started = False
        self.tripped = False

    async def run(self, app: ASGIApp) -> None:
        try:
            await app(self.scope, self.receive, self.send)
        except Exception as exc:
            if not self.tripped:
                raise
            # The 413 (or the cut connection) already answered this request; what the app
            # raised on finding its body gone must not become a server traceback.
            logger.debug("after a body was cut off the app raised %s", type(exc).__name__)

    async def receive(self) -> Message:
        if self.tripped:
            return {"type": "http.disconnect"}
        message = await self.outer_receive()
        if message["type"] != "http.request":
            return message
        self.left -= len(message.get("body", b""))
        if self.left >= 0:
            return message
        self.tripped = True
        logger.warning(
            "Request body too large (streamed past %d bytes): %s", self.limit, _log_path(self.scope)
        )
        if not self.started:
            self.started = True
            await _refuse(self.scope, self.outer_send, self.page)
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        if self.tripped:
            return  # the 413 went out instead, or the response is being cut short
        if message["type"] == "http.response.start":
            self.started = True
        await self.outer_send(message)
