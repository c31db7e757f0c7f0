"""SessionMiddleware end to end: small Starlette/FastAPI apps driven through httpx."""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket
from tests.asgi.scopes import call_websocket, http_scope, websocket_scope

from cookieguard.asgi.session import SessionMiddleware, get_session, get_session_store
from cookieguard.config import CookieConfig, SessionConfig
from cookieguard.core.tokens import hash_session_id, new_session_id
from cookieguard.errors import StoreUnavailable
from cookieguard.stores.base import SessionStore
from cookieguard.stores.memory import MemoryStore

T0 = 1_700_000_000.0
SID = re.compile(r"^sessionid=([a-z0-9]{32});")


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


async def read(request: Request) -> Response:
    return JSONResponse(dict(request.session))


async def noop(request: Request) -> Response:
    return PlainTextResponse("ok")


async def set_value(request: Request) -> Response:
    for key, value in request.query_params.items():
        request.session[key] = value
    return PlainTextResponse("ok")


async def flush(request: Request) -> Response:
    get_session(request).flush()
    return PlainTextResponse("bye")


async def login(request: Request) -> Response:
    session = get_session(request)
    session.cycle_key()
    session.set_user(request.query_params["user"])
    return PlainTextResponse("hi")


async def fail(request: Request) -> Response:
    request.session["x"] = "1"
    return PlainTextResponse("boom", status_code=500)


async def vary_app(request: Request) -> Response:
    request.session.get("x")
    return PlainTextResponse("ok", headers={"Vary": "Accept-Encoding"})


async def ws_endpoint(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_json(dict(websocket.session))
    await websocket.close()


ROUTES = [
    Route("/read", read),
    Route("/noop", noop),
    Route("/set", set_value, methods=["GET", "POST"]),
    Route("/flush", flush, methods=["POST"]),
    Route("/login", login, methods=["POST"]),
    Route("/fail", fail),
    Route("/vary", vary_app),
    WebSocketRoute("/ws", ws_endpoint),
]


def make_app(
    backend: Any,
    config: SessionConfig | None = None,
    clock: Clock | None = None,
    routes: Any = None,
) -> SessionMiddleware:
    inner = Starlette(routes=routes or ROUTES)
    return SessionMiddleware(inner, backend, config, clock=clock or Clock())


def client(app: Any, base_url: str = "http://testserver") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url=base_url)


def session_cookie(response: httpx.Response) -> str | None:
    for header in response.headers.get_list("set-cookie"):
        match = SID.match(header)
        if match:
            return match.group(1)
    return None


@pytest.fixture
def memory() -> MemoryStore:
    return MemoryStore()


# -- anonymous visits and creation ----------------------------------------------------------


async def test_anonymous_visit_writes_nothing_and_sets_no_cookie(memory: MemoryStore) -> None:
    async with client(make_app(memory)) as http:
        response = await http.get("/read")
        assert response.status_code == 200 and response.json() == {}
        assert "set-cookie" not in response.headers
        assert response.headers["vary"] == "Cookie"  # it read the session
        untouched = await http.get("/noop")
        assert "set-cookie" not in untouched.headers and "vary" not in untouched.headers
    assert len(memory) == 0


async def test_first_write_creates_one_record_keyed_by_hash(memory: MemoryStore) -> None:
    async with client(make_app(memory)) as http:
        response = await http.post("/set?color=blue")
        sid = session_cookie(response)
        assert sid is not None
        assert len(memory) == 1
        assert await memory.load(sid, now=T0) is None  # the raw id is not a key
        record = await memory.load(hash_session_id(sid), now=T0)
        assert record is not None and record.data == {"color": "blue"}
        assert (await http.get("/read")).json() == {"color": "blue"}


async def test_only_the_session_cookie_itself_is_read(memory: MemoryStore) -> None:
    async with client(make_app(memory)) as http:
        sid = session_cookie(await http.post("/set?color=blue"))
        assert sid is not None
    for header, expected in [
        (f"a=1; sessionid={sid}; b=2", {"color": "blue"}),
        (f'sessionid="{sid}"', {"color": "blue"}),
        (f"sessionid={sid}; sessionid={new_session_id()}", {"color": "blue"}),  # first wins
        (f"xsessionid={sid}", {}),
        (f"a=sessionid={sid}", {}),
        (f"a=x sessionid={sid}", {}),
    ]:
        async with client(make_app(memory)) as http:
            response = await http.get("/read", headers={"cookie": header})
            assert response.json() == expected, header


