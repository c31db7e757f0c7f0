"""The exception tree: what the library raises is a `CookieguardError`, and a missing
middleware is one `MiddlewareMissing` whichever front door the helper belongs to."""

from __future__ import annotations

import io
from typing import Any

import pytest

import cookieguard
from cookieguard import errors
from cookieguard.asgi.csrf import get_csrf_token
from cookieguard.asgi.session import get_session, get_session_backend
from cookieguard.errors import ConfigError, CookieguardError, KeyCollision, MiddlewareMissing
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
