"""`csrf_meta` and `csrf_token_endpoint`: the token for scripts (HTMX, single-page apps) works.

A real Starlette app inside `CSRFMiddleware`, driven over httpx: what the meta tags and the JSON
endpoint hand out must be accepted in the header they name, and nothing else must be.
"""

from __future__ import annotations

import re

import httpx
import jinja2
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse
from starlette.routing import Route

import cookieguard
from cookieguard.asgi.csrf import CSRFMiddleware, csrf_meta
from cookieguard.config import CSRFConfig
from cookieguard.core.tokens import token_matches_secret
from cookieguard.integrations.jinja2 import install_csrf
from cookieguard.integrations.starlette import csrf_token_endpoint

BASE = "http://testserver"
META = re.compile(
    r'<meta name="csrf-token" content="([A-Za-z0-9]{64})">\n'
    r'<meta name="csrf-header" content="([^"]+)">'
)

_ENV = jinja2.Environment(autoescape=True)
install_csrf(_ENV)
_TEMPLATE = _ENV.from_string("<head>{{ csrf_meta(request) }}</head>")


async def page(request: Request) -> HTMLResponse:
    return HTMLResponse(f"<head>{csrf_meta(request)}</head>")


async def jinja_page(request: Request) -> HTMLResponse:
    return HTMLResponse(_TEMPLATE.render(request=request))


async def submit(request: Request) -> PlainTextResponse:
    return PlainTextResponse("done")


def make_client(config: CSRFConfig | None = None) -> httpx.AsyncClient:
    app = Starlette(
        routes=[
            Route("/page", page),
            Route("/jinja", jinja_page),
            Route("/csrf", csrf_token_endpoint),
            Route("/submit", submit, methods=["POST"]),
        ]
    )
    transport = httpx.ASGITransport(app=CSRFMiddleware(app, config))
    return httpx.AsyncClient(transport=transport, base_url=BASE, headers={"origin": BASE})


def test_csrf_meta_is_exported_at_the_top_level() -> None:
    assert cookieguard.csrf_meta is csrf_meta


@pytest.mark.parametrize("path", ["/page", "/jinja"])
async def test_meta_token_works_in_the_header_it_names(path: str) -> None:
    async with make_client() as client:
        response = await client.get(path)
        assert response.status_code == 200
        match = META.search(response.text)
        assert match is not None, response.text
        token, header = match.groups()
        assert header == "X-CSRFToken"
        assert "csrftoken" in response.cookies  # the first page sets the cookie
        assert token_matches_secret(token, client.cookies["csrftoken"])
        assert (await client.post("/submit", headers={header: token})).status_code == 200
        assert (await client.post("/submit")).status_code == 403  # no header, no form: refused


async def test_meta_names_the_configured_header_escaped() -> None:
    async with make_client(CSRFConfig(header_name="X-My-Token")) as client:
        response = await client.get("/page")
        token, header = META.search(response.text).groups()  # type: ignore[union-attr]
        assert header == "X-My-Token"
        assert (await client.post("/submit", headers={"X-CSRFToken": token})).status_code == 403
        assert (await client.post("/submit", headers={header: token})).status_code == 200


async def test_token_endpoint_returns_a_working_token_and_is_never_cached() -> None:
    async with make_client() as client:
        response = await client.get("/csrf")
        assert response.status_code == 200
        assert response.headers["cache-control"] == "no-store"
        assert "cookie" in response.headers["vary"].lower()
        assert "csrftoken" in response.cookies  # a fresh browser gets its cookie here
        body = response.json()
        assert set(body) == {"csrfToken", "headerName"}
        assert body["headerName"] == "X-CSRFToken"
        assert re.fullmatch(r"[A-Za-z0-9]{64}", body["csrfToken"])
        ok = await client.post("/submit", headers={body["headerName"]: body["csrfToken"]})
        assert ok.status_code == 200
        # A token from another browser (another secret) is refused.
        async with make_client() as other:
            foreign = (await other.get("/csrf")).json()["csrfToken"]
        refused = await client.post("/submit", headers={"X-CSRFToken": foreign})
        assert refused.status_code == 403
        # Each call masks afresh (BREACH), for the same secret: no new cookie.
        again = await client.get("/csrf")
        assert again.json()["csrfToken"] != body["csrfToken"]
        assert "csrftoken" not in again.cookies
