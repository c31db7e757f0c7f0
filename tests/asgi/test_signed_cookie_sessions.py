"""Signed-cookie sessions through the middleware: what they do, and what they document not doing."""

from __future__ import annotations

import logging
import re
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from cookieguard.asgi.session import SessionMiddleware, get_session
from cookieguard.backends._signed import _PURPOSE, MAX_COOKIE_SIZE, SignedCookieBackend
from cookieguard.config import SessionConfig
from cookieguard.core.signing import KeyRing, Signer

T0 = 1_700_000_000.0
KEY = "first-secret-key-0123456789"
VALUE = re.compile(r"^sessionid=([^;]+);")


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


async def read(request: Request) -> Response:
    return JSONResponse(dict(request.session))


async def set_value(request: Request) -> Response:
    for key, value in request.query_params.items():
        request.session[key] = value
    return PlainTextResponse("ok")


async def big(request: Request) -> Response:
    request.session["blob"] = request.query_params["fill"] * int(request.query_params["n"])
    return PlainTextResponse("ok")


async def flush(request: Request) -> Response:
    get_session(request).flush()
    return PlainTextResponse("bye")


async def browser(request: Request) -> Response:
    session = get_session(request)
    session["b"] = "1"
    session.set_expiry(0)
    return PlainTextResponse("ok")


APP = Starlette(
    routes=[
        Route("/read", read),
        Route("/set", set_value, methods=["POST"]),
        Route("/big", big, methods=["POST"]),
        Route("/flush", flush, methods=["POST"]),
        Route("/browser", browser, methods=["POST"]),
    ]
)


def client(
    store: SignedCookieBackend, clock: Clock | None = None, **config: Any
) -> httpx.AsyncClient:
    app = SessionMiddleware(APP, store, SessionConfig(**config), clock=clock or Clock())
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


def cookie_of(response: httpx.Response) -> str | None:
    match = VALUE.match(response.headers.get("set-cookie", ""))
    return match.group(1) if match else None


async def test_round_trip_keeps_everything_in_the_cookie() -> None:
    async with client(SignedCookieBackend(KEY)) as http:
        response = await http.post("/set?a=1&b=two")
        value = cookie_of(response)
        assert value is not None and "." in value
        assert "HttpOnly" in response.headers["set-cookie"]
        assert (await http.get("/read")).json() == {"a": "1", "b": "two"}
        await http.post("/set?c=3")
        assert (await http.get("/read")).json() == {"a": "1", "b": "two", "c": "3"}


async def test_anonymous_visit_sets_no_cookie() -> None:
    async with client(SignedCookieBackend(KEY)) as http:
        response = await http.get("/read")
        assert response.json() == {} and "set-cookie" not in response.headers


@pytest.mark.parametrize("position", [0, 10, -2])
async def test_tampered_cookie_is_not_adopted(position: int) -> None:
    async with client(SignedCookieBackend(KEY)) as http:
        value = cookie_of(await http.post("/set?role=user"))
        assert value is not None
        index = position % len(value)
        flipped = "A" if value[index] != "A" else "B"
        forged = value[:index] + flipped + value[index + 1 :]
        http.cookies.clear()
        response = await http.get("/read", headers={"cookie": f"sessionid={forged}"})
        assert response.status_code == 200 and response.json() == {}


async def test_cookie_signed_with_another_key_is_not_adopted() -> None:
    async with client(SignedCookieBackend("attacker-key-0123456789")) as http:
        value = cookie_of(await http.post("/set?role=admin"))
    async with client(SignedCookieBackend(KEY)) as http:
        response = await http.get("/read", headers={"cookie": f"sessionid={value}"})
        assert response.json() == {}


async def test_key_rotation_newest_signs_old_still_verifies() -> None:
    async with client(SignedCookieBackend(KEY)) as http:
        old_value = cookie_of(await http.post("/set?a=1"))
    rotated = SignedCookieBackend(KeyRing("second-secret-key-0123456789", [KEY]))
    async with client(rotated) as http:
        http.cookies.set("sessionid", old_value or "")
        assert (await http.get("/read")).json() == {"a": "1"}
        new_value = cookie_of(await http.post("/set?b=2"))
    assert new_value and new_value != old_value
    async with client(
        SignedCookieBackend(KEY)
    ) as http:  # the old key alone cannot read the new cookie
        assert (await http.get("/read", headers={"cookie": f"sessionid={new_value}"})).json() == {}


