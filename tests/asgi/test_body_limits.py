"""BodyLimitMiddleware: what an app, and the client, see when a body is over the limit."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from tests.asgi import scopes

from cookieguard import BodyLimitMiddleware, CSRFMiddleware
from cookieguard.core.tokens import new_csrf_secret
from cookieguard.errors import ConfigError

Message = dict[str, Any]


class Client:
    """Feeds body chunks to an ASGI app and records everything it receives and answers."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = list(chunks)
        self.reads = 0
        self.sent: list[Message] = []

    async def receive(self) -> Message:
        self.reads += 1
        if not self.chunks:
            return {"type": "http.disconnect"}
        body = self.chunks.pop(0)
        return {"type": "http.request", "body": body, "more_body": bool(self.chunks)}

    async def send(self, message: Message) -> None:
        self.sent.append(message)

    @property
    def status(self) -> int | None:
        starts = [m for m in self.sent if m["type"] == "http.response.start"]
        assert len(starts) <= 1, self.sent
        return starts[0]["status"] if starts else None

    @property
    def headers(self) -> dict[bytes, bytes]:
        start = next(m for m in self.sent if m["type"] == "http.response.start")
        return dict(start["headers"])

    @property
    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.sent if m["type"] == "http.response.body")


def http_scope(
    path: str = "/",
    *,
    length: int | None = None,
    chunked: bool = False,
    http_version: str = "1.1",
    headers: list[tuple[bytes, bytes]] | None = None,
    root_path: str = "",
) -> dict[str, Any]:
    raw = list(headers or [])
    if length is not None:
        raw.append((b"content-length", str(length).encode()))
    if chunked:
        raw.append((b"transfer-encoding", b"chunked"))
    return scopes.http_scope(
        "POST", root_path + path, raw, host=None, root_path=root_path, http_version=http_version
    )


class Reader:
    """An app that reads its whole body (until the last chunk or a disconnect), then answers."""

    def __init__(self, *, raise_on_disconnect: bool = False) -> None:
        self.calls = 0
        self.body = b""
        self.disconnected = False
        self.raise_on_disconnect = raise_on_disconnect

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.calls += 1
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                self.disconnected = True
                if self.raise_on_disconnect:
                    raise RuntimeError("client went away")
                break
            self.body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"read %d" % len(self.body)})


