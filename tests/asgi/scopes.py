"""Raw ASGI scopes, built one way for every test that drives an app without an HTTP client.

Tests go raw when a client would get in the way: it would normalise a crafted path, refuse a
header, or hide how often the body was read. The scope here is what uvicorn hands an app
(ASGI 3, HTTP/1.1, ``Host`` first), so a test names only what it is about.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable, MutableMapping
from typing import Any

Headers = Iterable[tuple[bytes, bytes]]


def http_scope(
    method: str = "GET",
    path: str = "/",
    headers: Headers = (),
    *,
    host: str | None = "testserver",
    scheme: str = "http",
    root_path: str = "",
    raw_path: bytes | None = None,
    query_string: bytes = b"",
    http_version: str = "1.1",
    server: tuple[str, int | None] | None = ("testserver", 80),
    **extra: Any,
) -> dict[str, Any]:
    """An HTTP scope; `path` is the full path (``root_path`` included, as servers send it).

    `host` becomes the first header (None: no Host header at all); `extra` adds or replaces
    keys (``session=...``, ``client=None``).
    """
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": http_version,
        "method": method,
        "scheme": scheme,
        "path": path,
        "raw_path": path.encode() if raw_path is None else raw_path,
        "root_path": root_path,
        "query_string": query_string,
        "headers": _with_host(host, headers),
        "client": ("127.0.0.1", 5000),
        "server": server,
    }
    scope.update(extra)
    return scope


def websocket_scope(
    path: str = "/ws",
    headers: Headers = (),
    *,
    host: str | None = "testserver",
    scheme: str = "ws",
    server: tuple[str, int | None] | None = ("testserver", 80),
    **extra: Any,
) -> dict[str, Any]:
    """A WebSocket handshake scope, with the same conventions as `http_scope`."""
    scope: dict[str, Any] = {
        "type": "websocket",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "scheme": scheme,
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": _with_host(host, headers),
        "client": ("127.0.0.1", 5000),
        "server": server,
        "subprotocols": [],
    }
    scope.update(extra)
    return scope


def _with_host(host: str | None, headers: Headers) -> list[tuple[bytes, bytes]]:
    found = [(bytes(k), bytes(v)) for k, v in headers]
    return found if host is None else [(b"host", host.encode()), *found]


async def call_http(app: Any, scope: MutableMapping[str, Any], body: bytes = b"") -> list[Any]:
    """Send `body` in one message; return every message the app sent."""
    sent: list[Any] = []
    delivered = False

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if delivered:
            return {"type": "http.disconnect"}
        delivered = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(dict(message))

    await app(scope, receive, send)
    return sent


async def call_websocket(app: Any, scope: MutableMapping[str, Any]) -> list[Any]:
    """Connect, then disconnect once the app has answered; return every message it sent.

    The disconnect waits (at most 5 s) for a message after the accept, or a close, as a
    client reading its answer would: a framework that watches for the disconnect while the
    handler runs (Quart 0.23 does) would otherwise cancel the handler before it sends.
    """
    answered = asyncio.Event()
    connected = False
    sent: list[Any] = []

    async def receive() -> dict[str, Any]:
        nonlocal connected
        if not connected:
            connected = True
            return {"type": "websocket.connect"}
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(answered.wait(), 5)
        return {"type": "websocket.disconnect", "code": 1000}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(dict(message))
        if message["type"] != "websocket.accept":
            answered.set()

    await app(scope, receive, send)
    return sent
