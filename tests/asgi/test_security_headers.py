"""SecurityHeadersMiddleware: adds what is missing, never replaces what the app set."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket
from tests.asgi.scopes import websocket_scope

from cookieguard import SecurityHeadersMiddleware
from cookieguard.asgi._types import Message, Receive, Scope, Send
from cookieguard.errors import ConfigError


async def plain(request: Request) -> Response:
    return PlainTextResponse("ok")


async def own_headers(request: Request) -> Response:
    return PlainTextResponse(
        "ok",
        headers={
            "Content-Security-Policy": "default-src 'self'; frame-ancestors https://a.example",
            "X-Frame-Options": "SAMEORIGIN",
            "Cache-Control": "public, max-age=60",
        },
    )


async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_text("hello")
    await websocket.close()


site = Starlette(
    routes=[Route("/", plain), Route("/own", own_headers), WebSocketRoute("/ws", echo)]
)


async def get(app: SecurityHeadersMiddleware, path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        return await client.get(path)


async def test_defaults_forbid_framing_only() -> None:
    response = await get(SecurityHeadersMiddleware(site), "/")
    assert response.text == "ok"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["content-security-policy"] == "frame-ancestors 'none'"
    assert "cache-control" not in response.headers


async def test_no_store_adds_cache_control() -> None:
    response = await get(SecurityHeadersMiddleware(site, no_store=True), "/")
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-frame-options"] == "DENY"


async def test_headers_the_app_set_are_kept_as_they_are() -> None:
    response = await get(SecurityHeadersMiddleware(site, no_store=True), "/own")
    assert response.headers.get_list("x-frame-options") == ["SAMEORIGIN"]
    assert response.headers.get_list("content-security-policy") == [
        "default-src 'self'; frame-ancestors https://a.example"
    ]
    assert response.headers.get_list("cache-control") == ["public, max-age=60"]


async def test_a_custom_set_replaces_the_defaults() -> None:
    headers = {**SecurityHeadersMiddleware.DEFAULTS, "Referrer-Policy": "same-origin"}
    response = await get(SecurityHeadersMiddleware(site, headers), "/")
    assert response.headers["referrer-policy"] == "same-origin"
    assert response.headers["x-frame-options"] == "DENY"
    response = await get(
        SecurityHeadersMiddleware(site, {"x-content-type-options": "nosniff"}), "/"
    )
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "x-frame-options" not in response.headers


async def test_the_apps_message_is_not_modified() -> None:
    start: Message = {"type": "http.response.start", "status": 200, "headers": []}

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send(start)
        await send({"type": "http.response.body", "body": b"x"})

    wrapped = SecurityHeadersMiddleware(app)
    for _ in range(2):  # the same dict sent twice gets the headers once each time
        response = await get(wrapped, "/")
        assert response.headers.get_list("x-frame-options") == ["DENY"]
    assert start["headers"] == []


async def test_websockets_pass_through_untouched() -> None:
    incoming = [{"type": "websocket.connect"}, {"type": "websocket.disconnect", "code": 1000}]
    sent: list[Message] = []

    async def receive() -> Message:
        return incoming.pop(0)

    async def send(message: Message) -> None:
        sent.append(message)

    await SecurityHeadersMiddleware(site)(websocket_scope(host=None), receive, send)
    assert sent[0] == {"type": "websocket.accept", "subprotocol": None, "headers": []}
    assert sent[1]["text"] == "hello"


@pytest.mark.parametrize(
    "headers",
    [{"bad name": "x"}, {"x-a": "one\r\nset-cookie: evil=1"}, {"x-a": "caf\u00e9"}, {"": "x"}],
    ids=["space-in-name", "crlf-in-value", "non-ascii", "empty-name"],
)
def test_header_injection_is_refused_at_construction(headers: dict[str, str]) -> None:
    with pytest.raises(ConfigError):
        SecurityHeadersMiddleware(site, headers)
