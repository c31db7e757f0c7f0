"""`cookieguard sessions list` names each session's device and network."""

from __future__ import annotations

import json
import time
from pathlib import Path

from cookieguard.stores.base import SessionRecord
from cookieguard.stores.sqlite import SQLiteStore
from tests.auth.centre.centre_app import FIREFOX, SAFARI_IPHONE
from tests.demo.server import cli


async def test_sessions_list_shows_device_and_address(tmp_path: Path) -> None:
    path = tmp_path / "sessions.db"
    store = SQLiteStore(path)
    now = time.time()
    try:
        await store.create(
            "a" * 64, SessionRecord({}, "7", now, now, now + 600, FIREFOX, "203.0.113.0/24")
        )
        await store.create(
            "b" * 64, SessionRecord({}, "7", now, now + 1, now + 600, SAFARI_IPHONE, None)
        )
    finally:
        await store.close()
    listed = cli("sessions", "list", "--store", f"sqlite:///{path}", "--user-id", "7")
    assert listed.returncode == 0, listed.stderr
    phone, laptop = listed.stdout.splitlines()
    assert "  Firefox on Linux  from 203.0.113.0/24  Mozilla/5.0 (X11;" in laptop
    assert "  Safari on iPhone  from -  Mozilla/5.0 (iPhone;" in phone
    as_json = cli("sessions", "list", "--store", f"sqlite:///{path}", "--user-id", "7", "--json")
    rows = json.loads(as_json.stdout)
    assert [(r["device"], r["client_address"]) for r in rows] == [
        ("Safari on iPhone", None),
        ("Firefox on Linux", "203.0.113.0/24"),
    ]
