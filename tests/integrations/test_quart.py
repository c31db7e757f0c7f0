"""cookieguard's Quart extension, driven through Quart's own test client (and a real uvicorn
for the WebSocket handshake): Quart's ``session`` is the server-side session, ``clear()``
ends it in the store, ``@guard.exempt`` works and a marker nobody reads stops the app,
``@login_required``, the template globals, login/logout rotation, 503 for a store outage.
"""

from __future__ import annotations

import asyncio
import importlib.util
import time
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import uvicorn
from quart import Blueprint, Quart, redirect, render_template_string, request, session
from quart.testing import QuartClient
from quart.testing.app import LifespanError
from quart.views import MethodView
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from cookieguard import (
    ConfigError,
    CSRFConfig,
    LoginThrottle,
    SQLiteUserStore,
    StoreUnavailable,
    authenticate,
    csrf_exempt,
    get_session,
    get_user_id,
    login,
    logout,
    open_store,
)
from cookieguard.core.tokens import hash_session_id
from cookieguard.integrations.quart import (
    CookieGuard,
    QuartSession,
    login_required,
)
from cookieguard.stores.base import SessionStore
from cookieguard.stores.memory import MemoryStore
from cookieguard.stores.sqlite import SQLiteStore
from tests.asgi.scopes import call_websocket, websocket_scope
from tests.store_backends import free_port

from .conftest import SECRET_KEY, token_in

APPS = Path(__file__).resolve().parents[1] / "frontdoors" / "apps"
TEMPLATE = '<form method="post">{{ csrf_input() }}</form><p id="t">{{ csrf_token() }}</p>'


def site(store: SessionStore, users_db: str, **options: Any) -> tuple[Quart, CookieGuard]:
    """A small Quart app with the extension, written the way the README tells users to."""
    app = Quart(__name__)
    users = SQLiteUserStore(users_db)
    guard = CookieGuard(app, store=store, secret_key=SECRET_KEY, users=users, **options)
    app.after_serving(users.close)

    @app.get("/")
    async def page() -> str:
        return await render_template_string(TEMPLATE)

    @app.post("/")
    async def submit() -> str:
        return "ok"

    @app.post("/login")
    async def login_view() -> Any:
        form = await request.form
        user = await authenticate(users, form.get("username"), form.get("password"))
        if user is None:
            return "no", 200
        await login(request, user)
        return redirect("/", 303)

    @app.post("/logout")
    async def logout_view() -> Any:
        session.clear()
        return redirect("/", 303)

    @app.post("/logout-api")
    async def logout_api() -> Any:
        await logout(request)
        return redirect("/", 303)

    @app.post("/put")
    async def put() -> str:
        form = await request.form
        session[form["key"]] = form["value"]
        return "ok"

    @app.get("/get/<key>")
    async def get(key: str) -> dict[str, Any]:
        return {"value": session.get(key), "user": get_user_id(request)}

    return app, guard


@pytest.fixture
async def app_guard(
    store: SessionStore,
    users_db: str,
) -> AsyncIterator[tuple[Quart, CookieGuard]]:
    app, guard = site(store, users_db)
    async with app.test_app():
        yield app, guard


async def text(response: Any) -> str:
    return str(await response.get_data(as_text=True))


def cookie(client: QuartClient, name: str) -> str | None:
    assert client.cookie_jar is not None
    return next((c.value for c in client.cookie_jar if c.name == name), None)


def set_cookie(response: Any, name: str) -> str | None:
    return next(
        (line for line in response.headers.getlist("Set-Cookie") if line.startswith(f"{name}=")),
        None,
    )


async def token(client: QuartClient, path: str = "/") -> str:
    return token_in(await text(await client.get(path)))


async def log_in(client: QuartClient) -> None:
    form = {"csrfmiddlewaretoken": await token(client), "username": "alice"}
    response = await client.post("/login", form={**form, "password": "alice-pass"})
    assert response.status_code == 303


async def record(store: SessionStore, session_id: str | None) -> Any:
    assert session_id is not None
    return await store.load(hash_session_id(session_id), now=time.time())


# -- Quart's session is cookieguard's ---------------------------------------------------------


