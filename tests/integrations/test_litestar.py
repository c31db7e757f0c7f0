"""cookieguard in Litestar 2, driven with Litestar's own AsyncTestClient over real stores.

Each test asserts what a user would notice: the status, the cookies, what the store holds.
"""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar, Request, Router, WebSocket, get, post, websocket
from litestar.config.csrf import CSRFConfig as LitestarCSRFConfig
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.exceptions import WebSocketDisconnect
from litestar.middleware.base import DefineMiddleware
from litestar.middleware.session.server_side import ServerSideSessionConfig
from litestar.params import FromPath
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Redirect, Template
from litestar.template import TemplateConfig
from litestar.testing import AsyncTestClient

from cookieguard import (
    CSRFMiddleware,
    SessionMiddleware,
    SQLiteUserStore,
    User,
    get_user_id,
    login,
    open_store,
)
from cookieguard.auth import default_hasher
from cookieguard.core.session import Session
from cookieguard.core.tokens import hash_session_id
from cookieguard.errors import ConfigError, StoreUnavailable
from cookieguard.integrations.litestar import (
    CookieGuardPlugin,
    LoginGuard,
    csrf_exempt,
    requires_login,
)
from cookieguard.stores.base import SessionStore
from cookieguard.stores.redis import RedisStore
from cookieguard.stores.sqlite import SQLiteStore
from tests.store_backends import REDIS_URL, free_port, require_server

SECRET = "litestar-tests-secret-key-0123456789abcdef"
TOKEN = re.compile(r'name="csrfmiddlewaretoken" value="([A-Za-z0-9]{64})"')
BASE = "http://testserver.local"


# -- the app under test: ordinary Litestar handlers -------------------------------------


@get("/token", sync_to_thread=False)
def token_page(csrf_token: NamedDependency[str]) -> str:
    return csrf_token  # the `csrf_token` dependency


@post("/login/{name:str}", status_code=200)
async def do_login(request: Request[Any, Any, Any], name: FromPath[str]) -> str:
    users: SQLiteUserStore = request.app.state.users
    user = await users.get_by_username(name)
    assert user is not None
    await login(request, user)
    return "in"


@post("/logout", sync_to_thread=False)
def do_logout(request: Request[Any, Any, Any]) -> Redirect:
    request.clear_session()
    return Redirect("/whoami", status_code=303)


@post("/logout-then-fail", sync_to_thread=False)
def logout_then_fail(request: Request[Any, Any, Any]) -> None:
    request.clear_session()
    raise RuntimeError("the handler breaks after logging out")


@post("/put/{key:str}/{value:str}", status_code=200, sync_to_thread=False)
def put(request: Request[Any, Any, Any], key: FromPath[str], value: FromPath[str]) -> str:
    request.session[key] = value
    return "ok"


@post("/replace", status_code=200, sync_to_thread=False)
def replace(request: Request[Any, Any, Any]) -> str:
    request.set_session({"theme": "dark"})
    return "ok"


@get("/whoami", sync_to_thread=False)
def whoami(request: Request[Any, Any, Any]) -> dict[str, Any]:
    return {"user": get_user_id(request), "data": dict(request.session)}


@post("/hook/opt", status_code=200, opt={"csrf_exempt": True}, sync_to_thread=False)
def hook_opt() -> str:
    return "hooked"


@post("/hook/litestar", status_code=200, opt={"exclude_from_csrf": True}, sync_to_thread=False)
def hook_litestar_key() -> str:
    return "hooked"


@post("/hook/decorated", status_code=200, sync_to_thread=False)
@csrf_exempt
def hook_decorated() -> str:
    return "hooked"


@post("/hook/{name:str}", status_code=200, sync_to_thread=False)
def hook_neighbour(name: FromPath[str]) -> str:
    return name  # not exempt: the exempt routes lend it nothing


@get("/private", guards=[requires_login], sync_to_thread=False)
def private(request: Request[Any, Any, Any]) -> dict[str, str | None]:
    return {"user": get_user_id(request)}


@get("/api/private", guards=[requires_login], sync_to_thread=False)
def api_private() -> str:
    return "secret"


