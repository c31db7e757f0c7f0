"""A bare ASGI site for the session-centre and security-event tests.

Routes (all answer JSON): ``/login?user=&password=`` (authenticate with a throttle, then
login), ``/logout``, ``/sessions`` (`list_sessions`), ``/revoke?handle=``,
``/revoke-others``, ``/revoke-all``, ``/password?new=`` (`change_password`) and ``/form``
(a POST behind the CSRF middleware). Wrapped as a real site is:
``SessionMiddleware(CSRFMiddleware(AuthMiddleware(app, AuthConfig(...))), store, config)``.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any
from urllib.parse import parse_qs

import httpx

from cookieguard.asgi._types import Receive, Scope, Send
from cookieguard.asgi.csrf import CSRFMiddleware
from cookieguard.asgi.session import SessionMiddleware
from cookieguard.auth import AuthConfig, AuthMiddleware, authenticate, get_user, login, logout
from cookieguard.auth._password_change import change_password
from cookieguard.auth._passwords import PasswordHasher
from cookieguard.auth._sessions import (
    list_sessions,
    revoke_all_sessions,
    revoke_other_sessions,
    revoke_session,
)
from cookieguard.auth._throttle import LoginThrottle, ThrottlePolicy, client_address
from cookieguard.auth._users import ManagedUserStore
from cookieguard.config import SessionConfig
from cookieguard.core.signing import KeyRing
from cookieguard.errors import LoginThrottled
from cookieguard.events import Subscriber
from cookieguard.stores.base import SessionStore

KEYRING = KeyRing("centre-app-secret-key-0123456789abcdef")
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0"
SAFARI_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_5 like Mac OS X) AppleWebKit/605.1.15"
    " (KHTML, like Gecko) Version/18.5 Mobile/15E148 Safari/604.1"
)
CHROME_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko)"
    " Chrome/138.0.0.0 Safari/537.36"
)


async def _respond(send: Send, status: int, payload: Any) -> None:
    body = json.dumps(payload).encode()
    headers = [(b"content-type", b"application/json")]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def make_app(users: ManagedUserStore, hasher: PasswordHasher, throttle: LoginThrottle) -> Any:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        query = {k: v[0] for k, v in parse_qs(scope["query_string"].decode()).items()}
        path = scope["path"]
        if path == "/login":
            try:
                user = await authenticate(
                    users,
                    query.get("user"),
                    query.get("password"),
                    hasher=hasher,
                    throttle=throttle,
                    address=client_address(scope),
                    conn=scope,
                )
            except LoginThrottled:
                await _respond(send, 429, {"error": "throttled"})
                return
            if user is None:
                await _respond(send, 401, {"error": "bad credentials"})
                return
            await login(scope, user)
            await _respond(send, 200, {"user": user.id})
        elif path == "/logout":
            await logout(scope)
            await _respond(send, 200, {})
        elif path == "/sessions":
            entries = [dataclasses.asdict(e) for e in await list_sessions(scope)]
            await _respond(send, 200, entries)
        elif path == "/revoke":
            await _respond(send, 200, {"ok": await revoke_session(scope, query.get("handle"))})
        elif path == "/revoke-others":
            await _respond(send, 200, {"ended": await revoke_other_sessions(scope)})
        elif path == "/revoke-all":
            await _respond(send, 200, {"ended": await revoke_all_sessions(scope)})
        elif path == "/password":
            user = await get_user(scope)
            assert user is not None
            await change_password(scope, users, user, query["new"], hasher=hasher)
            await _respond(send, 200, {})
        else:
            await _respond(send, 200, {})

    return app


def site(
    store: SessionStore,
    users: ManagedUserStore,
    hasher: PasswordHasher,
    *,
    sessions: SessionConfig | None = None,
    max_sessions: int | None = None,
    on_event: Subscriber | None = None,
    policy: ThrottlePolicy | None = None,
) -> Any:
    config = AuthConfig(
        keyring=KEYRING,
        user_store=users,
        passwords=hasher,
        max_sessions_per_user=max_sessions,
        on_security_event=on_event,
    )
    throttle = LoginThrottle(store, policy or ThrottlePolicy())
    inner = AuthMiddleware(make_app(users, hasher, throttle), config)
    return SessionMiddleware(CSRFMiddleware(inner), store, sessions)


def client(
    asgi: Any, *, address: str = "203.0.113.77", user_agent: str = FIREFOX
) -> httpx.AsyncClient:
    """A browser at `address` sending `user_agent` (GETs need no CSRF token)."""
    transport = httpx.ASGITransport(app=asgi, client=(address, 50000))
    return httpx.AsyncClient(
        transport=transport,
        base_url="http://testserver",
        headers={"user-agent": user_agent.encode("latin-1")},
    )
