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


def test_adduser_on_a_missing_db_creates_it_and_says_so(tmp_path: Path) -> None:
    # The contract's `adduser --db PATH` prepares users before the first start, so a missing
    # database is created; the note on stderr makes a typo in --db visible at once.
    db = tmp_path / "new.sqlite3"
    first = cli("adduser", "gina", "--db", str(db), stdin="gina's password\n")
    assert first.returncode == 0, first.stderr
    assert f"{db} did not exist; created a new database" in first.stderr
    assert re.search(r"created user 'gina' \(id \d+\)", first.stdout)
    second = cli("adduser", "hank", "--db", str(db), stdin="hank's password\n")
    assert second.returncode == 0, second.stderr
    assert second.stderr == ""


def test_adduser_refuses_a_password_of_several_lines(tmp_path: Path) -> None:
    db = tmp_path / "x.sqlite3"
    result = cli("adduser", "ivy", "--db", str(db), stdin="secret\nsecret\n")
    assert result.returncode == 1
    assert "one line" in one_clear_line(result.stderr)


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
        ("users", "list"),
        ("users", "set-password"),
        ("users", "wrap-legacy"),
        ("secret",),
    ],
    ids=lambda args: " ".join(args) or "top",
)
def test_help_everywhere(args: tuple[str, ...]) -> None:
    result = cli(*args, "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: cookieguard")
    # A description of its own beyond the usage line, and the exit statuses.
    description = result.stdout.split("\n\n")[1]
    assert len(description) > 30 and not description.lstrip().startswith(("-", "positional"))
    assert "exit status: 0 success; 1 the command failed" in " ".join(result.stdout.split())


def test_version() -> None:
    from importlib.metadata import version

    result = cli("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"cookieguard {version('cookieguard')}\n"


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
        ("demo", "--loop", "trio"),
        ("nosuchcommand",),
        ("sessions", "list"),
        ("sessions", "list", "--user", "alice", "--user-id", "1"),
        ("sessions", "purge", "--store", "memory://", "--batch-size", "0"),
        ("sessions", "revoke", "--store", "sqlite:////nonexistent-dir/x.db"),
        ("sessions", "revoke", "--store", "sqlite:////nonexistent-dir/x.db", "not-a-hash"),
        (
            "sessions",
            "revoke",
            "--store",
            "sqlite:////nonexistent-dir/x.db",
            "a" * 64,
            "--user",
            "x",
        ),
        ("sessions",),
        ("users",),
        ("users", "set-password"),
        (),
    ],
    ids=[
        "unknown-flag",
        "port-not-a-number",
        "port-out-of-range",
        "unknown-loop",
        "unknown-command",
        "no-user",
        "user-and-user-id",
        "bad-batch",
        "revoke-without-target",
        "revoke-bad-hash",
        "revoke-hash-and-user",
        "sessions-without-action",
        "users-without-action",
        "set-password-without-username",
        "no-command",
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
