"""A bare ASGI app for the logout and re-check tests: login, logout and who-am-I routes.

No framework in between, so a handler can do what frameworks hide: raise after `logout`,
answer 500 or send no response at all. Wrapped as a real site is:
``SessionMiddleware(AuthMiddleware(app, AuthConfig(...)), store, SessionConfig(...))``.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

import httpx

from cookieguard.asgi._types import Receive, Scope, Send
from cookieguard.asgi.session import SessionMiddleware
from cookieguard.auth import AuthConfig, AuthMiddleware, get_user, get_user_id, login, logout
from cookieguard.auth._users import UserStore
from cookieguard.backends import SignedCookieBackend
from cookieguard.config import SessionConfig
from cookieguard.core.signing import KeyRing
from cookieguard.errors import StoreUnavailable
from cookieguard.stores.base import SessionStore
from tests.asgi.scopes import http_scope

KEYRING = KeyRing("session-app-secret-key-0123456789")
T0 = 1_800_000_000.0


class Clock:
    """The time every layer of the test site reads (sessions and the auth re-check)."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


async def _respond(send: Send, status: int, payload: Any) -> None:
    body = json.dumps(payload).encode()
    headers = [(b"content-type", b"application/json")]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    path = scope["path"]
    if path == "/login":
        users: UserStore = scope["cookieguard.auth"].user_store
        name = scope["query_string"].decode().removeprefix("user=")
        user = await users.get_by_username(name)
        assert user is not None
        await login(scope, user)
        await _respond(send, 200, {"user": user.id})
    elif path == "/me":
        await _respond(send, 200, {"user": get_user_id(scope)})
    elif path == "/user":
        user = await get_user(scope)
        await _respond(send, 200, {"user": None if user is None else user.username})
    elif path == "/logout":
        await logout(scope)
        await _respond(send, 200, {"ok": True})
    elif path == "/logout-then-raise":
        await logout(scope)
        raise RuntimeError("a bug in the handler after logout()")
    elif path == "/logout-then-500":
        await logout(scope)
        await _respond(send, 500, {"error": "something else failed"})
    elif path == "/logout-then-nothing":
        await logout(scope)  # then the client went away: no response at all
    elif path == "/logout-swallowing-errors":
        # A careless handler: it must not get a "logged out" page through.
        with contextlib.suppress(StoreUnavailable):
            await logout(scope)
        await _respond(send, 200, {"ok": True})
    else:
        await _respond(send, 404, {})


def site(
    store: SessionStore | SignedCookieBackend,
    users: UserStore,
    clock: Clock,
    *,
    recheck_interval: int | None = 300,
    sessions: SessionConfig | None = None,
) -> Any:
    config = AuthConfig(
        keyring=KEYRING, user_store=users, recheck_interval=recheck_interval, clock=clock
    )
    return SessionMiddleware(AuthMiddleware(app, config), store, sessions, clock=clock)


def client(asgi: Any) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=asgi, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def call_without_response(asgi: Any, path: str, cookie: str) -> list[Any]:
    """Run one POST through `asgi` as a server would, returning the messages it sent."""
    sent: list[Any] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        sent.append(message)

    scope = http_scope("POST", path, [(b"cookie", f"sessionid={cookie}".encode())])
    await asgi(scope, receive, send)
    return sent
