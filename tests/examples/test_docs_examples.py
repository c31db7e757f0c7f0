"""The examples that only the documentation site shows: the production stack (limits,
headers, key rotation) and a service logging in a Django site's users with Django's tokens.
(examples/how_it_works.py runs as the site's shell block says: tests/docs/test_site.py.)"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path
from types import ModuleType

import django
import pytest
from django.conf import settings

from .conftest import Loader, browser, set_cookie, token_in

if not settings.configured:
    settings.configure(
        SECRET_KEY="cookieguard-docs-test-key-not-secret",
        ALLOWED_HOSTS=["testserver", "example.com"],
        DEBUG=False,
        MIDDLEWARE=[],
        USE_TZ=True,
    )
    django.setup()

from django.contrib.auth.hashers import make_password
from django.middleware.csrf import _get_new_csrf_string, _mask_cipher_secret

OLD_KEY, NEW_KEY = "old-production-secret-key", "new-production-secret-key"


async def _production(load: Loader, monkeypatch: pytest.MonkeyPatch, *keys: str) -> ModuleType:
    monkeypatch.setenv("COOKIEGUARD_SECRET_KEY", keys[0])
    monkeypatch.setenv("COOKIEGUARD_OLD_SECRET_KEYS", ",".join(keys[1:]))
    return load("production")


async def test_production_needs_a_secret_key(load: Loader, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COOKIEGUARD_SECRET_KEY", raising=False)
    with pytest.raises(KeyError, match="COOKIEGUARD_SECRET_KEY"):
        load("production")


async def test_production_limits_and_headers(load: Loader, monkeypatch: pytest.MonkeyPatch) -> None:
    example = await _production(load, monkeypatch, NEW_KEY)
    async with browser(example.app) as http:
        page = await http.get("/")
        assert page.status_code == 200
        assert page.headers["x-frame-options"] == "DENY"
        assert page.headers["content-security-policy"] == "frame-ancestors 'none'"
        assert page.headers["cache-control"] == "no-store"
        form = {"csrfmiddlewaretoken": token_in(page.text)}
        note = await http.post("/notes", data={**form, "text": "x" * 40_000})
        assert note.status_code == 200 and note.text == "saved 40000 characters"
        too_big = await http.post("/notes", data={**form, "text": "x" * 70_000})
        assert too_big.status_code == 413 and too_big.headers["x-frame-options"] == "DENY"
        elsewhere = await http.post("/login", data={**form, "username": "x" * 20_000})
        assert elsewhere.status_code == 413  # the default 16 KiB everywhere else
        assert (await http.post("/notes", data={"text": "hi"})).status_code == 403


async def _log_in(http: object, example: ModuleType) -> None:
    page = await http.get("/")  # type: ignore[attr-defined]
    form = {"csrfmiddlewaretoken": token_in(page.text), "username": "alice", "password": "pw-1"}
    done = await http.post("/login", data=form)  # type: ignore[attr-defined]
    assert done.status_code == 303 and set_cookie(done, "sessionid") is not None


async def test_production_key_rotation(load: Loader, monkeypatch: pytest.MonkeyPatch) -> None:
    from cookieguard.auth import default_hasher

    before = await _production(load, monkeypatch, OLD_KEY)
    await before.users.create_user("alice", default_hasher().hash("pw-1"))
    async with browser(before.app) as http:
        await _log_in(http, before)
        cookies = dict(http.cookies)
        assert "Hello, alice" in (await http.get("/")).text
    # The new key first, the old one as a fallback: the session goes on.
    rotated = await _production(load, monkeypatch, NEW_KEY, OLD_KEY)
    async with browser(rotated.app) as http:
        http.cookies.update(cookies)
        assert "Hello, alice" in (await http.get("/")).text
    # Without the fallback, the session signed with the old key ends.
    async with browser(before.app) as http:
        await _log_in(http, before)
        cookies = dict(http.cookies)
    dropped = await _production(load, monkeypatch, NEW_KEY)
    async with browser(dropped.app) as http:
        http.cookies.update(cookies)
        page = await http.get("/")
        assert "Hello" not in page.text and 'name="password"' in page.text


def _django_table(path: Path) -> None:
    """Django's auth_user table (the columns Django creates), with two users."""
    with closing(sqlite3.connect(path)) as db, db:
        db.execute(
            "CREATE TABLE auth_user (id integer NOT NULL PRIMARY KEY AUTOINCREMENT,"
            " password varchar(128) NOT NULL, last_login datetime NULL,"
            " is_superuser bool NOT NULL, username varchar(150) NOT NULL UNIQUE,"
            " last_name varchar(150) NOT NULL, email varchar(254) NOT NULL,"
            " is_staff bool NOT NULL, is_active bool NOT NULL, date_joined datetime NOT NULL,"
            " first_name varchar(150) NOT NULL)"
        )
        for username, active in (("alice", 1), ("bob", 0)):
            db.execute(
                "INSERT INTO auth_user (password, is_superuser, username, last_name, email,"
                " is_staff, is_active, date_joined, first_name)"
                " VALUES (?, 0, ?, '', '', 0, ?, '2025-01-01 00:00:00', '')",
                (make_password("django pass", hasher="pbkdf2_sha256"), username, active),
            )


async def test_django_users_log_in_with_djangos_token(load: Loader, tmp_path: Path) -> None:
    _django_table(tmp_path / "db.sqlite3")
    example = load("django_users")
    secret = _get_new_csrf_string()  # what Django put in the csrftoken cookie
    async with browser(example.app) as http:
        http.cookies.set("csrftoken", secret)

        async def post(username: str, password: str) -> int:
            form = {"csrfmiddlewaretoken": _mask_cipher_secret(secret)}  # Django's {% csrf_token %}
            data = {**form, "username": username, "password": password}
            return (await http.post("/login", data=data)).status_code

        assert (await http.get("/")).text == "user None"
        assert await post("alice", "wrong") == 200
        assert await post("bob", "django pass") == 200  # is_active false
        assert await post("alice", "django pass") == 303
        assert (await http.get("/")).text == "user 1"
    # Django's table is left as it was
    with closing(sqlite3.connect(tmp_path / "db.sqlite3")) as db:
        (hashed,) = db.execute("SELECT password FROM auth_user WHERE id = 1").fetchone()
    assert hashed.startswith("pbkdf2_sha256$")