async def test_a_session_cookie_in_a_second_cookie_header_is_found(memory: MemoryStore) -> None:
    # HTTP/2 clients may send each cookie in its own header.
    async with client(make_app(memory)) as http:
        sid = session_cookie(await http.post("/set?color=blue"))
        assert sid is not None
    async with client(make_app(memory)) as http:
        headers = [("cookie", "a=1"), ("accept", "*/*"), ("cookie", f"sessionid={sid}")]
        response = await http.get("/read", headers=headers)
        assert response.json() == {"color": "blue"}


async def test_an_app_reusing_its_start_message_never_leaks_a_cookie(memory: MemoryStore) -> None:
    start = {"type": "http.response.start", "status": 200, "headers": [(b"x-app", b"1")]}
    body = {"type": "http.response.body", "body": b"ok"}

    async def raw_app(scope: Any, receive: Any, send: Any) -> None:
        scope["session"]["seen"] = True  # every visit writes: a new session per client
        await send(start)
        await send(body)

    app = SessionMiddleware(raw_app, memory, clock=Clock())
    async with client(app) as first, client(app) as second:
        one = session_cookie(await first.get("/"))
        two = session_cookie(await second.get("/"))
    assert one and two and one != two
    assert start["headers"] == [(b"x-app", b"1")]  # the app's own message is untouched


async def test_cookie_attributes_on_http() -> None:
    async with client(make_app(MemoryStore())) as http:
        response = await http.post("/set?a=1")
    header = response.headers["set-cookie"]
    parts = [p.strip() for p in header.split(";")]
    assert parts[0].startswith("sessionid=")
    assert "Max-Age=1209600" in parts and "Path=/" in parts
    assert "HttpOnly" in parts and "SameSite=Lax" in parts and "Secure" not in parts
    assert any(p.startswith("Expires=") for p in parts)
    assert response.headers["vary"] == "Cookie"
    assert response.headers["cache-control"] == "no-store"


async def test_cookie_is_secure_on_https_and_can_use_the_host_prefix() -> None:
    async with client(make_app(MemoryStore()), "https://testserver") as http:
        response = await http.post("/set?a=1")
        assert "; Secure" in response.headers["set-cookie"]
    config = SessionConfig(cookie=CookieConfig(name="sessionid", host_prefix=True))
    async with client(make_app(MemoryStore(), config), "https://testserver") as http:
        response = await http.post("/set?a=1")
        assert response.headers["set-cookie"].startswith("__Host-sessionid=")
        assert (await http.get("/read")).json() == {"a": "1"}


async def test_browser_session_cookie_has_no_max_age() -> None:
    async with client(make_app(MemoryStore(), SessionConfig(browser_session=True))) as http:
        response = await http.post("/set?a=1")
    assert "Max-Age" not in response.headers["set-cookie"]
    assert "expires" not in response.headers["set-cookie"]


async def test_vary_extends_the_apps_own_header(memory: MemoryStore) -> None:
    async with client(make_app(memory)) as http:
        response = await http.get("/vary")
    assert response.headers.get_list("vary") == ["Accept-Encoding, Cookie"]  # one header


# -- fixation and ids ------------------------------------------------------------------------


async def test_client_chosen_id_is_never_adopted(store: SessionStore) -> None:
    planted = new_session_id()
    async with client(make_app(store)) as http:
        http.cookies.set("sessionid", planted)
        assert (await http.get("/read")).json() == {}
        response = await http.post("/set?a=1")
    issued = session_cookie(response)
    assert issued is not None and issued != planted
    assert await store.load(hash_session_id(planted), now=T0) is None
    assert await store.load(hash_session_id(issued), now=T0) is not None


