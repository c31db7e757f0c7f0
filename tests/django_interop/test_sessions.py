"""DjangoSessionBackend on Django's own table (SQLite and PostgreSQL), through the real middleware.

Rows are made and read back with Django's ``django.core.signing``: a row Django wrote loads
here, a row written here is what Django reads. Bad rows (an unknown key, a pickle, garbage)
are no session: 200 and anonymous, never a 500, one warning per row without its data.
"""

from __future__ import annotations

import asyncio
import logging
import pickle
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from django.core import signing
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cookieguard.asgi.session import SessionMiddleware, get_session
from cookieguard.auth import AuthMiddleware, get_user, login, logout
from cookieguard.config import SessionConfig
from cookieguard.core.signing import KeyRing
from cookieguard.core.tokens import hash_session_id, new_session_id
from cookieguard.django import DjangoSessionBackend, DjangoUserStore, from_django_settings
from cookieguard.django._hashers import DjangoPasswordHasher
from cookieguard.errors import StoreUnavailable

from .conftest import OLD_SECRET, SECRET, DjangoTables, django_dumps, django_loads

BACKEND = "django.contrib.auth.backends.ModelBackend"


class _PickleSerializer:
    def dumps(self, obj: Any) -> bytes:
        return pickle.dumps(obj)

    def loads(self, data: bytes) -> Any:  # pragma: no cover - must never be called
        raise AssertionError("the backend unpickled a session")


class _Stores:
    """What `_app` opened: the test closes both (the users store holds a SQLite connection)."""

    def __init__(self, backend: DjangoSessionBackend, users: DjangoUserStore) -> None:
        self.backend, self.users = backend, users

    async def close(self) -> None:
        await self.users.close()
        await self.backend.close()


def _app(tables: DjangoTables, *, recheck: int | None = None) -> tuple[Any, _Stores]:
    site = from_django_settings({"SECRET_KEY": SECRET, "SECRET_KEY_FALLBACKS": [OLD_SECRET]})
    backend = DjangoSessionBackend(
        tables.location, keys=site.keyring, table=tables.sessions, cookie_age=site.cookie_age
    )
    users = DjangoUserStore(tables.location, table=tables.users)
    auth = site.auth_config(
        users, recheck_interval=recheck, passwords=DjangoPasswordHasher(iterations=1000)
    )

    async def show(request: Request) -> Response:
        session = get_session(request)
        user = await get_user(request)
        return JSONResponse({"data": dict(session), "user": user.username if user else None})

    async def put(request: Request) -> Response:
        get_session(request).update(dict(request.query_params))
        return JSONResponse({})

    async def do_login(request: Request) -> Response:
        user = await users.get_by_id(request.query_params["id"])
        assert user is not None
        await login(request, user)
        return JSONResponse({})

    async def do_logout(request: Request) -> Response:
        await logout(request)
        return JSONResponse({})

    routes = [
        Route("/show", show),
        Route("/put", put, methods=["POST"]),
        Route("/login", do_login, methods=["POST"]),
        Route("/logout", do_logout, methods=["POST"]),
    ]
    app = SessionMiddleware(AuthMiddleware(Starlette(routes=routes), auth), backend, site.session)
    return app, _Stores(backend, users)


def _client(app: Any, key: str | None = None) -> httpx.AsyncClient:
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://example.com"
    )
    if key is not None:  # as the server would have set it (so a new one replaces it)
        client.cookies.set("sessionid", key, domain="example.com")
    return client


async def test_a_row_django_wrote_loads_and_the_rewrite_is_what_django_reads(
    tables: DjangoTables,
) -> None:
    app, backend = _app(tables)
    key = new_session_id()
    data = {"cart": [1, 2, 3], "name": "Zoë"}
    await tables.insert_row(key, django_dumps(data), time.time() + 3600)
    async with _client(app, key) as client:
        shown = await client.get("/show")
        assert shown.json() == {"data": data, "user": None}
        changed = await client.post("/put", params={"note": "from cookieguard"})
        assert changed.status_code == 200
        assert f"sessionid={key};" in changed.headers["set-cookie"]  # the same Django key
    row = await tables.row(key)
    assert row is not None
    assert django_loads(row[0]) == {**data, "note": "from cookieguard"}
    assert abs(row[1] - (time.time() + 1_209_600)) < 60  # Django's SESSION_COOKIE_AGE
    await backend.close()


async def test_a_new_session_is_a_django_row_under_its_raw_key(tables: DjangoTables) -> None:
    app, backend = _app(tables)
    async with _client(app) as client:
        await client.post("/put", params={"hello": "world"})
        key = client.cookies["sessionid"]
    assert await tables.keys() == [key]  # raw, as Django keys rows (cookieguard stores hash)
    row = await tables.row(key)
    assert row is not None and django_loads(row[0]) == {"hello": "world"}
    await backend.close()


