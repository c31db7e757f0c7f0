"""Small error responses sent straight over ASGI `send`, as HTML or JSON.

Every cookieguard middleware refuses requests the same way (403 CSRF, 400/413 bad bodies,
503 store down), so a browser user gets a readable page and an API client gets JSON. JSON goes
to a request under one of the app's API prefixes (`ApiPaths`, from the configs'
``api_prefixes``) whatever it accepts, and elsewhere to a client whose Accept header asks for it.

The choice is a list of path prefixes rather than a per-route marker or a callable: a marker
needs a route lookup before every refusal and is invisible to the middleware when the route
table cannot be read, and a callable could fail exactly while a 503 is being answered. Prefixes
are plain data, validated at construction, and decided from the request alone.

An app may render the HTML refusals in its own look: ``error_page`` (on `CSRFConfig`,
`SessionConfig` and `BodyLimitMiddleware`) is a `RefusalPage`, a plain function from a
`Refusal` to an HTML document. It is called only for HTML refusals (JSON ones never change),
synchronously and with no request, so it cannot touch a session or a store; if it raises or
returns something other than a str, the built-in page is sent instead and the error is logged,
so a broken template never turns a 403 or a 503 into a 500.
"""

from __future__ import annotations

import html
import json
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from cookieguard.asgi._routes import route_path
from cookieguard.asgi._types import Scope, Send

__all__ = ["ApiPaths", "Refusal", "RefusalPage", "accept_header", "send_error", "wants_json"]

logger = logging.getLogger("cookieguard.responses")

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


@dataclass(frozen=True, slots=True)
class Refusal:
    """What a middleware refuses, handed to an app's `RefusalPage` to render as HTML.

    Every text is plain (not HTML): escape it when rendering (Jinja2's autoescape does).
    """

    status: int
    """The HTTP status: 400, 403, 413, 503 or 507."""
    title: str
    """The status's reason phrase, e.g. "Forbidden"."""
    message: str
    """One short sentence for anybody."""
    code: str
    """The stable machine-readable code a JSON client would get, e.g. ``"csrf_failed"``."""
    hint: str | None = None
    """What a person can do about it, if the middleware has a suggestion."""
    detail: str | None = None
    """The precise reason (e.g. "CSRF token missing."): set only in debug mode."""


RefusalPage = Callable[[Refusal], str]
"""Renders a refusal as a complete HTML document (see the module notes for the rules)."""


def _render(page: RefusalPage, refusal: Refusal) -> bytes | None:
    try:
        body = page(refusal)
        if isinstance(body, str):
            return body.encode("utf-8")  # lone surrogates fail here, not at send time
    except Exception:
        logger.exception(
            "error_page failed for a %d refusal; sent the built-in page", refusal.status
        )
        return None
    logger.error(
        "error_page returned %s, not str, for a %d refusal; sent the built-in page",
        type(body).__name__,
        refusal.status,
    )
    return None


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


class ApiPaths:
    """The app's API path prefixes: refusals under them are always JSON.

    Args:
        prefixes: paths as the router sees them (without ``root_path``); ``"/api/"`` covers
            ``/api/...`` and ``/api`` itself.
    """

    __slots__ = ("_exact", "_prefixes")

    def __init__(self, prefixes: Sequence[str]) -> None:
        self._prefixes = tuple(prefixes)
        self._exact = frozenset(p[:-1] for p in self._prefixes if len(p) > 1 and p[-1] == "/")

    def __bool__(self) -> bool:
        return bool(self._prefixes)

    def covers(self, scope: Scope) -> bool:
        """True if `scope`'s path is under one of the prefixes."""
        if not self._prefixes:
            return False
        path = route_path(scope)
        return path.startswith(self._prefixes) or path in self._exact

    def wants_json(self, scope: Scope, accept: bytes | None) -> bool:
        """JSON for an API path, else JSON exactly when the Accept header prefers it."""
        return self.covers(scope) or wants_json(accept)


def render_error(
    status: int,
    message: str,
    *,
    as_json: bool,
    code: str = "error",
    hint: str | None = None,
    detail: str | None = None,
    page: RefusalPage | None = None,
) -> tuple[bytes, bytes]:
    """The content type and body of an error response (see `send_error` for the arguments).

    Apart from `send_error`, for framework adapters whose exception handlers must return the
    framework's own response object (Litestar), so every refusal reads the same.
    """
    if as_json:
        payload: dict[str, str] = {"error": code, "message": message}
        if detail:
            payload["detail"] = detail
        return b"application/json", json.dumps(payload).encode("utf-8")
    title = _TITLES.get(status, "Error")
    if page is not None:
        rendered = _render(
            page, Refusal(status, title, message, code, hint or None, detail or None)
        )
        if rendered is not None:
            return b"text/html; charset=utf-8", rendered
    extra = ""
    if hint:
        extra += f"<p>{html.escape(hint)}</p>\n"
    if detail:
        extra += f"<p>Reason given: <code>{html.escape(detail)}</code></p>\n"
    body = _PAGE.format(
        status=status,
        title=title,
        message=html.escape(message),
        extra=extra,
    ).encode("utf-8")
    return b"text/html; charset=utf-8", body


async def send_error(
    send: Send,
    status: int,
    message: str,
    *,
    accept: bytes | None = None,
    as_json: bool | None = None,
    code: str = "error",
    hint: str | None = None,
    detail: str | None = None,
    headers: Iterable[tuple[bytes, bytes]] = (),
    page: RefusalPage | None = None,
) -> None:
    """Send a complete small error response.

    Args:
        send: the ASGI send callable; the response must not have started.
        status: HTTP status code.
        message: one short sentence for anybody (shown always).
        accept: the request's Accept header; JSON is sent when it prefers JSON.
        as_json: the format already chosen (e.g. by `ApiPaths.wants_json`); None: by `accept`.
        code: a stable machine-readable error code for JSON clients.
        hint: what a person can do about it (HTML only).
        detail: a precise reason, only to be passed in debug mode. Escaped in HTML.
        headers: extra response headers (e.g. ``retry-after``).
        page: the app's renderer for HTML refusals; None (or a failing one): the built-in page.
    """
    content_type, body = render_error(
        status,
        message,
        as_json=as_json if as_json is not None else wants_json(accept),
        code=code,
        hint=hint,
        detail=detail,
        page=page,
    )
    raw_headers = [*error_headers(content_type, body), *headers]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    # more_body is optional (False) in the ASGI spec, but Quart 0.23's test client needs it.
    await send({"type": "http.response.body", "body": body, "more_body": False})


def error_headers(content_type: bytes, body: bytes) -> list[tuple[bytes, bytes]]:
    """The headers every error response carries (never cached, never sniffed)."""
    return [
        (b"content-type", content_type),
        (b"content-length", str(len(body)).encode("ascii")),
        (b"cache-control", b"no-store"),
        (b"x-content-type-options", b"nosniff"),
    ]
