"""Login and logout rotate the CSRF secret through the public seam, whatever driver holds it.

The driver here is not the ASGI middleware: it is any object with ``rotate()`` put at
`CSRF_STATE_KEY` of the request's mapping, as a WSGI driver would put it in the environ.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from cookieguard import CSRFMiddleware, get_csrf_token
from cookieguard.auth import login, logout
from cookieguard.auth._users import User
from cookieguard.core.session import Session
from cookieguard.core.signing import KeyRing
from cookieguard.csrf_rotation import CSRF_STATE_KEY, RotatableCSRFSecret, rotate_csrf_secret
from cookieguard.errors import ConfigError
from tests.asgi.scopes import http_scope

KEYRING = KeyRing("csrf-rotation-test-key-0123456789abcdef")
USER = User(id="7", username="ada", password_hash="!unusable")


class DriverState:
    """Another driver's per-request CSRF state: only the seam's protocol, nothing of ASGI's."""

    def __init__(self) -> None:
        self.rotations = 0

    def rotate(self) -> None:
        self.rotations += 1


def request_with(state: object) -> dict[str, Any]:
    return http_scope(session=Session(time.time()), **{CSRF_STATE_KEY: state})


async def test_login_and_logout_rotate_any_drivers_secret() -> None:
    state = DriverState()
    request = request_with(state)
    await login(request, USER, keyring=KEYRING)
    assert state.rotations == 1
    await logout(request)
    assert state.rotations == 2


async def test_without_a_csrf_driver_there_is_nothing_to_rotate() -> None:
    request = http_scope(session=Session(time.time()))
    assert rotate_csrf_secret(request) is False
    await login(request, USER, keyring=KEYRING)  # an API-only app: no error
    assert CSRF_STATE_KEY not in request


async def test_something_else_at_the_key_is_never_skipped_silently() -> None:
    with pytest.raises(ConfigError, match="CSRF state"):
        await login(request_with("not a state"), USER, keyring=KEYRING)


async def test_the_asgi_middlewares_state_is_what_the_seam_finds() -> None:
    seen: list[tuple[bool, bool, str, str]] = []

    async def page(request: Request) -> PlainTextResponse:
        state = request.scope[CSRF_STATE_KEY]
        before = get_csrf_token(request)
        secret = state.secret
        rotated = rotate_csrf_secret(request.scope)
        seen.append((isinstance(state, RotatableCSRFSecret), rotated, secret, state.secret))
        return PlainTextResponse(before)

    app = CSRFMiddleware(Starlette(routes=[Route("/", page)]))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as client:
        response = await client.get("/")
    ((is_state, rotated, before, after),) = seen
    assert is_state and rotated and before != after
    # The response carries the rotated secret, not the one the page's token was made for.
    assert client.cookies["csrftoken"] == after
    assert response.status_code == 200