@get("/custom", guards=[LoginGuard("/signin")], sync_to_thread=False)
def custom_guarded() -> str:
    return "secret"


@get("/me", sync_to_thread=False)
def me(user: NamedDependency[User | None]) -> dict[str, str | None]:
    return {"user": None if user is None else user.username}


@get("/account", sync_to_thread=False)
def account(
    current_user: NamedDependency[User], session: NamedDependency[Session]
) -> dict[str, Any]:
    return {"user": current_user.username, "stored": session.is_stored}


@get("/page", sync_to_thread=False)
def page() -> Template:
    return Template(template_name="form.html")


@get("/broken-store")
async def broken_store(request: Request[Any, Any, Any]) -> str:
    await request.app.state.dead_store.load("0" * 64, now=time.time())
    return "unreachable"


@websocket("/ws")
async def ws(socket: WebSocket[Any, Any, Any]) -> None:
    await socket.accept()
    await socket.send_text("hi")
    await socket.close()


@websocket("/ws-open", opt={"csrf_exempt": True})
async def ws_open(socket: WebSocket[Any, Any, Any]) -> None:
    await socket.accept()
    await socket.send_text("open")
    await socket.close()


HANDLERS = [
    token_page,
    do_login,
    do_logout,
    logout_then_fail,
    put,
    replace,
    whoami,
    hook_opt,
    hook_litestar_key,
    hook_decorated,
    hook_neighbour,
    private,
    api_private,
    custom_guarded,
    me,
    account,
    page,
    broken_store,
    ws,
    ws_open,
]


# -- fixtures ---------------------------------------------------------------------------


@pytest.fixture
async def users(tmp_path: Path) -> AsyncIterator[SQLiteUserStore]:
    store = SQLiteUserStore(tmp_path / "users.db")
    await store.create_user("alice", default_hasher().hash("alice-pass"))
    yield store
    await store.close()


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    store = SQLiteStore(tmp_path / "sessions.db", lock_timeout=0.3)
    yield store
    await store.close()


def make_app(store: SessionStore, users: SQLiteUserStore, tmp_path: Path, **extra: Any) -> Litestar:
    (tmp_path / "form.html").write_text(
        '<form method="post">{{ csrf_field() }}'
        '<input type="hidden" name="again" value="{{ csrf_token() }}"></form>'
    )
    dead = RedisStore(f"redis://127.0.0.1:{free_port()}/0", timeout=0.5)
    return Litestar(
        route_handlers=HANDLERS,
        plugins=[CookieGuardPlugin(store=store, secret_key=SECRET, users=users)],
        template_config=TemplateConfig(directory=tmp_path, engine=JinjaTemplateEngine),
        state=State({"users": users, "dead_store": dead}),
        **extra,
    )


@pytest.fixture
async def client(
    sqlite_store: SQLiteStore, users: SQLiteUserStore, tmp_path: Path
) -> AsyncIterator[AsyncTestClient[Litestar]]:
    app = make_app(sqlite_store, users, tmp_path)
    async with AsyncTestClient(app, base_url=BASE) as http:
        yield no_redirects(http)
    await app.state.dead_store.close()


def no_redirects(http: AsyncTestClient[Litestar]) -> AsyncTestClient[Litestar]:
    """The client as a test wants it: redirects are answers to look at, not to follow."""
    http.follow_redirects = False
    return http


def set_cookie(response: Any, name: str) -> str | None:
    for line in response.headers.get_list("set-cookie"):
        if line.startswith(f"{name}="):
            return str(line)
    return None


async def token(http: AsyncTestClient[Litestar]) -> str:
    return (await http.get("/token")).text


async def stored(store: SessionStore, session_id: str) -> Any:
    return await store.load(hash_session_id(session_id), now=time.time())


async def logged_in(http: AsyncTestClient[Litestar]) -> str:
    response = await http.post("/login/alice", headers={"X-CSRFToken": await token(http)})
    assert response.status_code == 200
    session_id = http.cookies.get("sessionid")
    assert session_id
    return str(session_id)


