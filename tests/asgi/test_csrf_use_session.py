"""CSRFMiddleware end to end with the secret in the session (``use_session=True``)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from tests.asgi.csrf_site import (
    BASE,
    ORIGIN,
    TOKEN_RE,
    form_page,
    make_app,
    submit,
)

from cookieguard.asgi.csrf import (
    CSRFMiddleware,
)
from cookieguard.config import CSRFConfig
from cookieguard.core.tokens import token_matches_secret
from cookieguard.errors import ConfigError

# -- sessions as the secret's home ---------------------------------------------------------


class FakeSessionMiddleware:
    """Puts a plain dict at scope["session"], as the outer SessionMiddleware does."""

    def __init__(self, app: Any, store: dict[str, Any]) -> None:
        self.app = app
        self.store = store

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            scope["session"] = self.store
        await self.app(scope, receive, send)


async def test_use_session_keeps_secret_in_session() -> None:
    session: dict[str, Any] = {}
    app = FakeSessionMiddleware(make_app(use_session=True), session)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as c:
        r = await c.get("/form")
        assert "set-cookie" not in r.headers
        secret = session["_csrftoken"]
        token = TOKEN_RE.search(r.text).group(1)  # type: ignore[union-attr]
        assert token_matches_secret(token, secret)
        assert (await c.post("/submit", data={"csrfmiddlewaretoken": token})).status_code == 200
        await c.post("/rotate", data={"csrfmiddlewaretoken": token})
        assert session["_csrftoken"] != secret
        assert (await c.post("/submit", data={"csrfmiddlewaretoken": token})).status_code == 403


async def test_use_session_without_session_is_a_clear_error() -> None:
    app = make_app(use_session=True)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as c:
        with pytest.raises(ConfigError, match="SessionMiddleware"):
            await c.get("/form")


async def test_use_session_with_the_real_session_middleware() -> None:
    from cookieguard.asgi.session import SessionMiddleware
    from cookieguard.stores.memory import MemoryStore

    async def touch(request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    inner = Starlette(
        routes=[
            Route("/form", form_page),
            Route("/submit", submit, methods=["POST"]),
            Route("/touch", touch),
        ]
    )
    app = SessionMiddleware(CSRFMiddleware(inner, CSRFConfig(use_session=True)), MemoryStore())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as c:
        r = await c.get("/form")
        assert "csrftoken" not in r.headers.get("set-cookie", "")
        assert "sessionid" in c.cookies
        token = TOKEN_RE.search(r.text).group(1)  # type: ignore[union-attr]
        r = await c.post("/submit", data={"csrfmiddlewaretoken": token}, headers=ORIGIN)
        assert r.status_code == 200
        # A second page reuses the stored secret: its token works with the first one's.
        second = TOKEN_RE.search((await c.get("/form")).text).group(1)  # type: ignore[union-attr]
        r = await c.post("/submit", data={"csrfmiddlewaretoken": second}, headers=ORIGIN)
        assert r.status_code == 200
        # Another browser (no session) cannot use these tokens.
        c.cookies.clear()
        r = await c.post("/submit", data={"csrfmiddlewaretoken": token}, headers=ORIGIN)
        assert r.status_code == 403
