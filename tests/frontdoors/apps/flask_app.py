"""The conformance app as a Flask user writes it: the extension, flask.session, templates."""

from __future__ import annotations

from typing import Any, Literal

from flask import Flask, jsonify, redirect, render_template_string, request, session

from cookieguard import SyncSQLiteUserStore
from cookieguard.integrations.flask import CookieGuard, login_required

KIND: Literal["asgi", "wsgi"] = "wsgi"
HAS_WEBSOCKET = False

FORM = """<!doctype html><title>form</title>
<form method="post" action="/form">{{ csrf_input() }}<button>Send</button></form>
<form method="post" action="/login">{{ csrf_input() }}
<input name="username"> <input name="password" type="password"> <button>Log in</button></form>
"""


def make_app(*, store_url: str, users_db: str, secret_key: str) -> Any:
    """A Flask app with `CookieGuard` installed from ``app.config``."""
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=secret_key,
        COOKIEGUARD_STORE=store_url,
        COOKIEGUARD_USERS=SyncSQLiteUserStore(users_db),
    )
    guard = CookieGuard(app)

    @app.get("/form")
    def form_page() -> str:
        return render_template_string(FORM)

    @app.post("/form")
    def form_post() -> str:
        return "ok"

    @app.post("/login")
    def login_post() -> Any:
        user = guard.authenticate(request.form.get("username"), request.form.get("password"))
        if user is None:
            return render_template_string(FORM)
        guard.login(user)
        return redirect("/whoami", code=303)

    @app.post("/logout")
    def logout_post() -> Any:
        session.clear()  # Flask's own session API: cookieguard ends the session
        return redirect("/form", code=303)

    @app.get("/whoami")
    def whoami() -> Any:
        return jsonify(user=guard.user_id())

    @app.post("/session/<key>")
    def session_post(key: str) -> str:
        session[key] = request.form.get("value")
        return "ok"

    @app.get("/session/<key>")
    def session_get(key: str) -> Any:
        return jsonify(value=session.get(key))

    @app.post("/hook")
    @guard.exempt
    def hook() -> str:
        return "hooked"

    @app.get("/private")
    @login_required
    def private() -> Any:
        return jsonify(user=guard.user_id())

    return app


def close(app: Flask) -> None:
    """What the process's end calls (Flask has no shutdown hook): the stores are closed."""
    CookieGuard.close(app)  # the session store it opened from COOKIEGUARD_STORE
    app.config["COOKIEGUARD_USERS"].close()
