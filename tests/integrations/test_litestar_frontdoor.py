"""tests/frontdoors/apps/litestar_app.py against the front-door contract, route by route.

The shared conformance suite runs the same app; this file checks it here too, over SQLite and
Redis, so the Litestar app is known to conform on its own branch.
"""

from __future__ import annotations

import importlib.util
import re
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from litestar import Litestar
from litestar.exceptions import WebSocketDisconnect
from litestar.testing import AsyncTestClient

from cookieguard import SQLiteUserStore
from cookieguard.auth import default_hasher
from cookieguard.core.tokens import hash_session_id
from cookieguard.stores import open_store
from tests.store_backends import REDIS_URL, free_port, require_server

APP_FILE = Path(__file__).resolve().parents[1] / "frontdoors" / "apps" / "litestar_app.py"
TOKEN = re.compile(r'<input type="hidden" name="csrfmiddlewaretoken" value="([A-Za-z0-9]{64})">')
BASE = "http://testserver.local"
SECRET = "frontdoor-secret-key-0123456789abcdefghij"


def _module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("litestar_frontdoor_app", APP_FILE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # Litestar resolves the handlers' annotations through it
    spec.loader.exec_module(module)
    return module


@pytest.fixture
async def users_db(tmp_path: Path) -> str:
    path = tmp_path / "users.db"
    users = SQLiteUserStore(path)
    await users.create_user("alice", default_hasher().hash("alice-pass"))
    await users.close()
    return str(path)


@pytest.fixture(params=["sqlite", "redis"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "redis":
        require_server("Redis", "127.0.0.1", 6379)
        return REDIS_URL  # session keys are random: no other test's data is touched
    return f"sqlite:///{tmp_path}/sessions.db"


async def _client(app: Litestar) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(app, base_url=BASE) as http:
        http.follow_redirects = False
        yield http


@pytest.fixture
async def client(store_url: str, users_db: str) -> AsyncIterator[AsyncTestClient[Litestar]]:
    module = _module()
    assert module.KIND == "asgi" and module.HAS_WEBSOCKET is True
    app = module.make_app(store_url=store_url, users_db=users_db, secret_key=SECRET)
    async for http in _client(app):
        yield http  # the plugin closes its stores at the app's shutdown


def cookie_line(response: Any, name: str) -> str | None:
    return next((c for c in response.headers.get_list("set-cookie") if c.startswith(name)), None)


async def form_token(http: AsyncTestClient[Litestar]) -> str:
    page = await http.get("/form")
    assert page.status_code == 200
    match = TOKEN.search(page.text)
    assert match is not None
    return match[1]


async def test_form_and_csrf(client: AsyncTestClient[Litestar]) -> None:
    page = await client.get("/form")
    assert page.status_code == 200 and cookie_line(page, "csrftoken=") is not None
    token = TOKEN.search(page.text)
    assert token is not None
    ok = await client.post("/form", data={"csrfmiddlewaretoken": token[1]})
    assert ok.status_code == 200 and ok.text == "ok"
    assert (await client.post("/form", headers={"X-CSRFToken": token[1]})).text == "ok"
    assert (await client.post("/form", data={})).status_code == 403
    assert (await client.post("/form", data={"csrfmiddlewaretoken": "x" * 64})).status_code == 403
    foreign = {"X-CSRFToken": token[1], "Origin": "https://evil.example"}
    assert (await client.post("/form", headers=foreign)).status_code == 403
    cross = {"X-CSRFToken": token[1], "Sec-Fetch-Site": "cross-site"}
    assert (await client.post("/form", headers=cross)).status_code == 403


async def test_login_session_logout(client: AsyncTestClient[Litestar], store_url: str) -> None:
    token = await form_token(client)
    csrf_before = client.cookies["csrftoken"]
    wrong = await client.post(
        "/login", data={"username": "alice", "password": "nope", "csrfmiddlewaretoken": token}
    )
    assert wrong.status_code == 200 and TOKEN.search(wrong.text) is not None
    assert cookie_line(wrong, "sessionid=") is None and cookie_line(wrong, "csrftoken=") is None
    right = await client.post(
        "/login", data={"username": "alice", "password": "alice-pass", "csrfmiddlewaretoken": token}
    )
    assert right.status_code == 303 and right.headers["location"] == "/whoami"
    line = cookie_line(right, "sessionid=")
    assert line is not None and "HttpOnly" in line and "SameSite=Lax" in line
    assert client.cookies["csrftoken"] != csrf_before
    assert (await client.get("/whoami")).json() == {"user": "1"}
    assert (await client.get("/private")).json() == {"user": "1"}

    token = await form_token(client)
    stored = await client.post(
        "/session/colour", data={"value": "blue", "csrfmiddlewaretoken": token}
    )
    assert stored.status_code == 200 and stored.text == "ok"
    assert (await client.get("/session/colour")).json() == {"value": "blue"}
    assert (await client.get("/session/other")).json() == {"value": None}

    session_id = str(client.cookies["sessionid"])
    store = open_store(store_url)
    try:
        assert await store.load(hash_session_id(session_id), now=time.time()) is not None
        out = await client.post("/logout", data={"csrfmiddlewaretoken": token})
        assert out.status_code == 303 and out.headers["location"] == "/form"
        expired = cookie_line(out, "sessionid=")
        assert expired is not None and "Max-Age=0" in expired
        assert await store.load(hash_session_id(session_id), now=time.time()) is None
    finally:
        await store.close()
    assert (await client.get("/whoami")).json() == {"user": None}


async def test_hook_private_and_websocket(client: AsyncTestClient[Litestar]) -> None:
    hook = await client.post("/hook")
    assert hook.status_code == 200 and hook.text == "hooked"
    api = await client.get("/private", headers={"Accept": "application/json"})
    assert api.status_code == 401 and "error" in api.json()
    browser = await client.get("/private", headers={"Accept": "text/html"})
    assert browser.status_code in (302, 303)
    assert browser.headers["location"] == "/login?next=/private"
    with await client.websocket_connect("/ws", headers={"Origin": BASE}) as socket:
        assert socket.receive_text() == "hi"
    foreign = {"Origin": "https://evil.example"}
    code = None
    try:
        with await client.websocket_connect("/ws", headers=foreign) as socket:
            socket.receive_text()
    except WebSocketDisconnect as exc:
        code = exc.code
    assert code == 1008  # closed before accept: servers answer the handshake with 403


async def test_store_down_answers_503(users_db: str) -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens: refused at once
    app = _module().make_app(store_url=url, users_db=users_db, secret_key=SECRET)
    async for http in _client(app):
        http.cookies.set("sessionid", "a" * 32)
        assert (await http.get("/whoami")).status_code == 503
        assert (await http.get("/form")).status_code == 503
