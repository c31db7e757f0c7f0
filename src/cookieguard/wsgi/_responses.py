"""Small error responses for WSGI, rendered by the same code as the ASGI ones.

`cookieguard.asgi._responses.render_error` makes the page or the JSON; this module only
chooses the format for a WSGI request (the configs' ``api_prefixes``, then the Accept
header) and hands status, headers and body to ``start_response``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from cookieguard.asgi._responses import ApiPaths, error_headers, render_error
from cookieguard.wsgi._scope import WSGIEnviron, header, scope_for

__all__ = ["ErrorResponse", "Refusal", "WSGIApp"]

WSGIApp = Callable[[WSGIEnviron, Callable[..., Any]], Iterable[bytes]]


def _status_line(status: int) -> str:
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"{status} Error"


@dataclass(frozen=True, slots=True)
class Refusal:
    """A complete error response: status, headers (str pairs) and body."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def start(self, start_response: Callable[..., Any], exc_info: Any = None) -> None:
        """Call ``start_response`` with this response's status and headers."""
        start_response(_status_line(self.status), self.headers, exc_info)

    def send(self, start_response: Callable[..., Any]) -> list[bytes]:
        """Start it and return its body, as a WSGI app returns."""
        self.start(start_response)
        return [self.body]


class ErrorResponse:
    """Makes `Refusal`s in the format the request wants (JSON under an API prefix)."""

    __slots__ = ("_api",)

    def __init__(self, api_prefixes: Sequence[str]) -> None:
        self._api = ApiPaths(api_prefixes)

    def wants_json(self, environ: WSGIEnviron) -> bool:
        """JSON for an API path, else exactly when the Accept header prefers it."""
        accept = header(environ, "HTTP_ACCEPT")
        return self._api.wants_json(
            scope_for(environ), None if accept is None else accept.encode("latin-1")
        )

    def make(
        self,
        environ: WSGIEnviron,
        status: int,
        message: str,
        *,
        code: str,
        hint: str | None = None,
        detail: str | None = None,
        headers: Iterable[tuple[str, str]] = (),
    ) -> Refusal:
        """The error response (see `cookieguard.asgi._responses.send_error`)."""
        content_type, body = render_error(
            status,
            message,
            as_json=self.wants_json(environ),
            code=code,
            hint=hint,
            detail=detail,
        )
        base = [
            (k.decode("latin-1"), v.decode("latin-1")) for k, v in error_headers(content_type, body)
        ]
        return Refusal(status, [*base, *headers], body)