async def test_django_set_expiry_seconds_and_dates_are_kept(tables: DjangoTables) -> None:
    app, backend = _app(tables)
    by_age, by_date = new_session_id(), new_session_id()
    end = datetime.now(UTC) + timedelta(hours=3)
    await tables.insert_row(by_age, django_dumps({"_session_expiry": 600}), time.time() + 600)
    await tables.insert_row(
        by_date, django_dumps({"_session_expiry": end.isoformat()}), end.timestamp()
    )
    for key in (by_age, by_date):
        async with _client(app, key) as client:
            assert (await client.post("/put", params={"x": "1"})).status_code == 200
    age_row, date_row = await tables.row(by_age), await tables.row(by_date)
    assert age_row is not None and date_row is not None
    assert abs(age_row[1] - (time.time() + 600)) < 30  # the session's own idle age
    assert abs(date_row[1] - end.timestamp()) < 1  # a fixed end stays fixed
    assert django_loads(date_row[0])["_session_expiry"] == end.isoformat()
    await backend.close()


async def test_expired_rows_do_not_load(tables: DjangoTables) -> None:
    app, backend = _app(tables)
    key = new_session_id()
    await tables.insert_row(key, django_dumps({"a": 1}), time.time() - 1)
    async with _client(app, key) as client:
        assert (await client.get("/show")).json()["data"] == {}
    await backend.close()


@pytest.mark.parametrize(
    "bad",
    [
        "unknown key",
        "pickle",
        "garbage",
        "truncated signature",
        "a list",
        "legacy base64 pickle",
    ],
)
async def test_a_bad_row_is_no_session_and_is_logged_once(
    tables: DjangoTables, bad: str, caplog: pytest.LogCaptureFixture
) -> None:
    secret_value = "s3cr3t-value-in-the-row"
    payload = {"_auth_user_id": "1", "secret": secret_value}
    good = django_dumps(payload)
    session_data = {
        "unknown key": django_dumps(payload, key="some-other-site-secret-key-0123456789"),
        "pickle": signing.TimestampSigner(key=SECRET, salt=django_salt()).sign_object(
            payload, serializer=_PickleSerializer, compress=True
        ),
        "garbage": "not even close",
        "truncated signature": good[:-3],
        "a list": django_dumps([1, 2, 3]),
        "legacy base64 pickle": "ZmFrZTpoYXNoOmdhbmdzdGVy" + pickle.dumps(payload).hex(),
    }[bad]
    app, backend = _app(tables)
    key = new_session_id()
    await tables.insert_row(key, session_data, time.time() + 3600)
    caplog.set_level(logging.INFO, logger="cookieguard")
    async with _client(app, key) as client:
        for _ in range(2):
            shown = await client.get("/show")
            assert shown.status_code == 200
            assert shown.json() == {"data": {}, "user": None}
    refused = [r for r in caplog.records if "refused" in r.getMessage()]
    assert len(refused) == 1 and refused[0].levelno == logging.WARNING
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert key not in logged and secret_value not in logged
    assert hash_session_id(key)[:12] in refused[0].getMessage()
    assert await tables.row(key) is not None  # not trusted, and not ours to delete
    await backend.close()


def django_salt() -> str:
    return "django.contrib.sessions.SessionStore"


async def test_a_row_signed_with_a_fallback_key_loads(tables: DjangoTables) -> None:
    app, backend = _app(tables)
    key = new_session_id()
    await tables.insert_row(key, django_dumps({"a": 1}, key=OLD_SECRET), time.time() + 60)
    async with _client(app, key) as client:
        assert (await client.get("/show")).json()["data"] == {"a": 1}
        await client.post("/put", params={"b": "2"})
    row = await tables.row(key)
    assert row is not None and django_loads(row[0]) == {"a": 1, "b": "2"}  # re-signed: new key
    await backend.close()


async def test_login_and_logout_cycle_and_delete_rows(tables: DjangoTables) -> None:
    hasher = DjangoPasswordHasher(iterations=1000)
    user_id = await tables.add_user("alice", hasher.hash("pw"))
    app, backend = _app(tables)
    anonymous = new_session_id()
    await tables.insert_row(anonymous, django_dumps({"cart": [1]}), time.time() + 60)
    async with _client(app, anonymous) as client:
        assert (await client.post("/login", params={"id": user_id})).status_code == 200
        key = client.cookies["sessionid"]
        assert key != anonymous and await tables.keys() == [key]  # the old row is gone
        row = await tables.row(key)
        assert row is not None
        data = django_loads(row[0])
        assert data["cart"] == [1] and data["_auth_user_id"] == user_id
        assert data["_auth_user_backend"] == BACKEND
        assert len(data["_auth_user_hash"]) == 64
        assert (await client.get("/show")).json()["user"] == "alice"
        assert (await client.post("/logout")).status_code == 200
    assert await tables.keys() == []
    await backend.close()


