"""The WSGI session layer: saved at start_response, Set-Cookie and Vary, 503/507, no 500s."""

from __future__ import annotations

import secrets
import time
from pathlib import Path

import pytest

from cookieguard import SignedCookieBackend, SyncSQLiteStore
from cookieguard.core.tokens import hash_session_id
from cookieguard.stores import open_sync_store
from cookieguard.stores.memory import SyncMemoryStore
from tests.conftest import Opened
from tests.store_backends import free_port

from .site import SECRET, client, guard


def _set(c, key: str, value: str):  # type: ignore[no-untyped-def]
    page = c.get("/token")
    return c.post("/set", data={"key": key, "value": value}, headers={"X-CSRFToken": page.text})


def test_a_write_creates_the_record_and_the_cookie(tmp_path: Path, opened: Opened) -> None:
    store = opened(SyncSQLiteStore(tmp_path / "s.db"))
    c = client(guard(store))
    response = _set(c, "colour", "blue")
    assert response.status_code == 200
    cookie = [h for h in response.headers.get_list("set-cookie") if h.startswith("sessionid=")]
    assert cookie and "HttpOnly" in cookie[0] and "SameSite=Lax" in cookie[0]
    assert response.headers["cache-control"] == "no-store"
    assert "Cookie" in response.headers["vary"]
    record = store.load(hash_session_id(c.cookies["sessionid"]), now=time.time())
    assert record is not None and record.data == {"colour": "blue"}
    read = c.get("/get?colour")
    assert read.json() == "blue"
    assert "set-cookie" not in read.headers and "Cookie" in read.headers["vary"]


def test_vary_extends_the_apps_own_header(tmp_path: Path, opened: Opened) -> None:
    with client(guard(opened(SyncSQLiteStore(tmp_path / "s.db")))) as c:
        _set(c, "k", "v")
        response = c.get("/vary")
    assert response.status_code == 200
    assert response.headers.get_list("vary") == ["Accept-Encoding, Cookie"]


def test_no_cookie_no_session_work() -> None:
    store = SyncMemoryStore()
    c = client(guard(store))
    response = c.get("/get?colour")
    assert response.json() is None
    assert "sessionid" not in response.headers.get("set-cookie", "")
    assert len(store) == 0


def test_an_unknown_id_is_never_adopted() -> None:
    c = client(guard(SyncMemoryStore()))
    c.cookies.set("sessionid", "a" * 32, domain="testserver.local")
    assert c.get("/get?colour").json() is None
    response = _set(c, "colour", "red")
    new = c.cookies.get("sessionid")
    assert response.status_code == 200 and new and new != "a" * 32


def test_a_generator_app_gets_its_session_saved_too() -> None:
    store = SyncMemoryStore()
    c = client(guard(store))
    response = c.get("/lazy")
    assert response.text == "lazy body"
    assert c.cookies.get("sessionid") and len(store) == 1


def test_store_down_with_a_cookie_is_503_never_500(caplog: pytest.LogCaptureFixture) -> None:
    down = open_sync_store(f"redis://127.0.0.1:{free_port()}/0")
    c = client(guard(down), cookie="sessionid=" + "a" * 32)
    with caplog.at_level("ERROR"):
        response = c.get("/get?colour", headers={"Accept": "application/json"})
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert response.json()["error"] == "session_store_unavailable"
    assert "unavailable at load" in caplog.text


def test_store_down_at_save_turns_the_response_into_a_503() -> None:
    down = open_sync_store(f"redis://127.0.0.1:{free_port()}/0")
    c = client(guard(down))
    response = _set(c, "colour", "blue")  # no cookie: loads nothing, the create fails
    assert response.status_code == 503
    assert "sessionid" not in response.headers.get("set-cookie", "")


def test_store_unavailable_raised_by_the_app_is_503() -> None:
    c = client(guard(SyncMemoryStore()))
    token = c.get("/token").text
    response = c.post("/fail", headers={"X-CSRFToken": token})
    assert response.status_code == 503
    assert "storage backend is unavailable" in response.text


def test_signed_cookie_sessions_share_the_asgi_format_and_refuse_oversize() -> None:
    backend = SignedCookieBackend(SECRET)
    c = client(guard(backend))
    assert _set(c, "colour", "blue").status_code == 200
    assert c.get("/get?colour").json() == "blue"
    # The ASGI backend reads the WSGI cookie: one format.
    decoded = backend.decode(c.cookies["sessionid"], now=time.time())
    assert decoded is not None and dict(decoded) == {"colour": "blue"}
    huge = _set(c, "big", secrets.token_urlsafe(4000))  # incompressible
    assert huge.status_code == 507
    assert c.get("/get?colour").json() == "blue"  # the old cookie is kept


def test_an_async_store_is_refused_with_the_fix() -> None:
    from cookieguard import MemoryStore

    with pytest.raises(TypeError, match="open_sync_store"):
        guard(MemoryStore())