# -- Litestar's own session API ---------------------------------------------------------


async def test_request_session_writes_are_stored(
    client: AsyncTestClient[Litestar], sqlite_store: SQLiteStore
) -> None:
    response = await client.post("/put/cart/tea", headers={"X-CSRFToken": await token(client)})
    assert response.status_code == 200
    line = set_cookie(response, "sessionid")
    assert line is not None and "HttpOnly" in line and "SameSite=Lax" in line
    record = await stored(sqlite_store, str(client.cookies["sessionid"]))
    assert record is not None and record.data == {"cart": "tea"}


async def test_set_session_replaces_the_data_and_drops_the_login(
    client: AsyncTestClient[Litestar], sqlite_store: SQLiteStore
) -> None:
    old_id = await logged_in(client)
    await client.post("/put/cart/tea", headers={"X-CSRFToken": await token(client)})
    response = await client.post("/replace", headers={"X-CSRFToken": await token(client)})
    assert response.status_code == 200
    new_id = str(client.cookies["sessionid"])
    assert new_id != old_id  # no longer alice's session: a new id
    assert await stored(sqlite_store, old_id) is None
    record = await stored(sqlite_store, new_id)
    assert record is not None and record.data == {"theme": "dark"} and record.user_id is None
    assert await sqlite_store.list_user("1", now=time.time()) == []
    assert (await client.get("/whoami")).json() == {"user": None, "data": {"theme": "dark"}}


async def test_set_session_on_an_anonymous_session_keeps_it(
    client: AsyncTestClient[Litestar], sqlite_store: SQLiteStore
) -> None:
    await client.post("/put/cart/tea", headers={"X-CSRFToken": await token(client)})
    first = str(client.cookies["sessionid"])
    await client.post("/replace", headers={"X-CSRFToken": await token(client)})
    assert str(client.cookies["sessionid"]) == first
    record = await stored(sqlite_store, first)
    assert record is not None and record.data == {"theme": "dark"}


async def test_clear_session_logs_out_for_real(
    client: AsyncTestClient[Litestar], sqlite_store: SQLiteStore
) -> None:
    session_id = await logged_in(client)
    csrf_before = client.cookies["csrftoken"]
    assert (await stored(sqlite_store, session_id)) is not None
    response = await client.post("/logout", headers={"X-CSRFToken": await token(client)})
    assert response.status_code == 303 and response.headers["location"] == "/whoami"
    expired = set_cookie(response, "sessionid")
    assert expired is not None and "Max-Age=0" in expired
    rotated = set_cookie(response, "csrftoken")
    assert rotated is not None and csrf_before not in rotated
    assert await stored(sqlite_store, session_id) is None  # deleted server-side
    assert await sqlite_store.list_user("1", now=time.time()) == []
    # A copy of the old cookie is dead too.
    client.cookies.set("sessionid", session_id)
    assert (await client.get("/whoami")).json()["user"] is None


async def test_clear_session_then_an_error_still_logs_out(
    client: AsyncTestClient[Litestar], sqlite_store: SQLiteStore
) -> None:
    session_id = await logged_in(client)
    response = await client.post("/logout-then-fail", headers={"X-CSRFToken": await token(client)})
    assert response.status_code == 500
    assert await stored(sqlite_store, session_id) is None