async def test_quart_session_is_stored_server_side(
    app_guard: tuple[Quart, CookieGuard],
    store: SessionStore,
) -> None:
    app, _ = app_guard
    client = app.test_client()
    form = {"csrfmiddlewaretoken": await token(client), "key": "cart", "value": "3 apples"}
    response = await client.post("/put", form=form)
    assert response.status_code == 200
    line = set_cookie(response, "sessionid")
    assert line is not None and "HttpOnly" in line and "SameSite=Lax" in line
    stored = await record(store, cookie(client, "sessionid"))
    assert stored.data == {"cart": "3 apples"}  # the data is in the store, not in the cookie
    assert "apples" not in line
    assert (await (await client.get("/get/cart")).get_json())["value"] == "3 apples"


async def test_quart_session_object_wraps_the_request_session(tmp_path: Path) -> None:
    app = Quart(__name__)
    CookieGuard(app, store=MemoryStore())
    seen: dict[str, Any] = {}

    @app.get("/")
    async def view() -> str:
        seen["quart"] = session._get_current_object()  # type: ignore[attr-defined]
        seen["core"] = get_session(request)
        session.permanent = False  # a browser-session cookie
        session["k"] = "v"
        return "ok"

    response = await app.test_client().get("/")
    assert isinstance(seen["quart"], QuartSession)
    assert seen["quart"].raw is seen["core"]
    line = set_cookie(response, "sessionid")
    assert line is not None and "Max-Age" not in line  # permanent=False: no lifetime


async def test_session_clear_ends_the_session_server_side(
    app_guard: tuple[Quart, CookieGuard],
    store: SessionStore,
) -> None:
    app, _ = app_guard
    client = app.test_client()
    await log_in(client)
    old_id, old_csrf = cookie(client, "sessionid"), cookie(client, "csrftoken")
    assert (await record(store, old_id)).user_id == "1"

    response = await client.post("/logout", form={"csrfmiddlewaretoken": await token(client)})
    assert response.status_code == 303
    expired = set_cookie(response, "sessionid")
    assert expired is not None and "Max-Age=0" in expired
    assert await record(store, old_id) is None  # deleted in the store, not just emptied
    assert cookie(client, "csrftoken") != old_csrf  # the CSRF secret rotated, as logout does
    # The old cookie, replayed, is anonymous.
    replay = app.test_client()
    replay.cookie_jar.set_cookie(next(c for c in client.cookie_jar or () if c.name == "csrftoken"))  # type: ignore[union-attr]
    assert old_id is not None
    response = await replay.get("/get/x", headers={"Cookie": f"sessionid={old_id}"})
    assert (await response.get_json())["user"] is None


async def test_session_clear_deletes_the_record_even_when_the_view_then_fails(
    tmp_path: Path, users_db: str
) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    app, _ = site(store, users_db)

    @app.post("/clear-then-fail")
    async def clear_then_fail() -> str:
        session.clear()
        raise RuntimeError("the handler fails after logging out")

    async with app.test_app():
        client = app.test_client()
        await log_in(client)
        old_id = cookie(client, "sessionid")
        form = {"csrfmiddlewaretoken": await token(client)}
        response = await client.post("/clear-then-fail", form=form)
        assert response.status_code == 500
        # The middleware saves nothing for a 5xx; save_session deleted the record already.
        assert await record(store, old_id) is None
    await store.close()


async def test_logout_through_cookieguard_api_deletes_the_record(
    app_guard: tuple[Quart, CookieGuard],
    store: SessionStore,
) -> None:
    app, _ = app_guard
    client = app.test_client()
    await log_in(client)
    old_id = cookie(client, "sessionid")
    response = await client.post("/logout-api", form={"csrfmiddlewaretoken": await token(client)})
    assert response.status_code == 303
    assert "Max-Age=0" in (set_cookie(response, "sessionid") or "")
    assert await record(store, old_id) is None


async def test_login_rotates_the_session_id_and_the_csrf_secret(
    app_guard: tuple[Quart, CookieGuard],
    store: SessionStore,
) -> None:
    app, _ = app_guard
    client = app.test_client()
    form = {"csrfmiddlewaretoken": await token(client), "key": "lang", "value": "fr"}
    assert (await client.post("/put", form=form)).status_code == 200
    anonymous_id, csrf_before = cookie(client, "sessionid"), cookie(client, "csrftoken")

    await log_in(client)
    logged_in_id = cookie(client, "sessionid")
    assert logged_in_id != anonymous_id
    assert cookie(client, "csrftoken") != csrf_before
    assert await record(store, anonymous_id) is None  # the planted id is worthless now
    stored = await record(store, logged_in_id)
    assert stored.user_id == "1" and stored.data["lang"] == "fr"
    # A token of the old secret no longer passes.
    stale = {"csrfmiddlewaretoken": form["csrfmiddlewaretoken"]}
    assert (await client.post("/", form=stale)).status_code == 403


