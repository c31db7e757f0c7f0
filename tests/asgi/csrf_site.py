"""The Starlette site the CSRFMiddleware tests drive (tests/asgi/test_csrf_*.py).

One app with a form page, form and JSON endpoints, a rotation endpoint, an exempt hook and a
WebSocket. The `client` fixture (tests/asgi/conftest.py) is an httpx client on it with
``/webhooks/in`` as a configured exempt path.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from cookieguard.asgi.csrf import (
    CSRFMiddleware,
    csrf_exempt,
    csrf_input,
    get_csrf_token,
    rotate_csrf_token,
)
from cookieguard.config import CSRFConfig

BASE = "http://testserver"
ORIGIN = {"origin": BASE}
TOKEN_RE = re.compile(r'name="csrfmiddlewaretoken" value="([A-Za-z0-9]{64})"')


async def form_page(request: Request) -> HTMLResponse:
    return HTMLResponse(f'<form method="post">{csrf_input(request)}</form>')


async def submit(request: Request) -> JSONResponse:
    fields = {}
    async with request.form() as form:
        for key, value in form.multi_items():
            if isinstance(value, str):
                fields[key] = value
            else:
                fields[key] = f"file:{value.filename}:{len(await value.read())}"
    return JSONResponse({"fields": fields})


async def echo(request: Request) -> JSONResponse:
    return JSONResponse({"body": (await request.body()).decode("latin-1")})


async def token_json(request: Request) -> JSONResponse:
    return JSONResponse({"token": get_csrf_token(request)})


async def rotate(request: Request) -> PlainTextResponse:
    rotate_csrf_token(request)
    return PlainTextResponse("rotated")


async def plain(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok", headers={"vary": "Accept-Encoding"})


async def ws_endpoint(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_text("hello")
    await websocket.close()


@csrf_exempt
async def hook(request: Request) -> PlainTextResponse:
    return PlainTextResponse("hooked:" + (await request.body()).decode())


def make_app(**config: Any) -> CSRFMiddleware:
    app = Starlette(
        routes=[
            Route("/form", form_page),
            Route("/submit", submit, methods=["POST", "PUT"]),
            Route("/echo", echo, methods=["POST", "PUT", "DELETE"]),
            Route("/token", token_json),
            Route("/rotate", rotate, methods=["GET", "POST"]),
            Route("/plain", plain, methods=["GET", "POST"]),
            Route("/hook", hook, methods=["POST"]),
            Route("/webhooks/in", echo, methods=["POST"]),
            WebSocketRoute("/ws", ws_endpoint),
        ]
    )
    return CSRFMiddleware(app, CSRFConfig(**config))


async def fetch_token(client: httpx.AsyncClient) -> str:
    response = await client.get("/form")
    assert response.status_code == 200
    match = TOKEN_RE.search(response.text)
    assert match
    return match.group(1)


def set_cookie(response: httpx.Response) -> str:
    values = response.headers.get_list("set-cookie")
    assert len(values) == 1, values
    return values[0]
