"""What a Starlette user does with ``request.session``, on every real store.

The app is written as Starlette's documentation writes one (``JSONResponse({"session":
request.session})``, ``request.session.update(...)``, ``request.session.clear()`` to log out):
only the middleware's constructor is cookieguard's.
"""

from __future__ import annotations

import re
import time
from datetime import timedelta
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cookieguard.asgi.session import SessionMiddleware
from cookieguard.backends import SignedCookieBackend
from cookieguard.config import CookieConfig, SessionConfig
from cookieguard.core.tokens import hash_session_id
from cookieguard.stores.base import SessionStore

SID = re.compile(r"^sessionid=([^;]*);")


async def show(request: Request) -> Response:
    return JSONResponse({"session": request.session, "is_dict": isinstance(request.session, dict)})


async def merge(request: Request) -> Response:
    request.session.update(await request.json())
    return JSONResponse({"session": request.session})


async def forget(request: Request) -> Response:
    request.session.clear()
    return JSONResponse({"session": request.session})


ROUTES = [
    Route("/show", show),
    Route("/merge", merge, methods=["POST"]),
    Route("/forget", forget, methods=["POST"]),
]


def browser(
    where: SessionStore | SignedCookieBackend,
    *,
    base_url: str = "http://testserver",
    **config: Any,
) -> httpx.AsyncClient:
    app = SessionMiddleware(Starlette(routes=ROUTES), where, SessionConfig(**config))
    transport = httpx.ASGITransport(app=app)
    return httpx.AsyncClient(transport=transport, base_url=base_url)


def attributes(response: httpx.Response) -> list[str]:
    return [part.strip() for part in response.headers["set-cookie"].split(";")]


def sent_value(response: httpx.Response) -> str:
    match = SID.match(response.headers.get("set-cookie", ""))
    assert match is not None, response.headers
    return match.group(1)


async def test_set_read_and_clear_round_trip(store: SessionStore) -> None:
    async with browser(store) as http:
        first = await http.get("/show")
        assert first.json() == {"session": {}, "is_dict": True}
        assert "set-cookie" not in first.headers

        written = await http.post("/merge", json={"some": "data", "n": [1, 2]})
        assert written.json() == {"session": {"some": "data", "n": [1, 2]}}
        session_id = sent_value(written)
        assert await store.load(hash_session_id(session_id), now=time.time()) is not None

        again = await http.get("/show")
        assert again.json()["session"] == {"some": "data", "n": [1, 2]}
        assert again.headers["vary"] == "Cookie"

        cleared = await http.post("/forget")
        assert cleared.json() == {"session": {}}
        assert sent_value(cleared) == "" and "Max-Age=0" in attributes(cleared)
        # Ended, not emptied: the record is gone, so a copy of the old cookie is worthless.
        assert await store.load(hash_session_id(session_id), now=time.time()) is None
        assert "sessionid" not in http.cookies
        http.cookies.set("sessionid", session_id)
        assert (await http.get("/show")).json()["session"] == {}


async def test_signed_cookie_sessions_behave_the_same() -> None:
    async with browser(SignedCookieBackend("a-signing-key-0123456789")) as http:
        written = await http.post("/merge", json={"some": "data"})
        assert written.json() == {"session": {"some": "data"}}
        assert (await http.get("/show")).json()["session"] == {"some": "data"}
        cleared = await http.post("/forget")
        assert sent_value(cleared) == "" and "Max-Age=0" in attributes(cleared)
        assert (await http.get("/show")).json()["session"] == {}


async def test_secure_follows_the_scheme_unless_forced(store: SessionStore) -> None:
    async with browser(store) as http:
        assert "Secure" not in attributes(await http.post("/merge", json={"a": 1}))
    async with browser(store, base_url="https://testserver") as http:
        assert "Secure" in attributes(await http.post("/merge", json={"a": 1}))
    forced = CookieConfig(name="sessionid", secure=True)
    async with browser(store, cookie=forced) as http:
        assert "Secure" in attributes(await http.post("/merge", json={"a": 1}))


async def test_partitioned_cookie(store: SessionStore) -> None:
    cookie = CookieConfig(name="sessionid", secure=True, samesite="None", partitioned=True)
    async with browser(store, cookie=cookie, base_url="https://testserver") as http:
        parts = attributes(await http.post("/merge", json={"a": 1}))
    assert {"Secure", "SameSite=None", "Partitioned"} <= set(parts)


async def test_path_and_domain(store: SessionStore) -> None:
    cookie = CookieConfig(name="sessionid", path="/shop", domain="example.com")
    async with browser(store, cookie=cookie, base_url="http://example.com") as http:
        parts = attributes(await http.post("/merge", json={"a": 1}))
    assert "Path=/shop" in parts and "Domain=example.com" in parts


async def test_max_age_follows_the_idle_timeout_or_is_left_out(store: SessionStore) -> None:
    async with browser(store, idle_timeout=timedelta(hours=1)) as http:
        parts = attributes(await http.post("/merge", json={"a": 1}))
    assert "Max-Age=3600" in parts and any(p.startswith("Expires=") for p in parts)
    async with browser(store, browser_session=True) as http:
        parts = attributes(await http.post("/merge", json={"a": 1}))
    assert not any(p.startswith(("Max-Age=", "Expires=")) for p in parts)


async def test_invalid_or_tampered_cookies_are_ignored(store: SessionStore) -> None:
    async with browser(store) as http:
        session_id = sent_value(await http.post("/merge", json={"role": "user"}))
        tampered = session_id[:-1] + ("a" if session_id[-1] != "a" else "b")
        for value in ("invalid", tampered, session_id + "x", ""):
            http.cookies.clear()
            response = await http.get("/show", headers={"cookie": f"sessionid={value}"})
            assert response.status_code == 200, value
            assert response.json()["session"] == {}, value
            assert "set-cookie" not in response.headers, value
