"""The demo's database (secret key, password hashes, sessions) is private to its owner.

Both ways a user creates it, `cookieguard demo` and `cookieguard adduser`, run here under the
common umask 022, with which SQLite alone would make every file 0644.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.demo.server import DemoServer, cli, login


@pytest.fixture
def umask_022() -> Iterator[None]:
    """Child processes inherit the umask set here."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def modes(db: Path) -> dict[str, int]:
    return {
        file.name.removeprefix(db.name) or "db": stat.S_IMODE(file.stat().st_mode)
        for file in db.parent.iterdir()
        if file.name.startswith(db.name)
    }


@pytest.mark.usefixtures("umask_022")
def test_demo_creates_its_database_wal_and_shm_owner_only(tmp_path: Path) -> None:
    db = tmp_path / "demo.sqlite3"
    server = DemoServer(db, log=tmp_path / "server.log").start().wait_ready()
    try:
        assert server.demo_credentials is not None
        with httpx.Client(base_url=server.url, timeout=10) as http:
            assert login(http, *server.demo_credentials).status_code == 303
        assert modes(db) == {"db": 0o600, "-wal": 0o600, "-shm": 0o600}
    finally:
        server.stop()
    assert stat.S_IMODE(db.stat().st_mode) == 0o600


@pytest.mark.usefixtures("umask_022")
def test_adduser_creates_a_new_database_owner_only(tmp_path: Path) -> None:
    db = tmp_path / "users.sqlite3"
    result = cli("adduser", "frank", "--db", str(db), stdin="frank's password\n")
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
