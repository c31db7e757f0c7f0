"""FastAPI's own idioms: typed dependencies in ``async def`` and ``def`` endpoints, the session
cookie in the OpenAPI document, and exceptions answered by the app (401 JSON, 503).

The FastAPI conformance app (tests/frontdoors/apps/fastapi_app.py) covers the shared routes;
this file holds what only FastAPI has.
"""

from __future__ import annotations

import re
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

import httpx
import pytest
from fastapi import Depends, FastAPI, Form, Request

from cookieguard import (
    AuthConfig,
    AuthMiddleware,
    CookieGuard,
    CSRFMiddleware,
    KeyRing,
    LoginThrottle,
    MemoryStore,
    PasswordHasher,
    SessionMiddleware,
    SQLiteUserStore,
    StoreUnavailable,
    User,
    authenticate,
    login,
    open_store,
)
from cookieguard.integrations.fastapi import (
    CSRFTokenDep,
    CurrentUser,
    LoginRequired,
    RequiredUser,
    RequiredUserId,
    SessionDep,
    install,
    require_user,
)

SECRET = "fastapi-tests-" + "s" * 40
TOKEN = re.compile(r"^[A-Za-z0-9]{64}$")
_hash: list[str] = []
# At module level: FastAPI resolves the (string) annotations in the module's namespace.
SigninUser = Annotated[User, Depends(require_user(LoginRequired("/signin")))]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def users(tmp_path: Path) -> AsyncIterator[SQLiteUserStore]:
    store = SQLiteUserStore(tmp_path / "users.db")
    if not _hash:
        _hash.append(PasswordHasher().hash("alice-pass"))
    await store.create_user("alice", _hash[0])
    yield store
    await store.close()


def build_api(users: SQLiteUserStore) -> FastAPI:
    """Every dependency, once from ``async def`` and once from ``def``."""
    api = FastAPI()
    dead_counters = open_store(f"redis://127.0.0.1:{free_port()}/0")
    api.state.dead = dead_counters

    @api.post("/login")
    async def do_login(
        request: Request, username: Annotated[str, Form()], password: Annotated[str, Form()]
    ) -> dict[str, bool]:
        user = await authenticate(users, username, password)
        if user is not None:
            await login(request, user)
        return {"ok": user is not None}

    @api.post("/throttled-login")
    async def throttled_login(
        username: Annotated[str, Form()], password: Annotated[str, Form()]
    ) -> dict[str, bool]:
        # The throttle's counter store is down: StoreUnavailable from inside the endpoint.
        throttle = LoginThrottle(dead_counters)
        user = await authenticate(users, username, password, throttle=throttle, address="a")
        return {"ok": user is not None}

    @api.post("/cart-async/{item}")
    async def cart_async(item: str, session: SessionDep) -> list[str]:
        session["cart"] = [*session.get("cart", []), item]
        return list(session["cart"])

    @api.post("/cart-sync/{item}")
    def cart_sync(item: str, session: SessionDep) -> list[str]:
        session["cart"] = [*session.get("cart", []), item]
        return list(session["cart"])

    @api.get("/token-async")
    async def token_async(token: CSRFTokenDep) -> dict[str, str]:
        return {"token": token}

    @api.get("/token-sync")
    def token_sync(token: CSRFTokenDep) -> dict[str, str]:
        return {"token": token}

    @api.get("/me-async")
    async def me_async(user: CurrentUser) -> dict[str, str | None]:
        return {"user": user.username if user else None}

    @api.get("/me-sync")
    def me_sync(user: CurrentUser) -> dict[str, str | None]:
        return {"user": user.username if user else None}

    @api.get("/account-async")
    async def account_async(user: RequiredUser) -> dict[str, str]:
        return {"user": user.username}

    @api.get("/account-sync")
    def account_sync(user: RequiredUser) -> dict[str, str]:
        return {"user": user.username}

    @api.get("/id-sync")
    def id_sync(user_id: RequiredUserId) -> dict[str, str]:
        return {"id": user_id}

    @api.get("/elsewhere")
    async def elsewhere(user: SigninUser) -> dict[str, str]:
        return {"user": user.username}

    return api


def client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


async def log_in(browser: httpx.AsyncClient) -> None:
    token = (await browser.get("/token-async")).json()["token"]
    response = await browser.post(
        "/login",
        data={"username": "alice", "password": "alice-pass"},
        headers={"X-CSRFToken": token},
    )
    assert response.json() == {"ok": True}


@pytest.fixture
async def guarded(users: SQLiteUserStore) -> AsyncIterator[httpx.AsyncClient]:
    api = build_api(users)
    async with client(CookieGuard(api, store=MemoryStore(), secret_key=SECRET, users=users)) as c:
        yield c
    await api.state.dead.close()


@pytest.mark.parametrize("kind", ["async", "sync"])
async def test_session_dependency(guarded: httpx.AsyncClient, kind: str) -> None:
    token = (await guarded.get("/token-async")).json()["token"]
    first = await guarded.post(f"/cart-{kind}/apple", headers={"X-CSRFToken": token})
    assert first.status_code == 200, first.text
    assert "sessionid" in first.cookies
    second = await guarded.post(f"/cart-{kind}/pear", headers={"X-CSRFToken": token})
    assert second.json() == ["apple", "pear"]


