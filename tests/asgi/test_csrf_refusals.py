"""CSRFMiddleware end to end: the origin gate (fetch metadata, Origin, Referer) and what a
refusal looks like (page, JSON, log line)."""

from __future__ import annotations

import logging

import httpx
import pytest
from tests.asgi.csrf_site import (
    BASE,
    ORIGIN,
    TOKEN_RE,
    fetch_token,
    make_app,
)
from tests.asgi.scopes import call_http, http_scope

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
    messages = await call_http(app, http_scope("POST", "/echo\nFAKE LOG LINE"))
    assert messages[0]["status"] == 403
    assert "\n" not in caplog.records[-1].getMessage()
