"""PathTableRouter answers every request exactly as Starlette's own Router does."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route, Router

from cookieguard.demo.routing import PathTableRouter


def _endpoint(name: str) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        return PlainTextResponse(f"{name} {request.method} {request.url.path}")

    return endpoint


def _routes(with_pattern: bool = False) -> list[BaseRoute]:
    routes: list[BaseRoute] = [
        Route("/a", _endpoint("a-get"), methods=["GET"]),
        Route("/b", _endpoint("b-post"), methods=["POST"]),
        Route("/a", _endpoint("a-post"), methods=["POST"]),
        Route("/c", _endpoint("c-any")),
    ]
    if with_pattern:
        routes.insert(0, Route("/{name}", _endpoint("pattern"), methods=["GET"]))
    return routes


def _site(router: Router) -> Starlette:
    site = Starlette()
    site.router = router
    return site


REQUESTS = [
    ("GET", "/a"),
    ("HEAD", "/a"),
    ("POST", "/a"),
    ("PUT", "/a"),
    ("GET", "/b"),
    ("POST", "/b"),
    ("DELETE", "/c"),
    ("GET", "/a/"),
    ("GET", "/nowhere"),
]


async def _answers(app: Starlette, root_path: str = "") -> list[tuple[int, str, str, str]]:
    transport = httpx.ASGITransport(app=app, root_path=root_path)
    out = []
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        for method, path in REQUESTS:
            r = await client.request(method, root_path + path, follow_redirects=False)
            out.append(
                (r.status_code, r.headers.get("allow", ""), r.headers.get("location", ""), r.text)
            )
    return out


@pytest.mark.parametrize("with_pattern", [False, True])
@pytest.mark.parametrize("root_path", ["", "/mounted"])
async def test_same_answers_as_starlette(with_pattern: bool, root_path: str) -> None:
    ours = await _answers(_site(PathTableRouter(_routes(with_pattern))), root_path)
    theirs = await _answers(_site(Router(_routes(with_pattern))), root_path)
    assert ours == theirs
    if not with_pattern and not root_path:
        assert ours[0][0] == 200 and ours[0][3] == "a-get GET /a"
        assert ours[2][3] == "a-post POST /a"
        assert ours[3][0] == 405 and set(ours[3][1].split(", ")) == {"GET", "HEAD"}
        assert ours[7][0] == 307 and ours[7][2].endswith("/a")
        assert ours[8][0] == 404


def test_pattern_route_turns_the_table_off() -> None:
    assert PathTableRouter(_routes(with_pattern=True))._table == {}
    assert set(PathTableRouter(_routes())._table) == {"/a", "/b", "/c"}
