"""The demo teaches the seed's story: styled error pages, dated and deletable records, device
names, and the inspector panel that shows the cookies and the session row behind each page.

In process (httpx's ASGI transport) over a real SQLite database and a real memory store; the
browser walks the same story in tests/e2e/test_story.py.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager
from starlette.types import ASGIApp

from cookieguard.core.tokens import new_session_id, unmask_token
from cookieguard.demo._db import DemoDatabase
from cookieguard.demo._users import create_user
from cookieguard.demo.app import create_app
from cookieguard.stores import open_store
from cookieguard.stores.memory import MemoryStore
from tests.demo.server import csrf_token
from tests.store_backends import free_port

PASSWORD = "a long enough password"
FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)
STYLED = '<link rel="stylesheet" href="/static/style.css">'


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[DemoDatabase]:
    database = DemoDatabase(str(tmp_path / "demo.sqlite3"))
    await create_user(database.path, "alice", PASSWORD)
    await create_user(database.path, "bob", PASSWORD)
    yield database
    database.close()


@pytest.fixture
async def app(db: DemoDatabase) -> AsyncIterator[object]:
    async with running(create_app(db, MemoryStore(), secret_key="k" * 32)) as site:
        yield site


@asynccontextmanager
async def running(app: ASGIApp) -> AsyncIterator[ASGIApp]:
    """`app` between its lifespan's startup and shutdown, as a server runs it (httpx's
    transport does not): the shutdown closes the stores the requests opened."""
    async with LifespanManager(app):
        yield app


def _client(app: object, user_agent: str | bytes = "test") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    return httpx.AsyncClient(
        transport=transport, base_url="http://testserver", headers={"user-agent": user_agent}
    )


async def _login(client: httpx.AsyncClient, username: str) -> None:
    page = await client.get("/login")
    form = {"csrfmiddlewaretoken": csrf_token(page.text), "username": username}
    response = await client.post("/login", data=form | {"password": PASSWORD})
    assert response.status_code == 303, response.text


def _inspector(page: str, name: str) -> str:
    match = re.search(rf'id="insp-{name}">([^<]*)<', page)
    assert match is not None, f"no insp-{name} in the page"
    return match[1]


# -- error pages -----------------------------------------------------------------------------


async def test_the_csrf_403_is_styled_and_says_why(app: object) -> None:
    async with _client(app) as client:
        r = await client.post("/records", data={"text": "x"})
        assert r.status_code == 403
        assert STYLED in r.text and 'data-status="403"' in r.text
        assert '<code id="reason">CSRF cookie not set.</code>' in r.text
        assert "CSRFConfig(debug=True)" in r.text
        await client.get("/login")  # now with a cookie, but a tampered token
        r = await client.post("/records", data={"csrfmiddlewaretoken": "A" * 64, "text": "x"})
        assert r.status_code == 403
        assert '<code id="reason">CSRF token from POST incorrect.</code>' in r.text
        api = await client.post("/api/records", json={"text": "x"})
        assert api.headers["content-type"] == "application/json"  # the API keeps JSON


async def test_404_405_and_400_are_styled_pages_and_json_under_the_api(app: object) -> None:
    async with _client(app) as client:
        r = await client.get("/no-such-page")
        assert (r.status_code, r.headers["content-type"]) == (404, "text/html; charset=utf-8")
        assert STYLED in r.text and "There is no such page here." in r.text
        r = await client.get("/logout")  # a POST-only route
        assert r.status_code == 405 and STYLED in r.text
        assert "POST" in r.headers["allow"]
        r = await client.get("/api/no-such-thing")
        assert r.status_code == 404 and r.json() == {"error": "There is no such page here."}
        await _login(client, "alice")
        token = csrf_token((await client.get("/records")).text)
        files = {"text": ("a.txt", b"x")}
        r = await client.post("/records", data={"csrfmiddlewaretoken": token}, files=files)
        assert r.status_code == 400 and STYLED in r.text


async def test_the_503_is_styled_while_the_store_is_down(db: DemoDatabase) -> None:
    store = open_store(f"redis://127.0.0.1:{free_port()}/0", timeout=0.5)
    try:
        app = create_app(db, store, secret_key="k" * 32)
        async with running(app), _client(app) as client:
            client.cookies["sessionid"] = new_session_id()
            r = await client.get("/records")
            assert (r.status_code, r.headers["retry-after"]) == (503, "5")
            assert STYLED in r.text and 'data-status="503"' in r.text
            api = await client.get("/api/records")
            assert api.json()["error"] == "session_store_unavailable"
    finally:
        await store.close()


async def test_the_429_is_styled(app: object) -> None:
    async with _client(app) as client:
        for attempt in range(11):
            page = await client.get("/login")
            form = {"csrfmiddlewaretoken": csrf_token(page.text), "username": "alice"}
            r = await client.post("/login", data=form | {"password": f"wrong {attempt}"})
        assert r.status_code == 429 and "retry-after" in r.headers
        assert STYLED in r.text and 'data-status="429"' in r.text
        assert "Too many attempts" in r.text and 'name="password"' in r.text


# -- records: dates and deletion ---------------------------------------------------------------


async def test_records_show_their_date_and_only_the_owner_deletes_them(app: object) -> None:
    async with _client(app) as alice, _client(app) as bob:
        await _login(alice, "alice")
        await _login(bob, "bob")
        token = csrf_token((await alice.get("/records")).text)
        r = await alice.post("/records", data={"csrfmiddlewaretoken": token, "text": "dated"})
        assert r.status_code == 303
        page = (await alice.get("/records")).text
        today = time.strftime("%Y-%m-%d", time.gmtime())
        assert re.search(rf'<time datetime="{today}T[0-9:]+Z">{today} [0-9:]+ UTC</time>', page)
        [record] = (await alice.get("/api/records")).json()
        assert set(record) == {"id", "text"}  # the contract's two keys, no date
        delete = f"/records/{record['id']}/delete"
        assert f'action="{delete}"' in page

        # Bob (with his own valid token) cannot delete it: 404, as for an unknown id.
        bob_token = csrf_token((await bob.get("/records")).text)
        r = await bob.post(delete, data={"csrfmiddlewaretoken": bob_token})
        assert r.status_code == 404 and STYLED in r.text and "No such record." in r.text
        # Nor can a forged request: CSRF-protected like every form.
        r = await alice.post(delete, data={"csrfmiddlewaretoken": "A" * 64})
        assert r.status_code == 403
        assert len((await alice.get("/api/records")).json()) == 1

        r = await alice.post(delete, data={"csrfmiddlewaretoken": token})
        assert (r.status_code, r.headers["location"]) == (303, "/records")
        assert (await alice.get("/api/records")).json() == []
        for gone in (delete, "/records/0/delete", f"/records/{10**30}/delete"):
            r = await alice.post(gone, data={"csrfmiddlewaretoken": token})
            assert r.status_code == 404, gone
        r = await alice.post("/records/abc/delete", data={"csrfmiddlewaretoken": token})
        assert r.status_code == 404
    async with _client(app) as anonymous:
        token = csrf_token((await anonymous.get("/login")).text)
        r = await anonymous.post(delete, data={"csrfmiddlewaretoken": token})
        assert r.status_code in (302, 303) and r.headers["location"].startswith("/login")


# -- device names --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("user_agent", "shown"),
    [
        (FIREFOX, "Firefox on Windows"),
        (IPHONE, "Safari on iPhone"),
        ("", "Unknown device"),
        ("x" * 4000, "Unknown device"),
        (b"\x7f\xff\x00() ;;; <script>", "Unknown device"),
        ("python-httpx/0.27", "Unknown device"),
    ],
)
async def test_sessions_show_friendly_device_names(
    app: object, user_agent: str | bytes, shown: str
) -> None:
    async with _client(app, user_agent) as client:
        await _login(client, "alice")
        r = await client.get("/sessions")
        assert r.status_code == 200
        assert re.search(rf'class="device" title="[^"]*">{re.escape(shown)}</td>', r.text)
        assert "<script>" not in r.text
        # The network the session came from, never the whole address (httpx's 127.0.0.1).
        assert 'class="address">127.0.0.0/24</td>' in r.text
        assert "127.0.0.1" not in r.text


# -- the inspector ---------------------------------------------------------------------------------


async def test_the_inspector_shows_one_secret_under_many_masks(app: object) -> None:
    async with _client(app) as client:
        first = (await client.get("/login")).text
        assert 'id="insp-cookie-none"' in first  # a first visit: this response sets it
        assert unmask_token(_inspector(first, "token")) == client.cookies["csrftoken"]
        assert 'id="insp-no-row"' in first  # anonymous: no session row
        second = (await client.get("/login")).text
        third = (await client.get("/login")).text
        tokens = {_inspector(page, "token") for page in (first, second, third)}
        assert len(tokens) == 3 and all(len(t) == 64 for t in tokens)
        for page in (second, third):
            assert _inspector(page, "cookie") == client.cookies["csrftoken"]
            assert _inspector(page, "secret") == client.cookies["csrftoken"]
            assert 'id="insp-match"' in page


async def test_the_inspector_shows_what_login_changed_and_the_row_not_the_id(
    app: object,
) -> None:
    async with _client(app, FIREFOX) as client:
        await client.get("/login")
        before = client.cookies["csrftoken"]
        await _login(client, "alice")
        after = client.cookies["csrftoken"]
        session_id = client.cookies["sessionid"]
        assert after != before
        page = (await client.get("/records")).text
        assert (_inspector(page, "csrf-before"), _inspector(page, "csrf-after")) == (
            before,
            after,
        )
        assert _inspector(page, "session-before") == "no session"
        key_hash = hashlib.sha256(session_id.encode()).hexdigest()
        assert _inspector(page, "session-after") == key_hash
        assert _inspector(page, "key-hash") == key_hash
        assert session_id not in page  # the raw id never leaves its HttpOnly cookie
        data = _inspector(page, "data")
        assert "&#34;demo_username&#34;: &#34;alice&#34;" in data
        assert "_auth_user_hash" in data and "chars)" in data  # shortened, not in full

        # Logging in again (another user) cycles both once more, and says so.
        await _login(client, "bob")
        page = (await client.get("/records")).text
        assert _inspector(page, "session-before") == key_hash
        assert _inspector(page, "csrf-before") == after
        assert session_id not in page and client.cookies["sessionid"] not in page


async def test_the_inspector_can_be_left_out(db: DemoDatabase) -> None:
    app = create_app(db, MemoryStore(), secret_key="k" * 32, inspector=False)
    async with running(app), _client(app) as client:
        assert 'id="inspector"' not in (await client.get("/login")).text
