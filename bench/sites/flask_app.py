"""The Flask version of sites/app.py: the same routes, sqlite3 code and pages, on Flask.

Served by gunicorn's sync workers (``gunicorn 'flask_app:create_app()'``). `BENCH_SECURITY`
picks the layer, and the handlers are the same code for every layer:

- ``none``: no session, CSRF or login; the "user" is the unsigned `uid` cookie (the ceiling).
- ``cookieguard``: the Flask extension as the README shows it,
  ``CookieGuard(app)`` with ``COOKIEGUARD_STORE`` and ``COOKIEGUARD_USERS`` in ``app.config``;
  users in a `SyncSQLiteUserStore` in the same file as the records.
- ``flask-session``: Flask-Session (cachelib's in-memory `SimpleCache`, or Redis) +
  Flask-WTF's `CSRFProtect` + Flask-Login, as people assemble a Flask stack today. Its CSRF
  secret lives in the session, so the token a script sends in ``X-CSRFToken`` is handed out
  in a ``csrftoken`` cookie whenever a page renders one (the usual pattern for fetch()
  clients); Flask-Login's user loader builds the user from the id without a query.

Environment as for app.py: BENCH_DB, BENCH_STORE, BENCH_SECRET, BENCH_REDIS_PREFIX,
BENCH_PG_TABLE.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
from datetime import timedelta
from typing import Any

from flask import Flask, Response, g, jsonify, redirect, request, session
from pages import login_page, records_page, safe_next
from peerdb import PeerDB, adduser_command, record_text_error

User = tuple[str, str] | None


class Layer:
    """What the handlers ask of the security layer; this base is the `none` layer."""

    def user(self) -> User:
        uid = request.cookies.get("uid", "1")
        return uid, uid

    def token(self) -> str:
        return ""

    def login(self, username: object, password: object) -> bool:
        return True

    def logout(self) -> None:
        return None


class CookieGuardLayer(Layer):
    """cookieguard's Flask extension, configured through ``app.config`` as documented."""

    def __init__(self, app: Flask, db_path: str, store_url: str, secret: str) -> None:
        import cookieguard
        from cookieguard.integrations.flask import CookieGuard
        from cookieguard.wsgi import get_csrf_token

        options: dict[str, Any] = {}
        if store_url.startswith("redis://"):
            options["prefix"] = os.environ.get("BENCH_REDIS_PREFIX", "bench-cg:")
        if store_url.startswith("postgresql://") and os.environ.get("BENCH_PG_TABLE"):
            options["table"] = os.environ["BENCH_PG_TABLE"]
        app.config.update(
            SECRET_KEY=secret,
            COOKIEGUARD_STORE=cookieguard.open_sync_store(store_url, **options),
            COOKIEGUARD_USERS=cookieguard.SyncSQLiteUserStore(db_path),
        )
        self.guard = CookieGuard(app)
        self._token = get_csrf_token

    def user(self) -> User:
        user_id = self.guard.user_id()
        return None if user_id is None else (user_id, session.get("username", ""))

    def token(self) -> str:
        return self._token(request)

    def login(self, username: object, password: object) -> bool:
        user = self.guard.authenticate(username, password)
        if user is None:
            return False
        self.guard.login(user)
        session["username"] = user.username
        return True

    def logout(self) -> None:
        self.guard.logout()


class FlaskSessionLayer(Layer):
    """Flask-Session + Flask-WTF + Flask-Login; login gets a new session id, as documented."""

    def __init__(self, app: Flask, db: PeerDB, store_url: str, secret: str) -> None:
        from flask_login import LoginManager, UserMixin
        from flask_session import Session
        from flask_wtf.csrf import CSRFProtect, generate_csrf

        app.config.update(
            SECRET_KEY=secret,
            SESSION_COOKIE_NAME="sessionid",
            SESSION_PERMANENT=True,
            PERMANENT_SESSION_LIFETIME=timedelta(days=14),
            WTF_CSRF_FIELD_NAME="csrfmiddlewaretoken",
        )
        if store_url.startswith("redis://"):
            import redis

            app.config.update(
                SESSION_TYPE="redis",
                SESSION_REDIS=redis.Redis.from_url(store_url),
                SESSION_KEY_PREFIX=os.environ.get("BENCH_REDIS_PREFIX", "bench-fs:"),
            )
        else:
            from cachelib import SimpleCache

            app.config.update(SESSION_TYPE="cachelib", SESSION_CACHELIB=SimpleCache(200_000))
        Session(app)
        CSRFProtect(app)
        manager = LoginManager(app)

        class LoggedIn(UserMixin):
            def __init__(self, user_id: str) -> None:
                self.id = user_id

        manager.user_loader(LoggedIn)
        self.db, self.app, self.user_class = db, app, LoggedIn
        self._generate = generate_csrf

        @app.after_request
        def csrf_cookie(response: Response) -> Response:
            token = g.get("csrf_cookie")
            if token is not None:
                response.set_cookie("csrftoken", token, samesite="Lax")
            return response

    def user(self) -> User:
        from flask_login import current_user

        if not current_user.is_authenticated:
            return None
        return current_user.id, session.get("username", "")

    def token(self) -> str:
        token: str = self._generate()
        g.csrf_cookie = token
        return token

    def login(self, username: object, password: object) -> bool:
        from flask_login import login_user

        user_id = None
        if isinstance(username, str) and isinstance(password, str):
            user_id = self.db.authenticate(username, password)
        if user_id is None:
            return False
        session.clear()
        self.app.session_interface.regenerate(session)  # type: ignore[attr-defined]
        login_user(self.user_class(user_id))
        session["username"] = username
        self.token()  # the cleared session's token is gone: hand out the new one
        return True

    def logout(self) -> None:
        from flask_login import logout_user

        logout_user()
        session.clear()


