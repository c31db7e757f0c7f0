"""Several gunicorn worker processes share sessions through SQLite, Redis or PostgreSQL.

A real ``gunicorn -w 3`` (sync workers) on a loopback port serves the WSGI conformance app;
each request opens a new connection, so the workers take turns. A login made through one
worker is seen by all; a logout through one ends the session on all.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cookieguard import PasswordHasher, SyncSQLiteUserStore
from cookieguard.core.tokens import hash_session_id
from cookieguard.stores import open_sync_store
from tests.store_backends import POSTGRES_DSN, REDIS_URL, free_port, require_server

ROOT = Path(__file__).resolve().parents[2]
TOKEN = re.compile(r'name="csrfmiddlewaretoken" value="([A-Za-z0-9]{64})"')
MAX_REQUESTS = 300  # per phase; enough to meet every worker on a loaded machine


def _wait_for(port: int, process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"gunicorn exited: {process.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("gunicorn did not start listening")


@pytest.fixture(params=["sqlite", "redis", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "redis":
        require_server("Redis", "127.0.0.1", 6379)
        return REDIS_URL
    if request.param == "postgresql":
        require_server("PostgreSQL", "127.0.0.1", 5432)
        return POSTGRES_DSN
    return f"sqlite:///{tmp_path / 'sessions.db'}"


@pytest.fixture
def server(store_url: str, tmp_path: Path) -> Iterator[str]:
    users = SyncSQLiteUserStore(tmp_path / "users.db")
    users.create_user("alice", PasswordHasher().hash("alice-pass"))
    users.close()
    port = free_port()
    env = {
        **os.environ,
        "CG_TEST_STORE": store_url,
        "CG_TEST_USERS": str(tmp_path / "users.db"),
        "CG_TEST_SECRET": "gunicorn-test-" + "g" * 40,
        "PYTHONPATH": str(ROOT),
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--workers",
            "3",
            "--worker-class",
            "sync",
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
            "tests.wsgi.gunicorn_app:app",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        _wait_for(port, process)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        assert process.stderr is not None
        process.stderr.close()


def _spread(client: httpx.Client, path: str) -> tuple[set[str], list[object]]:
    """Ask `path` on new connections until two workers answered (bounded); pids and bodies."""
    workers: set[str] = set()
    answers: list[object] = []
    for count in range(MAX_REQUESTS):
        response = client.get(path, headers={"Connection": "close"})
        assert response.status_code == 200
        workers.add(response.headers["x-worker"])
        answers.append(response.json())
        if len(workers) >= 2 and count >= 20:
            break
    return workers, answers


def test_workers_share_login_and_logout(server: str, store_url: str) -> None:
    with httpx.Client(base_url=server, timeout=30) as client:
        page = client.get("/form")
        token = TOKEN.search(page.text)[1]  # type: ignore[index]
        login = client.post(
            "/login",
            data={"username": "alice", "password": "alice-pass", "csrfmiddlewaretoken": token},
        )
        assert login.status_code == 303
        session_id = client.cookies["sessionid"]
        try:
            workers, answers = _spread(client, "/whoami")
            assert len(workers) >= 2, "every request went to one worker"
            assert all(answer == {"user": "1"} for answer in answers)
            token = TOKEN.search(client.get("/form").text)[1]  # type: ignore[index]
            logout = client.post("/logout", data={"csrfmiddlewaretoken": token})
            assert logout.status_code == 303
            replay = httpx.Client(base_url=server, timeout=30)
            replay.cookies.set("sessionid", session_id)
            with replay:
                workers, answers = _spread(replay, "/whoami")
            assert len(workers) >= 2
            assert all(answer == {"user": None} for answer in answers)
        finally:
            if not store_url.startswith("sqlite"):
                store = open_sync_store(store_url)
                store.delete(hash_session_id(session_id))
                store.close()
