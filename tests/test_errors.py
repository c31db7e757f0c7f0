"""The exception tree: what the library raises is a `CookieguardError`, and a missing
middleware is one `MiddlewareMissing` whichever front door the helper belongs to."""

from __future__ import annotations

import io
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

import cookieguard
from cookieguard import errors
from cookieguard.asgi.csrf import get_csrf_token
from cookieguard.asgi.session import get_session, get_session_backend
from cookieguard.auth import PasswordHasher, SQLiteUserStore
from cookieguard.auth._users import User
from cookieguard.errors import (
    ConfigError,
    CookieguardError,
    InactiveUser,
    InvalidPassword,
    InvalidSessionChange,
    InvalidUsername,
    KeyCollision,
    MiddlewareMissing,
    UserNotFound,
)
from cookieguard.stores.base import SessionRecord
from cookieguard.stores.memory import MemoryStore
from cookieguard.wsgi import get_csrf_token as wsgi_csrf_token
from cookieguard.wsgi import get_session as wsgi_get_session
from cookieguard.wsgi import get_session_store as wsgi_session_store
from tests.asgi.scopes import http_scope


def _environ() -> dict[str, Any]:
    return {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(),
    }


def test_every_exception_errors_defines_is_in_the_tree() -> None:
    for name in errors.__all__:
        value = getattr(errors, name)
        assert issubclass(value, CookieguardError), name
        assert getattr(cookieguard, name) is value, f"cookieguard.{name}"


def test_middleware_missing_is_a_config_error_and_what_was_raised_before() -> None:
    assert issubclass(MiddlewareMissing, ConfigError)
    assert issubclass(MiddlewareMissing, ValueError)  # as every ConfigError
    assert issubclass(MiddlewareMissing, RuntimeError)  # what the session helpers raised


@pytest.mark.parametrize(
    "helper",
    [get_session, get_session_backend, get_csrf_token],
    ids=["get_session", "get_session_backend", "get_csrf_token"],
)
def test_asgi_helpers_without_their_middleware(helper: Any) -> None:
    with pytest.raises(MiddlewareMissing, match="Middleware"):
        helper(http_scope())


@pytest.mark.parametrize(
    "helper",
    [wsgi_get_session, wsgi_session_store, wsgi_csrf_token],
    ids=["get_session", "get_session_store", "get_csrf_token"],
)
def test_wsgi_helpers_without_their_middleware(helper: Any) -> None:
    with pytest.raises(MiddlewareMissing):
        helper(_environ())


def test_flask_helpers_without_the_extension() -> None:
    flask = pytest.importorskip("flask")
    from cookieguard.integrations.flask import CookieGuard

    guard = CookieGuard()  # never given an app: init_app was not called
    app = flask.Flask(__name__)
    with app.test_request_context("/"), pytest.raises(MiddlewareMissing, match="not installed"):
        guard.authenticate("someone", "password")


async def test_a_store_key_collision_is_in_the_tree() -> None:
    store = MemoryStore()
    record = SessionRecord(
        data={"a": 1}, user_id=None, created_at=1.0, last_seen=1.0, expires_at=4_000_000_000.0
    )
    await store.create("k" * 64, record)
    with pytest.raises(KeyCollision) as caught:
        await store.create("k" * 64, record)
    assert isinstance(caught.value, CookieguardError)


async def test_login_of_an_inactive_user_raises_inactive_user() -> None:
    from cookieguard.auth import login
    from cookieguard.core.session import Session
    from cookieguard.core.signing import KeyRing

    scope = http_scope(session=Session(0.0))
    disabled = User(id="7", username="ada", password_hash="!", is_active=False)
    with pytest.raises(InactiveUser, match="inactive") as caught:
        await login(scope, disabled, keyring=KeyRing("a secret key of thirty-two bytes!"))
    assert isinstance(caught.value, ValueError)  # what login() raised before the class
    assert isinstance(caught.value, cookieguard.AuthError)
    assert scope["session"].peek("_auth_user_id") is None  # nobody is logged in


@pytest.mark.parametrize("username", ["", " ada", "a" * 151, "ada\u200b", "ad\na"])
async def test_an_unacceptable_username_raises_invalid_username(
    username: str, tmp_path: Path
) -> None:
    users = SQLiteUserStore(tmp_path / "users.db")
    try:
        with pytest.raises(InvalidUsername, match="usernames must") as caught:
            await users.create_user(username, "!")
        assert isinstance(caught.value, ValueError)
        assert await users.get_by_username("ada") is None
    finally:
        await users.close()


async def test_a_password_reset_for_a_deleted_user_raises_user_not_found(
    tmp_path: Path,
) -> None:
    from cookieguard.auth._password_change import reset_password

    db = tmp_path / "users.db"
    users = SQLiteUserStore(db)
    try:
        user = await users.create_user("ada", "!")
        with closing(sqlite3.connect(db)) as conn:  # deleted behind the library's back
            conn.execute(f"DELETE FROM {users.table}")
            conn.commit()
        fast = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
        with pytest.raises(UserNotFound) as caught:
            await reset_password(users, user, "a new password", session_store=None, hasher=fast)
        assert isinstance(caught.value, LookupError)  # what it raised before the class
    finally:
        await users.close()


@pytest.mark.parametrize(
    "settings",
    [
        {"name": "a b"},
        {"name": "__Host-sid", "secure": True, "path": "/app"},
        {"name": "__Secure-sid"},
        {"name": "sid", "samesite": "None"},
        {"name": "sid", "partitioned": True},
        {"name": "sid", "spelling": "django"},
    ],
    ids=["bad-name", "host-prefix", "secure-prefix", "samesite-none", "partitioned", "spelling"],
)
def test_a_cookie_browsers_would_drop_is_a_config_error(settings: dict[str, Any]) -> None:
    from cookieguard.core.cookies import CookieSpec

    with pytest.raises(ConfigError) as caught:
        CookieSpec(**settings)
    assert isinstance(caught.value, ValueError)  # what CookieSpec raised before the class


def test_an_unsafe_default_redirect_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="same-site path"):
        cookieguard.safe_next("/ok", default="https://elsewhere.example/")
    assert cookieguard.safe_next("//elsewhere.example/", default="/home") == "/home"


@pytest.mark.parametrize("password", ["", "x" * 4097, "\ud800"], ids=["empty", "long", "surrogate"])
def test_a_password_no_hash_can_be_made_of_raises_invalid_password(password: str) -> None:
    fast = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    with pytest.raises(InvalidPassword, match="passwords must") as caught:
        fast.hash(password)
    assert isinstance(caught.value, ValueError)  # what hash() raised before the class
    assert isinstance(caught.value, cookieguard.AuthError)


def test_a_hasher_with_out_of_range_legacy_iterations_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="legacy_iterations"):
        PasswordHasher(legacy_iterations=-1)


@pytest.mark.parametrize("seconds", [-1, 1.5, True, "60"])
def test_a_bad_expiry_raises_invalid_session_change(seconds: Any) -> None:
    from cookieguard.core.session import Session

    session = Session(0.0)
    with pytest.raises(InvalidSessionChange, match="set_expiry") as caught:
        session.set_expiry(seconds)
    assert isinstance(caught.value, ValueError)  # what set_expiry() raised before the class
    assert not session.modified  # nothing was changed


def test_discarding_pending_session_changes_raises_invalid_session_change() -> None:
    from cookieguard.core.session import Session

    session = Session(0.0)
    session["cart"] = [1]
    with pytest.raises(InvalidSessionChange, match="flush"):
        session.modified = False
    assert session.modified  # the change is still going to be saved
    assert session["cart"] == [1]
