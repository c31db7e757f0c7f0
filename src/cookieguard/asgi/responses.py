"""Small error responses sent straight over ASGI `send`, as HTML or JSON by the Accept header.

Every cookieguard middleware refuses requests the same way (403 CSRF, 400/413 bad bodies,
503 store down), so a browser user gets a readable page and an API client gets JSON.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable

from cookieguard.asgi.types import Scope, Send

_TITLES = {
    400: "Bad Request",
    403: "Forbidden",
    413: "Content Too Large",
    429: "Too Many Requests",
    503: "Service Unavailable",
}

_PAGE = (
    "<!doctype html>\n<html lang=en><head><meta charset=utf-8>"
    '<meta name="robots" content="noindex"><title>{status} {title}</title></head>\n'
    "<body><h1>{title}</h1>\n<p>{message}</p>\n{extra}</body></html>\n"
)


def wants_json(accept: bytes | None) -> bool:
    """True when the client asked for JSON and not for HTML (fetch/XHR/API clients)."""
    if not accept:
        return False
    accept = accept.lower()
    return b"json" in accept and b"text/html" not in accept


def accept_header(scope: Scope) -> bytes | None:
    """The request's Accept header, if any."""
    for key, value in scope.get("headers", ()):
        if key == b"accept":
            return bytes(value)
    return None


async def send_error(
    send: Send,
    status: int,
    message: str,
    *,
    accept: bytes | None = None,
    code: str = "error",
    hint: str | None = None,
    detail: str | None = None,
    headers: Iterable[tuple[bytes, bytes]] = (),
) -> None:
    """Send a complete small error response.

    Args:
        send: the ASGI send callable; the response must not have started.
        status: HTTP status code.
        message: one short sentence for anybody (shown always).
        accept: the request's Accept header; JSON is sent when it prefers JSON.
        code: a stable machine-readable error code for JSON clients.
        hint: what a person can do about it (HTML only).
        detail: a precise reason, only to be passed in debug mode. Escaped in HTML.
        headers: extra response headers (e.g. ``retry-after``).
    """
    if wants_json(accept):
        payload: dict[str, str] = {"error": code, "message": message}
        if detail:
            payload["detail"] = detail
        body = json.dumps(payload).encode("utf-8")
        content_type = b"application/json"
    else:
        extra = ""
        if hint:
            extra += f"<p>{html.escape(hint)}</p>\n"
        if detail:
            extra += f"<p>Reason given: <code>{html.escape(detail)}</code></p>\n"
        body = _PAGE.format(
            status=status,
            title=_TITLES.get(status, "Error"),
            message=html.escape(message),
            extra=extra,
        ).encode("utf-8")
        content_type = b"text/html; charset=utf-8"
    raw_headers = [
        (b"content-type", content_type),
        (b"content-length", str(len(body)).encode("ascii")),
        (b"cache-control", b"no-store"),
        (b"x-content-type-options", b"nosniff"),
        *headers,
    ]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})
