"""The CSRF, sessions and Jinja2 examples, driven in-process as a browser or a script would."""

from __future__ import annotations

import re
import sqlite3
from contextlib import closing
from pathlib import Path

from fastapi import Request

from cookieguard.asgi.session import SessionMiddleware, get_session
from cookieguard.backends import SignedCookieBackend
from cookieguard.core.signing import KeyRing
from cookieguard.core.tokens import hash_session_id
from tests.store_backends import REDIS_URL, require_server

from .conftest import BASE_URL, Loader, browser, set_cookie, token_in

DATA_CSRF = re.compile(r'data-csrf="([A-Za-z0-9]{64})"')


async def test_csrf_example(load: Loader) -> None:
    example = load("csrf_fastapi")
    async with browser(example.api) as http:
        page = await http.get("/")
        assert page.status_code == 200 and set_cookie(page, "csrftoken") is not None
        form_token = token_in(page.text)
        match = DATA_CSRF.search(page.text)
        assert match is not None and match[1] != form_token  # each token freshly masked
        assert (await http.post("/comment", data={"text": "hi"})).status_code == 403
        sent = await http.post("/comment", data={"text": "hi", "csrfmiddlewaretoken": form_token})
        assert sent.status_code == 200 and sent.json() == {"text": "hi"}
        header = {"X-CSRFToken": match[1]}
        liked = await http.post("/like", headers=header)
        assert liked.status_code == 200 and liked.json() == {"liked": True}
        trusted = {**header, "Origin": "https://app.example.com"}
        assert (await http.post("/like", headers=trusted)).status_code == 200
        foreign = {**header, "Origin": "https://evil.example"}
        assert (await http.post("/like", headers=foreign)).status_code == 403
        assert (await http.post("/like", headers={"X-CSRFToken": "x" * 64})).status_code == 403
    async with browser(example.api) as hook:  # no cookie, no token: only the exempt route
        assert (await hook.post("/hooks/payment")).json() == {"received": True}
        assert (await hook.post("/hooks/payment/")).status_code == 403


def _session_rows(tmp_path: Path) -> int:
    with closing(sqlite3.connect(tmp_path / "sessions.db")) as db:
        (count,) = db.execute("SELECT count(*) FROM cookieguard_sessions").fetchone()
    return int(count)


async def test_sessions_example(load: Loader, tmp_path: Path) -> None:
    example = load("sessions_fastapi")
    async with browser(example.app) as anonymous:
        quiet = await anonymous.post("/logout")
        assert quiet.status_code == 200 and "set-cookie" not in quiet.headers
    async with browser(example.app) as http:
        first = await http.post("/cart/tea")
        assert first.json() == {"cart": ["tea"]}
        line = set_cookie(first, "sessionid")
        assert line is not None and "HttpOnly" in line and "SameSite=Lax" in line
        assert _session_rows(tmp_path) == 1
        second = await http.post("/cart/milk")
        assert second.json() == {"cart": ["tea", "milk"]}
        assert _session_rows(tmp_path) == 1
        out = await http.post("/logout")
        cleared = set_cookie(out, "sessionid")
        assert cleared is not None and "Max-Age=0" in cleared
        assert _session_rows(tmp_path) == 0


def _add_visit_routes(api: object) -> None:
    """Give a "your app" example (an empty FastAPI app) the routes a real app would have."""

    async def visit(request: Request) -> dict[str, int]:
        request.session["visits"] = request.session.get("visits", 0) + 1
        return {"visits": request.session["visits"]}

    async def leave(request: Request) -> dict[str, bool]:
        get_session(request).flush()
        return {"ok": True}

    api.add_api_route("/visit", visit, methods=["POST"])  # type: ignore[attr-defined]
    api.add_api_route("/leave", leave, methods=["POST"])  # type: ignore[attr-defined]


async def test_redis_timeouts_example(load: Loader) -> None:
    require_server("Redis", "127.0.0.1", 6379)
    import redis.asyncio as aioredis

    example = load("sessions_redis_timeouts")
    _add_visit_routes(example.api)
    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        async with browser(example.app) as http:
            first = await http.post("/visit")
            line = set_cookie(first, "sessionid")
            assert line is not None and "Max-Age=1800" in line
            key = f"cg:s:{{{hash_session_id(http.cookies['sessionid'])}}}"
            assert 1700 < await client.ttl(key) <= 1800
            assert (await http.post("/visit")).json() == {"visits": 2}
            await http.post("/leave")
            assert await client.exists(key) == 0
    finally:
        await client.aclose()


