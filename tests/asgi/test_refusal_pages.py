"""`error_page`: the middlewares' HTML refusals rendered in the app's look.

The hook gets a `Refusal` (status, message, code, hint, and the reason only in debug mode);
JSON refusals never reach it; a hook that raises or returns garbage falls back to the
built-in page with the same status, never a 500.
"""

from __future__ import annotations

import html
import logging
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from tests.store_backends import free_port

from cookieguard import Refusal
from cookieguard.asgi._limits import BodyLimitMiddleware
from cookieguard.asgi.csrf import CSRFMiddleware
from cookieguard.asgi.session import SessionMiddleware
from cookieguard.config import CSRFConfig, SessionConfig
from cookieguard.core.tokens import new_session_id
from cookieguard.errors import ConfigError
from cookieguard.stores import open_store

HTML = "text/html; charset=utf-8"


async def ok(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


ROUTES = [Route("/page", ok, methods=["GET", "POST"]), Route("/api/x", ok, methods=["POST"])]


class Pages:
    """An app's renderer that remembers what it was asked to render."""

    def __init__(self) -> None:
        self.seen: list[Refusal] = []

    def __call__(self, refusal: Refusal) -> str:
        self.seen.append(refusal)
        detail = "" if refusal.detail is None else f"<p id=why>{html.escape(refusal.detail)}</p>"
        return f"<!doctype html><title>{refusal.status}</title><main id=mine>{detail}</main>"


def _client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


@pytest.mark.parametrize("debug", [True, False])
async def test_csrf_403_is_rendered_by_the_app(debug: bool) -> None:
    pages = Pages()
    config = CSRFConfig(debug=debug, error_page=pages, api_prefixes=("/api/",))
    async with _client(CSRFMiddleware(Starlette(routes=ROUTES), config)) as c:
        r = await c.post("/page")
    assert (r.status_code, r.headers["content-type"]) == (403, HTML)
    assert r.headers["cache-control"] == "no-store"
    assert "<main id=mine>" in r.text
    [refusal] = pages.seen
    assert (refusal.status, refusal.title, refusal.code) == (403, "Forbidden", "csrf_failed")
    assert refusal.hint
    if debug:
        assert refusal.detail == "CSRF cookie not set."
        assert "<p id=why>CSRF cookie not set.</p>" in r.text
    else:
        assert refusal.detail is None
        assert "id=why" not in r.text


async def test_json_refusals_never_reach_the_page() -> None:
    pages = Pages()
    config = CSRFConfig(debug=True, error_page=pages, api_prefixes=("/api/",))
    async with _client(CSRFMiddleware(Starlette(routes=ROUTES), config)) as c:
        api = await c.post("/api/x", headers={"accept": "text/html"})
        negotiated = await c.post("/page", headers={"accept": "application/json"})
    for r in (api, negotiated):
        assert r.status_code == 403
        assert r.json() == {
            "error": "csrf_failed",
            "message": r.json()["message"],
            "detail": "CSRF cookie not set.",
        }
    assert pages.seen == []


def _raises(refusal: Refusal) -> str:
    raise RuntimeError("template missing")


def _not_text(refusal: Refusal) -> Any:
    return b"<p>bytes</p>"


def _surrogate(refusal: Refusal) -> str:
    return "<p>\ud800</p>"


@pytest.mark.parametrize("page", [_raises, _not_text, _surrogate])
async def test_a_broken_page_falls_back_to_the_built_in_one(
    page: Any, caplog: pytest.LogCaptureFixture
) -> None:
    config = CSRFConfig(debug=True, error_page=page)
    with caplog.at_level(logging.ERROR, logger="cookieguard.responses"):
        async with _client(CSRFMiddleware(Starlette(routes=ROUTES), config)) as c:
            r = await c.post("/page")
    assert (r.status_code, r.headers["content-type"]) == (403, HTML)
    assert "<h1>Forbidden</h1>" in r.text
    assert "CSRF cookie not set." in r.text
    assert any("error_page" in record.getMessage() for record in caplog.records)


async def test_session_503_is_rendered_by_the_app() -> None:
    pages = Pages()
    store = open_store(f"redis://127.0.0.1:{free_port()}/0", timeout=0.5)
    config = SessionConfig(error_page=pages, api_prefixes=("/api/",))
    try:
        async with _client(SessionMiddleware(Starlette(routes=ROUTES), store, config)) as c:
            c.cookies["sessionid"] = new_session_id()
            r = await c.get("/page")
            api = await c.post("/api/x")
    finally:
        await store.close()
    assert (r.status_code, r.headers["retry-after"]) == (503, "5")
    assert "<main id=mine>" in r.text
    assert api.status_code == 503
    assert api.json()["error"] == "session_store_unavailable"
    [refusal] = pages.seen
    assert (refusal.status, refusal.code) == (503, "session_store_unavailable")


async def test_body_limit_413_is_rendered_by_the_app() -> None:
    pages = Pages()
    app = BodyLimitMiddleware(Starlette(routes=ROUTES), 1024, error_page=pages)
    async with _client(app) as c:
        r = await c.post("/page", content=b"x" * 2048)
    assert r.status_code == 413
    assert "<main id=mine>" in r.text
    assert [p.status for p in pages.seen] == [413]


def test_error_page_must_be_callable() -> None:
    with pytest.raises(ConfigError):
        CSRFConfig(error_page="<h1>no</h1>")  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        SessionConfig(error_page="<h1>no</h1>")  # type: ignore[arg-type]
