"""The Flask extension through Flask's own test client: flask.session, CSRF in before_request,
exemptions, CSRFError, settings, throttling, and Flask-Login running unchanged on top."""

from __future__ import annotations

import functools
import re
import time
from pathlib import Path
from typing import Any

import pytest
from flask import Blueprint, Flask, jsonify, render_template_string, request, session
from flask.testing import FlaskClient

from cookieguard import ConfigError, PasswordHasher, SyncSQLiteStore, SyncSQLiteUserStore
from cookieguard.core.tokens import hash_session_id
from cookieguard.integrations.flask import CookieGuard, CSRFError
from cookieguard.wsgi import get_csrf_token
from tests.store_backends import free_port

SECRET = "flask-tests-" + "f" * 40
OLD_SECRET = "flask-tests-old-" + "o" * 40
TOKEN = re.compile(r'value="([A-Za-z0-9]{64})"')
_hash: list[str] = []
_opened: list[SyncSQLiteStore | SyncSQLiteUserStore] = []


@pytest.fixture(autouse=True)
def _close_stores() -> Any:
    """Close every store a test opened: a Flask app has no shutdown hook to do it."""
    yield
    while _opened:
        _opened.pop().close()


def _sessions(path: Path) -> SyncSQLiteStore:
    store = SyncSQLiteStore(path)
    _opened.append(store)
    return store


def _users(path: Path) -> SyncSQLiteUserStore:
    if not _hash:
        _hash.append(PasswordHasher().hash("alice-pass"))
    users = SyncSQLiteUserStore(path)
    _opened.append(users)
    if users.get_by_username("alice") is None:
        users.create_user("alice", _hash[0])
    return users


def make_app(tmp_path: Path, **config: Any) -> tuple[Flask, CookieGuard]:
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=SECRET,
        COOKIEGUARD_STORE=_sessions(tmp_path / "sessions.db"),
        COOKIEGUARD_USERS=_users(tmp_path / "users.db"),
    )
    app.config.update(config)
    guard = CookieGuard()
    guard.init_app(app)  # the application-factory idiom

    @app.get("/page")
    def page() -> str:
        return render_template_string("<form>{{ csrf_input() }}</form><p>{{ csrf_token() }}</p>")

    @app.post("/write")
    def write() -> str:
        session[request.form["key"]] = request.form["value"]
        return "ok"

    @app.get("/read/<key>")
    def read(key: str) -> Any:
        return jsonify(value=session.get(key))

    @app.post("/upload")
    def upload() -> Any:
        data = request.files["f"].read()
        return jsonify(size=len(data), name=request.form.get("name"))

    @app.post("/login")
    def login() -> Any:
        user = guard.authenticate(request.form["username"], request.form["password"])
        if user is None:
            return "no", 200
        guard.login(user)
        return "in"

    @app.post("/logout")
    def logout() -> str:
        guard.logout()
        return "out"

    @app.get("/me")
    def me() -> Any:
        user = guard.user()
        return jsonify(user=None if user is None else user.username)

    return app, guard


def token(client: FlaskClient) -> str:
    found = TOKEN.search(client.get("/page").text)
    assert found is not None
    return found[1]


@pytest.mark.parametrize(
    ("own", "expected"),
    [
        (None, ["Cookie"]),
        ("Accept", ["Accept, Cookie"]),
        ("Accept-Encoding, cookie", ["Accept-Encoding, cookie"]),
        ("*", ["*"]),
    ],
)
def test_flask_responses_vary_on_cookie_once_keeping_the_apps_own_vary(
    tmp_path: Path, own: str | None, expected: list[str]
) -> None:
    app, _ = make_app(tmp_path)

    @app.get("/own-vary")
    def own_vary() -> Any:
        response = app.make_response(f"<p>{get_csrf_token(request)}</p>")
        if own is not None:
            response.headers["Vary"] = own
        return response

    client = app.test_client()
    first = client.get("/own-vary")  # issues the token, sets csrftoken
    assert first.headers.getlist("Vary") == expected
    assert any(v.startswith("csrftoken=") for v in first.headers.getlist("Set-Cookie"))
    client.post("/write", data={"key": "k", "value": "v", "csrfmiddlewaretoken": token(client)})
    again = client.get("/own-vary")  # a stored session too: still one Vary naming Cookie
    assert again.headers.getlist("Vary") == expected


