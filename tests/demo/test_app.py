"""In-process checks of what the subprocess tests cannot arrange cheaply."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import httpx

from cookieguard.asgi.session import SessionMiddleware
from cookieguard.auth._context import AuthMiddleware
from cookieguard.core.tokens import hash_session_id, new_csrf_secret, new_session_id
from cookieguard.demo._db import DemoDatabase
from cookieguard.demo.app import create_app
from cookieguard.stores.base import SessionRecord
from cookieguard.stores.memory import MemoryStore


async def test_records_database_locked_too_long_gives_503_not_500(tmp_path: Path) -> None:
    path = str(tmp_path / "locked.sqlite3")
    db = DemoDatabase(path, lock_timeout=0.2)
    store = MemoryStore()
    sessionid, now = new_session_id(), time.time()
    record = SessionRecord(
        # Checked against the users table just now: no re-check is due during this test.
        data={"_auth_user_id": "1", "_auth_checked_at": now},
        user_id="1",
        created_at=now,
        last_seen=now,
        expires_at=now + 60,
    )
    await store.create(hash_session_id(sessionid), record)
    secret = new_csrf_secret()
    app = create_app(db, store, secret_key="k" * 32)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process keeps writing
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://testserver",
            cookies={"sessionid": sessionid, "csrftoken": secret},
            headers={"X-CSRFToken": secret},
        ) as client:
            api = await client.post("/api/records", json={"text": "blocked"})
            assert api.status_code == 503
            assert api.headers["retry-after"] == "5"
            assert "error" in api.json()
            page = await client.post("/records", data={"text": "blocked"})
            assert page.status_code == 503
            other.execute("COMMIT")
            assert (await client.post("/api/records", json={"text": "fine"})).status_code == 201
    finally:
        other.close()
        db.close()


def test_demo_sessions_end_30_days_after_login_and_recheck_every_5_minutes(
    tmp_path: Path,
) -> None:
    db = DemoDatabase(str(tmp_path / "demo.sqlite3"))
    try:
        layer: object = create_app(db, MemoryStore(), secret_key="k" * 32)
        found: dict[type, object] = {}
        while layer is not None:  # walk the stack, outermost first
            found.setdefault(type(layer), layer)
            layer = getattr(layer, "app", None)
        sessions, auth = found[SessionMiddleware], found[AuthMiddleware]
        assert isinstance(sessions, SessionMiddleware)
        assert sessions.config.absolute_timeout == 30 * 86_400
        assert isinstance(auth, AuthMiddleware) and auth.config.recheck_interval == 300
    finally:
        db.close()
