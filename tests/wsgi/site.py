"""A small WSGI app for the driver tests: each route shows one thing the layers do."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from urllib.parse import parse_qs

import httpx

from cookieguard import CSRFConfig, PasswordHasher, SessionConfig, SyncSQLiteUserStore
from cookieguard.errors import StoreUnavailable
from cookieguard.wsgi import (
    CookieGuardWSGI,
    authenticate,
    csrf_input,
    get_csrf_token,
    get_session,
    get_user_id,
    login,
    logout,
)

BASE = "http://testserver"
SECRET = "wsgi-driver-tests-" + "s" * 30
_hash: list[str] = []

Environ = dict[str, Any]


def alice_hash() -> str:
    if not _hash:
        _hash.append(PasswordHasher().hash("alice-pass"))
    return _hash[0]


def make_users(path: str) -> SyncSQLiteUserStore:
    users = SyncSQLiteUserStore(path)
    users.create_user("alice", alice_hash())
    return users


def _reply(
    start_response: Callable[..., Any], body: bytes, ctype: str = "text/plain"
) -> list[bytes]:
    start_response("200 OK", [("Content-Type", ctype), ("Content-Length", str(len(body)))])
    return [body]


def make_site(users: SyncSQLiteUserStore | None = None) -> Callable[..., Iterable[bytes]]:
    """The app the guard wraps."""

    def app(environ: Environ, start_response: Callable[..., Any]) -> Iterable[bytes]:
        path, method = environ["PATH_INFO"], environ["REQUEST_METHOD"]
        if path == "/token":
            return _reply(start_response, get_csrf_token(environ).encode())
        if path == "/page":
            return _reply(start_response, csrf_input(environ).encode(), "text/html")
        if path == "/echo":
            # What the app reads after the CSRF layer looked for the token.
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length)
            digest = hashlib.sha256(body).hexdigest()
            return _reply(start_response, json.dumps([len(body), digest]).encode())
        if path == "/set":
            form = parse_qs(environ["wsgi.input"].read(int(environ["CONTENT_LENGTH"])).decode())
            get_session(environ)[form["key"][0]] = form["value"][0]
            return _reply(start_response, b"ok")
        if path == "/get":
            value = get_session(environ).get(environ["QUERY_STRING"])
            return _reply(start_response, json.dumps(value).encode(), "application/json")
        if path == "/lazy":
            return _lazy(environ, start_response)
        if path == "/vary":  # the app varies on its own header and reads the session
            get_session(environ).get("anything")
            start_response("200 OK", [("Content-Type", "text/plain"), ("Vary", "Accept-Encoding")])
            return [get_csrf_token(environ).encode()]
        if path == "/fail" and method == "POST":
            raise StoreUnavailable("the store behind this handler is down")
        if path == "/login":
            assert users is not None
            form = parse_qs(environ["wsgi.input"].read(int(environ["CONTENT_LENGTH"])).decode())
            user = authenticate(users, form["username"][0], form["password"][0])
            if user is not None:
                login(environ, user)
            return _reply(start_response, b"in" if user else b"no")
        if path == "/logout":
            logout(environ)
            return _reply(start_response, b"out")
        if path == "/whoami":
            return _reply(start_response, json.dumps(get_user_id(environ)).encode())
        return _reply(start_response, b"ok")

    return app


def _lazy(environ: Environ, start_response: Callable[..., Any]) -> Iterator[bytes]:
    """A generator app: start_response is called only when the server iterates."""
    get_session(environ)["lazy"] = "yes"
    start_response("200 OK", [("Content-Type", "text/plain")])
    yield b"lazy "
    yield b"body"


def guard(store: object, users: SyncSQLiteUserStore | None = None, **csrf: Any) -> CookieGuardWSGI:
    session = csrf.pop("session", None) or SessionConfig()
    return CookieGuardWSGI(
        make_site(users),
        store=store,
        secret_key=SECRET,
        users=users,
        csrf=CSRFConfig(**csrf),
        session=session,
    )


def client(app: Any, **headers: str) -> httpx.Client:
    c = httpx.Client(transport=httpx.WSGITransport(app=app), base_url=BASE)
    c.headers.update(headers)
    return c
