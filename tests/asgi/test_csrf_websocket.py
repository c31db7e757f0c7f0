"""CSRFMiddleware end to end: WebSocket handshakes are checked on their Origin."""

from __future__ import annotations

from typing import Any

from tests.asgi.csrf_site import (
    BASE,
    make_app,
)
from tests.asgi.scopes import call_websocket, websocket_scope

# -- websockets ------------------------------------------------------------------------------


async def ws_handshake(app: Any, origin: str | None, scheme: str = "ws") -> list[Any]:
    """Drive one WebSocket handshake through the raw ASGI interface; return what was sent."""
    headers = [] if origin is None else [(b"origin", origin.encode())]
    return await call_websocket(app, websocket_scope("/ws", headers, scheme=scheme))


async def test_websocket_origin_checks() -> None:
    app = make_app(trusted_origins=["https://chat.partner.test"])
    for origin in (None, BASE, "https://chat.partner.test"):
        sent = await ws_handshake(app, origin)
        assert sent[0]["type"] == "websocket.accept", origin
        assert sent[1] == {"type": "websocket.send", "text": "hello", "bytes": None} or (
            sent[1]["text"] == "hello"
        )
    for origin in ("http://evil.test", "null", "http://testserver:9000", "https://testserver"):
        assert await ws_handshake(app, origin) == [{"type": "websocket.close", "code": 1008}]
    # Over wss the own origin is https.
    assert (await ws_handshake(app, "https://testserver", scheme="wss"))[0]["type"] == (
        "websocket.accept"
    )
