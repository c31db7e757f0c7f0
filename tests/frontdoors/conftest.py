"""Fixtures of the front-door conformance suite (FRONTDOORS_SPEC).

Every module in ``tests/frontdoors/apps/`` is a parameter of `door_module`, found with
`pkgutil` at collection, so an app added later joins the suite without an edit here. A module
whose framework is not installed is skipped (failed under ``CI=true``: frameworks are dev
dependencies). `door` builds the app with ``make_app`` and drives it as a browser would:
ASGI apps through ``httpx.ASGITransport`` with their lifespan run by asgi-lifespan's
`LifespanManager` (httpx does not run it), WSGI apps through ``httpx.WSGITransport``
and closed afterwards by their module's ``close(app)``.

Stores: `store_url` is ``sqlite`` and ``memory`` for every test; tests that want the network
stores too parametrize it indirectly with `ALL_STORES`. Sessions a test made in Redis or
PostgreSQL (the URL form has no room for a per-test prefix or table) are deleted afterwards
through the store's own API, by the ids the client saw.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import importlib
import pkgutil
import re
import secrets
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from cookieguard import PasswordHasher, SQLiteUserStore, open_store
from cookieguard.core.tokens import hash_session_id
from tests.store_backends import POSTGRES_DSN, REDIS_URL, free_port, missing, require_server

APPS = Path(__file__).parent / "apps"
APP_MODULES = sorted(
    info.name for info in pkgutil.iter_modules([str(APPS)]) if not info.name.startswith("_")
)
BASE_URL = "http://testserver"
FOREIGN_ORIGIN = "https://evil.example"
ALICE, ALICE_PASSWORD = "alice", "alice-pass"
SECRET_KEY = "conformance-" + "k" * 40
LOCAL_STORES = ("sqlite", "memory")
ALL_STORES = ("sqlite", "memory", "redis", "postgresql")
TOKEN_INPUT = re.compile(
    r'<input type="hidden" name="csrfmiddlewaretoken" value="([A-Za-z0-9]{64})">'
)


def load_door_module(name: str) -> ModuleType:
    """Import ``tests/frontdoors/apps/<name>.py``; skip it if its framework is missing."""
    try:
        module = importlib.import_module(f"tests.frontdoors.apps.{name}")
    except ModuleNotFoundError as exc:
        missing(f"{name}: {exc.name} is not installed")
    if not callable(getattr(module, "make_app", None)):
        pytest.skip(f"{name} exposes no make_app")
    assert module.KIND in ("asgi", "wsgi"), f"{name}.KIND must be 'asgi' or 'wsgi'"
    return module


@pytest.fixture(params=APP_MODULES)
def door_module(request: pytest.FixtureRequest) -> ModuleType:
    """Each conformance app module in turn."""
    return load_door_module(request.param)


_alice_hash: list[str] = []


def _run(coro: Any) -> Any:
    # A thread of its own: the test's event loop is not disturbed (and may not run yet).
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


@dataclass(frozen=True)
class UsersDB:
    path: str
    alice_id: str


@pytest.fixture
def users(tmp_path: Path) -> UsersDB:
    """An SQLite users database holding alice / alice-pass (hashed once per session)."""
    if not _alice_hash:
        _alice_hash.append(PasswordHasher().hash(ALICE_PASSWORD))
    path = str(tmp_path / "users.db")

    async def create() -> str:
        store = SQLiteUserStore(path)
        try:
            return (await store.create_user(ALICE, _alice_hash[0])).id
        finally:
            await store.close()

    return UsersDB(path, _run(create()))


@pytest.fixture
def users_db(users: UsersDB) -> str:
    """The users database's path, as `make_app` takes it."""
    return users.path


@pytest.fixture(params=LOCAL_STORES)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An `open_store` URL: SQLite and memory (tests may ask for ALL_STORES indirectly)."""
    kind = request.param
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'sessions.db'}"
    if kind == "memory":
        return "memory://"
    if kind == "redis":
        require_server("Redis", "127.0.0.1", 6379)
        return REDIS_URL
    if kind == "postgresql":
        require_server("PostgreSQL", "127.0.0.1", 5432)
        return POSTGRES_DSN
    raise ValueError(kind)


@pytest.fixture
def down_store_url() -> str:
    """A Redis URL on a loopback port where nothing listens."""
    return f"redis://127.0.0.1:{free_port()}/0"


def set_cookies(response: httpx.Response) -> dict[str, tuple[str, dict[str, str]]]:
    """Set-Cookie lines by name: (value, attributes with lower-cased names)."""
    found: dict[str, tuple[str, dict[str, str]]] = {}
    for line in response.headers.get_list("set-cookie"):
        first, *rest = (part.strip() for part in line.split(";"))
        name, _, value = first.partition("=")
        attrs = {}
        for attr in rest:
            key, _, val = attr.partition("=")
            attrs[key.lower()] = val
        found[name] = (value.strip('"'), attrs)
    return found


def token_in(page: httpx.Response) -> str:
    """The masked token of the page's hidden ``csrfmiddlewaretoken`` input."""
    match = TOKEN_INPUT.search(page.text)
    assert match is not None, f"no csrfmiddlewaretoken input in {page.text[:300]!r}"
    return match[1]


