"""`cookieguard sessions list | revoke | purge`, run as the real command on real stores."""

from __future__ import annotations

import json
import os
import pty
import re
import secrets
import sqlite3
import subprocess
import time
from contextlib import closing
from pathlib import Path

import httpx
import pytest

from cookieguard.stores.base import SessionRecord
from tests.demo.server import DemoServer, cli, cookieguard_command, free_port, login
from tests.demo.test_cli import one_clear_line
from tests.store_backends import POSTGRES_DSN, REDIS_URL, require_server

ISO_UTC = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00"
LINE = re.compile(
    rf"^([0-9a-f]{{64}})  created {ISO_UTC}  last seen {ISO_UTC}  expires {ISO_UTC}  (.+)$",
    re.MULTILINE,
)


def test_list_by_username_revoke_purge(site: DemoServer, other_user: tuple[str, str]) -> None:
    with httpx.Client(base_url=site.url) as http:
        assert login(http, *other_user).status_code == 303
        assert http.get("/api/records").status_code == 200
        # Sessions in the --db file, as the demo keeps them; the user by username.
        listed = cli("sessions", "list", "--db", str(site.db), "--user", other_user[0])
        assert listed.returncode == 0, listed.stderr
        sessions = LINE.findall(listed.stdout)
        assert sessions and len(sessions) == len(listed.stdout.splitlines()), listed.stdout
        assert any("python-httpx" in agent for _, agent in sessions)
        hashes = [h for h, _ in sessions]
        # The same by id, from the store URL, as JSON.
        as_json = cli(
            "sessions", "list", "--store", f"sqlite:///{site.db}", "--json",
            "--user-id", site.user_ids[other_user[0]],
        )  # fmt: skip
        assert as_json.returncode == 0, as_json.stderr
        rows = json.loads(as_json.stdout)
        assert [r["key_hash"] for r in rows] == hashes
        assert all(re.fullmatch(ISO_UTC, r["expires_at"]) for r in rows)
        assert all(r["user_id"] == site.user_ids[other_user[0]] for r in rows)

        revoked = cli("sessions", "revoke", "--db", str(site.db), *hashes)
        assert revoked.returncode == 0, revoked.stderr
        assert f"revoked {len(hashes)} session(s)" in revoked.stdout
        assert http.get("/api/records").status_code == 401
        # Revoking the same sessions again revokes nothing, and says so.
        again = cli("sessions", "revoke", "--db", str(site.db), *hashes)
        assert again.returncode == 1
        assert "revoked 0 session(s)" in again.stdout
        assert "not live" in one_clear_line(again.stderr)
    purged = cli("sessions", "purge", "--db", str(site.db))
    assert purged.returncode == 0, purged.stderr
    assert re.fullmatch(r"purged \d+ expired session\(s\)\n", purged.stdout)


def test_revoke_every_session_of_a_user_by_username(
    site: DemoServer, other_user: tuple[str, str]
) -> None:
    with httpx.Client(base_url=site.url) as one, httpx.Client(base_url=site.url) as two:
        assert login(one, *other_user).status_code == 303
        assert login(two, *other_user).status_code == 303
        result = cli("sessions", "revoke", "--db", str(site.db), "--user", other_user[0])
        assert result.returncode == 0, result.stderr
        assert re.search(rf"revoked [2-9]\d* session\(s\) of user '{other_user[0]}'", result.stdout)
        assert one.get("/api/records").status_code == 401
        assert two.get("/api/records").status_code == 401


def test_an_unknown_username_is_an_error_not_an_empty_list(site: DemoServer) -> None:
    result = cli("sessions", "list", "--db", str(site.db), "--user", "2")
    assert result.returncode == 1
    line = one_clear_line(result.stderr)
    assert "no user '2'" in line and "--user-id 2" in line