def test_flask_session_is_the_server_side_session(tmp_path: Path) -> None:
    app, _ = make_app(tmp_path)
    client = app.test_client()
    response = client.post(
        "/write", data={"key": "colour", "value": "blue", "csrfmiddlewaretoken": token(client)}
    )
    assert response.status_code == 200
    cookie = client.get_cookie("sessionid")
    assert cookie is not None and cookie.http_only and cookie.same_site == "Lax"
    assert "Cookie" in response.headers["Vary"]
    store = _sessions(tmp_path / "sessions.db")
    record = store.load(hash_session_id(cookie.value), now=time.time())
    assert record is not None and record.data == {"colour": "blue"}  # on the server
    assert client.get("/read/colour").json == {"value": "blue"}
    assert "session=" not in response.headers.get("Set-Cookie", "")  # no Flask cookie


def test_jinja_globals_render_a_token_that_passes(tmp_path: Path) -> None:
    app, _ = make_app(tmp_path)
    client = app.test_client()
    page = client.get("/page").text
    field, header_token = TOKEN.search(page)[1], page.split("<p>")[1].split("</p>")[0]  # type: ignore[index]
    assert 'name="csrfmiddlewaretoken"' in page and field != header_token
    ok = client.post(
        "/write", data={"key": "a", "value": "b"}, headers={"X-CSRFToken": header_token}
    )
    assert ok.status_code == 200


def test_refusals_raise_csrf_error_with_djangos_reason(tmp_path: Path) -> None:
    app, _ = make_app(tmp_path)
    seen: list[str] = []

    @app.errorhandler(CSRFError)
    def refused(error: CSRFError) -> tuple[str, int]:
        seen.append(error.reason)
        return f"refused: {error.reason}", 403

    client = app.test_client()
    token(client)
    response = client.post("/write", data={"key": "a", "value": "b"})
    assert response.status_code == 403 and seen == ["CSRF token missing."]
    response = client.post(
        "/write",
        data={"key": "a", "value": "b", "csrfmiddlewaretoken": token(client)},
        headers={"Origin": "https://evil.example"},
    )
    assert response.status_code == 403 and "does not match any trusted origins" in seen[-1]


def test_the_default_refusal_is_the_403_page(tmp_path: Path) -> None:
    app, _ = make_app(tmp_path)
    client = app.test_client()
    response = client.post("/write", data={"key": "a", "value": "b"})
    assert response.status_code == 403
    assert "CSRF verification failed" in response.text
    assert (
        client.post("/write", headers={"Accept": "application/json"}).json["error"] == "csrf_failed"
    )