@dataclass
class Browser:
    """One browser (its own cookie jar) on a conformance app; sync or async underneath."""

    kind: str
    client: httpx.AsyncClient | httpx.Client
    seen_session_ids: set[str]

    async def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        if isinstance(self.client, httpx.AsyncClient):
            response = await self.client.request(method, url, **kwargs)
        else:
            response = self.client.request(method, url, **kwargs)
        session = set_cookies(response).get("sessionid")
        if session and session[0]:
            self.seen_session_ids.add(session[0])
        return response

    async def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return await self.request("GET", url, **kwargs)

    async def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return await self.request("POST", url, **kwargs)

    def cookie(self, name: str) -> str | None:
        return self.client.cookies.get(name)

    async def token(self) -> str:
        """A fresh token from GET /form (which sets the csrftoken cookie if needed)."""
        page = await self.get("/form")
        assert page.status_code == 200
        return token_in(page)

    async def login(self, password: str = ALICE_PASSWORD) -> httpx.Response:
        token = await self.token()
        return await self.post(
            "/login",
            data={"username": ALICE, "password": password, "csrfmiddlewaretoken": token},
        )


@dataclass
class Door:
    """A running conformance app and a way to open browsers on it."""

    module: ModuleType
    app: Any
    user_id: str
    stack: AsyncExitStack
    seen_session_ids: set[str] = field(default_factory=set)

    async def browser(self, **headers: str) -> Browser:
        if self.module.KIND == "asgi":
            transport: Any = httpx.ASGITransport(app=self.app, client=("203.0.113.7", 40000))
            client: Any = httpx.AsyncClient(transport=transport, base_url=BASE_URL)
            await self.stack.enter_async_context(client)
        else:
            client = httpx.Client(transport=httpx.WSGITransport(app=self.app), base_url=BASE_URL)
            self.stack.enter_context(client)
        client.headers.update(headers)
        return Browser(self.module.KIND, client, self.seen_session_ids)


@asynccontextmanager
async def open_door(module: ModuleType, store_url: str, users: UsersDB) -> AsyncIterator[Door]:
    """`module`'s app, started (lifespan) and stopped around the test."""
    from asgi_lifespan import LifespanManager

    app = module.make_app(store_url=store_url, users_db=users.path, secret_key=SECRET_KEY)
    async with AsyncExitStack() as stack:
        if module.KIND == "asgi":
            manager = await stack.enter_async_context(LifespanManager(app))
            app = _per_request_state(app, manager._state)
        else:
            stack.callback(module.close, app)  # after the clients, as a server's exit
        door = Door(module, app, users.alice_id, stack)
        try:
            yield door
        finally:
            await _forget_sessions(store_url, door.seen_session_ids)


def _per_request_state(app: Any, state: dict[str, Any]) -> Any:
    """`app` with a shallow copy of the lifespan state in each request, as servers do.

    The ASGI spec asks servers to copy the state per request; asgi-lifespan's own wrapper
    hands every request the same dict, so a framework that caches per-request values
    there (Litestar caches the parsed body) would read one request's data in the next.
    """

    async def with_state(scope: Any, receive: Any, send: Any) -> None:
        await app({**scope, "state": dict(state)}, receive, send)

    return with_state


async def _forget_sessions(store_url: str, session_ids: set[str]) -> None:
    """Delete what a test left in a shared Redis or PostgreSQL store."""
    if not session_ids or not store_url.startswith(("redis:", "postgresql:")):
        return
    store = open_store(store_url)
    try:
        for session_id in session_ids:
            await store.delete(hash_session_id(session_id))
    finally:
        await store.close()


@pytest.fixture
async def door(door_module: ModuleType, store_url: str, users: UsersDB) -> AsyncIterator[Door]:
    """The app under test, running on `store_url`."""
    async with open_door(door_module, store_url, users) as opened:
        yield opened


@asynccontextmanager
async def serve(app: Any) -> AsyncIterator[str]:
    """`app` under a real uvicorn on a loopback port (lifespan on); yields ``host:port``."""
    import uvicorn

    port = free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        lifespan="on",
        ws="websockets-sansio",
        log_level="warning",
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        for _ in range(1000):
            if server.started or task.done():
                break
            await asyncio.sleep(0.01)
        assert server.started, "uvicorn did not start"
        yield f"127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@pytest.fixture
def ws_module(door_module: ModuleType) -> ModuleType:
    """Each conformance app module that serves WS /ws."""
    if not door_module.HAS_WEBSOCKET:
        pytest.skip(f"{door_module.__name__} has no WebSocket")
    return door_module


@pytest.fixture
def session_id() -> str:
    """A well-formed session id nobody issued (32 characters of a-z0-9)."""
    return "".join(secrets.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(32))