async def test_wrong_password_sets_no_session(
    app_guard: tuple[Quart, CookieGuard],
) -> None:
    app, _ = app_guard
    client = app.test_client()
    form = {"csrfmiddlewaretoken": await token(client), "username": "alice", "password": "x"}
    csrf_before = cookie(client, "csrftoken")
    response = await client.post("/login", form=form)
    assert response.status_code == 200
    assert set_cookie(response, "sessionid") is None
    assert cookie(client, "csrftoken") == csrf_before


# -- CSRF: templates, exemptions ------------------------------------------------------------


async def test_template_globals_issue_working_tokens(
    app_guard: tuple[Quart, CookieGuard],
) -> None:
    app, _ = app_guard
    client = app.test_client()
    response = await client.get("/")
    assert set_cookie(response, "csrftoken") is not None
    body = await text(response)
    hidden = token_in(body)
    header = body.split('<p id="t">')[1].split("</p>")[0]
    assert len(header) == 64 and header != hidden  # each call masks afresh
    assert (await client.post("/", form={"csrfmiddlewaretoken": hidden})).status_code == 200
    assert (await client.post("/", headers={"X-CSRFToken": header})).status_code == 200
    missing = await client.post("/", form={})
    assert missing.status_code == 403
    evil = await client.post(
        "/", form={"csrfmiddlewaretoken": hidden}, headers={"Sec-Fetch-Site": "cross-site"}
    )
    assert evil.status_code == 403


def exempt_site() -> Quart:
    app = Quart(__name__)
    guard = CookieGuard(app, store=MemoryStore())

    @app.post("/hook")
    @guard.exempt
    async def hook() -> str:
        return "hooked"

    @app.post("/generic")
    @csrf_exempt  # cookieguard's own marker is read too
    async def generic() -> str:
        return "generic"

    @app.route("/hook/<name>", methods=["POST"])
    async def neighbour(name: str) -> str:
        return "neighbour"

    @app.route("/both", methods=["GET", "POST"])
    @guard.exempt
    async def both() -> str:
        return request.method

    @guard.exempt
    class Api(MethodView):
        async def post(self) -> str:
            return "view class"

    app.add_url_rule("/api", view_func=Api.as_view("api"))
    hooks = Blueprint("hooks", __name__, url_prefix="/bp")

    @hooks.post("/in")
    async def in_blueprint() -> str:
        return "blueprint"

    guard.exempt(hooks)
    app.register_blueprint(hooks)
    plain = Blueprint("plain", __name__, url_prefix="/plain")

    @plain.post("/in")
    async def not_exempt() -> str:
        return "plain"

    app.register_blueprint(plain)
    return app


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/hook", "hooked"),
        ("/generic", "generic"),
        ("/both", "POST"),
        ("/api", "view class"),
        ("/bp/in", "blueprint"),
    ],
)
async def test_exempt_views_take_no_token(path: str, body: str) -> None:
    client = exempt_site().test_client()
    response = await client.post(path, headers={"Origin": "https://elsewhere.example"})
    assert response.status_code == 200
    assert await text(response) == body


@pytest.mark.parametrize("path", ["/hook/x", "/plain/in", "/hook/", "/nowhere", "/hook?x=1#"])
async def test_exemption_lends_nothing_to_other_routes(path: str) -> None:
    client = exempt_site().test_client()
    response = await client.post(path)
    # /hook?x=1 reaches /hook itself; every other path is refused before the app runs.
    expected = 200 if path.startswith("/hook?") else 403
    assert response.status_code == expected, path


async def test_a_marked_view_on_an_app_without_the_extension_stops_startup() -> None:
    app = Quart(__name__)

    @app.post("/hook")
    @csrf_exempt
    async def hook() -> str:
        return "hooked"

    with pytest.raises(LifespanError, match="hook marked csrf_exempt, but no CookieGuard"):
        async with app.test_app():
            pass
    # Without a lifespan (a bare test client) the first request fails instead: never silently.
    # (Quart 0.23's test client raises it inside an ExceptionGroup, 0.22's as it is.)
    with pytest.raises((ConfigError, ExceptionGroup)) as raised:
        await app.test_client().post("/hook")
    error = raised.value
    while isinstance(error, ExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]
    assert isinstance(error, ConfigError) and "no CookieGuard" in str(error)


