"""The account features over real HTTP: the Flask site under Werkzeug's threaded server on
127.0.0.1, and a plain WSGI app (`CookieGuardWSGI`) with remember-me and recent-login."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from werkzeug.serving import make_server

from cookieguard import SyncSQLiteStore
from cookieguard.auth._remember import series_key
from cookieguard.events import SecurityEvent
from cookieguard.wsgi import (
    CookieGuardWSGI,
    csrf_token_app,
    get_user_id,
    login,
    reauthenticate,
    remember,
    require_recent_login,
)
from cookieguard.wsgi._auth import authenticate

from .flask_account_app import FIREFOX, PASSWORD, SECRET, Clock, make_app, users_at


def serve(app: Any) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(5)


@pytest.fixture
def flask_site(tmp_path: Path) -> Iterator[tuple[str, SyncSQLiteStore, Clock]]:
    store, users, clock = SyncSQLiteStore(tmp_path / "s.db"), users_at(tmp_path / "u.db"), Clock()
    seen: list[SecurityEvent] = []
    app, _ = make_app(store, users, clock, seen)
    for url in serve(app):
        yield url, store, clock
    users.close()
    store.close()


def only_remember(source: httpx.Client, target: httpx.Client) -> str:
    """Give `target` just the remember cookie of `source` (a browser restarted later)."""
    for item in source.cookies.jar:
        if item.name == "remember":
            target.cookies.jar.set_cookie(item)
            return str(item.value)
    raise AssertionError("no remember cookie")


def _log_in(http: httpx.Client, **extra: str) -> httpx.Response:
    page = http.get("/csrf").json()
    return http.post(
        "/login",
        data={"username": "alice", "password": PASSWORD, **extra},
        headers={page["headerName"]: page["csrfToken"]},
    )


def test_remember_me_restores_a_login_over_real_http(
    flask_site: tuple[str, SyncSQLiteStore, Clock],
) -> None:
    url, store, clock = flask_site
    with httpx.Client(base_url=url, headers={"User-Agent": FIREFOX}) as http:
        assert _log_in(http, remember="1").status_code == 200
        clock.now += 86400
        with httpx.Client(base_url=url) as later:  # a new browser session: only the cookie
            value = only_remember(http, later)
            me = later.get("/me").json()
            assert me["user"] == "1" and me["age"] is None
            assert later.cookies["remember"] != value
    assert store.load(series_key(value.split(".")[0]), now=clock.now) is not None


def test_a_huge_user_agent_is_a_431_and_nothing_is_stored(
    flask_site: tuple[str, SyncSQLiteStore, Clock],
) -> None:
    url, store, _ = flask_site
    with httpx.Client(base_url=url, headers={"User-Agent": "x" * 70_000}) as http:
        refused = http.get("/csrf")
        assert refused.status_code == 431
        assert "set-cookie" not in refused.headers
    assert store.list_user("1", now=time.time()) == []


def _plain_app(users: Any) -> Callable[..., Iterable[bytes]]:
    """A WSGI app with no framework: login (remembered), a sudo page, re-authentication."""

    @require_recent_login(600)
    def danger(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"danger"]

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ["PATH_INFO"]
        if path == "/csrf":
            return csrf_token_app(environ, start_response)
        if path == "/danger":
            return danger(environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        form = (
            dict(
                pair.split("=", 1)
                for pair in environ["wsgi.input"].read(length).decode().split("&")
            )
            if length
            else {}
        )
        body: dict[str, Any] = {}
        if path == "/login":
            user = authenticate(users, form.get("username"), form.get("password"))
            assert user is not None
            login(environ, user)
            remember(environ, user)
        elif path == "/reauth":
            body["ok"] = reauthenticate(environ, form.get("password"))
        body["user"] = get_user_id(environ)
        data = json.dumps(body).encode()
        start_response("200 OK", [("Content-Type", "application/json")])
        return [data]

    return app


def test_plain_wsgi_remember_me_and_recent_login(tmp_path: Path) -> None:
    store, users = SyncSQLiteStore(tmp_path / "s.db"), users_at(tmp_path / "u.db")
    guard = CookieGuardWSGI(
        _plain_app(users), store=store, secret_key=SECRET, users=users, remember=True
    )
    for url in serve(guard):
        with httpx.Client(base_url=url) as http:
            token = http.get("/csrf").json()["csrfToken"]
            form = {"username": "alice", "password": PASSWORD}
            assert http.post("/login", data=form, headers={"X-CSRFToken": token}).json() == {
                "user": "1"
            }
            assert http.get("/danger").text == "danger"
            later = httpx.Client(base_url=url)
            only_remember(http, later)
        with later:
            stale = later.get("/danger")  # restored from the cookie: not recent
            assert stale.status_code == 303 and stale.headers["location"] == "/reauth?next=/danger"
            token = later.get("/csrf").json()["csrfToken"]
            wrong = later.post("/reauth", data={"password": "x"}, headers={"X-CSRFToken": token})
            assert wrong.json() == {"user": "1", "ok": False}
            right = later.post(
                "/reauth", data={"password": PASSWORD}, headers={"X-CSRFToken": token}
            )
            assert right.json() == {"user": "1", "ok": True}
            assert later.get("/danger").text == "danger"
            api = later.get("/danger", headers={"Accept": "application/json"})
            assert api.status_code == 200
    users.close()
    store.close()
