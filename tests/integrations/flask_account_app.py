"""A Flask site with every account feature on, over any sync store, for the account tests.

Recent-login guards, a re-authentication page, remember-me with an injectable clock, the
session centre, password change, HTMX meta tags and the SPA token endpoint; the app's own
security-event callback collects into a list.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

from flask import Flask, jsonify, redirect, render_template_string, request, session
from flask.testing import FlaskClient

from cookieguard import PasswordHasher, SyncSQLiteUserStore
from cookieguard.auth._remember import RememberConfig
from cookieguard.core._throttle import ThrottlePolicy
from cookieguard.core.redirects import safe_next
from cookieguard.events import SecurityEvent
from cookieguard.integrations.flask import CookieGuard, csrf_token_view, require_recent_login

SECRET = "flask-account-tests-" + "a" * 40
PASSWORD = "alice-pass"
MAX_AGE = 600
GRACE = 30
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
SAFARI = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)
TOKEN = re.compile(r'name="csrfmiddlewaretoken" value="([A-Za-z0-9]{64})"')
META = re.compile(r'<meta name="csrf-token" content="([A-Za-z0-9]{64})">')
PAGE = """<!doctype html><head>{{ csrf_meta() }}</head>
<form method="post">{{ csrf_input() }}</form>"""
_hash: list[str] = []


class Clock:
    """The remember-me clock, moved by hand (starts at the real time: sessions use it)."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def users_at(path: Path) -> SyncSQLiteUserStore:
    """A users file holding "alice" (id "1") and "bob" (id "2")."""
    if not _hash:
        _hash.append(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash(PASSWORD))
    users = SyncSQLiteUserStore(path)
    for name in ("alice", "bob"):
        if users.get_by_username(name) is None:
            users.create_user(name, _hash[0])
    return users


def make_app(
    store: Any,
    users: SyncSQLiteUserStore,
    clock: Clock,
    seen: list[SecurityEvent],
    **config: Any,
) -> tuple[Flask, CookieGuard]:
    """The site; `config` adds or overrides ``app.config`` keys."""
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=SECRET,
        COOKIEGUARD_STORE=store,
        COOKIEGUARD_USERS=users,
        COOKIEGUARD_REMEMBER=RememberConfig(store, grace=GRACE, clock=clock),
        COOKIEGUARD_THROTTLE=ThrottlePolicy(max_attempts_per_user=3),
        COOKIEGUARD_ON_SECURITY_EVENT=seen.append,
    )
    app.config.update(config)
    guard = CookieGuard(app)
    sudo = require_recent_login(MAX_AGE, fallback_next="/settings")

    @app.get("/page")
    def page() -> str:
        return render_template_string(PAGE)

    @app.post("/login")
    def login() -> Any:
        user = guard.authenticate(request.form.get("username"), request.form.get("password"))
        if user is None:
            return jsonify(ok=False), 401
        guard.login(user)
        session["cart"] = "kept"
        if request.form.get("remember") == "1":
            guard.remember(user)
        return jsonify(ok=True)

    @app.get("/me")
    def me() -> Any:
        return jsonify(user=guard.user_id(), age=guard.login_age(), cart=session.get("cart"))

    @app.post("/reauth")
    def reauth() -> Any:
        if not guard.reauthenticate(request.form.get("password")):
            return jsonify(ok=False), 401
        return redirect(safe_next(request.args.get("next"), "/settings"), code=303)

    @app.post("/logout")
    def logout() -> Any:
        guard.logout()
        return jsonify(ok=True)

    @app.post("/clear")
    def clear() -> Any:
        session.clear()
        return jsonify(ok=True)

    @app.route("/settings/danger", methods=["GET", "POST"])
    @sudo
    def danger() -> Any:
        return jsonify(secret="ok")

    @app.post("/api/danger")
    @sudo
    def api_danger() -> Any:
        return jsonify(secret="ok")

    @app.get("/sessions")
    def sessions() -> Any:
        return jsonify(
            [
                {
                    "handle": entry.handle,
                    "device": entry.device,
                    "address": entry.client_address,
                    "agent": entry.user_agent,
                    "current": entry.current,
                    "created": entry.created_at,
                    "seen": entry.last_seen,
                }
                for entry in guard.sessions()
            ]
        )

    @app.post("/sessions/revoke")
    @sudo
    def revoke() -> Any:
        return jsonify(ended=guard.revoke_session(request.form.get("handle")))

    @app.post("/sessions/others")
    @sudo
    def others() -> Any:
        return jsonify(ended=guard.revoke_other_sessions())

    @app.post("/sessions/all")
    @sudo
    def everywhere() -> Any:
        return jsonify(ended=guard.revoke_all_sessions())

    @app.post("/password")
    @sudo
    def password() -> Any:
        user = guard.user()
        assert user is not None
        guard.change_password(user, request.form["new"])
        return jsonify(ok=True)

    app.get("/csrf")(csrf_token_view)
    return app, guard


def token(client: FlaskClient) -> str:
    """A form token from the page (the page sets the CSRF cookie when missing)."""
    found = TOKEN.search(client.get("/page").text)
    assert found is not None
    return found[1]


def post(client: FlaskClient, path: str, **form: str) -> Any:
    """A POST with a fresh form token."""
    return client.post(path, data={**form, "csrfmiddlewaretoken": token(client)})


def log_in(client: FlaskClient, *, remember: bool = False, username: str = "alice") -> Any:
    form = {"username": username, "password": PASSWORD}
    if remember:
        form["remember"] = "1"
    response = post(client, "/login", **form)
    assert response.status_code == 200, response.text
    return response
