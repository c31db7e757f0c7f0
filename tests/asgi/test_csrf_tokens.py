"""CSRFMiddleware end to end: tokens in pages and headers, the cookie, rotation, Vary."""

from __future__ import annotations

import re

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
    fetch_token,
    make_app,
    set_cookie,
)
from tests.asgi.scopes import http_scope

from cookieguard.asgi.csrf import (
    CSRFMiddleware,
    get_csrf_token,
)
from cookieguard.config import CookieConfig, CSRFConfig
from cookieguard.core.tokens import mask_secret, new_csrf_secret, token_matches_secret
from cookieguard.errors import ConfigError

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


async def test_helpers_without_middleware_raise() -> None:
    with pytest.raises(ConfigError):
        get_csrf_token(http_scope())


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