def routes(app: Flask, db: PeerDB, layer: Layer) -> None:
    """The contract's routes; identical for every layer (and to sites/app.py's)."""

    @app.get("/login")
    def login_form() -> str:
        return login_page(layer.token(), safe_next(request.args.get("next")))

    @app.post("/login")
    def login() -> Any:
        form = request.form
        if not layer.login(form.get("username"), form.get("password")):
            return login_page(layer.token(), "/records", "Wrong username or password.")
        return redirect(safe_next(form.get("next")), code=303)

    @app.post("/logout")
    def logout() -> Any:
        layer.logout()
        return redirect("/login", code=303)

    @app.get("/records")
    def records() -> Any:
        user = layer.user()
        if user is None:
            return redirect("/login?next=/records", code=303)
        return records_page(user[1], layer.token(), db.records(user[0]))

    @app.post("/records")
    def add_record_form() -> Any:
        user = layer.user()
        if user is None:
            return redirect("/login?next=/records", code=303)
        text = request.form.get("text")
        error = record_text_error({"text": text})
        if error or not isinstance(text, str):
            page = records_page(user[1], layer.token(), db.records(user[0]), error or "")
            return page, 400
        db.add_record(user[0], text)
        return redirect("/records", code=303)

    @app.get("/api/records")
    def api_records() -> Any:
        user = layer.user()
        if user is None:
            return jsonify({"error": "not logged in"}), 401
        return jsonify([{"id": i, "text": t} for i, t in db.records(user[0])])

    @app.post("/api/records")
    def api_add() -> Any:
        user = layer.user()
        if user is None:
            return jsonify({"error": "not logged in"}), 401
        try:
            body = json.loads(request.get_data())
        except ValueError:
            return jsonify({"error": "body is not JSON"}), 400
        error = record_text_error(body)
        if error:
            return jsonify({"error": error}), 400
        text = body["text"]
        return jsonify({"id": db.add_record(user[0], text), "text": text}), 201


def build(security: str, db_path: str, store_url: str, secret: str) -> Flask:
    """The WSGI app for one subject."""
    app = Flask(__name__)
    db = PeerDB(db_path)
    if security == "none":
        layer = Layer()
    elif security == "cookieguard":
        layer = CookieGuardLayer(app, db_path, store_url, secret)
    elif security == "flask-session":
        layer = FlaskSessionLayer(app, db, store_url, secret)
    else:
        raise SystemExit(f"BENCH_SECURITY must be none, cookieguard or flask-session: {security!r}")
    routes(app, db, layer)
    app.extensions["bench_db"] = db
    return app


def close(app: Flask) -> None:
    """Close what `build` opened: the records database, and cookieguard's store and users.

    gunicorn never needs it (the worker's exit closes everything); tests do.
    """
    app.extensions["bench_db"].close()
    config = app.config
    if "COOKIEGUARD_STORE" in config:
        config["COOKIEGUARD_STORE"].close()
        config["COOKIEGUARD_USERS"].close()


def create_app() -> Flask:
    """The app `BENCH_SECURITY` asks for (gunicorn: ``'flask_app:create_app()'``)."""
    return build(
        os.environ.get("BENCH_SECURITY", "none"),
        os.environ["BENCH_DB"],
        os.environ.get("BENCH_STORE", "memory://"),
        os.environ.get("BENCH_SECRET") or secrets.token_urlsafe(32),
    )


def main() -> int:
    """`python flask_app.py adduser cookieguard|flask-session NAME DB`, the password on stdin."""
    return adduser_command("flask_app.py", "flask-session")


if __name__ == "__main__":
    sys.exit(main())
