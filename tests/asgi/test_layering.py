"""The middlewares refuse a wrong order when constructed; `CookieGuard` builds the right one.

Before, ``AuthMiddleware(SessionMiddleware(app))`` and a layer twice ran without a word (the
auth re-check silently never happened; two session layers kept two sessions per request).
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager, LifespanNotSupported
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from cookieguard import (
    AuthConfig,
    AuthMiddleware,
    BodyLimitMiddleware,
    ConfigError,
    CookieGuard,
    CSRFConfig,
    CSRFMiddleware,
    KeyRing,
    MemoryStore,
    SessionMiddleware,
    StoreUnavailable,
)
from cookieguard.asgi._types import Receive, Scope, Send

KEYS = KeyRing("layering-tests-" + "k" * 32)
AUTH = AuthConfig(keyring=KEYS, recheck_interval=None)


async def bare(scope: Scope, receive: Receive, send: Send) -> None:
    await PlainTextResponse("bare")(scope, receive, send)


def test_auth_around_sessions_is_refused() -> None:
    with pytest.raises(ConfigError, match="AuthMiddleware must be inside SessionMiddleware"):
        AuthMiddleware(SessionMiddleware(bare, MemoryStore()), AUTH)


def test_csrf_in_the_session_around_sessions_is_refused() -> None:
    with pytest.raises(ConfigError, match="use_session=True"):
        CSRFMiddleware(SessionMiddleware(bare, MemoryStore()), CSRFConfig(use_session=True))


def test_cookie_mode_csrf_around_sessions_still_works() -> None:
    CSRFMiddleware(SessionMiddleware(bare, MemoryStore()))  # no error: nothing is lost


@pytest.mark.parametrize(
    "build",
    [
        lambda: SessionMiddleware(
            BodyLimitMiddleware(SessionMiddleware(bare, MemoryStore())), MemoryStore()
        ),
        lambda: CSRFMiddleware(AuthMiddleware(CSRFMiddleware(bare), AUTH)),
        lambda: AuthMiddleware(CSRFMiddleware(AuthMiddleware(bare, AUTH)), AUTH),
    ],
    ids=["session", "csrf", "auth"],
)
def test_a_layer_twice_is_refused(build: Any) -> None:
    with pytest.raises(ConfigError, match="wraps another"):
        build()


def test_the_right_order_is_accepted() -> None:
    SessionMiddleware(CSRFMiddleware(AuthMiddleware(bare, AUTH)), MemoryStore())
    SessionMiddleware(
        CSRFMiddleware(AuthMiddleware(bare, AUTH), CSRFConfig(use_session=True)), MemoryStore()
    )


def test_middleware_registered_on_a_starlette_app_counts() -> None:
    site = Starlette(middleware=[Middleware(SessionMiddleware, store=MemoryStore())])
    with pytest.raises(ConfigError, match="AuthMiddleware must be inside"):
        AuthMiddleware(site, AUTH)
    with pytest.raises(ConfigError, match="already has cookieguard's session middleware"):
        CookieGuard(site, store=MemoryStore(), secret_key=KEYS)


async def test_a_wrong_order_inside_starlette_fails_at_the_first_call() -> None:
    site = Starlette()
    site.add_middleware(SessionMiddleware, store=MemoryStore())
    site.add_middleware(AuthMiddleware, config=AUTH)  # added last: outermost
    # Starlette builds its middleware at its first call (the lifespan startup, or the first
    # request without one): the error comes then, and again on every later call.
    with pytest.raises(LifespanNotSupported) as failed:
        async with LifespanManager(site):
            pass
    assert isinstance(failed.value.__cause__, ConfigError)
    transport = httpx.ASGITransport(app=site)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        with pytest.raises(ConfigError, match="AuthMiddleware must be inside"):
            await client.get("/")


def test_cookieguard_builds_sessions_outside_csrf_outside_auth() -> None:
    guard = CookieGuard(bare, store=MemoryStore(), secret_key="g" * 40)
    assert isinstance(guard.app, SessionMiddleware)
    csrf = guard.app.app
    assert isinstance(csrf, CSRFMiddleware)
    auth = csrf.app
    assert isinstance(auth, AuthMiddleware)
    assert auth.app is bare
    assert auth.config.recheck_interval is None  # no users: nothing to re-check against


def test_cookieguard_refuses_an_app_that_already_has_a_layer() -> None:
    with pytest.raises(ConfigError, match="already has cookieguard's csrf middleware"):
        CookieGuard(CSRFMiddleware(bare), store=MemoryStore(), secret_key=KEYS)
    guard = CookieGuard(bare, store=MemoryStore(), secret_key=KEYS)
    with pytest.raises(ConfigError):
        CookieGuard(guard, store=MemoryStore(), secret_key=KEYS)


def test_cookieguard_keys_and_users_are_given_once() -> None:
    with pytest.raises(ConfigError, match="secret_key"):
        CookieGuard(bare, store=MemoryStore())
    with pytest.raises(ConfigError, match="differ"):
        CookieGuard(bare, store=MemoryStore(), secret_key="x" * 40, auth=AUTH)
    with pytest.raises(ConfigError, match="unsupported session store URL"):
        CookieGuard(bare, store="mysql://nope", secret_key=KEYS)
    guard = CookieGuard(bare, store="memory://", auth=AUTH, secret_key=KEYS)
    assert guard.auth is AUTH


async def test_cookieguard_answers_503_for_store_errors_in_a_starlette_endpoint() -> None:
    async def endpoint(request: Request) -> Response:
        raise StoreUnavailable("redis store unavailable: connection refused")

    site = Starlette(routes=[Route("/down", endpoint)])
    guard = CookieGuard(site, store=MemoryStore(), secret_key=KEYS)
    transport = httpx.ASGITransport(app=guard)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        page = await client.get("/down")
        assert page.status_code == 503
        assert page.headers["retry-after"] == "5"
        assert "connection refused" not in page.text
        api = await client.get("/down", headers={"Accept": "application/json"})
        assert api.status_code == 503 and api.json()["error"] == "store_unavailable"
