"""`cookieguard users list | set-password | wrap-legacy`, run as the real command."""

from __future__ import annotations

import json
import re
from contextlib import closing
from pathlib import Path

import httpx
import pytest

from tests.demo.server import DemoServer, cli, login
from tests.demo.test_cli import one_clear_line

ISO_UTC = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00"


def test_users_list_text_and_json(
    site: DemoServer, demo_user: tuple[str, str], other_user: tuple[str, str]
) -> None:
    text = cli("users", "list", "--db", str(site.db))
    assert text.returncode == 0, text.stderr
    rows = [line.split("\t") for line in text.stdout.splitlines()]
    names = {row[1]: row[0] for row in rows}
    assert names[other_user[0]] == site.user_ids[other_user[0]]
    assert demo_user[0] in names
    assert all(re.fullmatch(f"created {ISO_UTC}", row[2]) for row in rows)
    as_json = cli("users", "list", "--db", str(site.db), "--json")
    assert as_json.returncode == 0, as_json.stderr
    users = json.loads(as_json.stdout)
    assert {u["username"]: u["id"] for u in users} == names
    assert all(re.fullmatch(ISO_UTC, u["created_at"]) for u in users)


@pytest.mark.parametrize(
    "args",
    [
        ("users", "list"),
        ("users", "set-password", "someone"),
        ("users", "wrap-legacy"),
    ],
    ids=["list", "set-password", "wrap-legacy"],
)
def test_users_commands_need_an_existing_db_and_create_none(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    missing = tmp_path / "missing.sqlite3"
    result = cli(*args, "--db", str(missing), stdin="pw\n")
    assert result.returncode == 1
    assert f"{missing} does not exist" in one_clear_line(result.stderr)
    assert list(tmp_path.iterdir()) == []


def test_users_list_refuses_a_file_without_users(tmp_path: Path) -> None:
    import sqlite3

    other = tmp_path / "other.sqlite3"
    with closing(sqlite3.connect(other)) as conn:
        conn.execute("CREATE TABLE t (x)")
    result = cli("users", "list", "--db", str(other))
    assert result.returncode == 1
    assert "no users table" in one_clear_line(result.stderr)


def test_set_password_ends_the_users_sessions(site: DemoServer) -> None:
    username = "pat-the-forgetful"
    added = cli("adduser", username, "--db", str(site.db), stdin="old password\n")
    assert added.returncode == 0, added.stderr
    with httpx.Client(base_url=site.url) as laptop, httpx.Client(base_url=site.url) as phone:
        assert login(laptop, username, "old password").status_code == 303
        assert login(phone, username, "old password").status_code == 303
        assert laptop.get("/api/records").status_code == 200
        result = cli(
            "users", "set-password", username, "--db", str(site.db), stdin="new password\n"
        )
        assert result.returncode == 0, result.stderr
        assert "2 session(s) ended" in result.stdout
        # Both sessions are gone at once (not at the next periodic re-check).
        assert laptop.get("/api/records").status_code == 401
        assert phone.get("/api/records").status_code == 401
    with httpx.Client(base_url=site.url) as http:
        assert login(http, username, "old password").status_code == 200  # the form again
        assert login(http, username, "new password").status_code == 303


def test_set_password_of_an_unknown_user(site: DemoServer) -> None:
    result = cli("users", "set-password", "nobody-here", "--db", str(site.db), stdin="pw\n")
    assert result.returncode == 1
    assert "no user 'nobody-here'" in one_clear_line(result.stderr)


def test_set_password_refuses_an_empty_password(
    site: DemoServer, demo_user: tuple[str, str]
) -> None:
    result = cli("users", "set-password", demo_user[0], "--db", str(site.db), stdin="\n")
    assert result.returncode == 1
    assert "empty" in one_clear_line(result.stderr)
    with httpx.Client(base_url=site.url) as http:  # unchanged
        assert login(http, *demo_user).status_code == 303


def test_users_wrap_legacy_then_login(site: DemoServer) -> None:
    import base64
    import hashlib
    import sqlite3

    derived = hashlib.pbkdf2_hmac("sha256", b"from django", b"oldsalt", 1000)
    row = f"pbkdf2_sha256$1000$oldsalt${base64.b64encode(derived).decode()}"
    with closing(sqlite3.connect(site.db)) as conn, conn:
        conn.execute(
            "INSERT INTO cookieguard_users (username, password_hash, created_at) VALUES (?, ?, 0)",
            ("django-user", row),
        )
    result = cli("users", "wrap-legacy", "--db", str(site.db))
    assert result.returncode == 0, result.stderr
    assert "wrapped 1 Django PBKDF2 hash(es)" in result.stdout
    assert "legacy_iterations=1000" in result.stdout

    def stored() -> str:
        with closing(sqlite3.connect(site.db)) as conn:
            sql = "SELECT password_hash FROM cookieguard_users WHERE username = 'django-user'"
            return str(conn.execute(sql).fetchone()[0])

    assert stored().startswith("argon2id_pbkdf2_sha256$1000$oldsalt$$argon2id$")
    with httpx.Client(base_url=site.url) as http:
        assert login(http, "django-user", "from django").status_code == 303
    assert stored().startswith("$argon2id$")  # upgraded at the login
    again = cli("users", "wrap-legacy", "--db", str(site.db))
    assert again.returncode == 0 and "wrapped 0" in again.stdout


def test_users_wrap_legacy_needs_an_existing_db(tmp_path: Path) -> None:
    result = cli("users", "wrap-legacy", "--db", str(tmp_path / "missing.sqlite3"))
    assert result.returncode == 1
    assert "does not exist" in one_clear_line(result.stderr)
