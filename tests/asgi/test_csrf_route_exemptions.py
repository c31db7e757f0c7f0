"""`csrf_exempt` decides per request, on that request alone: one request's exemption is never
lent to another.

Routes can match on more than the path (Starlette's `Host` reads the Host header; a custom
`BaseRoute.matches` may read any header), so every test here sends the exempt request first
and the protected one after it, the order that would expose an answer remembered across
requests. Each protected request must be refused exactly as if it came first.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import BaseRoute, Host, Match, Mount, Route, Router, WebSocketRoute
from starlette.types import Scope
from starlette.websockets import WebSocket
from tests.asgi.scopes import call_websocket, websocket_scope

from cookieguard.asgi.csrf import CSRFMiddleware, csrf_exempt, get_csrf_token
from cookieguard.config import CSRFConfig

EVIL = "https://evil.test"


@csrf_exempt
async def webhook(request: Request) -> PlainTextResponse:
    return PlainTextResponse("hook:" + (await request.body()).decode())


async def transfer(request: Request) -> PlainTextResponse:
    return PlainTextResponse("transferred")


async def token(request: Request) -> PlainTextResponse:
    return PlainTextResponse(get_csrf_token(request))


@csrf_exempt
async def ws_open(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.close()


async def ws_private(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.close()


def _client(app: Any, base_url: str = "http://www.example.com") -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url)


# Cross-site in three shapes: the Sec-Fetch-Site gate, the Origin gate, and no provenance
# headers at all (then only the missing token refuses it).
CROSS_SITE = [
    {"sec-fetch-site": "cross-site", "origin": EVIL},
    {"origin": EVIL},
    {},
]


def host_app() -> CSRFMiddleware:
    api = Router([Route("/transfer", webhook, methods=["POST"]), WebSocketRoute("/ws", ws_open)])
    www = Router(
        [
            Route("/transfer", transfer, methods=["POST"]),
            Route("/token", token),
            WebSocketRoute("/ws", ws_private),
        ]
    )
    return CSRFMiddleware(
        Starlette(routes=[Host("api.example.com", app=api), Host("www.example.com", app=www)])
    )


@pytest.mark.parametrize("headers", CROSS_SITE)
async def test_host_route_exemption_is_not_lent_to_another_host(headers: dict[str, str]) -> None:
    app = host_app()
    async with _client(app, "http://api.example.com") as api:
        r = await api.post("/transfer", content=b"signed", headers={"origin": EVIL})
        assert (r.status_code, r.text) == (200, "hook:signed")
    async with _client(app) as www:
        r = await www.post("/transfer", headers=headers)
        assert r.status_code == 403, r.text
        # The exempt host still works after the refusal, and the protected one with a token.
        token_value = (await www.get("/token")).text
        r = await www.post(
            "/transfer", headers={"x-csrftoken": token_value, "origin": "http://www.example.com"}
        )
        assert (r.status_code, r.text) == (200, "transferred")
    async with _client(app, "http://api.example.com") as api:
        assert (await api.post("/transfer", content=b"again")).text == "hook:again"


async def ws_handshake(app: Any, host: str, origin: str, path: str = "/ws") -> list[Any]:
    scope = websocket_scope(path, [(b"origin", origin.encode())], host=host, server=(host, 80))
    return await call_websocket(app, scope)


async def test_host_route_websocket_exemption_is_not_lent() -> None:
    app = host_app()
    accepted = await ws_handshake(app, "api.example.com", EVIL)
    assert accepted[0]["type"] == "websocket.accept"
    refused = await ws_handshake(app, "www.example.com", EVIL)
    assert refused == [{"type": "websocket.close", "code": 1008}]
    # Its own origin is still welcome on the protected host.
    own = await ws_handshake(app, "www.example.com", "http://www.example.com")
    assert own[0]["type"] == "websocket.accept"


class TenantRoute(BaseRoute):
    """A custom route that dispatches on a header, not on the path alone."""

    def __init__(self, path: str, tenant: str, endpoint: Any) -> None:
        self.path = path
        self.tenant = tenant.encode()
        self.endpoint = endpoint
        self.route = Route(path, endpoint, methods=["POST"])

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if dict(scope["headers"]).get(b"x-tenant") != self.tenant:
            return Match.NONE, {}
        return self.route.matches(scope)

    async def handle(self, scope: Scope, receive: Any, send: Any) -> None:
        await self.route.handle(scope, receive, send)


async def test_custom_route_class_exemption_is_not_lent() -> None:
    app = CSRFMiddleware(
        Starlette(
            routes=[
                TenantRoute("/pay", "partner", webhook),
                TenantRoute("/pay", "shop", transfer),
            ]
        )
    )
    async with _client(app) as c:
        r = await c.post("/pay", content=b"x", headers={"x-tenant": "partner", "origin": EVIL})
        assert (r.status_code, r.text) == (200, "hook:x")
        for headers in CROSS_SITE:
            r = await c.post("/pay", headers={"x-tenant": "shop", **headers})
            assert r.status_code == 403, headers


async def test_mount_and_path_parameters_in_poisoning_order() -> None:
    inner = Router(
        [
            Route("/hooks/{name}", webhook, methods=["POST"]),
            Route("/items/{item_id:int}", transfer, methods=["POST"]),
        ]
    )
    app = CSRFMiddleware(
        Starlette(routes=[Mount("/t/{tenant}", app=inner), Route("/hooks/{name}", transfer)])
    )
    async with _client(app) as c:
        for path in ("/t/a/hooks/github", "/t/b/hooks/stripe"):
            r = await c.post(path, content=b"p", headers={"origin": EVIL})
            assert (r.status_code, r.text) == (200, "hook:p"), path
        for path in ("/t/a/items/1", "/t/a/hooks/", "/hooks/github", "/t/a/hooks/github/x"):
            for headers in CROSS_SITE:
                r = await c.post(path, headers=headers)
                assert r.status_code == 403, (path, headers)


async def test_same_path_other_method_is_not_exempt() -> None:
    routes = [
        Route("/thing", webhook, methods=["POST"]),
        Route("/thing", transfer, methods=["PUT", "DELETE"]),
    ]
    app = CSRFMiddleware(Starlette(routes=routes))
    async with _client(app) as c:
        assert (await c.post("/thing", headers={"origin": EVIL})).status_code == 200
        assert (await c.put("/thing", headers={"origin": EVIL})).status_code == 403
        assert (await c.delete("/thing")).status_code == 403


class CountingRoute(Route):
    """Counts how often anything asks this route whether it matches."""

    calls = 0

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        CountingRoute.calls += 1
        return super().matches(scope)


async def test_a_passing_request_asks_the_route_table_nothing() -> None:
    # The router itself asks each route once per request it dispatches; the middleware asks
    # only for a request it would otherwise refuse.
    routes = [
        CountingRoute("/transfer", transfer, methods=["POST"]),
        CountingRoute("/token", token),
        CountingRoute("/hook", webhook, methods=["POST"]),
    ]
    app = CSRFMiddleware(Starlette(routes=routes), CSRFConfig())
    async with _client(app) as c:
        token_value = (await c.get("/token")).text
        CountingRoute.calls = 0
        for _ in range(5):
            r = await c.post(
                "/transfer",
                headers={"x-csrftoken": token_value, "origin": "http://www.example.com"},
            )
            assert r.status_code == 200
        assert CountingRoute.calls == 5  # the router's own dispatch, nothing more
        CountingRoute.calls = 0
        assert (await c.post("/transfer", headers={"origin": EVIL})).status_code == 403
        assert CountingRoute.calls == 1  # a refusal asks up to the route that would serve it
        CountingRoute.calls = 0
        assert (await c.post("/hook", headers={"origin": EVIL})).status_code == 200
        assert CountingRoute.calls == 3 + 3  # the exemption lookup, then the router's own


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/x-www-form-urlencoded", b"a=1&b=2"),
        ("application/x-www-form-urlencoded", b"csrfmiddlewaretoken=%zz"),
        ("application/x-www-form-urlencoded", b"a=" + b"x" * 5000),
        ("multipart/form-data; boundary=b", b"--b\r\nno colon here\r\n\r\nx\r\n--b--"),
        (
            "multipart/form-data; boundary=b",
            b'--b\r\nContent-Disposition: form-data; name="f"\r\n\r\n' + b"y" * 5000 + b"\r\n--b--",
        ),
    ],
)
async def test_exempt_endpoint_gets_the_body_whole(content_type: str, body: bytes) -> None:
    # With a CSRF cookie and a form body the middleware reads the body looking for the token
    # before it knows the route is exempt; the endpoint must still see every byte, even of a
    # body too large or too broken to check.
    app = CSRFMiddleware(
        Starlette(routes=[Route("/hook", webhook, methods=["POST"]), Route("/token", token)]),
        CSRFConfig(max_body_size=1024),
    )
    async with _client(app) as c:
        await c.get("/token")
        assert "csrftoken" in c.cookies
        r = await c.post("/hook", content=body, headers={"content-type": content_type})
        assert r.status_code == 200
        assert r.text == "hook:" + body.decode()