async def test_signed_cookie_example(load: Loader) -> None:
    example = load("sessions_signed_cookie")
    _add_visit_routes(example.api)
    async with browser(example.app) as http:
        assert (await http.post("/visit")).json() == {"visits": 1}
        assert (await http.post("/visit")).json() == {"visits": 2}
        value = http.cookies["sessionid"]
        http.cookies.clear()
        http.cookies.set("sessionid", value[:-2] + ("AA" if value[-2:] != "AA" else "BB"))
        assert (await http.post("/visit")).json() == {"visits": 1}  # forged: a new session
    # A cookie signed with the old key, before the rotation, still works after it.
    before = SessionMiddleware(example.api, SignedCookieBackend(KeyRing("old-secret-key-...")))
    async with browser(before) as old:
        await old.post("/visit")
        old_cookie = old.cookies["sessionid"]
    async with browser(example.app) as http:
        http.cookies.set("sessionid", old_cookie)
        assert (await http.post("/visit")).json() == {"visits": 2}


async def test_jinja2_example(load: Loader) -> None:
    example = load("jinja2_csrf")
    async with browser(example.app) as http:
        page = await http.get("/")
        assert page.status_code == 200 and set_cookie(page, "csrftoken") is not None
        assert '<form method="post"><input type="hidden" name="csrfmiddlewaretoken"' in page.text
        assert (await http.post("/", data={"text": "hi"})).status_code == 403
        sent = await http.post("/", data={"text": "hi", "csrfmiddlewaretoken": token_in(page.text)})
        assert sent.status_code == 200 and sent.text == "Got hi"


META_TOKEN = re.compile(r'<meta name="csrf-token" content="([A-Za-z0-9]{64})">')


async def test_htmx_example(load: Loader) -> None:
    example = load("htmx_starlette")
    async with browser(example.app) as http:
        page = await http.get("/")
        assert page.status_code == 200
        secret = set_cookie(page, "csrftoken")
        assert secret is not None
        assert '<meta name="csrf-header" content="X-CSRFToken">' in page.text
        meta = META_TOKEN.search(page.text)
        assert meta is not None
        assert "htmx:configRequest" in page.text
        origin = {"origin": BASE_URL}
        # What the listener sends: the cookie's bare secret, or the meta tag's masked token.
        for token in (http.cookies["csrftoken"], meta[1]):
            liked = await http.post(
                "/like", headers={**origin, "HX-Request": "true", "X-CSRFToken": token}
            )
            assert liked.status_code == 200 and liked.text.startswith('<form id="likes"')
        # Without JavaScript: the form's own field, answered with a redirect.
        plain = await http.post(
            "/like", data={"csrfmiddlewaretoken": token_in(page.text)}, headers=origin
        )
        assert plain.status_code == 303 and "Like (3)" in (await http.get("/")).text
        # A missing or stale header: 403, nothing counted.
        for headers in ({}, {"X-CSRFToken": "A" * 64}):
            refused = await http.post("/like", headers={**origin, "HX-Request": "true", **headers})
            assert refused.status_code == 403
        # The SPA endpoint: a token that works in the header it names, never cached.
        spa = await http.get("/csrf")
        assert spa.headers["cache-control"] == "no-store"
        body = spa.json()
        ok = await http.post("/like", headers={**origin, body["headerName"]: body["csrfToken"]})
        assert ok.status_code == 303 and "Like (4)" in (await http.get("/")).text


async def test_starlette_drop_in_example(load: Loader, tmp_path: Path) -> None:
    example = load("starlette_sessions")
    async with browser(example.app) as http:
        first = await http.post("/visit")
        line = set_cookie(first, "session")
        assert first.json() == {"session": {"visits": 1}}
        assert line is not None and "; path=/; Max-Age=1209600; httponly; samesite=lax" in line
        assert (await http.post("/visit")).json() == {"session": {"visits": 2}}
        assert _session_rows(tmp_path) == 1
        assert (await http.post("/forget")).json() == {"session": {}}
        assert _session_rows(tmp_path) == 0
        assert (await http.post("/visit")).json() == {"session": {"visits": 1}}
