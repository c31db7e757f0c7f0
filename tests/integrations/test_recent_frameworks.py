"""``require_recent_login`` in FastAPI, Litestar and Quart: a fresh login passes, a stale one
gets a 303 to /reauth with a safe ``next`` (browsers) or 403 JSON (API), anonymous the login
answer. Staleness is made by a route that backdates the session's password time."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from fastapi import Depends, FastAPI, Request
from litestar import Litestar
from litestar import Request as LitestarRequest
from litestar import get as litestar_get
from litestar.testing import AsyncTestClient
from quart import Quart
from quart import request as quart_request

from cookieguard import CookieGuard, SQLiteUserStore, get_session, login
from cookieguard.core._auth import SESSION_VERIFIED_AT
from cookieguard.integrations import fastapi as cg_fastapi
from cookieguard.integrations import litestar as cg_litestar
from cookieguard.integrations import quart as cg_quart
from cookieguard.stores.memory import MemoryStore

SECRET = "recent-frameworks-secret-key-0123456789"
STALE = {"error": "reauthentication_required"}


async def _login(conn: Any, users: SQLiteUserStore) -> None:
    user = await users.get_by_username("alice")
    assert user is not None
    await login(conn, user)


def _backdate(conn: Any) -> None:
    get_session(conn)[SESSION_VERIFIED_AT] = time.time() - 10_000


async def check(http: Any) -> None:
    anonymous = await http.get("/danger")
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login")
    assert (await http.get("/login")).status_code == 200
    assert (await http.get("/danger")).status_code == 200
    assert (await http.get("/api/danger")).status_code == 200
    assert (await http.get("/stale")).status_code == 200
    page = await http.get("/danger?x=1")
    assert page.status_code == 303
    assert page.headers["location"] == "/reauth?next=/danger%3Fx%3D1"
    api = await http.get("/api/danger")
    assert api.status_code == 403
    assert api.json() == STALE


async def test_fastapi(users_db: str) -> None:
    users = SQLiteUserStore(users_db)
    api = FastAPI()
    sudo = cg_fastapi.require_recent_login(600)

    @api.get("/login")
    async def do_login(request: Request) -> str:
        await _login(request, users)
        return "in"

    @api.get("/stale")
    async def stale(request: Request) -> str:
        _backdate(request)
        return "old"

    @api.get("/danger")
    @api.get("/api/danger")
    async def danger(user_id: str = Depends(sudo)) -> dict[str, str]:
        return {"user": user_id}

    app = CookieGuard(api, store=MemoryStore(), secret_key=SECRET, users=users)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        await check(http)
    await users.close()


async def test_litestar(users_db: str) -> None:
    users = SQLiteUserStore(users_db)

    @litestar_get("/login")
    async def do_login(request: LitestarRequest[Any, Any, Any]) -> str:
        await _login(request, users)
        return "in"

    @litestar_get("/stale", sync_to_thread=False)
    def stale(request: LitestarRequest[Any, Any, Any]) -> str:
        _backdate(request)
        return "old"

    guard = cg_litestar.require_recent_login(600)

    @litestar_get(["/danger", "/api/danger"], guards=[guard], sync_to_thread=False)
    def danger() -> str:
        return "ok"

    app = Litestar(
        route_handlers=[do_login, stale, danger],
        plugins=[
            cg_litestar.CookieGuardPlugin(store=MemoryStore(), secret_key=SECRET, users=users)
        ],
    )
    async with AsyncTestClient(app, base_url="http://testserver.local") as http:
        http.follow_redirects = False
        await check(http)
    await users.close()


@pytest.mark.parametrize("sync_view", [False, True])
async def test_quart(users_db: str, sync_view: bool) -> None:
    users = SQLiteUserStore(users_db)
    app = Quart(__name__)
    cg_quart.CookieGuard(app, store=MemoryStore(), secret_key=SECRET, users=users)

    @app.get("/login")
    async def do_login() -> str:
        await _login(quart_request, users)
        return "in"

    @app.get("/stale")
    async def stale() -> str:
        _backdate(quart_request)
        return "old"

    def danger_sync() -> str:
        return "ok"

    async def danger_async() -> str:
        return "ok"

    view = cg_quart.require_recent_login(600)(danger_sync if sync_view else danger_async)
    app.add_url_rule("/danger", "danger", view)
    app.add_url_rule("/api/danger", "api_danger", view)

    class Answer:
        def __init__(self, status: int, headers: Any, body: Any) -> None:
            self.status_code, self.headers, self._body = status, headers, body

        def json(self) -> Any:
            return self._body

    class Adapter:
        def __init__(self) -> None:
            self.client = app.test_client()

        async def get(self, path: str) -> Answer:
            path, _, query = path.partition("?")
            pairs = dict(item.split("=") for item in query.split("&") if item)
            response = await self.client.get(path, query_string=pairs or None)
            body = await response.get_json(silent=True)
            return Answer(response.status_code, response.headers, body)

    async with app.test_app():
        await check(Adapter())
    await users.close()