async def test_a_marked_blueprint_without_the_extension_stops_startup() -> None:
    app = Quart(__name__)
    bp = Blueprint("hooks", __name__)
    CookieGuard.exempt(bp)
    app.register_blueprint(bp)
    with pytest.raises(LifespanError, match="blueprint hooks marked csrf_exempt"):
        async with app.test_app():
            pass


async def test_a_replaced_session_interface_stops_startup() -> None:
    from quart.sessions import SecureCookieSessionInterface

    app = Quart(__name__)
    CookieGuard(app, store=MemoryStore())
    app.session_interface = SecureCookieSessionInterface()
    with pytest.raises(LifespanError, match="session_interface was replaced"):
        async with app.test_app():
            pass


# -- login_required --------------------------------------------------------------------------


async def test_login_required(app_guard: tuple[Quart, CookieGuard]) -> None:
    app, _ = app_guard

    @app.get("/private")
    @login_required
    async def private() -> dict[str, Any]:
        return {"user": get_user_id(request)}

    @app.get("/api/private")
    @login_required(login_url="/signin")
    async def api_private() -> dict[str, Any]:
        return {"user": get_user_id(request)}

    @app.get("/elsewhere")
    @login_required(login_url="/signin")
    async def elsewhere() -> str:
        return "in"

    client = app.test_client()
    api = await client.get("/private", headers={"Accept": "application/json"})
    assert api.status_code == 401
    assert await api.get_json() == {"error": "authentication required"}
    assert api.headers["Cache-Control"] == "no-store"
    browser = await client.get("/private?tab=2", headers={"Accept": "text/html"})
    assert browser.status_code == 303
    assert browser.headers["Location"] == "/login?next=/private%3Ftab%3D2"
    assert (await client.get("/api/private", headers={"Accept": "text/html"})).status_code == 401
    other = await client.get("/elsewhere", headers={"Accept": "text/html"})
    assert other.headers["Location"] == "/signin?next=/elsewhere"

    await log_in(client)
    response = await client.get("/private", headers={"Accept": "application/json"})
    assert response.status_code == 200
    assert await response.get_json() == {"user": "1"}


async def test_login_url_from_app_config(tmp_path: Path, users_db: str) -> None:
    app = Quart(__name__)
    app.config.update(
        COOKIEGUARD_STORE=f"sqlite:///{tmp_path / 's.db'}",
        COOKIEGUARD_LOGIN_URL="/signin",
        SECRET_KEY=SECRET_KEY,  # Quart's own key serves when COOKIEGUARD_SECRET_KEY is unset
    )
    guard = CookieGuard(app, users=SQLiteUserStore(users_db))
    assert guard.auth is not None and guard.auth.recheck_interval == 300
    assert isinstance(guard.store, SQLiteStore)

    @app.get("/private")
    @login_required
    async def private() -> str:
        return "in"

    async with app.test_app():
        response = await app.test_client().get("/private")
        assert response.headers["Location"] == "/signin?next=/private"
    assert guard.users is not None
    await guard.users.close()  # type: ignore[attr-defined]


def test_settings_errors_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="needs store="):
        CookieGuard(Quart(__name__))
    app = Quart(__name__)
    app.config["COOKIEGUARD_STROE"] = "memory://"
    with pytest.raises(ConfigError, match="COOKIEGUARD_STROE"):
        CookieGuard(app, store=MemoryStore())
    with pytest.raises(ConfigError, match="needs secret_key"):
        CookieGuard(Quart(__name__), store=MemoryStore(), users=SQLiteUserStore(tmp_path / "u"))
    app = Quart(__name__)
    app.config["COOKIEGUARD_CSRF"] = "not a CSRFConfig"
    with pytest.raises(ConfigError, match="COOKIEGUARD_CSRF has the wrong type"):
        CookieGuard(app, store=MemoryStore())
    app = Quart(__name__)
    app.config.update(COOKIEGUARD_RECHECK_INTERVAL=60, SECRET_KEY=SECRET_KEY)
    users = SQLiteUserStore(tmp_path / "u")
    explicit = CookieGuard(app, store=MemoryStore(), users=users, recheck_interval=None)
    assert explicit.auth is not None and explicit.auth.recheck_interval is None
    app = Quart(__name__)
    guard = CookieGuard(store=MemoryStore())  # an application factory's way
    guard.init_app(app)
    assert app.extensions["cookieguard"] is guard
    with pytest.raises(ConfigError, match="already has a CookieGuard"):
        guard.init_app(app)


