"""`cookieguard.integrations.starlette.SessionMiddleware`: Starlette's constructor and header.

An app that swaps the import keeps its Set-Cookie layout, its cookie's lifetime and its
views; what stands behind the cookie is cookieguard's (signed or server-side) session.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import AsyncIterator
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from cookieguard.errors import ConfigError
from cookieguard.integrations.starlette import SessionMiddleware
from cookieguard.stores.sqlite import SQLiteStore

KEY = "a-signing-key-of-some-length"


async def show(request: Request) -> JSONResponse:
    return JSONResponse({"session": request.session})


async def merge(request: Request) -> JSONResponse:
    session = request.session
    session |= await request.json()
    return JSONResponse({"session": request.session})


async def pop_last(request: Request) -> JSONResponse:
    request.session.popitem()
    return JSONResponse({"session": request.session})


async def forget(request: Request) -> JSONResponse:
    request.session.clear()
    return JSONResponse({"session": request.session})


async def untouched(request: Request) -> JSONResponse:
    return JSONResponse({"ok": True})


def client(base_url: str = "http://testserver", **options: Any) -> httpx.AsyncClient:
    app = Starlette(
        routes=[
            Route("/show", show),
            Route("/merge", merge, methods=["POST"]),
            Route("/pop", pop_last, methods=["POST"]),
            Route("/forget", forget, methods=["POST"]),
            Route("/untouched", untouched),
        ],
        middleware=[Middleware(SessionMiddleware, **{"secret_key": KEY, **options})],
    )
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url)


async def test_the_header_keeps_starlettes_layout() -> None:
    async with client() as http:
        line = (await http.post("/merge", json={"n": 1})).headers["set-cookie"]
    assert re.fullmatch(r"session=[^;]+; path=/; Max-Age=1209600; httponly; samesite=lax", line)


async def test_path_domain_and_secure_appear_in_that_layout() -> None:
    async with client(
        "https://testserver", path="/", domain=".example.com", https_only=True
    ) as http:
        line = (await http.post("/merge", json={"n": 1})).headers["set-cookie"]
    assert line.endswith(
        "; path=/; Max-Age=1209600; httponly; samesite=lax; secure; domain=.example.com"
    )


async def test_https_only_keeps_the_cookie_away_from_plain_http() -> None:
    async with client(https_only=True) as http:
        assert "secure" in (await http.post("/merge", json={"n": 1})).headers["set-cookie"].split(
            "; "
        )
        assert (await http.get("/show")).json() == {"session": {}}  # the browser kept it for https


async def test_without_https_only_an_https_response_is_still_secure() -> None:
    async with client("https://testserver") as http:
        assert "; secure" in (await http.post("/merge", json={"n": 1})).headers["set-cookie"]
    async with client() as http:
        assert "secure" not in (await http.post("/merge", json={"n": 1})).headers["set-cookie"]


async def test_max_age_none_sends_a_browser_session_cookie() -> None:
    async with client(max_age=None) as http:
        line = (await http.post("/merge", json={"n": 1})).headers["set-cookie"]
        assert "Max-Age" not in line and "expires" not in line
        assert (await http.get("/show")).json() == {"session": {"n": 1}}


@pytest.mark.parametrize("max_age", [0, -1])
async def test_a_non_positive_max_age_accepts_no_cookie_back(max_age: int) -> None:
    async with client(max_age=max_age) as http:
        sent = await http.post("/merge", json={"n": 1})
        assert sent.json() == {"session": {"n": 1}}
        assert "; Max-Age=0; " in sent.headers["set-cookie"]
        value = re.match(r"session=([^;]*);", sent.headers["set-cookie"])
        assert value is not None
        http.cookies.set("session", value[1] or "x")
        assert (await http.get("/show")).json() == {"session": {}}


async def test_reading_sends_no_cookie_but_varies_and_an_untouched_request_does_not() -> None:
    async with client() as http:
        assert "cookie" in (await http.post("/merge", json={"n": 1})).headers["vary"].lower()
        read = await http.get("/show")
        assert read.json() == {"session": {"n": 1}} and "set-cookie" not in read.headers
        assert "cookie" in read.headers["vary"].lower()
        assert "cookie" not in (await http.get("/untouched")).headers.get("vary", "").lower()


async def test_in_place_merge_and_popitem_are_saved() -> None:
    async with client() as http:
        await http.post("/merge", json={"a": "1", "b": "2"})
        assert (await http.post("/merge", json={"c": "3"})).json() == {
            "session": {"a": "1", "b": "2", "c": "3"}
        }
        assert (await http.post("/pop")).json() == {"session": {"a": "1", "b": "2"}}
        assert (await http.get("/show")).json() == {"session": {"a": "1", "b": "2"}}


async def test_a_forged_cookie_is_an_empty_session() -> None:
    async with client() as http:
        http.cookies.set("session", "forged.value")
        answer = await http.get("/show")
        assert answer.status_code == 200 and answer.json() == {"session": {}}


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    sessions = SQLiteStore(tmp_path / "sessions.db")
    yield sessions
    await sessions.close()


def _rows(path: Path) -> int:
    with closing(sqlite3.connect(path)) as db:
        return int(db.execute("SELECT count(*) FROM cookieguard_sessions").fetchone()[0])


async def test_with_a_store_the_cookie_holds_an_id_and_clear_deletes_the_row(
    tmp_path: Path, store: SQLiteStore
) -> None:
    async with client(store=store) as http:
        line = (await http.post("/merge", json={"secret": "kept on the server"})).headers[
            "set-cookie"
        ]
        assert "server" not in line and len(line.split(";")[0]) < 80
        assert _rows(tmp_path / "sessions.db") == 1
        assert (await http.get("/show")).json() == {"session": {"secret": "kept on the server"}}
        gone = await http.post("/forget")
        assert gone.json() == {"session": {}} and "; Max-Age=0; " in gone.headers["set-cookie"]
        assert _rows(tmp_path / "sessions.db") == 0


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"secret_key": "short"}, "at least 16 bytes"),
        ({"same_site": "sideways"}, "same_site"),
        ({"partitioned": True}, "partitioned"),
    ],
)
async def test_unusable_settings_fail_at_startup(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        SessionMiddleware(untouched, **{"secret_key": KEY, **options})