def test_the_body_is_replayed_to_the_view(tmp_path: Path) -> None:
    app, _ = make_app(tmp_path)
    client = app.test_client()
    upload = bytes(range(256)) * 1000
    import io

    response = client.post(
        "/upload",
        data={
            "csrfmiddlewaretoken": token(client),
            "name": "n",
            "f": (io.BytesIO(upload), "f.bin"),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 200
    assert response.json == {"size": len(upload), "name": "n"}


def test_exempt_views_and_blueprints(tmp_path: Path) -> None:
    app, guard = make_app(tmp_path)

    @app.post("/hook")
    @guard.exempt
    def hook() -> str:
        return "hooked"

    hooks = Blueprint("hooks", __name__)

    @hooks.post("/in")
    def hook_in() -> str:
        return "in"

    guard.exempt(hooks)
    app.register_blueprint(hooks, url_prefix="/hooks")
    client = app.test_client()
    assert client.post("/hook").text == "hooked"
    assert client.post("/hooks/in").text == "in"
    assert client.post("/write", data={"key": "a", "value": "b"}).status_code == 403


def test_a_marker_the_guard_cannot_see_fails_loudly(tmp_path: Path) -> None:
    app, guard = make_app(tmp_path)

    def wrapper_without_wraps(view: Any) -> Any:
        def inner(*args: Any, **kwargs: Any) -> Any:
            return view(*args, **kwargs)

        return inner

    @app.post("/hook", endpoint="hook")
    @wrapper_without_wraps
    @guard.exempt
    def hook() -> str:
        return "hooked"

    app.testing = True
    client = app.test_client()
    with pytest.raises(ConfigError, match="no route serves it"):
        client.get("/page")
    assert functools  # (functools.wraps would have kept the marker)


def test_settings_are_checked(tmp_path: Path) -> None:
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=SECRET, COOKIEGUARD_STORE="memory://", COOKIEGUARD_TRUSTED_ORIGIN=["x"]
    )
    with pytest.raises(ConfigError, match="COOKIEGUARD_TRUSTED_ORIGIN"):
        CookieGuard(app)
    bare = Flask(__name__)
    bare.config.update(COOKIEGUARD_STORE="memory://")
    with pytest.raises(ConfigError, match="secret key"):
        CookieGuard(bare)


def _login(client: FlaskClient, password: str = "alice-pass") -> Any:
    return client.post(
        "/login",
        data={"username": "alice", "password": password, "csrfmiddlewaretoken": token(client)},
    )


def test_login_and_logout_rotate_and_end_the_session(tmp_path: Path) -> None:
    app, _ = make_app(tmp_path)
    client = app.test_client()
    client.post("/write", data={"key": "k", "value": "v", "csrfmiddlewaretoken": token(client)})
    before = client.get_cookie("sessionid").value  # type: ignore[union-attr]
    secret = client.get_cookie("csrftoken").value  # type: ignore[union-attr]
    assert _login(client).text == "in"
    after = client.get_cookie("sessionid").value  # type: ignore[union-attr]
    assert after != before and client.get_cookie("csrftoken").value != secret  # type: ignore[union-attr]
    assert client.get("/me").json == {"user": "alice"}
    assert client.post("/logout", data={"csrfmiddlewaretoken": token(client)}).text == "out"
    store = _sessions(tmp_path / "sessions.db")
    assert store.load(hash_session_id(after), now=time.time()) is None
    assert client.get("/me").json == {"user": None}


def test_secret_key_fallbacks_keep_sessions_valid(tmp_path: Path) -> None:
    old, _ = make_app(tmp_path, SECRET_KEY=OLD_SECRET)
    kept, dropped = old.test_client(), old.test_client()
    _login(kept)
    _login(dropped)
    # The key rotated, the old one listed as a fallback: the session is still valid, and its
    # auth hash is upgraded to the new key under a new id.
    rotated, _ = make_app(tmp_path, SECRET_KEY=SECRET, SECRET_KEY_FALLBACKS=[OLD_SECRET])
    client = rotated.test_client()
    client.set_cookie("sessionid", kept.get_cookie("sessionid").value)  # type: ignore[union-attr]
    assert client.get("/me").json == {"user": "alice"}
    upgraded = client.get_cookie("sessionid").value  # type: ignore[union-attr]
    assert upgraded != kept.get_cookie("sessionid").value  # type: ignore[union-attr]
    new_only, _ = make_app(tmp_path, SECRET_KEY=SECRET)
    fresh = new_only.test_client()
    fresh.set_cookie("sessionid", upgraded)
    assert fresh.get("/me").json == {"user": "alice"}
    # Without the fallback, a session signed with the old key ends.
    stale = new_only.test_client()
    stale.set_cookie("sessionid", dropped.get_cookie("sessionid").value)  # type: ignore[union-attr]
    assert stale.get("/me").json == {"user": None}


def test_failed_logins_are_throttled(tmp_path: Path) -> None:
    from cookieguard import ThrottlePolicy

    app, _ = make_app(tmp_path, COOKIEGUARD_THROTTLE=ThrottlePolicy(max_attempts_per_user=2))
    client = app.test_client()
    assert _login(client, "wrong").text == "no"
    assert _login(client, "wrong").text == "no"
    refused = _login(client, "wrong")
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0


def test_a_store_down_with_a_session_cookie_is_503(tmp_path: Path) -> None:
    app, _ = make_app(tmp_path, COOKIEGUARD_STORE=f"redis://127.0.0.1:{free_port()}/0")
    client = app.test_client()
    client.set_cookie("sessionid", "a" * 32)
    response = client.get("/read/x")
    assert response.status_code == 503 and response.headers["Retry-After"] == "5"


def test_close_closes_the_store_opened_from_a_url_and_only_that(tmp_path: Path) -> None:
    opened, _ = make_app(tmp_path, COOKIEGUARD_STORE=f"sqlite:///{tmp_path / 'url.db'}")
    given, _ = make_app(tmp_path)  # a store object: the app's own
    for app in (opened, given):
        client = app.test_client()
        form = {"key": "k", "value": "v", "csrfmiddlewaretoken": token(client)}
        assert client.post("/write", data=form).status_code == 200
    assert (tmp_path / "url.db-wal").exists() and (tmp_path / "sessions.db-wal").exists()
    CookieGuard.close(opened)
    CookieGuard.close(given)
    # SQLite removes the write-ahead log when the last connection to the file closes.
    assert not (tmp_path / "url.db-wal").exists()
    assert (tmp_path / "sessions.db-wal").exists()  # still open, for the app to close


def test_helpers_take_flasks_request_proxy(tmp_path: Path) -> None:
    app, _ = make_app(tmp_path)

    @app.get("/proxy")
    def proxy() -> str:
        return get_csrf_token(request)  # the LocalProxy, as Flask users pass it

    assert TOKEN.fullmatch(f'value="{app.test_client().get("/proxy").text}"')


# Flask-Login, unchanged, on top of the extension


def make_login_app(tmp_path: Path) -> Flask:
    import flask_login

    app, _ = make_app(tmp_path)
    manager = flask_login.LoginManager(app)
    users = _users(tmp_path / "users.db")

    class Account(flask_login.UserMixin):  # type: ignore[misc]
        def __init__(self, user_id: str) -> None:
            self.id = user_id

    @manager.user_loader
    def load(user_id: str) -> Account | None:
        return Account(user_id) if users.get_by_id(user_id) else None

    @manager.unauthorized_handler
    def unauthorized() -> Any:
        return jsonify(error="authentication required"), 401

    @app.post("/fl/login")
    def fl_login() -> str:
        user = users.get_by_username(request.form["username"])
        assert user is not None
        flask_login.login_user(Account(user.id))
        return "in"

    @app.post("/fl/logout")
    def fl_logout() -> str:
        flask_login.logout_user()
        return "out"

    @app.get("/fl/private")
    @flask_login.login_required
    def fl_private() -> Any:
        return jsonify(user=flask_login.current_user.id)

    return app


def test_flask_login_runs_on_the_cookieguard_session(tmp_path: Path) -> None:
    app = make_login_app(tmp_path)
    client = app.test_client()
    assert client.get("/fl/private").status_code == 401
    client.post("/write", data={"key": "k", "value": "v", "csrfmiddlewaretoken": token(client)})
    before = client.get_cookie("sessionid").value  # type: ignore[union-attr]
    secret = client.get_cookie("csrftoken").value  # type: ignore[union-attr]
    old_token = token(client)
    response = client.post(
        "/fl/login", data={"username": "alice", "csrfmiddlewaretoken": old_token}
    )
    assert response.text == "in"
    after = client.get_cookie("sessionid").value  # type: ignore[union-attr]
    assert after != before  # user_logged_in: a new session id
    assert client.get_cookie("csrftoken").value != secret  # and a new CSRF secret  # type: ignore[union-attr]
    assert client.get("/fl/private").json == {"user": "1"}
    store = _sessions(tmp_path / "sessions.db")
    assert store.load(hash_session_id(before), now=time.time()) is None
    assert store.list_user("1", now=time.time())  # indexed under the user
    stale = client.post("/write", data={"key": "a", "value": "b", "csrfmiddlewaretoken": old_token})
    assert stale.status_code == 403
    assert client.post("/fl/logout", data={"csrfmiddlewaretoken": token(client)}).text == "out"
    assert store.load(hash_session_id(after), now=time.time()) is None  # ended server-side
    assert client.get("/fl/private").status_code == 401


def test_a_password_changed_elsewhere_ends_the_flask_session(tmp_path: Path) -> None:
    app, guard = make_app(tmp_path, COOKIEGUARD_RECHECK_INTERVAL=0)  # re-check every request

    @app.get("/id")
    def user_id() -> Any:
        return jsonify(user=guard.user_id())  # the session alone, no query of its own

    client = app.test_client()
    _login(client)
    assert client.get("/id").json == {"user": "1"}
    session_id = client.get_cookie("sessionid").value  # type: ignore[union-attr]
    users = _users(tmp_path / "users.db")
    users.set_password("1", PasswordHasher().hash("changed-elsewhere"))  # behind our back
    assert client.get("/id").json == {"user": None}  # the re-check ended it before the view
    store = _sessions(tmp_path / "sessions.db")
    assert store.load(hash_session_id(session_id), now=time.time()) is None


def test_a_session_interface_replaced_after_init_app_fails_loudly(tmp_path: Path) -> None:
    """cookieguard's session save also sends the CSRF cookie: another interface would leave
    every form without one, so the first request says so instead."""
    from flask.sessions import SecureCookieSessionInterface

    app, _ = make_app(tmp_path)
    app.session_interface = SecureCookieSessionInterface()
    app.testing = True
    with pytest.raises(ConfigError, match="session_interface was replaced"):
        app.test_client().get("/page")
