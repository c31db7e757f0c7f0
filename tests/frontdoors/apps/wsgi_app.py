"""The conformance app as a plain WSGI user writes it: one function, CookieGuardWSGI around it."""

from __future__ import annotations

import html
import json
from collections.abc import Callable, Iterable
from typing import Any, Literal
from urllib.parse import parse_qs

from cookieguard import CSRFConfig, SyncSQLiteUserStore
from cookieguard.wsgi import (
    CookieGuardWSGI,
    authenticate,
    csrf_input,
    get_session,
    get_user_id,
    login,
    login_required,
    logout,
)

KIND: Literal["asgi", "wsgi"] = "wsgi"
HAS_WEBSOCKET = False

FORM = """<!doctype html><title>form</title>
<form method="post" action="/form">{token}<button>Send</button></form>
<form method="post" action="/login">{token}
<input name="username"> <input name="password" type="password"> <button>Log in</button></form>
"""

Environ = dict[str, Any]
StartResponse = Callable[..., Any]


def _form(environ: Environ) -> dict[str, str]:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length).decode("utf-8")
    return {key: values[0] for key, values in parse_qs(body).items()}


def _reply(
    start_response: StartResponse,
    status: str,
    body: str = "",
    content_type: str = "text/plain; charset=utf-8",
    headers: Iterable[tuple[str, str]] = (),
) -> list[bytes]:
    data = body.encode("utf-8")
    start_response(
        status,
        [("Content-Type", content_type), ("Content-Length", str(len(data))), *headers],
    )
    return [data]


def _json(start_response: StartResponse, value: object) -> list[bytes]:
    return _reply(start_response, "200 OK", json.dumps(value), "application/json")


def _page(environ: Environ, start_response: StartResponse) -> list[bytes]:
    page = FORM.format(token=csrf_input(environ))
    return _reply(start_response, "200 OK", page, "text/html; charset=utf-8")


_USERS: dict[CookieGuardWSGI, SyncSQLiteUserStore] = {}
"""Each app's users store, for `close`."""


def make_app(*, store_url: str, users_db: str, secret_key: str) -> Any:
    """A WSGI callable routing by hand, wrapped in `CookieGuardWSGI`."""
    users = SyncSQLiteUserStore(users_db)

    @login_required
    def private(environ: Environ, start_response: StartResponse) -> list[bytes]:
        return _json(start_response, {"user": get_user_id(environ)})

    def app(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")
        if path == "/form":
            if method == "POST":
                return _reply(start_response, "200 OK", "ok")
            return _page(environ, start_response)
        if path == "/login" and method == "POST":
            form = _form(environ)
            user = authenticate(users, form.get("username"), form.get("password"))
            if user is None:
                return _page(environ, start_response)
            login(environ, user)
            return _reply(start_response, "303 See Other", headers=[("Location", "/whoami")])
        if path == "/logout" and method == "POST":
            logout(environ)
            return _reply(start_response, "303 See Other", headers=[("Location", "/form")])
        if path == "/whoami":
            return _json(start_response, {"user": get_user_id(environ)})
        if path.startswith("/session/"):
            key = path.removeprefix("/session/")
            if method == "POST":
                get_session(environ)[key] = _form(environ).get("value")
                return _reply(start_response, "200 OK", "ok")
            return _json(start_response, {"value": get_session(environ).get(key)})
        if path == "/hook" and method == "POST":
            return _reply(start_response, "200 OK", "hooked")
        if path == "/private":
            return private(environ, start_response)
        return _reply(start_response, "404 Not Found", f"no page {html.escape(path)}")

    # A plain WSGI app has no routes to mark: the webhook's exact path is exempt.
    guard = CookieGuardWSGI(
        app,
        store=store_url,
        secret_key=secret_key,
        users=users,
        csrf=CSRFConfig(exempt_paths=["/hook"]),
    )
    _USERS[guard] = users
    return guard


def close(app: CookieGuardWSGI) -> None:
    """What the process's end calls (WSGI has no shutdown event): the stores are closed."""
    app.close()  # the session store it opened from the URL
    _USERS.pop(app).close()