async def test_a_declared_length_over_the_limit_is_refused_unread(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = Reader()
    client = Client([b"x" * 2000])
    with caplog.at_level(logging.WARNING, "cookieguard.body"):
        await BodyLimitMiddleware(app, 1000)(
            http_scope("/upload", length=2000), client.receive, client.send
        )
    assert client.status == 413
    assert client.headers[b"connection"] == b"close"
    assert b"too large" in client.body
    assert app.calls == 0 and client.reads == 0
    assert "Content-Length 2000 > 1000" in caplog.text and "/upload" in caplog.text


async def test_a_json_client_gets_a_json_413() -> None:
    client = Client([])
    scope = http_scope(length=10**9, headers=[(b"accept", b"application/json")])
    await BodyLimitMiddleware(Reader(), 1000)(scope, client.receive, client.send)
    assert client.status == 413
    assert json.loads(client.body)["error"] == "body_too_large"


@pytest.mark.parametrize("chunked", [False, True])
async def test_a_body_at_the_limit_reaches_the_app_unchanged(chunked: bool) -> None:
    app = Reader()
    body = [b"a" * 400, b"b" * 600]
    client = Client(body)
    length = None if chunked else 1000
    await BodyLimitMiddleware(app, 1000)(
        http_scope(length=length, chunked=chunked), client.receive, client.send
    )
    assert client.status == 200
    assert app.body == b"".join(body)


async def test_a_streamed_body_is_cut_off_past_the_limit() -> None:
    app = Reader()
    client = Client([b"a" * 600, b"b" * 600, b"c" * 600, b"d" * 600])
    await BodyLimitMiddleware(app, 1000)(http_scope(chunked=True), client.receive, client.send)
    # One 413, the app's own late answer dropped, nothing read after the chunk that crossed.
    assert client.status == 413
    assert client.headers[b"connection"] == b"close"
    assert app.body == b"a" * 600 and app.disconnected
    assert client.reads == 2
    assert b"read" not in client.body


async def test_http2_without_a_length_is_counted() -> None:
    client = Client([b"a" * 800, b"b" * 800])
    await BodyLimitMiddleware(Reader(), 1000)(
        http_scope(http_version="2"), client.receive, client.send
    )
    assert client.status == 413


async def test_what_the_app_raises_after_the_cut_is_no_server_error() -> None:
    client = Client([b"a" * 2000])
    app = Reader(raise_on_disconnect=True)
    await BodyLimitMiddleware(app, 1000)(http_scope(chunked=True), client.receive, client.send)
    assert client.status == 413


async def test_an_app_error_without_a_cut_still_propagates() -> None:
    client = Client([])
    app = Reader(raise_on_disconnect=True)
    with pytest.raises(RuntimeError):
        await BodyLimitMiddleware(app, 1000)(http_scope(chunked=True), client.receive, client.send)


async def test_a_response_already_started_is_left_unfinished() -> None:
    client = Client([b"a" * 600, b"b" * 600])

    async def streams_while_reading(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        while (await receive())["type"] == "http.request":
            await send({"type": "http.response.body", "body": b"chunk", "more_body": True})
        await send({"type": "http.response.body", "body": b"done"})

    await BodyLimitMiddleware(streams_while_reading, 1000)(
        http_scope(chunked=True), client.receive, client.send
    )
    assert client.status == 200
    assert client.body == b"chunk"  # no 413 mid-response and no clean end: the server closes
    assert client.sent[-1].get("more_body") is True


async def test_path_limits_match_the_route_path_exactly() -> None:
    limits = BodyLimitMiddleware(Reader(), 1000, path_limits={"/upload": 10_000})
    assert limits.limit_for(http_scope("/upload")) == 10_000
    assert limits.limit_for(http_scope("/upload", root_path="/app")) == 10_000
    for other in ("/upload/", "//upload", "/Upload", "/upload/x", "/"):
        assert limits.limit_for(http_scope(other)) == 1000, other
    client = Client([b"a" * 5000])
    await limits(http_scope("/upload", length=5000), client.receive, client.send)
    assert client.status == 200
    client = Client([b"a" * 5000])
    await limits(http_scope("/upload/", length=5000), client.receive, client.send)
    assert client.status == 413


@pytest.mark.parametrize("bad", [-1, 1.5, "10", True, None])
def test_limits_must_be_byte_counts(bad: Any) -> None:
    with pytest.raises(ConfigError):
        BodyLimitMiddleware(Reader(), bad)
    with pytest.raises(ConfigError):
        BodyLimitMiddleware(Reader(), path_limits={"/x": bad})


async def test_other_scopes_pass_through() -> None:
    seen: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["type"])

    limits = BodyLimitMiddleware(app, 0)
    client = Client([])
    for kind in ("lifespan", "websocket"):
        await limits({"type": kind, "path": "/", "headers": []}, client.receive, client.send)
    assert seen == ["lifespan", "websocket"]


async def test_composes_with_the_csrf_token_in_a_streamed_form() -> None:
    # The token comes first in the form; the CSRF middleware reads on to find it while the
    # body is still under its own 2.5 MiB bound, but the route's limit is far smaller.
    async def add(request: Request) -> JSONResponse:
        form = await request.form()
        return JSONResponse({"text": len(str(form.get("text", "")))})

    secret = new_csrf_secret()
    app = BodyLimitMiddleware(
        CSRFMiddleware(Starlette(routes=[Route("/add", add, methods=["POST"])])), 4096
    )
    headers = [
        (b"host", b"testserver"),
        (b"cookie", b"csrftoken=" + secret.encode()),
        (b"content-type", b"application/x-www-form-urlencoded"),
    ]
    first = b"csrfmiddlewaretoken=" + secret.encode() + b"&text="
    for pieces, status in (([first, b"a" * 1000], 200), ([first, *[b"a" * 1000] * 50], 413)):
        client = Client(pieces)
        await app(http_scope("/add", chunked=True, headers=headers), client.receive, client.send)
        assert client.status == status, client.body
        if status == 413:
            assert client.reads <= 6  # stopped at the limit, not at the end of the body
