"""The conformance app as a FastAPI user writes it: dependencies, Form fields, CookieGuard."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal

import jinja2
from fastapi import FastAPI, Form, Request, WebSocket
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from cookieguard import CookieGuard, SQLiteUserStore, authenticate, csrf_exempt, login, logout
from cookieguard.integrations.fastapi import CurrentUser, RequiredUser, SessionDep
from cookieguard.integrations.jinja2 import install_csrf

KIND: Literal["asgi", "wsgi"] = "asgi"
HAS_WEBSOCKET = True

FORM = """<!doctype html><title>form</title>
<form method="post" action="/form">{{ csrf_input(request) }}<button>Send</button></form>
<form method="post" action="/login">{{ csrf_input(request) }}
<input name="username"> <input name="password" type="password"> <button>Log in</button></form>
"""


def make_app(*, store_url: str, users_db: str, secret_key: str) -> Any:
    """The FastAPI app wrapped in `CookieGuard`."""
    users = SQLiteUserStore(users_db)
    env = jinja2.Environment(loader=jinja2.DictLoader({"form.html": FORM}), autoescape=True)
    install_csrf(env)
    templates = Jinja2Templates(env=env)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await users.close()

    api = FastAPI(lifespan=lifespan)

    @api.get("/form", response_class=HTMLResponse)
    async def form_page(request: Request) -> Response:
        return templates.TemplateResponse(request, "form.html")

    @api.post("/form", response_class=PlainTextResponse)
    async def form_post() -> str:
        return "ok"

    @api.post("/login")
    async def login_post(
        request: Request, username: Annotated[str, Form()], password: Annotated[str, Form()]
    ) -> Response:
        user = await authenticate(users, username, password)
        if user is None:
            return templates.TemplateResponse(request, "form.html")
        await login(request, user)
        return RedirectResponse("/whoami", status_code=303)

    @api.post("/logout")
    async def logout_post(request: Request) -> RedirectResponse:
        await logout(request)
        return RedirectResponse("/form", status_code=303)

    @api.get("/whoami")
    async def whoami(user: CurrentUser) -> dict[str, str | None]:
        return {"user": user.id if user else None}

    @api.post("/session/{key}", response_class=PlainTextResponse)
    def session_post(key: str, value: Annotated[str, Form()], session: SessionDep) -> str:
        session[key] = value
        return "ok"

    @api.get("/session/{key}")
    def session_get(key: str, session: SessionDep) -> dict[str, Any]:
        return {"value": session.get(key)}

    @api.post("/hook", response_class=PlainTextResponse)
    @csrf_exempt
    async def hook() -> str:
        return "hooked"

    @api.get("/private")
    async def private(user: RequiredUser) -> dict[str, str]:
        return {"user": user.id}

    @api.websocket("/ws")
    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text("hi")
        await websocket.close()

    return CookieGuard(api, store=store_url, secret_key=secret_key, users=users)
