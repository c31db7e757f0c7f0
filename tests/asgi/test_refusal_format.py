"""`api_prefixes`: the middlewares' own refusals are JSON under the app's API paths whatever
the Accept header says, and chosen by the Accept header everywhere else (unchanged)."""

from __future__ import annotations

import secrets
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route
from tests.store_backends import free_port

from cookieguard.asgi.csrf import CSRFMiddleware
from cookieguard.asgi.session import SessionMiddleware
from cookieguard.backends import SignedCookieBackend
from cookieguard.config import CSRFConfig, SessionConfig
from cookieguard.core.tokens import new_session_id
from cookieguard.errors import ConfigError
from cookieguard.stores import open_store

HTML = "text/html; charset=utf-8"
JSON = "application/json"


async def ok(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


async def fill(request: Request) -> PlainTextResponse:
    request.session["blob"] = secrets.token_hex(4000)
    return PlainTextResponse("filled")


def _routes() -> list[Any]:
    return [
        Route("/api", ok, methods=["POST"]),
        Route("/api/items", ok, methods=["GET", "POST"]),
        Route("/apiary", ok, methods=["POST"]),
        Route("/page", ok, methods=["GET", "POST"]),
    ]


def _client(app: Any, base_url: str = "http://testserver") -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url)


@pytest.mark.parametrize(
    ("path", "accept", "content_type"),
    [
        ("/api/items", None, JSON),
        ("/api/items", "text/html", JSON),
        ("/api", "text/html", JSON),
        ("/apiary", None, HTML),  # a prefix ends at its slash
        ("/page", None, HTML),
        ("/page", "text/html", HTML),
        ("/page", "application/json", JSON),  # negotiation elsewhere is unchanged
    ],
)
async def test_csrf_refusals(path: str, accept: str | None, content_type: str) -> None:
    app = CSRFMiddleware(Starlette(routes=_routes()), CSRFConfig(api_prefixes=["/api/"]))
    headers = {} if accept is None else {"accept": accept}
    async with _client(app) as c:
        r = await c.post(path, headers=headers)
        assert r.status_code == 403
        assert r.headers["content-type"] == content_type
        if content_type == JSON:
            assert r.json()["error"] == "csrf_failed"


async def test_csrf_body_refusal_and_root_path() -> None:
    # Prefixes are the paths the app's routes spell, without the root path it is served under.
    inner = CSRFMiddleware(
        Starlette(routes=_routes()), CSRFConfig(api_prefixes=["/api/"], max_body_size=1024)
    )
    app = Starlette(routes=[Mount("/app", app=inner)])
    async with _client(app) as c:
        r = await c.post("/app/api/items", headers={"accept": "text/html"})
        assert (r.status_code, r.headers["content-type"]) == (403, JSON)
        c.cookies["csrftoken"] = "a" * 32
        r = await c.post(
            "/app/api/items",
            content=b"a=" + b"x" * 2000,
            headers={"content-type": "application/x-www-form-urlencoded", "accept": "text/html"},
        )
        assert (r.status_code, r.headers["content-type"]) == (413, JSON)
        r = await c.post("/app/page", headers={"accept": "text/html"})
        assert (r.status_code, r.headers["content-type"]) == (403, HTML)


async def test_session_503_with_an_unreachable_store() -> None:
    store = open_store(f"redis://127.0.0.1:{free_port()}/0", timeout=0.5)
    app = SessionMiddleware(
        Starlette(routes=_routes()), store, SessionConfig(api_prefixes=("/api/",))
    )
    try:
        async with _client(app) as c:
            c.cookies["sessionid"] = new_session_id()
            r = await c.get("/api/items", headers={"accept": "text/html"})
            assert (r.status_code, r.headers["content-type"]) == (503, JSON)
            assert r.json()["error"] == "session_store_unavailable"
            r = await c.get("/page")
            assert (r.status_code, r.headers["content-type"]) == (503, HTML)
    finally:
        await store.close()


async def test_session_507_too_large() -> None:
    routes = [Route("/api/fill", fill), Route("/fill", fill)]
    app = SessionMiddleware(
        Starlette(routes=routes),
        SignedCookieBackend("k" * 32),
        SessionConfig(api_prefixes=("/api/",)),
    )
    async with _client(app) as c:
        r = await c.get("/api/fill")
        assert (r.status_code, r.headers["content-type"]) == (507, JSON)
        assert (await c.get("/fill")).headers["content-type"] == HTML


@pytest.mark.parametrize("prefixes", ["/api/", ["api/"], [""], [None]])
def test_bad_prefixes_fail_at_construction(prefixes: Any) -> None:
    with pytest.raises(ConfigError):
        CSRFConfig(api_prefixes=prefixes)
    with pytest.raises(ConfigError):
        SessionConfig(api_prefixes=prefixes)