# -- the store is down -----------------------------------------------------------------------


def down_store() -> SessionStore:
    return open_store(f"redis://127.0.0.1:{free_port()}/0")


async def test_store_unavailable_in_a_view_is_a_503(users_db: str) -> None:
    store = down_store()
    users = SQLiteUserStore(users_db)
    app = Quart(__name__)
    CookieGuard(app, store=store, secret_key=SECRET_KEY)

    @app.get("/sessions")
    async def sessions() -> str:
        # A throttled login counts attempts in the session store, which is down.
        throttle = LoginThrottle(store)
        await authenticate(users, "alice", "pw", throttle=throttle, address="192.0.2.1")
        return "checked"

    @app.get("/raise")
    async def raising() -> str:
        raise StoreUnavailable("the user store is down")

    client = app.test_client()
    for path in ("/raise", "/sessions"):
        page = await client.get(path, headers={"Accept": "text/html"})
        assert page.status_code == 503, path
        assert page.headers["Retry-After"] == "5"
        assert "unavailable" in await text(page)
    api = await client.get("/raise", headers={"Accept": "application/json"})
    assert api.status_code == 503
    assert (await api.get_json())["error"] == "store_unavailable"
    await store.close()
    await users.close()


async def test_a_session_cookie_while_the_store_is_down_is_a_503() -> None:
    store = down_store()
    app = Quart(__name__)
    CookieGuard(app, store=store)

    @app.get("/")
    async def view() -> dict[str, Any]:
        return {"value": session.get("k")}

    client = app.test_client()
    response = await client.get("/", headers={"Cookie": "sessionid=" + "a" * 32})
    assert response.status_code == 503
    await store.close()


# -- WebSocket -------------------------------------------------------------------------------


def websocket_site() -> Quart:
    from quart import websocket

    app = Quart(__name__)
    guard = CookieGuard(app, store=MemoryStore(), csrf=CSRFConfig())

    @app.websocket("/ws")
    async def ws() -> None:
        await websocket.accept()
        await websocket.send(f"hi {session.get('name')}")
        await websocket.close(1000)

    @app.websocket("/open")
    @guard.exempt
    async def open_ws() -> None:
        await websocket.accept()
        await websocket.send("open")
        await websocket.close(1000)

    return app


