"""Sessions, CSRF protection and login around a plain WSGI app, for any WSGI server.

Run it with several worker processes sharing one session store:
``gunicorn --chdir examples --workers 3 wsgi_app:app``.
"""

import json
import os
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

from cookieguard import CSRFConfig, SyncSQLiteUserStore
from cookieguard.wsgi import (
    CookieGuardWSGI,
    authenticate,
    csrf_input,
    get_session,
    get_user_id,
    login,
    logout,
)

users = SyncSQLiteUserStore("users.db")


def site(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    path, method = environ["PATH_INFO"], environ["REQUEST_METHOD"]
    form: dict[str, list[str]] = {}
    if method == "POST":
        length = int(environ.get("CONTENT_LENGTH") or 0)
        form = parse_qs(environ["wsgi.input"].read(length).decode())  # replayed, unchanged
    if path == "/login" and method == "POST":
        user = authenticate(users, form.get("username", [""])[0], form.get("password", [""])[0])
        if user is not None:
            login(environ, user)  # new session id, new CSRF secret
    elif path == "/logout" and method == "POST":
        logout(environ)  # deleted server-side now
    elif path == "/hooks/payment":
        body = b'{"received": true}'
        start_response("200 OK", [("Content-Type", "application/json")])
        return [body]
    session = get_session(environ)  # a dict, saved when the response starts
    session["visits"] = session.get("visits", 0) + 1
    if path == "/whoami":
        body = json.dumps({"user": get_user_id(environ), "visits": session["visits"]}).encode()
        start_response("200 OK", [("Content-Type", "application/json")])
        return [body]
    page = (
        f"<p>User: {get_user_id(environ)}</p>"
        f'<form method="post" action="/login">{csrf_input(environ)}'
        '<input name="username"> <input name="password" type="password"> <button>Log in</button>'
        f'</form><form method="post" action="/logout">{csrf_input(environ)}<button>Out</button>'
        "</form>"
    )
    start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
    return [page.encode()]


app = CookieGuardWSGI(
    site,
    store="sqlite:///sessions.db",  # open_sync_store: redis://..., postgresql://... for clusters
    secret_key=os.environ.get("SECRET_KEY", "dev-only-" + "x" * 32),
    users=users,
    csrf=CSRFConfig(exempt_paths=["/hooks/payment"]),  # exact paths only
)