async def test_clear_session_with_the_store_locked_answers_503(
    client: AsyncTestClient[Litestar], sqlite_store: SQLiteStore, tmp_path: Path
) -> None:
    session_id = await logged_in(client)
    csrf = await token(client)
    blocker = sqlite3.connect(tmp_path / "sessions.db", isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    try:
        response = await client.post("/logout", headers={"X-CSRFToken": csrf})
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert response.status_code == 503 and response.headers["retry-after"] == "5"
    assert set_cookie(response, "sessionid") is None  # not told it was logged out
    assert await stored(sqlite_store, session_id) is not None


# -- exemption --------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/hook/opt", "/hook/litestar", "/hook/decorated"])
async def test_exempt_handlers_take_posts_without_a_token(
    client: AsyncTestClient[Litestar], path: str
) -> None:
    response = await client.post(path, headers={"Origin": "https://provider.example"})
    assert response.status_code == 200 and response.text == "hooked"
    assert set_cookie(response, "csrftoken") is None


async def test_exemption_belongs_to_the_handler_not_the_path(
    client: AsyncTestClient[Litestar],
) -> None:
    assert (await client.post("/hook/other")).status_code == 403
    assert (await client.post("/put/a/b")).status_code == 403


async def refusal(http: AsyncTestClient[Litestar], path: str, headers: dict[str, str]) -> int:
    """The close code of a websocket handshake the server refuses (fails if it accepts)."""
    try:
        with await http.websocket_connect(path, headers=headers) as socket:
            socket.receive_text()
    except WebSocketDisconnect as exc:
        return exc.code
    raise AssertionError("the handshake was accepted")


async def test_websocket_origin_check(client: AsyncTestClient[Litestar]) -> None:
    with await client.websocket_connect("/ws", headers={"Origin": BASE}) as socket:
        assert socket.receive_text() == "hi"
    foreign = {"Origin": "https://evil.example"}
    assert await refusal(client, "/ws", foreign) == 1008
    with await client.websocket_connect("/ws-open", headers=foreign) as socket:
        assert socket.receive_text() == "open"


# -- markers and layers that could not work fail at startup -----------------------------


def test_marked_handler_behind_the_asgi_wrapper_fails_at_construction() -> None:
    app = Litestar(route_handlers=[hook_opt])
    with pytest.raises(ConfigError, match="CookieGuardPlugin"):
        CSRFMiddleware(app)
    decorated = Litestar(route_handlers=[hook_decorated])
    with pytest.raises(ConfigError, match="CookieGuardPlugin"):
        SessionMiddleware(CSRFMiddleware(decorated), open_store("memory://"))
    CSRFMiddleware(Litestar(route_handlers=[whoami]))  # nothing marked: fine


def _plugin() -> CookieGuardPlugin:
    return CookieGuardPlugin(store=open_store("memory://"))


def test_non_bool_exemption_option_fails_at_startup() -> None:
    @post("/x", opt={"csrf_exempt": "yes"}, sync_to_thread=False)
    def handler() -> None: ...

    with pytest.raises(ConfigError, match="must be True or False"):
        Litestar(route_handlers=[handler], plugins=[_plugin()])


def test_litestar_csrf_config_next_to_the_plugin_fails() -> None:
    with pytest.raises(ConfigError, match="csrf_config"):
        Litestar(
            route_handlers=[whoami],
            plugins=[_plugin()],
            csrf_config=LitestarCSRFConfig(secret="x" * 32),
        )


def test_litestar_session_middleware_next_to_the_plugin_fails() -> None:
    with pytest.raises(ConfigError, match="session middleware"):
        Litestar(
            route_handlers=[whoami],
            plugins=[_plugin()],
            middleware=[ServerSideSessionConfig().middleware],
        )


def test_a_second_cookieguard_layer_on_a_router_fails() -> None:
    csrf_layer: Any = DefineMiddleware(CSRFMiddleware)
    router = Router("/r", route_handlers=[whoami], middleware=[csrf_layer])
    with pytest.raises(ConfigError, match="second cookieguard layer"):
        Litestar(route_handlers=[router], plugins=[_plugin()])


# -- login guard and dependencies -------------------------------------------------------


async def test_requires_login_answers_api_clients_and_browsers(
    client: AsyncTestClient[Litestar],
) -> None:
    api = await client.get("/private", headers={"Accept": "application/json"})
    assert api.status_code == 401 and api.json() == {"error": "authentication required"}
    assert api.headers["cache-control"] == "no-store"
    browser = await client.get("/private?tab=2", headers={"Accept": "text/html"})
    assert browser.status_code == 303
    assert browser.headers["location"] == "/login?next=/private%3Ftab%3D2"
    under_api = await client.get("/api/private", headers={"Accept": "text/html"})
    assert under_api.status_code == 401
    custom = await client.get("/custom", headers={"Accept": "text/html"})
    assert custom.status_code == 303 and custom.headers["location"] == "/signin?next=/custom"
    await logged_in(client)
    assert (await client.get("/private")).json() == {"user": "1"}


async def test_dependencies(client: AsyncTestClient[Litestar]) -> None:
    assert (await client.get("/me")).json() == {"user": None}
    anonymous = await client.get("/account", headers={"Accept": "application/json"})
    assert anonymous.status_code == 401
    await logged_in(client)
    assert (await client.get("/me")).json() == {"user": "alice"}
    assert (await client.get("/account")).json() == {"user": "alice", "stored": True}
    page = await client.get("/token")
    assert len(page.text) == 64
    response = await client.post("/put/a/b", headers={"X-CSRFToken": page.text})
    assert response.status_code == 200


# -- templates --------------------------------------------------------------------------


async def test_template_callables_render_valid_tokens(client: AsyncTestClient[Litestar]) -> None:
    page = await client.get("/page")
    assert page.status_code == 200 and set_cookie(page, "csrftoken") is not None
    field = TOKEN.search(page.text)
    again = re.search(r'name="again" value="([A-Za-z0-9]{64})"', page.text)
    assert field is not None and again is not None and field[1] != again[1]
    for value in (field[1], again[1]):
        sent = await client.post("/put/k/v", data={"csrfmiddlewaretoken": value})
        assert sent.status_code == 200


async def test_template_engine_instance_gets_the_callables(
    sqlite_store: SQLiteStore, users: SQLiteUserStore
) -> None:
    from jinja2 import DictLoader, Environment

    env = Environment(loader=DictLoader({"form.html": "{{ csrf_field() }}"}), autoescape=True)
    app = Litestar(
        route_handlers=[page],
        plugins=[CookieGuardPlugin(store=sqlite_store)],
        template_config=TemplateConfig(instance=JinjaTemplateEngine.from_environment(env)),
    )
    async with AsyncTestClient(app, base_url=BASE) as http:
        assert TOKEN.search((await http.get("/page")).text) is not None


# -- stores that are down ---------------------------------------------------------------


async def test_store_down_with_a_session_cookie_is_503(
    users: SQLiteUserStore, tmp_path: Path
) -> None:
    dead = RedisStore(f"redis://127.0.0.1:{free_port()}/0", timeout=0.5)
    app = make_app(dead, users, tmp_path)
    cookies = {"sessionid": "a" * 32}
    async with AsyncTestClient(app, base_url=BASE, cookies=cookies) as http:
        response = await http.get("/whoami", headers={"Accept": "application/json"})
        assert response.status_code == 503
        assert response.json()["error"] == "session_store_unavailable"
    await dead.close()
    await app.state.dead_store.close()


async def test_store_unavailable_in_a_handler_is_503(client: AsyncTestClient[Litestar]) -> None:
    html = await client.get("/broken-store", headers={"Accept": "text/html"})
    assert html.status_code == 503 and "unavailable" in html.text
    assert html.headers["content-type"].startswith("text/html")
    api = await client.get("/broken-store", headers={"Accept": "application/json"})
    assert api.status_code == 503 and api.json()["error"] == "store_unavailable"
    assert issubclass(StoreUnavailable, Exception)


# -- Redis: the same logout, on a shared store ------------------------------------------


async def test_logout_on_redis(users: SQLiteUserStore, tmp_path: Path) -> None:
    require_server("Redis", "127.0.0.1", 6379)
    store = RedisStore(REDIS_URL, prefix=f"cg-litestar-{time.time_ns()}:")
    app = make_app(store, users, tmp_path)
    try:
        async with AsyncTestClient(app, base_url=BASE) as http:
            no_redirects(http)
            session_id = await logged_in(http)
            record = await stored(store, session_id)
            assert record is not None and record.user_id == "1"
            response = await http.post("/logout", headers={"X-CSRFToken": await token(http)})
            assert response.status_code == 303
            expired = set_cookie(response, "sessionid")
            assert expired is not None and "Max-Age=0" in expired
            assert await stored(store, session_id) is None
    finally:
        await store.close()
        await app.state.dead_store.close()