async def test_idle_and_absolute_expiry_are_enforced_by_the_server() -> None:
    clock = Clock()
    store = SignedCookieBackend(KEY)
    async with client(store, clock, idle_timeout=600) as http:
        value = cookie_of(await http.post("/set?a=1"))
    replay = {"cookie": f"sessionid={value}"}
    async with client(store, clock, idle_timeout=600) as http:
        clock.now = T0 + 599
        assert (await http.get("/read", headers=replay)).json() == {"a": "1"}
        clock.now = T0 + 600  # a browser ignoring Max-Age still gets nothing
        assert (await http.get("/read", headers=replay)).json() == {}

    clock.now = T0
    async with client(store, clock, idle_timeout=600, absolute_timeout=900, touch_interval=0) as h:
        await h.post("/set?a=1")
        clock.now = T0 + 500
        assert (await h.get("/read")).json() == {"a": "1"}  # touched: idle slides to 1100
        clock.now = T0 + 900
        assert (await h.get("/read")).json() == {}  # but the absolute limit holds


async def test_oversized_session_is_a_clear_error_not_a_dropped_cookie(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = SignedCookieBackend(KEY)
    async with client(store) as http:
        await http.post("/set?a=1")
        random_text = "".join(chr(0x4E00 + (i * 7919) % 20000) for i in range(3000))
        with caplog.at_level(logging.ERROR, logger="cookieguard.sessions"):
            response = await http.post(
                "/big",
                params={"fill": random_text, "n": "1"},
                headers={"accept": "application/json"},
            )
        assert response.status_code == 507
        assert response.json()["error"] == "session_too_large"
        assert "set-cookie" not in response.headers
        assert "session not saved" in caplog.text
        assert (await http.get("/read")).json() == {"a": "1"}  # the previous cookie still works


async def test_compressible_data_fits_and_every_cookie_stays_within_4096_bytes() -> None:
    async with client(SignedCookieBackend(KEY)) as http:
        response = await http.post("/big?fill=ab&n=3000")  # 6000 chars, compresses well
        assert response.status_code == 200
        value = cookie_of(response)
        assert value is not None and len("sessionid=") + len(value) <= MAX_COOKIE_SIZE + 1
        assert len((await http.get("/read")).json()["blob"]) == 6000


async def test_logout_clears_the_cookie_but_cannot_revoke_a_copy() -> None:
    async with client(SignedCookieBackend(KEY)) as http:
        value = cookie_of(await http.post("/set?user=alice"))
        response = await http.post("/flush")
        assert "Max-Age=0" in response.headers["set-cookie"]
        assert (await http.get("/read")).json() == {}
    # Documented limitation: a copy taken before logout stays valid until it expires.
    async with client(SignedCookieBackend(KEY)) as http:
        replay = await http.get("/read", headers={"cookie": f"sessionid={value}"})
        assert replay.json() == {"user": "alice"}


async def test_browser_session_expiry_survives_the_round_trip() -> None:
    async with client(SignedCookieBackend(KEY)) as http:
        response = await http.post("/browser")
        assert "Max-Age" not in response.headers["set-cookie"]
        again = await http.post("/set?c=1")
        assert "Max-Age" not in again.headers["set-cookie"]


@pytest.mark.parametrize(
    "cookie",
    [
        b"sessionid=garbage",
        b"sessionid=" + b"x" * 10_000,
        "sessionid=\u00e9\u2603.\u00e9".encode(),
        b"sessionid=a.b.c",
        b"sessionid=.",
        b"sessionid=bad; sessionid=worse",
    ],
)
async def test_bad_cookies_never_cause_a_5xx(cookie: bytes) -> None:
    async with client(SignedCookieBackend(KEY)) as http:
        response = await http.get("/read", headers={"cookie": cookie})
        assert response.status_code == 200 and response.json() == {}


@pytest.mark.parametrize(
    "payload",
    [b"j{not json", b"jnull", b'j{"i":"short","d":{},"u":null,"c":0,"s":0,"e":9e99}', b"zxx", b"?"],
)
def test_well_signed_but_malformed_payloads_are_rejected(payload: bytes) -> None:
    store = SignedCookieBackend(KEY)
    value = Signer(KeyRing(KEY), _PURPOSE).sign(payload)
    assert store.decode(value, now=T0) is None


def test_repr_hides_the_keys() -> None:
    assert KEY not in repr(SignedCookieBackend(KEY))