async def test_login_cycles_the_id_and_the_old_one_stops_working(memory: MemoryStore) -> None:
    async with client(make_app(memory)) as http:
        before = session_cookie(await http.post("/set?cart=3"))
        response = await http.post("/login?user=alice", headers={"user-agent": "A" * 1000})
        after = session_cookie(response)
        assert before and after and before != after
        assert (await http.get("/read")).json() == {"cart": "3"}
    assert await memory.load(hash_session_id(before), now=T0) is None
    [info] = await memory.list_user("alice", now=T0)
    assert info.key_hash == hash_session_id(after)
    assert info.user_agent == "A" * 256  # recorded at creation, truncated


async def test_logout_deletes_the_record_and_clears_the_cookie(memory: MemoryStore) -> None:
    async with client(make_app(memory)) as http:
        await http.post("/set?a=1")
        response = await http.post("/flush")
        header = response.headers["set-cookie"]
        assert header.startswith('sessionid=""') or header.startswith("sessionid=;")
        assert "Max-Age=0" in header
        assert (await http.get("/read")).json() == {}
    assert len(memory) == 0


# -- concurrency -----------------------------------------------------------------------------


async def test_100_concurrent_writers_to_one_session_all_land(store: SessionStore) -> None:
    loaded = 0
    everyone_loaded = asyncio.Event()

    async def write(request: Request) -> Response:
        nonlocal loaded
        session = request.session
        _ = session.get("seed")  # every request holds the same snapshot ...
        loaded += 1
        if loaded == 100:
            everyone_loaded.set()
        await asyncio.wait_for(everyone_loaded.wait(), 30)  # ... before anyone writes
        session[request.query_params["k"]] = request.query_params["k"]
        return PlainTextResponse("ok")

    app = make_app(store, routes=[*ROUTES, Route("/write", write)])
    async with client(app) as http:
        sid = session_cookie(await http.post("/set?seed=1"))
        assert sid is not None
        responses = await asyncio.gather(*(http.get(f"/write?k=k{i}") for i in range(100)))
        assert {r.status_code for r in responses} == {200}
        data = (await http.get("/read")).json()
    assert data == {"seed": "1", **{f"k{i}": f"k{i}" for i in range(100)}}


async def test_logout_racing_a_write_is_not_resurrected(store: SessionStore) -> None:
    loaded, logged_out = asyncio.Event(), asyncio.Event()

    async def slow_write(request: Request) -> Response:
        session = request.session
        _ = session.get("a")
        loaded.set()
        await asyncio.wait_for(logged_out.wait(), 30)
        session["late"] = "write"
        return PlainTextResponse("ok")

    app = make_app(store, routes=[*ROUTES, Route("/slow", slow_write)])
    async with client(app) as http:
        sid = session_cookie(await http.post("/set?a=1"))
        assert sid is not None
        slow = asyncio.create_task(http.get("/slow"))
        await asyncio.wait_for(loaded.wait(), 30)
        assert (await http.post("/flush")).status_code == 200
        logged_out.set()
        response = await slow
        assert response.status_code == 200
        header = response.headers["set-cookie"]
        assert "Max-Age=0" in header  # the cookie is cleared
    assert await store.load(hash_session_id(sid), now=T0) is None


# -- expiry ----------------------------------------------------------------------------------


async def test_idle_expiry_slides_with_activity_then_ends(store: SessionStore) -> None:
    clock = Clock()
    config = SessionConfig(idle_timeout=600, touch_interval=60)
    async with client(make_app(store, config, clock)) as http:
        await http.post("/set?a=1")
        clock.now += 500
        touched = await http.get("/read")  # a read past the touch interval slides the expiry
        assert touched.json() == {"a": "1"} and "Max-Age=600" in touched.headers["set-cookie"]
        clock.now += 500  # 1000 s after creation, 500 after the touch: still alive
        assert (await http.get("/noop")).status_code == 200
        assert (await http.get("/read")).json() == {"a": "1"}
        clock.now += 601
        assert (await http.get("/read")).json() == {}


async def test_absolute_expiry_ends_an_active_session(store: SessionStore) -> None:
    clock = Clock()
    config = SessionConfig(idle_timeout=600, absolute_timeout=1000, touch_interval=0)
    async with client(make_app(store, config, clock)) as http:
        await http.post("/set?a=1")
        for _ in range(3):
            clock.now += 300
            response = await http.get("/read")
            assert response.json() == {"a": "1"}
        assert "Max-Age=100" in response.headers["set-cookie"]  # capped by the absolute limit
        clock.now += 100
        assert (await http.get("/read")).json() == {}


