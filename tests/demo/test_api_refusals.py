"""The demo's API answers in JSON: its 403 (CSRF) and 503 (session store down) are JSON whatever
the Accept header says, as its 400 and 401 always were; its pages keep their HTML refusals.

The store really is unreachable (a Redis or PostgreSQL URL on a port nothing listens on), as
in every other outage test: no store is mocked.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from cookieguard.core.tokens import new_csrf_secret, new_session_id
from cookieguard.demo._db import DemoDatabase
from cookieguard.demo.app import create_app
from cookieguard.stores import open_store
from cookieguard.stores.base import SessionStore
from cookieguard.stores.memory import MemoryStore
from tests.store_backends import free_port

ACCEPTS = [None, "*/*", "text/html,application/xhtml+xml,*/*;q=0.8"]


def _headers(accept: str | None) -> dict[str, str]:
    return {} if accept is None else {"accept": accept}


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[DemoDatabase]:
    database = DemoDatabase(str(tmp_path / "demo.sqlite3"))
    yield database
    database.close()


def _client(app: object) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


@pytest.fixture(params=["redis", "postgresql"])
async def unreachable_store(request: pytest.FixtureRequest) -> AsyncIterator[SessionStore]:
    port = free_port()
    if request.param == "redis":
        store = open_store(f"redis://127.0.0.1:{port}/0", timeout=0.5)
    else:
        store = open_store(f"postgresql://postgres@127.0.0.1:{port}/test", timeout=0.5)
    yield store
    await store.close()


@pytest.mark.parametrize("accept", ACCEPTS)
async def test_api_503_is_json_while_the_store_is_down(
    db: DemoDatabase, unreachable_store: SessionStore, accept: str | None
) -> None:
    app = create_app(db, unreachable_store, secret_key="k" * 32)
    secret = new_csrf_secret()
    async with _client(app) as client:
        client.cookies.update({"sessionid": new_session_id(), "csrftoken": secret})
        for method, path in [("GET", "/api/records"), ("POST", "/api/records")]:
            r = await client.request(
                method,
                path,
                json={"text": "x"},
                headers={"x-csrftoken": secret, **_headers(accept)},
            )
            assert r.status_code == 503, (method, r.text)
            assert r.headers["content-type"] == "application/json"
            assert r.headers["retry-after"] == "5"
            assert r.json()["error"] == "session_store_unavailable"
        # A page keeps its readable HTML answer for browsers.
        r = await client.get("/records", headers=_headers(accept))
        assert r.status_code == 503
        assert r.headers["content-type"].startswith("text/html")


@pytest.mark.parametrize("accept", ACCEPTS)
async def test_api_403_is_json(db: DemoDatabase, accept: str | None) -> None:
    app = create_app(db, MemoryStore(), secret_key="k" * 32)
    async with _client(app) as client:
        for headers in [{}, {"origin": "https://evil.test"}]:
            r = await client.post(
                "/api/records", json={"text": "x"}, headers={**headers, **_headers(accept)}
            )
            assert r.status_code == 403, r.text
            assert r.headers["content-type"] == "application/json"
            assert r.json()["error"] == "csrf_failed"
        r = await client.post("/records", data={"text": "x"}, headers=_headers(accept))
        assert r.status_code == 403
        assert r.headers["content-type"].startswith("text/html")
