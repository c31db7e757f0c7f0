"""Quart view helpers: require a login, CSRF tokens for templates, the 503 for a store outage.

All of them read Quart's context-local `request` (whose ``.scope`` is the ASGI scope
cookieguard's middleware filled), so they take no arguments in views and templates.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, TypeVar, overload

from markupsafe import Markup
from quart import Response, current_app, jsonify, redirect, request
from werkzeug.datastructures import Headers

from cookieguard.asgi import csrf
from cookieguard.asgi._responses import ApiPaths, send_error
from cookieguard.asgi._types import Message, Scope
from cookieguard.auth._login import get_user_id
from cookieguard.auth._login_policy import (
    API_HEADERS,
    REDIRECT_HEADERS,
    UNAUTHENTICATED,
    LoginPolicy,
)

__all__ = ["csrf_input", "csrf_token", "login_required", "store_unavailable_response"]

View = TypeVar("View", bound=Callable[..., Any])


def _scope() -> Scope:
    scope: Scope = request.scope  # type: ignore[assignment]
    return scope


def csrf_token() -> str:
    """A fresh masked CSRF token for the current request (``{{ csrf_token() }}``).

    For the ``X-CSRFToken`` header of a script's requests, or a form field you write
    yourself. Calling it makes the response set the CSRF cookie when the browser has none.
    """
    return csrf.get_csrf_token(_scope())


def csrf_input() -> Markup:
    """The hidden ``csrfmiddlewaretoken`` input for a form (``{{ csrf_input() }}``)."""
    return Markup(csrf.csrf_input(_scope()))  # noqa: S704 -- the field name is escaped, the token is alphanumeric


def _accept() -> bytes | None:
    accept = request.headers.get("Accept")
    return accept.encode("latin-1") if accept else None


def _anonymous(login_url: str | None, api_prefixes: Sequence[str]) -> Response:
    scope = _scope()
    policy = LoginPolicy(login_url, api_prefixes=api_prefixes)
    if policy.is_api(scope):
        response = jsonify({"error": UNAUTHENTICATED})
        response.status_code = 401
        response.headers.update(API_HEADERS)
        return response
    answer = redirect(policy.redirect_url(scope), 303)
    answer.headers.update(REDIRECT_HEADERS)
    return answer  # type: ignore[return-value]


@overload
def login_required(view: View, /) -> View: ...
@overload
def login_required(
    view: None = None, /, *, login_url: str | None = None, api_prefixes: Sequence[str] = ...
) -> Callable[[View], View]: ...


def login_required(
    view: View | None = None,
    /,
    *,
    login_url: str | None = None,
    api_prefixes: Sequence[str] = ("/api/",),
) -> View | Callable[[View], View]:
    """Decorate a Quart view: anonymous browsers go to the login page, API clients get 401.

    Browsers get a 303 to the login page (``login_url``, else the guard's, else ``/login``)
    with a safe ``next`` back; a path under `api_prefixes` or an Accept header that prefers
    JSON gets 401 ``{"error": "authentication required"}``. The check reads the session
    only (no user query). Put it under the route decorator: ``@app.get(...)`` first.
    """
    prefixes = tuple(api_prefixes)

    def decorate(func: View) -> View:
        @functools.wraps(func)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            if get_user_id(_scope()) is None:
                return _anonymous(login_url, prefixes)
            return await current_app.ensure_async(func)(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate(view) if view is not None else decorate


async def store_unavailable_response(scope: Scope, api: ApiPaths) -> Response:
    """The 503 cookieguard's middleware sends for a store outage, as a Quart response."""
    sent: list[Message] = []

    async def capture(message: Message) -> None:
        sent.append(message)

    await send_error(
        capture,
        503,
        "The storage backend is unavailable. Please try again in a moment.",
        as_json=api.wants_json(scope, _accept()),
        code="store_unavailable",
        headers=[(b"retry-after", b"5")],
    )
    start, body = sent
    return Response(
        body["body"],
        status=503,
        headers=Headers(
            [(key.decode("latin-1"), value.decode("latin-1")) for key, value in start["headers"]]
        ),
    )