@pytest.mark.parametrize("change", ["deleted", "inactive", "password"])
async def test_a_session_whose_user_changed_is_no_session(
    tables: DjangoTables, change: str, caplog: pytest.LogCaptureFixture
) -> None:
    hasher = DjangoPasswordHasher(iterations=1000)
    user_id = await tables.add_user("bob", hasher.hash("pw"))
    app, backend = _app(tables, recheck=0)
    async with _client(app) as client:
        await client.post("/login", params={"id": user_id})
        key = client.cookies["sessionid"]
        assert (await client.get("/show")).json()["user"] == "bob"
        if change == "deleted":
            sql = f"DELETE FROM {tables.users} WHERE id = ?"
            params: tuple[Any, ...] = (int(user_id),)
        elif change == "inactive":
            sql, params = (
                f"UPDATE {tables.users} SET is_active = ? WHERE id = ?",
                (False, int(user_id)),
            )
        else:
            sql = f"UPDATE {tables.users} SET password = ? WHERE id = ?"
            params = (hasher.hash("new"), int(user_id))
        await tables.raw.execute(sql, params)
        caplog.set_level(logging.INFO, logger="cookieguard")
        shown = await client.get("/show")
        assert shown.status_code == 200 and shown.json() == {"data": {}, "user": None}
        assert await tables.row(key) is None  # ended for good, on both sides
        assert sum("no longer valid" in r.getMessage() for r in caplog.records) == 1
    await backend.close()


async def test_racing_writes_of_different_keys_both_land(tables: DjangoTables) -> None:
    backend = DjangoSessionBackend(tables.location, keys=KeyRing(SECRET), table=tables.sessions)
    key = new_session_id()
    await tables.insert_row(key, django_dumps({"start": 0}), time.time() + 60)
    now = time.time()
    done = await asyncio.gather(
        *(backend.rewrite(key, {f"k{i}": i}, (), now, now + 60) for i in range(8))
    )
    assert all(done)
    row = await tables.row(key)
    assert row is not None
    assert django_loads(row[0]) == {"start": 0, **{f"k{i}": i for i in range(8)}}
    await tables.raw.execute(f"DELETE FROM {tables.sessions} WHERE session_key = ?", (key,))
    assert await backend.rewrite(key, {"late": 1}, (), now, now + 60) is False
    assert await tables.row(key) is None  # a deleted session is never re-created
    await backend.close()


async def test_a_forgotten_key_makes_logout_fail_closed(tables: DjangoTables) -> None:
    backend = DjangoSessionBackend(tables.location, keys=KeyRing(SECRET), table=tables.sessions)

    async def forget_then_logout(request: Request) -> Response:
        # What a flood of other sessions between this load and this logout would do.
        backend._ids.forget(get_session(request).key_hash or "")
        await logout(request)
        return JSONResponse({"logged out": True})

    async def unavailable(request: Request, exc: Exception) -> Response:
        return JSONResponse({"error": "try again"}, 503)

    site = Starlette(
        routes=[Route("/out", forget_then_logout, methods=["POST"])],
        exception_handlers={StoreUnavailable: unavailable},
    )
    app = SessionMiddleware(site, backend, SessionConfig(absolute_timeout=None))
    key = new_session_id()
    await tables.insert_row(key, django_dumps({"_auth_user_id": "1"}), time.time() + 60)
    async with _client(app, key) as client:
        refused = await client.post("/out")
    assert refused.status_code == 503  # never a "logged out" while the row lives on
    assert await tables.keys() == [key]
    with pytest.raises(StoreUnavailable):
        await backend.store.delete(hash_session_id(key))
    await backend.close()


async def test_purge_deletes_only_expired_rows(tables: DjangoTables) -> None:
    backend = DjangoSessionBackend(tables.location, keys=KeyRing(SECRET), table=tables.sessions)
    live, dead = new_session_id(), new_session_id()
    await tables.insert_row(live, django_dumps({}), time.time() + 60)
    await tables.insert_row(dead, django_dumps({}), time.time() - 60)
    counts = [c async for c in backend.store.purge_expired(now=time.time(), batch_size=1)]
    assert counts == [1] and await tables.keys() == [live]
    await backend.close()


async def test_my_sessions_lists_and_ends_a_users_rows(tables: DjangoTables) -> None:
    backend = DjangoSessionBackend(tables.location, keys=KeyRing(SECRET), table=tables.sessions)
    mine = [new_session_id() for _ in range(3)]
    theirs = new_session_id()
    for key in mine:
        await tables.insert_row(key, django_dumps({"_auth_user_id": "7"}), time.time() + 60)
    await tables.insert_row(theirs, django_dumps({"_auth_user_id": "8"}), time.time() + 60)
    listed = await backend.store.list_user("7", now=time.time())
    assert sorted(i.key_hash for i in listed) == sorted(hash_session_id(k) for k in mine)
    ended = await backend.store.delete_user("7", keep=hash_session_id(mine[0]))
    assert ended == 2 and await tables.keys() == sorted([mine[0], theirs])
    await backend.close()


def test_the_session_config_matches_djangos_defaults() -> None:
    site = from_django_settings({"SECRET_KEY": SECRET})
    assert site.session == SessionConfig(absolute_timeout=None)