@pytest.fixture
async def served() -> AsyncIterator[str]:
    """`websocket_site` served by a real uvicorn on loopback (Quart's test client never sends
    ``websocket.connect``, which a refusing middleware waits for, as ASGI servers send it)."""
    server = uvicorn.Server(
        uvicorn.Config(websocket_site(), host="127.0.0.1", port=free_port(), log_level="warning")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        assert not task.done(), "uvicorn did not start"
        await asyncio.sleep(0.01)
    yield f"127.0.0.1:{server.config.port}"
    server.should_exit = True
    await task


async def test_websocket_origin_check_on_a_quart_route(served: str) -> None:
    async with connect(f"ws://{served}/ws", origin=f"http://{served}") as ws:  # type: ignore[arg-type]
        assert await ws.recv() == "hi None"
    with pytest.raises(InvalidStatus) as refused:
        async with connect(f"ws://{served}/ws", origin="https://evil.example"):  # type: ignore[arg-type]
            pass
    assert refused.value.response.status_code == 403
    async with connect(f"ws://{served}/open", origin="https://evil.example") as ws:  # type: ignore[arg-type]
        assert await ws.recv() == "open"


async def test_websocket_refusal_over_raw_asgi() -> None:
    app = websocket_site()
    evil = [(b"origin", b"https://evil.example")]
    assert await call_websocket(app, websocket_scope("/ws", evil)) == [
        {"type": "websocket.close", "code": 1008}
    ]
    sent = await call_websocket(app, websocket_scope("/open", evil))
    assert sent[0]["type"] == "websocket.accept"


# -- the conformance app -----------------------------------------------------------------------


def conformance_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("quart_conformance_app", APPS / "quart_app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("kind", ["sqlite", "redis"])
async def test_the_conformance_app_serves_every_spec_route(
    kind: str, tmp_path: Path, users_db: str
) -> None:
    from tests.store_backends import REDIS_URL, require_server

    if kind == "redis":
        require_server("Redis", "127.0.0.1", 6379)
        store_url = REDIS_URL
    else:
        store_url = f"sqlite:///{tmp_path / 'sessions.db'}"
    module = conformance_module()
    assert module.KIND == "asgi" and module.HAS_WEBSOCKET is True
    app = module.make_app(store_url=store_url, users_db=users_db, secret_key=SECRET_KEY)
    guard: CookieGuard = app.extensions["cookieguard"]
    async with app.test_app():
        client = app.test_client()
        page = await client.get("/form")
        assert page.status_code == 200 and set_cookie(page, "csrftoken") is not None
        tok = token_in(await text(page))
        assert await text(await client.post("/form", form={"csrfmiddlewaretoken": tok})) == "ok"
        assert (await client.post("/form", headers={"X-CSRFToken": tok})).status_code == 200
        assert (
            await client.post("/form", form={"csrfmiddlewaretoken": "x" * 64})
        ).status_code == 403
        foreign = await client.post(
            "/form", form={"csrfmiddlewaretoken": tok}, headers={"Origin": "https://evil.example"}
        )
        assert foreign.status_code == 403
        assert await text(await client.post("/hook")) == "hooked"
        private = await client.get("/private", headers={"Accept": "application/json"})
        assert private.status_code == 401 and "error" in await private.get_json()
        private = await client.get("/private", headers={"Accept": "text/html"})
        assert private.headers["Location"] == "/login?next=/private"

        wrong = {"csrfmiddlewaretoken": tok, "username": "alice", "password": "nope"}
        response = await client.post("/login", form=wrong)
        assert response.status_code == 200 and set_cookie(response, "sessionid") is None
        csrf_before = cookie(client, "csrftoken")
        right = {**wrong, "password": "alice-pass"}
        response = await client.post("/login", form=right)
        assert response.status_code == 303 and response.headers["Location"] == "/whoami"
        line = set_cookie(response, "sessionid") or ""
        assert "HttpOnly" in line and "SameSite=Lax" in line
        assert cookie(client, "csrftoken") != csrf_before
        assert await (await client.get("/whoami")).get_json() == {"user": "1"}
        assert await (await client.get("/private")).get_json() == {"user": "1"}

        tok = token_in(await text(await client.get("/form")))
        stored = await client.post(
            "/session/color", form={"csrfmiddlewaretoken": tok, "value": "teal"}
        )
        assert await text(stored) == "ok"
        assert await (await client.get("/session/color")).get_json() == {"value": "teal"}
        assert await (await client.get("/session/other")).get_json() == {"value": None}

        session_id = cookie(client, "sessionid")
        assert await record(guard.store, session_id) is not None  # type: ignore[arg-type]
        response = await client.post("/logout", form={"csrfmiddlewaretoken": tok})
        assert response.status_code == 303 and response.headers["Location"] == "/form"
        assert "Max-Age=0" in (set_cookie(response, "sessionid") or "")
        assert await record(guard.store, session_id) is None  # type: ignore[arg-type]
        assert await (await client.get("/whoami")).get_json() == {"user": None}

        evil = [(b"origin", b"https://evil.example")]
        refused = await call_websocket(app, websocket_scope("/ws", evil))
        assert refused == [{"type": "websocket.close", "code": 1008}]
        sent = await call_websocket(app, websocket_scope("/ws"))
        assert [m["type"] for m in sent[:2]] == ["websocket.accept", "websocket.send"]
        assert sent[1].get("text") == "hi"


async def test_the_conformance_app_answers_503_while_its_store_is_down(users_db: str) -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    app = conformance_module().make_app(store_url=url, users_db=users_db, secret_key=SECRET_KEY)
    client = app.test_client()
    response = await client.get("/whoami", headers={"Cookie": "sessionid=" + "b" * 32})
    assert response.status_code == 503
    await app.extensions["cookieguard"].store.close()


async def test_quarts_flash_messages_live_in_the_store(
    tmp_path: Path,
) -> None:
    from quart import flash, get_flashed_messages

    store = SQLiteStore(tmp_path / "s.db")
    app = Quart(__name__)
    CookieGuard(app, store=store)

    @app.get("/flash")
    async def set_flash() -> str:
        await flash("saved")
        return "ok"

    @app.get("/show")
    async def show() -> dict[str, Any]:
        return {"messages": get_flashed_messages()}

    client = app.test_client()
    await client.get("/flash")
    stored = await record(store, cookie(client, "sessionid"))
    assert stored.data["_flashes"] == [["message", "saved"]]
    assert await (await client.get("/show")).get_json() == {"messages": ["saved"]}
    assert await (await client.get("/show")).get_json() == {"messages": []}
    await store.close()
