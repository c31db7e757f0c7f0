"""`login_required` as a FastAPI dependency and `requires_login` on Starlette endpoints."""

from __future__ import annotations

from typing import Annotated, Any

import httpx
import pytest
from fastapi import Depends, FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from cookieguard.asgi.session import SessionMiddleware, get_session
from cookieguard.auth import AuthConfig, AuthMiddleware
from cookieguard.core._auth import SESSION_USER_ID
from cookieguard.core.signing import KeyRing
from cookieguard.integrations.starlette import (
    LoginRequired,
    login_required,
    request_user_id,
    requires_login,
)
from cookieguard.stores.memory import MemoryStore
from tests.asgi.scopes import http_scope


def fastapi_app() -> Any:
    api = FastAPI()

    @api.get("/dashboard")
    async def dashboard(user_id: Annotated[str, Depends(login_required)]) -> dict[str, str]:
        return {"user_id": user_id}

    @api.get("/api/items")
    async def items(user_id: Annotated[str, Depends(login_required)]) -> list[str]:
        return [user_id]

    @api.post("/pretend-login")
    async def pretend_login(request: Request) -> dict[str, str]:
        get_session(request)[SESSION_USER_ID] = "7"
        return {}

    config = AuthConfig(keyring=KeyRing("k" * 32), login_url="/signin", recheck_interval=None)
    return SessionMiddleware(AuthMiddleware(api, config), MemoryStore())


def starlette_app() -> Any:
    async def home(request: Request) -> Response:
        return PlainTextResponse(f"hello {request_user_id(request)}")

    @requires_login(login_url="/accounts/login?lang=en", api_prefixes=("/v1/",))
    async def v1(request: Request) -> Response:
        return PlainTextResponse("v1")

    async def pretend_login(request: Request) -> Response:
        get_session(request)[SESSION_USER_ID] = "9"
        return PlainTextResponse("ok")

    app = Starlette(
        routes=[
            Route("/home", requires_login(home)),
            Route("/v1/things", v1),
            Route("/pretend-login", pretend_login, methods=["POST"]),
        ]
    )
    return SessionMiddleware(app, MemoryStore())


def client(app: Any, **kwargs: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, **kwargs), base_url="http://testserver"
    )


async def test_fastapi_dependency() -> None:
    async with client(fastapi_app()) as browser:
        page = await browser.get("/dashboard", params={"tab": "2"})
        assert page.status_code == 303
        assert page.headers["location"] == "/signin?next=/dashboard%3Ftab%3D2"
        api = await browser.get("/api/items")
        assert api.status_code == 401 and api.headers["cache-control"] == "no-store"
        by_accept = await browser.get("/dashboard", headers={"Accept": "application/json"})
        assert by_accept.status_code == 401
        await browser.post("/pretend-login")
        assert (await browser.get("/dashboard")).json() == {"user_id": "7"}
        assert (await browser.get("/api/items")).json() == ["7"]


async def test_starlette_decorator_with_options() -> None:
    async with client(starlette_app(), root_path="/app") as browser:
        page = await browser.get("/home")
        assert page.status_code == 303
        assert page.headers["location"] == "/login?next=/app/home"
        v1 = await browser.get("/v1/things", headers={"Accept": "text/html"})
        assert v1.status_code == 401 and v1.json() == {"error": "authentication required"}
        await browser.post("/pretend-login")
        assert (await browser.get("/home")).text == "hello 9"
        assert (await browser.get("/v1/things")).text == "v1"


def _request(path: str, query: bytes = b"") -> Request:
    return Request(http_scope("GET", path, query_string=query))


def test_redirect_url_keeps_the_login_query_and_drops_unsafe_paths() -> None:
    guard = LoginRequired("/accounts/login?lang=en")
    assert guard.redirect_url(_request("/x")) == "/accounts/login?lang=en&next=/x"
    assert guard.redirect_url(_request("//evil.example/x")) == "/accounts/login?lang=en"
    assert (
        guard.redirect_url(_request("/caf\u00e9", b"a=1"))
        == "/accounts/login?lang=en&next=/caf%25C3%25A9%3Fa%3D1"
    )


@pytest.mark.parametrize("path", ["/api", "/api/", "/api/x/y"])
def test_api_detection(path: str) -> None:
    assert login_required.is_api(_request(path))
    assert not login_required.is_api(_request("/apiary"))
