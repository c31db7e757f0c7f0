"""The conformance app as a Starlette user writes it: routes, Jinja2 templates, CookieGuard."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Literal

import jinja2
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.templating import Jinja2Templates
from starlette.websockets import WebSocket

from cookieguard import (
    CookieGuard,
    SQLiteUserStore,
    authenticate,
    csrf_exempt,
    get_user_id,
    login,
    logout,
)
from cookieguard.integrations.jinja2 import install_csrf
from cookieguard.integrations.starlette import requires_login

KIND: Literal["asgi", "wsgi"] = "asgi"
HAS_WEBSOCKET = True

FORM = """<!doctype html><title>form</title>
<form method="post" action="/form">{{ csrf_input(request) }}<button>Send</button></form>
<form method="post" action="/login">{{ csrf_input(request) }}
<input name="username"> <input name="password" type="password"> <button>Log in</button></form>
"""


def make_app(*, store_url: str, users_db: str, secret_key: str) -> Any:
    """The Starlette app wrapped in `CookieGuard`."""
    users = SQLiteUserStore(users_db)
    env = jinja2.Environment(loader=jinja2.DictLoader({"form.html": FORM}), autoescape=True)
    install_csrf(env)
    templates = Jinja2Templates(env=env)

    async def form_page(request: Request) -> Response:
        return templates.TemplateResponse(request, "form.html")

    async def form_post(request: Request) -> Response:
        return PlainTextResponse("ok")

    async def login_post(request: Request) -> Response:
        form = await request.form()
        user = await authenticate(users, form.get("username"), form.get("password"))
        if user is None:
            return templates.TemplateResponse(request, "form.html")
        await login(request, user)
        return RedirectResponse("/whoami", status_code=303)

    async def logout_post(request: Request) -> Response:
        await logout(request)
        return RedirectResponse("/form", status_code=303)

    async def whoami(request: Request) -> Response:
        return JSONResponse({"user": get_user_id(request)})

    async def session_post(request: Request) -> Response:
        form = await request.form()
        request.session[request.path_params["key"]] = form.get("value")
        return PlainTextResponse("ok")

    async def session_get(request: Request) -> Response:
        return JSONResponse({"value": request.session.get(request.path_params["key"])})

    @csrf_exempt
    async def hook(request: Request) -> Response:
        return PlainTextResponse("hooked")

    @requires_login
    async def private(request: Request) -> Response:
        return JSONResponse({"user": get_user_id(request)})

    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text("hi")
        await websocket.close()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await users.close()

    site = Starlette(
        routes=[
            Route("/form", form_page, methods=["GET"]),
            Route("/form", form_post, methods=["POST"]),
            Route("/login", login_post, methods=["POST"]),
            Route("/logout", logout_post, methods=["POST"]),
            Route("/whoami", whoami),
            Route("/session/{key}", session_get, methods=["GET"]),
            Route("/session/{key}", session_post, methods=["POST"]),
            Route("/hook", hook, methods=["POST"]),
            Route("/private", private),
            WebSocketRoute("/ws", ws),
        ],
        lifespan=lifespan,
    )
    return CookieGuard(site, store=store_url, secret_key=secret_key, users=users)