async def test_touch_is_throttled(store: SessionStore) -> None:
    clock = Clock()
    async with client(make_app(store, SessionConfig(touch_interval=60), clock)) as http:
        sid = session_cookie(await http.post("/set?a=1"))
        clock.now += 30
        assert "set-cookie" not in (await http.get("/read")).headers
        clock.now += 30
        assert session_cookie(await http.get("/read")) == sid
    record = await store.load(hash_session_id(sid or ""), now=clock.now)
    assert record is not None and record.last_seen == T0 + 60


# -- errors ----------------------------------------------------------------------------------


async def test_nothing_is_saved_for_a_5xx(memory: MemoryStore) -> None:
    async def crash(request: Request) -> Response:
        request.session["x"] = "1"
        raise RuntimeError("app bug")

    app = make_app(memory, routes=[*ROUTES, Route("/crash", crash)])
    async with client(app) as http:
        response = await http.get("/fail")
        assert response.status_code == 500 and "set-cookie" not in response.headers
        crashed = await http.get("/crash")
        assert crashed.status_code == 500 and "set-cookie" not in crashed.headers
    assert len(memory) == 0


class OutageStore(MemoryStore):
    """A real MemoryStore with an outage switch, as a network store behaves when down."""

    down = False
    fail_updates = False

    async def load(self, key_hash: str, *, now: float) -> Any:
        if self.down:
            raise StoreUnavailable("memory store switched off")
        return await super().load(key_hash, now=now)

    async def create(self, key_hash: str, record: Any, *, replaces: str | None = None) -> None:
        if self.down:
            raise ConnectionError("connection refused")
        await super().create(key_hash, record, replaces=replaces)

    async def update(self, key_hash: str, **delta: Any) -> bool:
        if self.down or self.fail_updates:
            raise StoreUnavailable("memory store switched off")
        return await super().update(key_hash, **delta)


async def test_store_down_is_a_503_then_recovers(caplog: pytest.LogCaptureFixture) -> None:
    outage = OutageStore()
    async with client(make_app(outage)) as http:
        await http.post("/set?a=1")
        outage.down = True
        with caplog.at_level(logging.ERROR, logger="cookieguard.sessions"):
            response = await http.get("/read", headers={"accept": "application/json"})
        assert response.status_code == 503
        assert response.json()["error"] == "session_store_unavailable"
        assert "session store unavailable at load" in caplog.text
        assert "set-cookie" not in response.headers
        outage.down = False
        assert (await http.get("/read")).json() == {"a": "1"}


async def test_store_down_at_save_is_a_503_not_a_lost_write() -> None:
    outage = OutageStore()
    async with client(make_app(outage)) as http:
        assert (await http.get("/noop")).status_code == 200  # no cookie: no store needed
        outage.down = True
        response = await http.post("/set?a=1")
        assert response.status_code == 503 and "set-cookie" not in response.headers
        outage.down = False
        assert session_cookie(await http.post("/set?a=1")) is not None


@pytest.mark.parametrize(
    "cookie",
    [
        b"sessionid=garbage",
        b"sessionid=" + b"x" * 10_000,
        "sessionid=\u00e9t\u00e9\u2603".encode(),
        b"sessionid=" + b"A" * 32,
        b"sessionid=; sessionid=also-bad",
        b'sessionid="quoted"',
        b"\xff\xfe=\x00; sessionid",
    ],
)
async def test_bad_cookies_never_cause_a_5xx(memory: MemoryStore, cookie: bytes) -> None:
    async with client(make_app(memory)) as http:
        response = await http.get("/read", headers={"cookie": cookie})
        assert response.status_code == 200 and response.json() == {}
        written = await http.post("/set?a=1", headers={"cookie": cookie})
        assert written.status_code == 200 and session_cookie(written) is not None


async def test_duplicate_cookies_first_wins(memory: MemoryStore) -> None:
    async with client(make_app(memory)) as http:
        sid = session_cookie(await http.post("/set?a=1"))
    async with client(make_app(memory)) as http:
        both = f"sessionid={sid}; sessionid={new_session_id()}"
        assert (await http.get("/read", headers={"cookie": both})).json() == {"a": "1"}


# -- frameworks and scopes -------------------------------------------------------------------


