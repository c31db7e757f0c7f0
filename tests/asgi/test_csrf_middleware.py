"""CSRFMiddleware end to end through httpx on real Starlette and FastAPI apps."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, MutableMapping
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.websockets import WebSocket

from cookieguard.asgi.csrf import (
    CSRFMiddleware,
    csrf_exempt,
    csrf_input,
    get_csrf_token,
    rotate_csrf_token,
)
from cookieguard.config import CookieConfig, CSRFConfig
from cookieguard.core.tokens import mask_secret, new_csrf_secret, token_matches_secret
from cookieguard.errors import ConfigError

BASE = "http://testserver"
ORIGIN = {"origin": BASE}
TOKEN_RE = re.compile(r'name="csrfmiddlewaretoken" value="([A-Za-z0-9]{64})"')


async def form_page(request: Request) -> HTMLResponse:
    return HTMLResponse(f'<form method="post">{csrf_input(request)}</form>')


async def submit(request: Request) -> JSONResponse:
    fields = {}
    async with request.form() as form:
        for key, value in form.multi_items():
            if isinstance(value, str):
                fields[key] = value
            else:
                fields[key] = f"file:{value.filename}:{len(await value.read())}"
    return JSONResponse({"fields": fields})


async def echo(request: Request) -> JSONResponse:
    return JSONResponse({"body": (await request.body()).decode("latin-1")})


async def token_json(request: Request) -> JSONResponse:
    return JSONResponse({"token": get_csrf_token(request)})


async def rotate(request: Request) -> PlainTextResponse:
    rotate_csrf_token(request)
    return PlainTextResponse("rotated")


async def plain(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok", headers={"vary": "Accept-Encoding"})


async def ws_endpoint(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_text("hello")
    await websocket.close()


@csrf_exempt
async def hook(request: Request) -> PlainTextResponse:
    return PlainTextResponse("hooked:" + (await request.body()).decode())


def make_app(**config: Any) -> CSRFMiddleware:
    app = Starlette(
        routes=[
            Route("/form", form_page),
            Route("/submit", submit, methods=["POST", "PUT"]),
            Route("/echo", echo, methods=["POST", "PUT", "DELETE"]),
            Route("/token", token_json),
            Route("/rotate", rotate, methods=["GET", "POST"]),
            Route("/plain", plain, methods=["GET", "POST"]),
            Route("/hook", hook, methods=["POST"]),
            Route("/webhooks/in", echo, methods=["POST"]),
            WebSocketRoute("/ws", ws_endpoint),
        ]
    )
    return CSRFMiddleware(app, CSRFConfig(**config))


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=make_app(exempt_paths=["/webhooks/in"]))
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as c:
        yield c


async def fetch_token(client: httpx.AsyncClient) -> str:
    response = await client.get("/form")
    assert response.status_code == 200
    match = TOKEN_RE.search(response.text)
    assert match
    return match.group(1)


def set_cookie(response: httpx.Response) -> str:
    values = response.headers.get_list("set-cookie")
    assert len(values) == 1, values
    return values[0]


# -- the seed flow ------------------------------------------------------------------------


async def test_get_form_then_post_with_masked_token(client: httpx.AsyncClient) -> None:
    response = await client.get("/form")
    cookie = set_cookie(response)
    secret = client.cookies["csrftoken"]
    assert re.fullmatch(r"[A-Za-z0-9]{32}", secret)
    assert cookie.startswith(f"csrftoken={secret};")
    for attribute in ["Path=/", "SameSite=Lax", "Max-Age=31449600"]:
        assert attribute in cookie
    assert "HttpOnly" not in cookie and "Secure" not in cookie
    assert response.headers["vary"] == "Cookie"
    token = TOKEN_RE.search(response.text).group(1)  # type: ignore[union-attr]
    assert token != secret and token_matches_secret(token, secret)

    posted = await client.post(
        "/submit", data={"csrfmiddlewaretoken": token, "title": "hi"}, headers=ORIGIN
    )
    assert posted.status_code == 200
    assert posted.json() == {"fields": {"csrfmiddlewaretoken": token, "title": "hi"}}
    # An accepted POST that asked for no token sets no cookie.
    assert "set-cookie" not in posted.headers


async def test_a_valid_cookie_is_not_sent_back_but_the_page_varies(
    client: httpx.AsyncClient,
) -> None:
    first = await client.get("/form")
    secret = client.cookies["csrftoken"]
    assert set_cookie(first).startswith(f"csrftoken={secret};")

    again = await client.get("/form")
    assert "set-cookie" not in again.headers  # the browser already holds this secret
    assert again.headers["vary"] == "Cookie"  # the body carries a token for that cookie
    token = TOKEN_RE.search(again.text).group(1)  # type: ignore[union-attr]
    assert token_matches_secret(token, secret)
    assert client.cookies["csrftoken"] == secret


async def test_each_token_differs_and_all_stay_valid(client: httpx.AsyncClient) -> None:
    first, second = await fetch_token(client), await fetch_token(client)
    assert first != second
    for token in (first, second):
        r = await client.post("/submit", data={"csrfmiddlewaretoken": token}, headers=ORIGIN)
        assert r.status_code == 200


async def test_no_cookie_sent_when_no_token_asked(client: httpx.AsyncClient) -> None:
    response = await client.get("/plain")
    assert response.status_code == 200
    assert "set-cookie" not in response.headers
    assert response.headers["vary"] == "Accept-Encoding"


async def test_vary_is_merged_with_the_apps(client: httpx.AsyncClient) -> None:
    await fetch_token(client)

    async def with_vary(request: Request) -> PlainTextResponse:
        get_csrf_token(request)
        return PlainTextResponse("x", headers={"vary": "Accept-Encoding"})

    app = CSRFMiddleware(Starlette(routes=[Route("/", with_vary)]))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as c:
        r = await c.get("/")
    assert r.headers.get_list("vary") == ["Accept-Encoding, Cookie"]


async def test_header_token_for_json(client: httpx.AsyncClient) -> None:
    token = (await client.get("/token")).json()["token"]
    r = await client.post("/echo", json={"a": 1}, headers={"x-csrftoken": token, **ORIGIN})
    assert r.status_code == 200
    assert r.json() == {"body": '{"a":1}'}
    for method in ("PUT", "DELETE"):
        r = await client.request(method, "/echo", headers={"x-csrftoken": token})
        assert r.status_code == 200
    r = await client.post("/echo", json={"a": 1}, headers=ORIGIN)
    assert r.status_code == 403


async def test_bare_secret_in_header_is_accepted(client: httpx.AsyncClient) -> None:
    await fetch_token(client)
    secret = client.cookies["csrftoken"]
    r = await client.post("/echo", content=b"x", headers={"x-csrftoken": secret})
    assert r.status_code == 200


async def test_multipart_token_before_a_file(client: httpx.AsyncClient) -> None:
    token = await fetch_token(client)
    big = b"\x00\xff" * (2 * 1024 * 1024)  # 4 MiB: larger than the 2.5 MiB read bound
    r = await client.post(
        "/submit",
        data={"csrfmiddlewaretoken": token, "note": "héllo"},
        files={"upload": ("big.bin", big, "application/octet-stream")},
        headers=ORIGIN,
    )
    assert r.status_code == 200, r.text
    assert r.json()["fields"] == {
        "csrfmiddlewaretoken": token,
        "note": "héllo",
        "upload": f"file:big.bin:{len(big)}",
    }


async def test_multipart_token_after_a_small_file(client: httpx.AsyncClient) -> None:
    token = await fetch_token(client)
    r = await client.post(
        "/submit",
        files=[
            ("upload", ("a.txt", b"abc", "text/plain")),
            ("csrfmiddlewaretoken", (None, token.encode())),
        ],
        headers=ORIGIN,
    )
    assert r.status_code == 200, r.text
    assert r.json()["fields"]["upload"] == "file:a.txt:3"


async def test_multipart_token_after_a_huge_file_is_413(client: httpx.AsyncClient) -> None:
    token = await fetch_token(client)
    r = await client.post(
        "/submit",
        files=[
            ("upload", ("a.bin", b"x" * (3 * 1024 * 1024), "application/octet-stream")),
            ("csrfmiddlewaretoken", (None, token.encode())),
        ],
        headers=ORIGIN,
    )
    assert r.status_code == 413


async def test_a_file_named_like_the_field_is_not_the_token(client: httpx.AsyncClient) -> None:
    token = await fetch_token(client)
    r = await client.post(
        "/submit",
        files={"csrfmiddlewaretoken": ("t.txt", token.encode(), "text/plain")},
        headers=ORIGIN,
    )
    assert r.status_code == 403


async def test_urlencoded_over_the_bound_is_413(client: httpx.AsyncClient) -> None:
    token = await fetch_token(client)
    r = await client.post(
        "/submit",
        data={"csrfmiddlewaretoken": token, "blob": "x" * 3_000_000},
        headers=ORIGIN,
    )
    assert r.status_code == 413
    assert "too large" in r.text


async def test_chunked_urlencoded_over_the_bound_is_413(client: httpx.AsyncClient) -> None:
    token = await fetch_token(client)

    async def chunks() -> AsyncIterator[bytes]:
        yield f"csrfmiddlewaretoken={token}&blob=".encode()
        for _ in range(30):
            yield b"y" * 100_000

    r = await client.post(
        "/submit",
        content=chunks(),
        headers={"content-type": "application/x-www-form-urlencoded", **ORIGIN},
    )
    assert r.status_code == 413


async def test_the_app_reads_the_replayed_body_unchanged(client: httpx.AsyncClient) -> None:
    token = await fetch_token(client)
    raw = f"a=1&csrfmiddlewaretoken={token}&b=%C3%A9&b=2".encode()
    r = await client.post(
        "/echo",
        content=raw,
        headers={"content-type": "application/x-www-form-urlencoded", **ORIGIN},
    )
    assert r.status_code == 200
    assert r.json()["body"] == raw.decode("latin-1")


# -- rotation, cookies ----------------------------------------------------------------------


async def test_rotation_invalidates_old_tokens(client: httpx.AsyncClient) -> None:
    old = await fetch_token(client)
    old_secret = client.cookies["csrftoken"]
    r = await client.post("/rotate", data={"csrfmiddlewaretoken": old}, headers=ORIGIN)
    assert r.status_code == 200
    new_secret = client.cookies["csrftoken"]
    assert new_secret != old_secret
    assert set_cookie(r).startswith(f"csrftoken={new_secret};")
    r = await client.post("/submit", data={"csrfmiddlewaretoken": old}, headers=ORIGIN)
    assert r.status_code == 403
    fresh = await fetch_token(client)
    r = await client.post("/submit", data={"csrfmiddlewaretoken": fresh}, headers=ORIGIN)
    assert r.status_code == 200


async def test_secure_host_prefix_and_session_cookie_settings() -> None:
    config = CSRFConfig(cookie=CookieConfig(name="csrftoken", httponly=False, host_prefix=True))
    app = make_app(cookie=config.cookie, cookie_max_age=None)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="https://testserver"
    ) as c:
        r = await c.get("/form")
        cookie = set_cookie(r)
        assert cookie.startswith("__Host-csrftoken=")
        assert "Secure" in cookie and "Max-Age" not in cookie and "Path=/" in cookie
        token = TOKEN_RE.search(r.text).group(1)  # type: ignore[union-attr]
        # A plain "csrftoken" cookie (e.g. planted by a sibling subdomain) is ignored.
        c.cookies.set("csrftoken", new_csrf_secret())
        r = await c.post(
            "/submit",
            data={"csrfmiddlewaretoken": token},
            headers={"origin": "https://testserver"},
        )
        assert r.status_code == 200


async def test_https_request_gets_secure_cookie() -> None:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=make_app()), base_url="https://testserver"
    ) as c:
        assert "Secure" in set_cookie(await c.get("/form"))


@pytest.mark.parametrize(
    "cookie",
    [
        "csrftoken=short",
        "csrftoken=" + "!" * 32,
        "csrftoken=" + "é" * 32,
        "csrftoken",
        ";;;=;=garbage;;",
        "\x00\x01csrftoken=\x7f",
        "csrftoken=" + "a" * 20000,
    ],
)
async def test_malformed_cookies_are_replaced_and_never_500(cookie: str) -> None:
    app = make_app()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as c:
        raw = cookie.encode("utf-8")
        r = await c.get("/plain", headers=[(b"cookie", raw)])
        assert r.status_code == 200
        r = await c.post(
            "/echo",
            content=b"x",
            headers=[(b"cookie", raw), (b"x-csrftoken", b"a" * 64), (b"origin", BASE.encode())],
        )
        assert r.status_code == 403


async def test_malformed_cookie_is_replaced_when_noticed() -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=make_app()), base_url=BASE) as c:
        # A page that never needs the secret does not even parse the cookie.
        r = await c.get("/plain", headers={"cookie": "csrftoken=tooshort"})
        assert r.status_code == 200 and "set-cookie" not in r.headers
        # A page that asks for a token replaces it, and the token matches the new secret.
        r = await c.get("/token", headers={"cookie": "csrftoken=tooshort"})
        secret = re.match(r"csrftoken=([A-Za-z0-9]{32});", set_cookie(r)).group(1)  # type: ignore[union-attr]
        assert token_matches_secret(r.json()["token"], secret)
        # A refused POST carries the replacement too, so the next attempt can succeed.
        r = await c.post(
            "/echo", content=b"x", headers={"cookie": "csrftoken=tooshort", "x-csrftoken": "a" * 64}
        )
        assert r.status_code == 403
        assert re.match(r"csrftoken=[A-Za-z0-9]{32};", set_cookie(r))


async def test_duplicate_cookies_first_wins() -> None:
    secret, other = new_csrf_secret(), new_csrf_secret()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=make_app()), base_url=BASE) as c:
        cookies = f"csrftoken={secret}; csrftoken={other}".encode()
        r = await c.post(
            "/echo",
            content=b"x",
            headers=[(b"cookie", cookies), (b"x-csrftoken", mask_secret(secret).encode())],
        )
        assert r.status_code == 200
        r = await c.post(
            "/echo",
            content=b"x",
            headers=[(b"cookie", cookies), (b"x-csrftoken", mask_secret(other).encode())],
        )
        assert r.status_code == 403
        # Cookies split over several headers (HTTP/2 style) are all searched.
        r = await c.post(
            "/echo",
            content=b"x",
            headers=[
                (b"cookie", b"a=b"),
                (b"cookie", f"csrftoken={secret}".encode()),
                (b"x-csrftoken", mask_secret(secret).encode()),
            ],
        )
        assert r.status_code == 200


# -- refusals and their responses -----------------------------------------------------------


async def test_refusal_page_html_json_and_log(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    token = await fetch_token(client)
    secret = client.cookies["csrftoken"]
    caplog.set_level(logging.WARNING, logger="cookieguard.csrf")
    r = await client.post("/submit", data={"x": "1"}, headers=ORIGIN)
    assert r.status_code == 403
    assert r.headers["content-type"].startswith("text/html")
    assert "CSRF verification failed" in r.text and "reload the page" in r.text
    assert "CSRF token missing" not in r.text  # the reason only in debug mode
    r = await client.post(
        "/submit", data={"x": "1"}, headers={"accept": "application/json", **ORIGIN}
    )
    assert r.status_code == 403
    assert r.json()["error"] == "csrf_failed" and "detail" not in r.json()
    records = [rec for rec in caplog.records if rec.name == "cookieguard.csrf"]
    assert len(records) == 2
    assert records[0].levelno == logging.WARNING
    assert records[0].getMessage() == "Forbidden (CSRF token missing.): /submit"
    for rec in records:
        assert token not in rec.getMessage() and secret not in rec.getMessage()


async def test_debug_shows_the_reason_escaped() -> None:
    app = make_app(debug=True)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as c:
        r = await c.post("/echo", content=b"x", headers={"origin": "https://<b>evil</b>.test"})
        assert r.status_code == 403
        assert "Origin checking failed - https://&lt;b&gt;evil&lt;/b&gt;.test" in r.text
        r = await c.post("/echo", content=b"x", headers={"accept": "application/json"})
        assert r.json()["detail"] == "CSRF cookie not set."


async def test_log_line_escapes_crafted_paths(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="cookieguard.csrf")
    app = make_app()
    scope_path = "/echo\nFAKE LOG LINE"
    messages: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        messages.append(dict(message))

    scope = {
        "type": "http",
        "method": "POST",
        "scheme": "http",
        "path": scope_path,
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"testserver")],
        "server": ("testserver", 80),
    }
    await app(scope, receive, send)
    assert messages[0]["status"] == 403
    assert "\n" not in caplog.records[-1].getMessage()


# -- the origin gate through the middleware -------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"sec-fetch-site": "same-origin", "origin": BASE}, 200),
        ({"sec-fetch-site": "none"}, 200),
        ({"sec-fetch-site": "cross-site", "origin": "http://evil.test"}, 403),
        ({"sec-fetch-site": "same-site", "origin": "http://sub.testserver"}, 403),
        ({}, 200),
        ({"origin": BASE}, 200),
        ({"origin": "http://evil.test"}, 403),
        ({"origin": "null"}, 403),
        ({"origin": "http://testserver:8080"}, 403),
    ],
)
async def test_fetch_metadata_matrix_with_valid_token(
    client: httpx.AsyncClient, headers: dict[str, str], status: int
) -> None:
    token = await fetch_token(client)
    r = await client.post("/echo", content=b"x", headers={"x-csrftoken": token, **headers})
    assert r.status_code == status
    if status == 403:
        # The body was never read for a request refused on its headers.
        assert "set-cookie" not in r.headers


async def test_trusted_origin_passes_cross_site() -> None:
    app = make_app(trusted_origins=["https://*.partner.test"])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as c:
        r = await c.get("/form")
        token = TOKEN_RE.search(r.text).group(1)  # type: ignore[union-attr]
        headers = {"sec-fetch-site": "cross-site", "origin": "https://app.partner.test"}
        r = await c.post("/echo", content=b"x", headers={"x-csrftoken": token, **headers})
        assert r.status_code == 200
        headers["origin"] = "https://app.partner.test.evil"
        r = await c.post("/echo", content=b"x", headers={"x-csrftoken": token, **headers})
        assert r.status_code == 403


@pytest.mark.parametrize(
    ("referer", "status"),
    [
        ("https://testserver/form", 200),
        (None, 403),
        ("http://testserver/form", 403),
        ("https://evil.test/", 403),
        ("not a url", 403),
    ],
)
async def test_https_referer_checks(referer: str | None, status: int) -> None:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=make_app(debug=True)), base_url="https://testserver"
    ) as c:
        token = TOKEN_RE.search((await c.get("/form")).text).group(1)  # type: ignore[union-attr]
        headers = {"x-csrftoken": token}
        if referer is not None:
            headers["referer"] = referer
        r = await c.post("/echo", content=b"x", headers=headers)
        assert r.status_code == status, r.text
        if status == 403:
            assert "Referer checking failed" in r.text


async def test_tokenless_mode() -> None:
    app = make_app(require_token=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as c:
        r = await c.post("/echo", content=b"x", headers={"sec-fetch-site": "same-origin"})
        assert r.status_code == 200
        r = await c.post("/echo", content=b"x", headers={"sec-fetch-site": "cross-site"})
        assert r.status_code == 403


# -- exemptions -----------------------------------------------------------------------------


async def test_exempt_path_exact_only(client: httpx.AsyncClient) -> None:
    r = await client.post("/webhooks/in", content=b"payload")
    assert r.status_code == 200
    app = make_app(exempt_paths=["/webhooks/in"])
    for path in [
        "/webhooks/in/",
        "//webhooks/in",
        "/webhooks/x/../in",
        "/WEBHOOKS/in",
        "/webhooks",
    ]:
        # Raw ASGI so that no client normalises the path first.
        assert await raw_post_status(app, path) == 403, path
    assert await raw_post_status(app, "/webhooks/in") == 200
    # The server decodes %-escapes before routing; the router then serves /webhooks/in.
    assert await raw_post_status(app, "/webhooks/in", raw_path=b"/webhooks/%69n") == 200


async def raw_post_status(app: Any, path: str, raw_path: bytes | None = None) -> int:
    messages: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"x", "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        messages.append(dict(message))

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": raw_path or path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"testserver")],
        "server": ("testserver", 80),
        "client": ("127.0.0.1", 5000),
    }
    await app(scope, receive, send)
    status: int = messages[0]["status"]
    return status


async def test_starlette_route_marker(client: httpx.AsyncClient) -> None:
    r = await client.post("/hook", content=b"data", headers={"origin": "http://evil.test"})
    assert r.status_code == 200
    assert r.text == "hooked:data"
    r = await client.post("/hook/", content=b"data")
    assert r.status_code == 403


async def test_marker_inside_mount_with_root_path() -> None:
    inner = Starlette(
        routes=[Route("/hook", hook, methods=["POST"]), Route("/echo", echo, methods=["POST"])]
    )
    app = CSRFMiddleware(Starlette(routes=[Mount("/api", app=inner)]))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as c:
        assert (await c.post("/api/hook", content=b"d")).status_code == 200
        assert (await c.post("/api/echo", content=b"d")).status_code == 403
        assert (await c.post("/hook", content=b"d")).status_code == 403


def build_fastapi() -> FastAPI:
    api = FastAPI()
    api.add_middleware(CSRFMiddleware, config=CSRFConfig())

    @api.get("/token")
    async def token(request: Request) -> dict[str, str]:
        return {"token": get_csrf_token(request)}

    @api.post("/items/special")
    @csrf_exempt
    async def special() -> dict[str, str]:
        return {"ok": "special"}

    @api.post("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        return {"item": item_id}

    @api.post("/hooks/{name}")
    @csrf_exempt
    async def named_hook(name: str) -> dict[str, str]:
        return {"hook": name}

    return api


async def test_fastapi_route_marker() -> None:
    api = build_fastapi()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=api), base_url=BASE) as c:
        assert (await c.post("/items/special")).json() == {"ok": "special"}
        assert (await c.post("/hooks/github")).json() == {"hook": "github"}
        assert (await c.post("/items/3")).status_code == 403
        assert (await c.post("/items/special/")).status_code == 403
        token = (await c.get("/token")).json()["token"]
        r = await c.post("/items/3", headers={"x-csrftoken": token, "origin": BASE})
        assert r.json() == {"item": 3}


async def test_route_order_decides_not_the_marker() -> None:
    # An unmarked route listed first serves /a/special, so the marker on the later one
    # must not exempt it.
    async def first(request: Request) -> PlainTextResponse:
        return PlainTextResponse("first")

    routes = [
        Route("/a/{x}", first, methods=["POST"]),
        Route("/a/special", hook, methods=["POST"]),
    ]
    app = CSRFMiddleware(Starlette(routes=routes))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as c:
        assert (await c.post("/a/special")).status_code == 403


async def test_exempt_views_can_still_get_a_token() -> None:
    @csrf_exempt
    async def exempt_token(request: Request) -> JSONResponse:
        return JSONResponse({"token": get_csrf_token(request)})

    app = CSRFMiddleware(Starlette(routes=[Route("/t", exempt_token, methods=["POST"])]))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as c:
        r = await c.post("/t")
        assert r.status_code == 200
        assert token_matches_secret(r.json()["token"], c.cookies["csrftoken"])


# -- websockets ------------------------------------------------------------------------------


async def ws_handshake(app: Any, origin: str | None, scheme: str = "ws") -> list[Any]:
    """Drive one WebSocket handshake through the raw ASGI interface; return what was sent."""
    headers = [(b"host", b"testserver")]
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    scope = {
        "type": "websocket",
        "scheme": scheme,
        "path": "/ws",
        "raw_path": b"/ws",
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "server": ("testserver", 80),
        "subprotocols": [],
    }
    inbox: list[dict[str, Any]] = [
        {"type": "websocket.connect"},
        {"type": "websocket.disconnect", "code": 1000},
    ]
    sent: list[Any] = []

    async def receive() -> dict[str, Any]:
        return inbox.pop(0)

    async def send(message: Any) -> None:
        sent.append(dict(message))

    await app(scope, receive, send)
    return sent


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


# -- broken bodies: 4xx, never 500 ---------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/x-www-form-urlencoded", b"csrfmiddlewaretoken=%zz"),
        ("application/x-www-form-urlencoded", b"a=%4&csrfmiddlewaretoken=x"),
        ("application/x-www-form-urlencoded", b"csrfmiddlewaretoken=\xff\xfe"),
        ("application/x-www-form-urlencoded", b"csrfmiddlewaretoken=%ff%fe"),
        ("multipart/form-data", b"--b\r\n"),
        ("multipart/form-data; boundary=", b"--\r\n"),
        ("multipart/form-data; boundary=b" + "x" * 80, b"--b\r\n"),
        ("multipart/form-data; boundary=b", b"--b\r\nContent-Disposition: form-data; name="),
        (
            "multipart/form-data; boundary=b",
            b'--b\r\nContent-Disposition: form-data; name="csrfmiddlewaretoken"\r\n\r\nabc',
        ),
        ("multipart/form-data; boundary=b", b"--bGARBAGE\r\n"),
        ("multipart/form-data; boundary=b", b"--b\r\nno colon here\r\n\r\nx\r\n--b--"),
        (
            "multipart/form-data; boundary=b",
            b'--b\r\nContent-Disposition: form-data; name="csrfmiddlewaretoken"\r\n\r\n'
            b"\xff\r\n--b--",
        ),
        ("multipart/form-data; boundary=b", b"no boundary at all"),
    ],
)
async def test_broken_bodies_are_400(
    client: httpx.AsyncClient, content_type: str, body: bytes
) -> None:
    await fetch_token(client)
    r = await client.post("/submit", content=body, headers={"content-type": content_type})
    assert r.status_code == 400, (r.status_code, r.text)


async def test_form_without_the_field_is_403(client: httpx.AsyncClient) -> None:
    await fetch_token(client)
    for content_type, body in [
        ("application/x-www-form-urlencoded", b"a=1&b=2"),
        ("application/x-www-form-urlencoded", b""),
        (
            "multipart/form-data; boundary=b",
            b'--b\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--b--\r\n',
        ),
        ("text/plain", b"csrfmiddlewaretoken=whatever"),
    ]:
        r = await client.post("/submit", content=body, headers={"content-type": content_type})
        assert r.status_code == 403, content_type


async def test_percent_encoded_field_name_and_quoted_boundary(client: httpx.AsyncClient) -> None:
    token = await fetch_token(client)
    body = f"csrf%6Diddlewaretoken={token}".encode()
    r = await client.post(
        "/echo", content=body, headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert r.status_code == 200
    body = (
        f'--a"b\r\nContent-Disposition: form-data; name="csrfmiddlewaretoken"\r\n\r\n{token}'
        '\r\n--a"b--\r\n'
    ).encode()
    # A quote is not a valid boundary character: refused as malformed.
    r = await client.post(
        "/echo", content=body, headers={"content-type": 'multipart/form-data; boundary=a"b'}
    )
    assert r.status_code == 400
    body = (
        f"--a b\r\nContent-Disposition: form-data; name=csrfmiddlewaretoken\r\n\r\n{token}"
        "\r\n--a b--\r\n"
    ).encode()
    r = await client.post(
        "/echo", content=body, headers={"content-type": 'multipart/form-data; boundary="a b"'}
    )
    assert r.status_code == 200


async def test_token_split_across_chunks(client: httpx.AsyncClient) -> None:
    token = await fetch_token(client)
    body = (
        '--XyZ\r\nContent-Disposition: form-data; name="a"\r\n\r\n' + "v" * 1000 + "\r\n"
        f'--XyZ\r\nContent-Disposition: form-data; name="csrfmiddlewaretoken"\r\n\r\n{token}'
        "\r\n--XyZ--\r\n"
    ).encode()

    async def trickle() -> AsyncIterator[bytes]:
        for i in range(0, len(body), 7):
            yield body[i : i + 7]

    r = await client.post(
        "/submit", content=trickle(), headers={"content-type": "multipart/form-data; boundary=XyZ"}
    )
    assert r.status_code == 200, r.text
    assert r.json()["fields"] == {"a": "v" * 1000, "csrfmiddlewaretoken": token}


async def test_huge_and_non_ascii_headers_never_500(client: httpx.AsyncClient) -> None:
    token = await fetch_token(client)
    cases: list[list[tuple[bytes, bytes]]] = [
        [(b"origin", "http://tëst".encode())],
        [(b"origin", b"http://" + b"a" * 100_000)],
        [(b"referer", b"\xff\xfe")],
        [(b"sec-fetch-site", b"\xff")],
        [(b"x-csrftoken", "é".encode() * 64)],
        [(b"x-csrftoken", b"a" * 100_000)],
        [(b"content-length", b"nope"), (b"content-type", b"application/x-www-form-urlencoded")],
        [(b"content-type", b"multipart/form-data; boundary=\xff")],
    ]
    for headers in cases:
        r = await client.post("/echo", content=b"", headers=headers)
        assert 400 <= r.status_code < 500, headers
    r = await client.post("/echo", content=b"", headers={"x-csrftoken": token})
    assert r.status_code == 200


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


async def test_helpers_without_middleware_raise() -> None:
    with pytest.raises(ConfigError):
        get_csrf_token({"type": "http", "headers": []})


def test_bad_exempt_path_fails_at_construction() -> None:
    with pytest.raises(ConfigError):
        make_app(exempt_paths=["/a/../b"])


async def test_one_big_chunk_holding_the_token_is_not_refused() -> None:
    """Servers may deliver a body in one message; the bound is on reading further."""
    app = make_app()
    token = mask_secret(secret := new_csrf_secret())
    body = (
        (
            f'--b\r\nContent-Disposition: form-data; name="csrfmiddlewaretoken"\r\n\r\n{token}\r\n'
            '--b\r\nContent-Disposition: form-data; name="f"; filename="x"\r\n\r\n'
        ).encode()
        + b"z" * (4 * 1024 * 1024)
        + b"\r\n--b--\r\n"
    )
    chunks = [body]
    messages: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": chunks.pop(0), "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        messages.append(dict(message))

    scope = {
        "type": "http",
        "method": "POST",
        "scheme": "http",
        "path": "/echo",
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"host", b"testserver"),
            (b"cookie", f"csrftoken={secret}".encode()),
            (b"content-type", b"multipart/form-data; boundary=b"),
        ],
    }
    await app(scope, receive, send)
    assert messages[0]["status"] == 200
    assert len(messages[1]["body"]) > len(body)  # the echo saw the whole body


@pytest.mark.parametrize(
    "header",
    [
        "csrftoken=abc",
        "a=1; csrftoken=abc; b=2",
        "a=1;csrftoken=abc",
        'csrftoken="abc"',
        "xcsrftoken=evil; csrftoken=good",
        "a=csrftoken=evil; csrftoken=good",
        "a=x csrftoken=evil",
        "csrftoken=first; csrftoken=second",
        "csrftoken=",
        "csrftoken",
        "; ; csrftoken = spaced",
        "a=" + "b" * 20000 + "; csrftoken=hidden-in-oversized-header",
    ],
)
def test_fast_cookie_lookup_agrees_with_the_parser(header: str) -> None:
    from cookieguard.core.cookies import find_cookie, parse_cookie_header

    expected = parse_cookie_header(header).get("csrftoken")
    found = find_cookie([(b"cookie", header.encode())], b"csrftoken=")
    if header.startswith("; ; csrftoken ="):
        # "name =value" is not something browsers send; the fast path ignores it (never a
        # different cookie's value).
        assert found is None and expected == "spaced"
    else:
        assert found == expected


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


@pytest.mark.parametrize(
    ("extra", "status"),
    [
        # Refused on its headers: the body is never touched.
        ([(b"sec-fetch-site", b"cross-site"), (b"origin", b"http://evil.test")], 403),
        # No secret at all: refused before reading.
        ([(b"origin", BASE.encode())], 403),
        # Token in the header: the body is left for the app alone.
        ([(b"x-csrftoken", b"HEADER")], 200),
    ],
)
async def test_body_is_read_only_when_needed(extra: list[tuple[bytes, bytes]], status: int):
    secret = new_csrf_secret()
    headers = [
        (b"host", b"testserver"),
        (b"content-type", b"application/x-www-form-urlencoded"),
        *[(k, mask_secret(secret).encode() if v == b"HEADER" else v) for k, v in extra],
    ]
    if status == 200 or extra[0][0] == b"sec-fetch-site":
        headers.append((b"cookie", f"csrftoken={secret}".encode()))
    received: list[str] = []
    messages: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        received.append("read")
        return {"type": "http.request", "body": b"a=1", "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        messages.append(dict(message))

    async def app(scope: Any, receive_: Any, send_: Any) -> None:
        assert receive_ is receive  # the app got the server's own receive, unwrapped
        await send_({"type": "http.response.start", "status": 200, "headers": []})
        await send_({"type": "http.response.body", "body": b""})

    scope = {
        "type": "http",
        "method": "POST",
        "scheme": "http",
        "path": "/",
        "root_path": "",
        "query_string": b"",
        "headers": headers,
    }
    await CSRFMiddleware(app)(scope, receive, send)
    assert messages[0]["status"] == status
    assert received == []