@pytest.mark.parametrize(
    "args",
    [
        ("list", "--user-id", "1"),
        ("revoke", "--user-id", "1"),
        ("revoke", "a" * 64),
        ("purge",),
    ],
    ids=["list", "revoke-user", "revoke-hash", "purge"],
)
def test_read_and_clean_commands_never_create_a_database(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    missing = tmp_path / "missing.sqlite3"
    for where in (("--store", f"sqlite:///{missing}"), ("--db", str(missing))):
        result = cli("sessions", *args, *where)
        assert result.returncode == 1, result.stdout
        assert f"{missing} does not exist" in one_clear_line(result.stderr)
        assert list(tmp_path.iterdir()) == []


def test_a_file_without_sessions_is_refused_and_left_alone(tmp_path: Path) -> None:
    other = tmp_path / "other.sqlite3"
    with closing(sqlite3.connect(other)) as conn:
        conn.execute("CREATE TABLE mine (x)")
    result = cli("sessions", "list", "--store", f"sqlite:///{other}", "--user-id", "1")
    assert result.returncode == 1
    assert "no sessions table" in one_clear_line(result.stderr)
    with closing(sqlite3.connect(other)) as conn:
        tables = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    assert tables == [("mine",)]


def test_memory_store_is_refused() -> None:
    result = cli("sessions", "list", "--store", "memory://", "--user-id", "1")
    assert result.returncode == 1
    assert "memory://" in one_clear_line(result.stderr)


async def _expired_sqlite(path: Path, count: int) -> None:
    from cookieguard.stores.sqlite import SQLiteStore

    store = SQLiteStore(path)
    expired = SessionRecord(data={}, user_id=None, created_at=0, last_seen=0, expires_at=1)
    for index in range(count):
        await store.create(f"{index:064x}", expired)
    live = SessionRecord(data={}, user_id="7", created_at=0, last_seen=0, expires_at=4e9)
    await store.create("f" * 64, live)
    await store.close()


async def test_purge_into_a_pipe_prints_the_total_only(tmp_path: Path) -> None:
    path = tmp_path / "big.sqlite3"
    await _expired_sqlite(path, 2500)
    result = cli("sessions", "purge", "--store", f"sqlite:///{path}", "--batch-size", "1000")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "purged 2500 expired session(s)\n"
    assert result.stderr == ""  # no progress drawn with \r into a pipe or a log
    listed = cli("sessions", "list", "--store", f"sqlite:///{path}", "--user-id", "7")
    assert listed.stdout.startswith("f" * 64)


async def test_purge_on_a_terminal_draws_progress(tmp_path: Path) -> None:
    path = tmp_path / "big.sqlite3"
    await _expired_sqlite(path, 2500)
    leader, follower = pty.openpty()
    try:
        proc = subprocess.run(
            [*cookieguard_command(), "sessions", "purge", "--store", f"sqlite:///{path}"],
            stdout=subprocess.PIPE,
            stderr=follower,
            text=True,
            timeout=30,
            check=False,
        )
        os.close(follower)
        drawn = b""
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # EIO: the terminal's other side is closed
                break
            if not chunk:
                break
            drawn += chunk
    finally:
        os.close(leader)
    assert proc.returncode == 0
    assert proc.stdout == "purged 2500 expired session(s)\n"
    assert re.findall(rb"\rpurged (\d+) expired", drawn) == [b"1000", b"2000", b"2500"]


# -- the real cause of a store failure, on real servers ---------------------------------


def _pg(path: str) -> str:
    return POSTGRES_DSN.rsplit("/", 1)[0] + path


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (lambda: f"postgresql://postgres@127.0.0.1:{free_port()}/test", "connection refused on"),
        (lambda: _pg("/no_such_database_cg"), 'database "no_such_database_cg" does not exist'),
        (
            lambda: "postgresql://no_such_role_cg:hunter2@127.0.0.1:5432/test",
            'role "no_such_role_cg" does not exist',
        ),
        (lambda: f"redis://127.0.0.1:{free_port()}/0", "connection refused on 127.0.0.1:"),
        (lambda: REDIS_URL.rsplit("/", 1)[0] + "/999999", "DB index is out of range"),
        (lambda: "redis://127.0.0.1:6379/abc", "Redis database must be a number"),
        (lambda: "redis://127.0.0.1:6379/-1", "Redis database must be a number"),
        (lambda: "redis://127.0.0.1:99999/0", "port must be a number"),
    ],
    ids=[
        "pg-wrong-port",
        "pg-unknown-database",
        "pg-unknown-role",
        "redis-wrong-port",
        "redis-db-out-of-range",
        "redis-db-not-a-number",
        "redis-db-negative",
        "redis-port-out-of-range",
    ],
)
def test_store_failures_name_the_cause(url: object, expected: str) -> None:
    if "no_such" in expected:
        require_server("PostgreSQL", "127.0.0.1", 5432)
    if "DB index" in expected:
        require_server("Redis", "127.0.0.1", 6379)
    store = url()  # type: ignore[operator]
    result = cli("sessions", "list", "--store", store, "--user-id", "1")
    malformed = "must be a number" in expected  # a usage error; the others could not connect
    assert result.returncode == (2 if malformed else 1)
    line = one_clear_line(result.stderr)
    assert expected in line, line
    assert "hunter2" not in line
    if "refused" in expected:
        assert f":{store.split(':')[2].split('/')[0]}" in line  # the port it tried


@pytest.mark.parametrize("kind", ["postgres", "redis"])
async def test_list_and_revoke_on_a_shared_store(kind: str) -> None:
    # Sessions written by the library (as an app server would), then handled by the command.
    from cookieguard.stores import open_store

    if kind == "postgres":
        require_server("PostgreSQL", "127.0.0.1", 5432)
        url = POSTGRES_DSN
    else:
        require_server("Redis", "127.0.0.1", 6379)
        url = REDIS_URL
    user_id = f"cli-{secrets.token_hex(6)}"
    store = open_store(url)
    now = time.time()
    hashes = [secrets.token_hex(32) for _ in range(2)]
    try:
        for key_hash in hashes:
            record = SessionRecord({}, user_id, now, now, now + 600, user_agent="agent/1")
            await store.create(key_hash, record)
        listed = cli("sessions", "list", "--store", url, "--user-id", user_id, "--json")
        assert listed.returncode == 0, listed.stderr
        assert sorted(r["key_hash"] for r in json.loads(listed.stdout)) == sorted(hashes)
        revoked = cli("sessions", "revoke", "--store", url, "--user-id", user_id)
        assert revoked.returncode == 0, revoked.stderr
        assert f"revoked 2 session(s) of user id {user_id}" in revoked.stdout
        assert await store.list_user(user_id, now=time.time()) == []
        again = cli("sessions", "revoke", "--store", url, hashes[0])
        assert again.returncode == 1 and "not live" in one_clear_line(again.stderr)
    finally:
        await store.delete_user(user_id)
        await store.close()
