"""CSRFMiddleware end to end: exact exempt paths and `csrf_exempt` routes (Starlette, FastAPI)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Mount, Route
from tests.asgi.csrf_site import (
    BASE,
    echo,
    hook,
    make_app,
)
from tests.asgi.scopes import call_http, http_scope

from cookieguard.asgi.csrf import (
    CSRFMiddleware,
    csrf_exempt,
    get_csrf_token,
)
from cookieguard.config import CSRFConfig
from cookieguard.core.tokens import token_matches_secret
from cookieguard.errors import ConfigError

# -- exemptions -----------------------------------------------------------------------------


async def test_exempt_path_exact_only(client: httpx.AsyncClient) -> None:
    r = await client.post("/webhooks/in", content=b"payload")
    assert r.status_code == 200
    app = make_app(exempt_paths=["/webhooks/in"])
    for path in [
        "/webhooks/in/",
        "//webhooks/in",
        "/webhooks/x/../in",
        "/WEBHOOKS/in",
        "/webhooks",
    ]:
        # Raw ASGI so that no client normalises the path first.
        assert await raw_post_status(app, path) == 403, path
    assert await raw_post_status(app, "/webhooks/in") == 200
    # The server decodes %-escapes before routing; the router then serves /webhooks/in.
    assert await raw_post_status(app, "/webhooks/in", raw_path=b"/webhooks/%69n") == 200


async def raw_post_status(app: Any, path: str, raw_path: bytes | None = None) -> int:
    messages = await call_http(app, http_scope("POST", path, raw_path=raw_path), b"x")
    status: int = messages[0]["status"]
    return status


async def test_starlette_route_marker(client: httpx.AsyncClient) -> None:
    r = await client.post("/hook", content=b"data", headers={"origin": "http://evil.test"})
    assert r.status_code == 200
    assert r.text == "hooked:data"
    r = await client.post("/hook/", content=b"data")
    assert r.status_code == 403


async def test_marker_inside_mount_with_root_path() -> None:
    inner = Starlette(
        routes=[Route("/hook", hook, methods=["POST"]), Route("/echo", echo, methods=["POST"])]
    )
    app = CSRFMiddleware(Starlette(routes=[Mount("/api", app=inner)]))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as c:
        assert (await c.post("/api/hook", content=b"d")).status_code == 200
        assert (await c.post("/api/echo", content=b"d")).status_code == 403
        assert (await c.post("/hook", content=b"d")).status_code == 403


def build_fastapi() -> FastAPI:
    api = FastAPI()
    api.add_middleware(CSRFMiddleware, config=CSRFConfig())

    @api.get("/token")
    async def token(request: Request) -> dict[str, str]:
        return {"token": get_csrf_token(request)}

    @api.post("/items/special")
    @csrf_exempt
    async def special() -> dict[str, str]:
        return {"ok": "special"}

    @api.post("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        return {"item": item_id}

    @api.post("/hooks/{name}")
    @csrf_exempt
    async def named_hook(name: str) -> dict[str, str]:
        return {"hook": name}

    return api


async def test_fastapi_route_marker() -> None:
    api = build_fastapi()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=api), base_url=BASE) as c:
        assert (await c.post("/items/special")).json() == {"ok": "special"}
        assert (await c.post("/hooks/github")).json() == {"hook": "github"}
        assert (await c.post("/items/3")).status_code == 403
        assert (await c.post("/items/special/")).status_code == 403
        token = (await c.get("/token")).json()["token"]
        r = await c.post("/items/3", headers={"x-csrftoken": token, "origin": BASE})
        assert r.json() == {"item": 3}


async def test_route_order_decides_not_the_marker() -> None:
    # An unmarked route listed first serves /a/special, so the marker on the later one
    # must not exempt it.
    async def first(request: Request) -> PlainTextResponse:
        return PlainTextResponse("first")

    routes = [
        Route("/a/{x}", first, methods=["POST"]),
        Route("/a/special", hook, methods=["POST"]),
    ]
    app = CSRFMiddleware(Starlette(routes=routes))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as c:
        assert (await c.post("/a/special")).status_code == 403


async def test_exempt_views_can_still_get_a_token() -> None:
    @csrf_exempt
    async def exempt_token(request: Request) -> JSONResponse:
        return JSONResponse({"token": get_csrf_token(request)})

    app = CSRFMiddleware(Starlette(routes=[Route("/t", exempt_token, methods=["POST"])]))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as c:
        r = await c.post("/t")
        assert r.status_code == 200
        assert token_matches_secret(r.json()["token"], c.cookies["csrftoken"])


def test_bad_exempt_path_fails_at_construction() -> None:
    with pytest.raises(ConfigError):
        make_app(exempt_paths=["/a/../b"])
