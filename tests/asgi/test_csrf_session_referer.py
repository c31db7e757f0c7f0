"""With ``use_session=True`` the https Referer check trusts the *session* cookie's domain, as
Django uses ``SESSION_COOKIE_DOMAIN`` when ``CSRF_USE_SESSIONS`` is on: the secret then lives
behind the session cookie, so that cookie's reach is the one that matters, and the CSRF
cookie's settings (no such cookie is ever sent) must not widen or narrow it.
"""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from cookieguard.asgi.csrf import CSRFMiddleware, get_csrf_token
from cookieguard.asgi.session import SessionMiddleware
from cookieguard.config import CookieConfig, CSRFConfig, SessionConfig
from cookieguard.stores.memory import MemoryStore

SITE = "https://www.example.com"


async def token(request: Request) -> PlainTextResponse:
    return PlainTextResponse(get_csrf_token(request))


async def submit(request: Request) -> PlainTextResponse:
    return PlainTextResponse("saved")


def build(session_domain: str | None, csrf_domain: str | None) -> SessionMiddleware:
    inner = Starlette(routes=[Route("/token", token), Route("/submit", submit, methods=["POST"])])
    csrf = CSRFConfig(
        use_session=True,
        debug=True,
        cookie=CookieConfig("csrftoken", httponly=False, domain=csrf_domain),
    )
    session = SessionConfig(cookie=CookieConfig("sessionid", domain=session_domain))
    return SessionMiddleware(CSRFMiddleware(inner, csrf), MemoryStore(), session)


async def post_from(app: SessionMiddleware, referer: str) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=SITE) as c:
        r = await c.get("/token")
        assert "sessionid" in c.cookies
        # No Origin (an older browser, or a privacy setting): the Referer check decides.
        return await c.post("/submit", headers={"x-csrftoken": r.text, "referer": referer})


@pytest.mark.parametrize(
    ("session_domain", "csrf_domain", "referer", "status"),
    [
        # The session cookie spans the domain: a sibling page may post.
        (".example.com", None, "https://shop.example.com/cart", 200),
        (".example.com", None, "https://www.example.com/form", 200),
        (".example.com", None, "https://example.org/", 403),
        # Host-only session cookie: only this host, whatever the unused CSRF cookie says.
        (None, ".example.com", "https://shop.example.com/cart", 403),
        (None, ".example.com", "https://www.example.com/form", 200),
    ],
)
async def test_referer_check_uses_the_session_cookie_domain(
    session_domain: str | None, csrf_domain: str | None, referer: str, status: int
) -> None:
    r = await post_from(build(session_domain, csrf_domain), referer)
    assert r.status_code == status, r.text
    if status == 403:
        assert "Referer checking failed" in r.text


async def test_cookie_mode_still_uses_the_csrf_cookie_domain() -> None:
    inner = Starlette(routes=[Route("/token", token), Route("/submit", submit, methods=["POST"])])
    csrf = CSRFConfig(cookie=CookieConfig("csrftoken", httponly=False, domain=".example.com"))
    session = SessionConfig(cookie=CookieConfig("sessionid"))
    app = SessionMiddleware(CSRFMiddleware(inner, csrf), MemoryStore(), session)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=SITE) as c:
        value = (await c.get("/token")).text
        headers = {"x-csrftoken": value, "referer": "https://shop.example.com/cart"}
        assert (await c.post("/submit", headers=headers)).status_code == 200
