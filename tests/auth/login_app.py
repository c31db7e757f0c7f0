"""A small Starlette site wired like a real one, for the login-flow tests.

SessionMiddleware(CSRFMiddleware(AuthMiddleware(app))) over a real store and a real SQLite
users table; the login handler reads the form defensively, as an application should.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from starlette.routing import Route

from cookieguard.asgi.csrf import CSRFMiddleware, get_csrf_token
from cookieguard.asgi.session import SessionMiddleware, get_session
from cookieguard.auth import (
    MAX_PASSWORD_LENGTH,
    AuthConfig,
    AuthMiddleware,
    LoginThrottle,
    ManagedUserStore,
    PasswordHasher,
    authenticate,
    change_password,
    client_address,
    get_user,
    get_user_id,
    list_sessions,
    login,
    logout,
    revoke_other_sessions,
    revoke_session,
)
from cookieguard.auth._users import MAX_USERNAME_LENGTH
from cookieguard.core.redirects import safe_next
from cookieguard.core.signing import KeyRing
from cookieguard.errors import LoginThrottled
from cookieguard.integrations.starlette import requires_login
from cookieguard.stores.base import SessionStore

TOKEN = re.compile(r'name="csrfmiddlewaretoken" value="([A-Za-z0-9]{64})"')


def _form_page(request: Request, error: str = "", status: int = 200) -> Response:
    token = get_csrf_token(request)
    body = (
        f"<p class=error>{html.escape(error)}</p>"
        '<form method="post" action="/login">'
        f'<input type="hidden" name="csrfmiddlewaretoken" value="{token}">'
        '<input name="username"><input name="password" type="password"></form>'
    )
    return HTMLResponse(body, status_code=status)


def build_app(
    store: SessionStore,
    users: ManagedUserStore,
    keyring: KeyRing,
    hasher: PasswordHasher,
    throttle_clock: Callable[[], float] | None = None,
) -> Any:
    throttle = (
        LoginThrottle(store)
        if throttle_clock is None
        else LoginThrottle(store, clock=throttle_clock)
    )

    async def login_page(request: Request) -> Response:
        return _form_page(request)

    async def login_post(request: Request) -> Response:
        form = await request.form()
        username, password = form.get("username"), form.get("password")
        if not isinstance(username, str) or not isinstance(password, str):
            return _form_page(request, "username and password are required", 400)
        if len(username) > MAX_USERNAME_LENGTH or len(password) > MAX_PASSWORD_LENGTH:
            return _form_page(request, "too long", 400)
        try:
            user = await authenticate(
                users,
                username,
                password,
                hasher=hasher,
                throttle=throttle,
                address=client_address(request),
            )
        except LoginThrottled as exc:
            return PlainTextResponse(
                "too many attempts", 429, headers={"Retry-After": str(exc.retry_after)}
            )
        if user is None:
            return _form_page(request, "wrong username or password")
        await login(request, user)
        next_url = form.get("next")
        return RedirectResponse(
            safe_next(next_url if isinstance(next_url, str) else None, "/records"), 303
        )

    async def logout_post(request: Request) -> Response:
        await logout(request)
        return RedirectResponse("/login", 303)

    @requires_login
    async def records(request: Request) -> Response:
        return PlainTextResponse(f"records of {get_user_id(request)}")

    @requires_login
    async def api_me(request: Request) -> Response:
        return JSONResponse({"user_id": get_user_id(request)})

    async def whoami(request: Request) -> Response:
        user = await get_user(request)
        return JSONResponse({"user": None if user is None else user.username})

    async def visit(request: Request) -> Response:
        for key, value in request.query_params.items():
            get_session(request)[key] = value
        return JSONResponse(dict(get_session(request)))

    async def session_data(request: Request) -> Response:
        return JSONResponse(dict(get_session(request)))

    @requires_login
    async def password(request: Request) -> Response:
        form = await request.form()
        new_password = form.get("new_password")
        user = await get_user(request)
        if user is None or not isinstance(new_password, str):
            return PlainTextResponse("no", 400)
        await change_password(request, users, user, new_password, hasher=hasher)
        return PlainTextResponse("changed")

    @requires_login
    async def sessions(request: Request) -> Response:
        return JSONResponse(
            [
                {"handle": s.handle, "current": s.current, "user_agent": s.user_agent}
                for s in await list_sessions(request)
            ]
        )

    @requires_login
    async def revoke(request: Request) -> Response:
        form = await request.form()
        ok = await revoke_session(request, form.get("handle"))
        return PlainTextResponse("revoked" if ok else "not found", 200 if ok else 404)

    @requires_login
    async def revoke_others(request: Request) -> Response:
        return PlainTextResponse(str(await revoke_other_sessions(request)))

    app = Starlette(
        routes=[
            Route("/login", login_page, methods=["GET"]),
            Route("/login", login_post, methods=["POST"]),
            Route("/logout", logout_post, methods=["POST"]),
            Route("/records", records),
            Route("/api/me", api_me),
            Route("/whoami", whoami),
            Route("/visit", visit),
            Route("/session", session_data),
            Route("/password", password, methods=["POST"]),
            Route("/sessions", sessions),
            Route("/sessions/revoke", revoke, methods=["POST"]),
            Route("/sessions/revoke-others", revoke_others, methods=["POST"]),
        ]
    )
    config = AuthConfig(keyring=keyring, user_store=users, passwords=hasher)
    return SessionMiddleware(CSRFMiddleware(AuthMiddleware(app, config)), store)


def client(app: Any, address: str = "10.0.0.1") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def form_token(browser: httpx.AsyncClient) -> str:
    page = await browser.get("/login")
    assert page.status_code == 200
    match = TOKEN.search(page.text)
    assert match is not None
    return match.group(1)


async def log_in(
    browser: httpx.AsyncClient, username: str, password: str, **extra: str
) -> httpx.Response:
    token = await form_token(browser)
    data = {"csrfmiddlewaretoken": token, "username": username, "password": password, **extra}
    return await browser.post("/login", data=data)


async def post(browser: httpx.AsyncClient, path: str, **fields: str) -> httpx.Response:
    token = await form_token(browser)
    return await browser.post(path, data={"csrfmiddlewaretoken": token, **fields})