@pytest.mark.parametrize("kind", ["async", "sync"])
async def test_csrf_token_dependency(guarded: httpx.AsyncClient, kind: str) -> None:
    response = await guarded.get(f"/token-{kind}")
    assert response.status_code == 200
    token = response.json()["token"]
    assert TOKEN.match(token)
    assert "csrftoken" in response.cookies
    # The token works: an unsafe request carrying it passes.
    accepted = await guarded.post("/cart-async/x", headers={"X-CSRFToken": token})
    assert accepted.status_code == 200


@pytest.mark.parametrize("kind", ["async", "sync"])
async def test_current_user_is_none_then_the_user(guarded: httpx.AsyncClient, kind: str) -> None:
    assert (await guarded.get(f"/me-{kind}")).json() == {"user": None}
    await log_in(guarded)
    assert (await guarded.get(f"/me-{kind}")).json() == {"user": "alice"}


@pytest.mark.parametrize("kind", ["async", "sync"])
async def test_required_user_refuses_anonymous_requests(
    guarded: httpx.AsyncClient, kind: str
) -> None:
    api = await guarded.get(f"/account-{kind}", headers={"Accept": "application/json"})
    assert api.status_code == 401
    assert api.json() == {"error": "authentication required"}
    assert api.headers["cache-control"] == "no-store"
    page = await guarded.get(
        f"/account-{kind}", params={"tab": "2"}, headers={"Accept": "text/html"}
    )
    assert page.status_code == 303
    assert page.headers["location"] == f"/login?next=/account-{kind}%3Ftab%3D2"
    await log_in(guarded)
    assert (await guarded.get(f"/account-{kind}")).json() == {"user": "alice"}


async def test_required_user_id_and_a_custom_login_page(guarded: httpx.AsyncClient) -> None:
    assert (await guarded.get("/id-sync")).status_code == 303
    elsewhere = await guarded.get("/elsewhere")
    assert elsewhere.headers["location"] == "/signin?next=/elsewhere"
    await log_in(guarded)
    assert (await guarded.get("/id-sync")).json() == {"id": "1"}
    assert (await guarded.get("/elsewhere")).json() == {"user": "alice"}


async def test_openapi_lists_the_session_cookie_on_routes_that_need_a_user(
    guarded: httpx.AsyncClient,
) -> None:
    document = (await guarded.get("/openapi.json")).json()
    scheme = document["components"]["securitySchemes"]["sessionid"]
    assert scheme["type"] == "apiKey" and scheme["in"] == "cookie"
    assert scheme["name"] == "sessionid"
    paths = document["paths"]
    for path in ("/account-async", "/account-sync", "/id-sync", "/elsewhere"):
        assert paths[path]["get"]["security"] == [{"sessionid": []}], path
        assert "parameters" not in paths[path]["get"], path  # nothing for clients to fill in
    for path in ("/me-async", "/token-sync"):
        assert "security" not in paths[path]["get"], path


@pytest.mark.parametrize(
    ("accept", "content_type"),
    [("application/json", "application/json"), ("text/html", "text/html")],
)
async def test_store_unavailable_in_an_endpoint_is_503(
    guarded: httpx.AsyncClient, accept: str, content_type: str
) -> None:
    token = (await guarded.get("/token-async")).json()["token"]
    response = await guarded.post(
        "/throttled-login",
        data={"username": "alice", "password": "alice-pass"},
        headers={"X-CSRFToken": token, "Accept": accept},
    )
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert response.headers["content-type"].startswith(content_type)
    assert "redis" not in response.text.lower()  # the cause stays in the log


async def test_an_expert_stack_gets_the_same_answers_from_install(
    users: SQLiteUserStore,
) -> None:
    api = build_api(users)
    install(api)
    auth = AuthConfig(keyring=KeyRing(SECRET), user_store=users)
    app = SessionMiddleware(CSRFMiddleware(AuthMiddleware(api, auth)), MemoryStore())
    async with client(app) as browser:
        api_answer = await browser.get("/account-async", headers={"Accept": "application/json"})
        assert api_answer.json() == {"error": "authentication required"}
        token = (await browser.get("/token-async")).json()["token"]
        down = await browser.post(
            "/throttled-login",
            data={"username": "alice", "password": "x"},
            headers={"X-CSRFToken": token},
        )
        assert down.status_code == 503
    await api.state.dead.close()


async def test_without_the_handlers_fastapi_still_refuses(users: SQLiteUserStore) -> None:
    api = build_api(users)
    auth = AuthConfig(keyring=KeyRing(SECRET), user_store=users)
    app = SessionMiddleware(CSRFMiddleware(AuthMiddleware(api, auth)), MemoryStore())
    async with client(app) as browser:
        anonymous = await browser.get("/account-async", headers={"Accept": "application/json"})
        assert anonymous.status_code == 401
        assert anonymous.json() == {"detail": "authentication required"}  # FastAPI's shape
        page = await browser.get("/account-async")
        assert page.status_code == 303 and page.headers["location"].startswith("/login?next=")
        token = (await browser.get("/token-async")).json()["token"]
        with pytest.raises(StoreUnavailable):  # FastAPI answered 500, then re-raised it
            await browser.post(
                "/throttled-login",
                data={"username": "alice", "password": "x"},
                headers={"X-CSRFToken": token},
            )
    await api.state.dead.close()
