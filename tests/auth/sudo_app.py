"""A small Starlette site for the recent-login and remember-me tests, on any session store.

``SessionMiddleware(AuthMiddleware(RememberMiddleware(app)))``, one shared fake clock.
"""

from __future__ import annotations

from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cookieguard.asgi.session import SessionMiddleware
from cookieguard.auth import (
    AuthConfig,
    AuthMiddleware,
    LoginThrottle,
    ThrottlePolicy,
    authenticate,
    get_user_id,
    login,
    logout,
    reauthenticate,
)
from cookieguard.auth._recent import login_age
from cookieguard.auth._remember import RememberConfig, RememberMiddleware, remember
from cookieguard.auth._users import UserStore
from cookieguard.core.signing import KeyRing
from cookieguard.integrations.starlette_recent import require_recent_login
from cookieguard.stores.base import SessionStore

KEYRING = KeyRing("sudo-app-secret-key-0123456789abcdef")
T0 = 1_800_000_000.0
MAX_AGE = 600
GRACE = 30


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def site(store: SessionStore, users: UserStore, clock: Clock, *, failures: int = 3) -> Any:
    throttle = LoginThrottle(store, ThrottlePolicy(max_attempts_per_user=failures), clock=clock)

    async def do_login(request: Request) -> Response:
        form = await request.form()
        user = await authenticate(users, form.get("username"), form.get("password"))
        if user is None:
            return JSONResponse({"ok": False}, status_code=401)
        await login(request, user)
        request.session["cart"] = "kept"
        if form.get("remember") == "1":
            await remember(request, user)
        return JSONResponse({"ok": True})

    async def me(request: Request) -> Response:
        return JSONResponse(
            {
                "user": get_user_id(request),
                "age": login_age(request),
                "cart": request.session.get("cart"),
            }
        )

    async def do_reauth(request: Request) -> Response:
        form = await request.form()
        ok = await reauthenticate(
            request, users, form.get("password"), throttle=throttle, address="10.0.0.1"
        )
        return JSONResponse({"ok": ok}, status_code=200 if ok else 401)

    async def do_logout(request: Request) -> Response:
        await logout(request)
        return JSONResponse({"ok": True})

    sudo = require_recent_login(MAX_AGE, fallback_next="/settings")

    async def secret(request: Request) -> Response:
        return JSONResponse({"secret": "ok"})

    app = Starlette(
        routes=[
            Route("/login", do_login, methods=["POST"]),
            Route("/me", me),
            Route("/reauth", do_reauth, methods=["POST"]),
            Route("/logout", do_logout, methods=["POST"]),
            Route("/settings/danger", sudo(secret), methods=["GET", "POST"]),
            Route("/api/danger", sudo(secret), methods=["POST"]),
        ]
    )
    from cookieguard.errors import LoginThrottled

    async def throttled(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, LoginThrottled)
        return JSONResponse({"error": "throttled"}, status_code=429)

    app.add_exception_handler(LoginThrottled, throttled)
    remembered = RememberMiddleware(app, RememberConfig(store, grace=GRACE, clock=clock))
    config = AuthConfig(keyring=KEYRING, user_store=users, recheck_interval=300, clock=clock)
    return SessionMiddleware(AuthMiddleware(remembered, config), store, clock=clock)


def client(asgi: Any, base_url: str = "http://testserver") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=asgi, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url=base_url)