async def test_fastapi_request_session() -> None:
    api = FastAPI()

    @api.post("/items/{item}")
    async def add(item: str, request: Request) -> dict[str, Any]:
        request.session.setdefault("items", [])
        request.session["items"] = [*request.session["items"], item]
        return {"items": request.session["items"]}

    memory = MemoryStore()
    async with client(SessionMiddleware(api, memory)) as http:
        await http.post("/items/a")
        response = await http.post("/items/b")
    assert response.json() == {"items": ["a", "b"]}
    assert len(memory) == 1


async def test_store_and_session_are_in_the_scope(memory: MemoryStore) -> None:
    async def peek(request: Request) -> Response:
        assert get_session_store(request) is memory
        assert get_session(request) is request.scope["session"]
        return PlainTextResponse("ok")

    app = make_app(memory, routes=[Route("/peek", peek)])
    async with client(app) as http:
        assert (await http.get("/peek")).status_code == 200


async def test_get_session_without_middleware_is_a_clear_error() -> None:
    with pytest.raises(RuntimeError, match="SessionMiddleware"):
        get_session(http_scope())


async def test_websocket_sees_the_session(memory: MemoryStore) -> None:
    app = make_app(memory)
    async with client(app) as http:
        sid = session_cookie(await http.post("/set?a=1"))
    scope = websocket_scope(headers=[(b"cookie", f"sessionid={sid}".encode())])
    sent = await call_websocket(app, scope)
    assert sent[0]["type"] == "websocket.accept"
    assert '"a":"1"' in (sent[1].get("text") or "").replace(" ", "")


async def test_lifespan_passes_through() -> None:
    seen: list[str] = []

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["type"])

    await SessionMiddleware(inner, MemoryStore())({"type": "lifespan"}, None, None)  # type: ignore[arg-type]
    assert seen == ["lifespan"]


async def test_an_id_collision_draws_a_new_id(
    memory: MemoryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    fixed = new_session_id()
    draws = iter([fixed, fixed])
    monkeypatch.setattr(
        "cookieguard.core.session.new_session_id", lambda: next(draws, None) or new_session_id()
    )
    async with client(make_app(memory)) as first:
        assert session_cookie(await first.post("/set?owner=first")) == fixed
    async with client(make_app(memory)) as second:
        issued = session_cookie(await second.post("/set?owner=second"))
        assert issued not in (None, fixed)
        assert (await second.get("/read")).json() == {"owner": "second"}
    record = await memory.load(hash_session_id(fixed), now=T0)
    assert record is not None and record.data == {"owner": "first"}


def test_a_store_that_is_not_a_store_fails_at_construction() -> None:
    with pytest.raises(TypeError, match="open_store"):
        SessionMiddleware(Starlette(), "sqlite:///sessions.db")  # type: ignore[arg-type]


async def test_a_failed_touch_does_not_fail_a_read(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    outage = OutageStore()
    async with client(make_app(outage, SessionConfig(touch_interval=60), clock)) as http:
        await http.post("/set?a=1")
        clock.now += 120
        outage.fail_updates = True  # loads still work; the store fails when written to
        with caplog.at_level(logging.WARNING, logger="cookieguard.sessions"):
            response = await http.get("/read")
        assert response.status_code == 200 and response.json() == {"a": "1"}
        assert "set-cookie" not in response.headers
        assert "session touch skipped" in caplog.text
        assert (await http.post("/set?b=2")).status_code == 503  # a real write still fails


async def test_default_absolute_timeout_ends_a_session_used_every_13_days(
    store: SessionStore,
) -> None:
    clock, day = Clock(), 86_400
    async with client(make_app(store, None, clock)) as http:  # SessionConfig() defaults
        sid = session_cookie(await http.post("/set?a=1"))
        assert sid is not None
        for visit in (13, 26):
            clock.now = T0 + visit * day
            response = await http.get("/read")
            assert response.json() == {"a": "1"}  # used every 13 days: idle never runs out
        assert "Max-Age=345600" in response.headers["set-cookie"]  # 4 days left, not 14
        clock.now = T0 + 30 * day
        assert (await http.get("/read")).json() == {}
    assert await store.load(hash_session_id(sid), now=T0 + 30 * day) is None
