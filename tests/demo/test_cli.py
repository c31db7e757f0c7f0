"""The `cookieguard` command: adduser while the site runs, sessions, secret, and clear errors."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import httpx
import pytest

from tests.demo.server import DemoServer, cli, free_port, login


def one_clear_line(stderr: str) -> str:
    """The single stderr line of a failed command (no traceback)."""
    assert "Traceback" not in stderr, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    return lines[0]


def test_adduser_while_running_then_login(site: DemoServer) -> None:
    # The trailing newline is stripped, nothing else: spaces inside and at the end stay.
    result = cli("adduser", "carol", "--db", str(site.db), stdin="carol's pass \n")
    assert result.returncode == 0, result.stderr
    assert "carol" in result.stdout
    with httpx.Client(base_url=site.url) as http:
        assert login(http, "carol", "carol's pass").status_code == 200  # wrong: space missing
        assert login(http, "carol", "carol's pass ").status_code == 303


def test_adduser_existing_username_fails(site: DemoServer, demo_user: tuple[str, str]) -> None:
    result = cli("adduser", demo_user[0], "--db", str(site.db), stdin="whatever\n")
    assert result.returncode == 1
    assert "already exists" in one_clear_line(result.stderr)
    with httpx.Client(base_url=site.url) as http:  # the old password still works
        assert login(http, *demo_user).status_code == 303


@pytest.mark.parametrize(
    ("username", "stdin"),
    [("", "pw\n"), ("bad\nname", "pw\n"), ("dave", "\n")],
    ids=["empty-username", "control-character", "empty-password"],
)
def test_adduser_refuses_bad_input(tmp_path: Path, username: str, stdin: str) -> None:
    result = cli("adduser", username, "--db", str(tmp_path / "x.sqlite3"), stdin=stdin)
    assert result.returncode == 1
    one_clear_line(result.stderr)


def test_adduser_unusable_db(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = cli("adduser", "erin", "--db", str(blocker / "x.sqlite3"), stdin="pw\n")
    assert result.returncode == 1
    assert "x.sqlite3" in one_clear_line(result.stderr)


@pytest.mark.parametrize(
    "args",
    [
        (),
        ("demo",),
        ("adduser",),
        ("sessions",),
        ("sessions", "list"),
        ("sessions", "revoke"),
        ("sessions", "purge"),
        ("users",),
        ("users", "wrap-legacy"),
        ("secret",),
    ],
    ids=lambda args: " ".join(args) or "top",
)
def test_help_everywhere(args: tuple[str, ...]) -> None:
    result = cli(*args, "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: cookieguard")


def test_secret_prints_a_fresh_key() -> None:
    first, second = cli("secret"), cli("secret")
    assert first.returncode == 0
    assert re.fullmatch(r"[A-Za-z0-9]{64}\n", first.stdout)
    assert first.stdout != second.stdout


@pytest.mark.parametrize(
    "args",
    [
        ("demo", "--bogus"),
        ("demo", "--port", "http"),
        ("demo", "--port", "70000"),
        ("nosuchcommand",),
        ("sessions", "list", "--user", "1"),
        ("sessions", "purge", "--store", "memory://", "--batch-size", "0"),
    ],
    ids=[
        "unknown-flag",
        "port-not-a-number",
        "port-out-of-range",
        "no-command",
        "no-store",
        "bad-batch",
    ],
)
def test_wrong_flags_give_one_line_and_status_2(args: tuple[str, ...]) -> None:
    result = cli(*args)
    assert result.returncode == 2
    assert "--help" in one_clear_line(result.stderr)


def test_unwritable_db_path(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = cli("demo", "--port", "0", "--db", str(blocker / "demo.sqlite3"))
    assert result.returncode == 1
    line = one_clear_line(result.stderr)
    assert "demo.sqlite3" in line


def test_in_memory_db_is_refused() -> None:
    result = cli("demo", "--port", "0", "--db", ":memory:")
    assert result.returncode == 1
    assert "file path" in one_clear_line(result.stderr)


def test_db_that_is_not_a_database(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.sqlite3"
    bogus.write_bytes(b"this is not an sqlite file" * 100)
    result = cli("demo", "--port", "0", "--db", str(bogus))
    assert result.returncode == 1
    assert "bogus.sqlite3" in one_clear_line(result.stderr)


@pytest.mark.parametrize(
    "store",
    [lambda: f"redis://127.0.0.1:{free_port()}/0", lambda: "ftp://example.com/"],
    ids=["unreachable-redis", "unknown-scheme"],
)
def test_bad_store_url(tmp_path: Path, store: object) -> None:
    url = store()  # type: ignore[operator]
    result = cli("demo", "--port", "0", "--db", str(tmp_path / "d.sqlite3"), "--store", url)
    assert result.returncode == 1
    assert "store" in one_clear_line(result.stderr)


def test_store_url_with_a_password_and_a_bad_port_is_one_line_without_the_password(
    tmp_path: Path,
) -> None:
    url = "redis://:hunter2@127.0.0.1:notaport/0"
    result = cli("demo", "--port", "0", "--db", str(tmp_path / "d.sqlite3"), "--store", url)
    assert result.returncode == 1
    line = one_clear_line(result.stderr)
    assert "redis://:***@127.0.0.1:notaport/0" in line
    assert "hunter2" not in result.stderr + result.stdout


def test_too_short_secret_key_in_the_environment(tmp_path: Path) -> None:
    db = str(tmp_path / "d.sqlite3")
    result = cli("demo", "--port", "0", "--db", db, env={"COOKIEGUARD_SECRET_KEY": "short"})
    assert result.returncode == 1
    assert "COOKIEGUARD_SECRET_KEY" in one_clear_line(result.stderr)


def test_port_in_use(tmp_path: Path) -> None:
    db = tmp_path / "d.sqlite3"
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = cli("demo", "--port", str(port), "--db", str(db))
    assert result.returncode == 1
    line = one_clear_line(result.stderr)
    assert f"127.0.0.1:{port}" in line and "in use" in line
    # The failed start created no user behind the user's back: the next start does, and says so.
    server = DemoServer(db, log=tmp_path / "server.log").start().wait_ready()
    server.stop()
    assert server.demo_credentials is not None and server.demo_credentials[0] == "demo"


def test_sessions_list_revoke_purge(site: DemoServer, other_user: tuple[str, str]) -> None:
    store = f"sqlite:///{site.db}"
    with httpx.Client(base_url=site.url) as http:
        assert login(http, *other_user).status_code == 303
        assert http.get("/api/records").status_code == 200
        user_id = site.user_ids[other_user[0]]
        listed = cli("sessions", "list", "--store", store, "--user", user_id)
        assert listed.returncode == 0, listed.stderr
        hashes = re.findall(r"^([0-9a-f]{64}) ", listed.stdout, re.MULTILINE)
        assert hashes, listed.stdout
        assert "python-httpx" in listed.stdout  # the user agent helps tell sessions apart
        revoked = cli("sessions", "revoke", "--store", store, *hashes)
        assert revoked.returncode == 0, revoked.stderr
        assert f"revoked {len(hashes)}" in revoked.stdout
        assert http.get("/api/records").status_code == 401
    purged = cli("sessions", "purge", "--store", store)
    assert purged.returncode == 0, purged.stderr
    assert re.search(r"purged \d+ expired session", purged.stderr)


def test_sessions_revoke_checks_its_arguments(site: DemoServer) -> None:
    store = f"sqlite:///{site.db}"
    assert "KEY_HASH" in one_clear_line(cli("sessions", "revoke", "--store", store).stderr)
    bad = cli("sessions", "revoke", "--store", store, "not-a-hash")
    assert bad.returncode == 1
    assert "not-a-hash" in one_clear_line(bad.stderr)


def test_sessions_unreachable_store() -> None:
    result = cli("sessions", "purge", "--store", f"redis://127.0.0.1:{free_port()}/0")
    assert result.returncode == 1
    one_clear_line(result.stderr)


async def test_purge_shows_progress_batch_by_batch(tmp_path: Path) -> None:
    from cookieguard.stores.base import SessionRecord
    from cookieguard.stores.sqlite import SQLiteStore

    path = tmp_path / "big.sqlite3"
    store = SQLiteStore(path)
    expired = SessionRecord(data={}, user_id=None, created_at=0, last_seen=0, expires_at=1)
    for index in range(2500):
        await store.create(f"{index:064x}", expired)
    live = SessionRecord(data={}, user_id="7", created_at=0, last_seen=0, expires_at=4e9)
    await store.create("f" * 64, live)
    await store.close()
    result = cli("sessions", "purge", "--store", f"sqlite:///{path}", "--batch-size", "1000")
    assert result.returncode == 0, result.stderr
    progress = re.findall(r"purged (\d+) expired", result.stderr)
    assert progress == ["1000", "2000", "2500", "2500"]  # one line per batch, then the total
    listed = cli("sessions", "list", "--store", f"sqlite:///{path}", "--user", "7")
    assert listed.stdout.startswith("f" * 64)


def test_users_wrap_legacy_then_login(site: DemoServer) -> None:
    import base64
    import hashlib
    import sqlite3

    derived = hashlib.pbkdf2_hmac("sha256", b"from django", b"oldsalt", 1000)
    row = f"pbkdf2_sha256$1000$oldsalt${base64.b64encode(derived).decode()}"
    with sqlite3.connect(site.db) as conn:
        conn.execute(
            "INSERT INTO cookieguard_users (username, password_hash, created_at) VALUES (?, ?, 0)",
            ("django-user", row),
        )
    result = cli("users", "wrap-legacy", "--db", str(site.db))
    assert result.returncode == 0, result.stderr
    assert "wrapped 1 Django PBKDF2 hash(es)" in result.stdout
    assert "legacy_iterations=1000" in result.stdout

    def stored() -> str:
        with sqlite3.connect(site.db) as conn:
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
