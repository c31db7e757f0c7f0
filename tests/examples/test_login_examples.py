"""The login examples, driven as a browser would: the quick start over a real uvicorn, as the
README's commands start it, and the Starlette login example in-process, XSS probes included.
"""

from __future__ import annotations

import shlex
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from types import ModuleType

import httpx
import pytest

from .conftest import EXAMPLES, README, Loader, browser, set_cookie, token_in


def readme_commands(after: str) -> list[list[str]]:
    """The ```sh block that follows the line `after`, one argv per command, made runnable."""
    text = README.read_text(encoding="utf-8")
    block = text[text.index(after) :].split("```sh\n", 1)[1].split("```", 1)[0]
    commands = []
    for line in block.splitlines():
        argv = shlex.split(line.partition("#")[0])
        argv = [str(EXAMPLES.parent / arg) if arg.startswith("examples") else arg for arg in argv]
        head = [sys.executable] if argv[0] == "python" else [sys.executable, "-m", argv[0]]
        commands.append(head + argv[1:])
    return commands


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def quickstart(tmp_path: Path) -> Iterator[str]:
    """The quick start, set up and served exactly as the README says, in `tmp_path`."""
    create_user, serve = readme_commands("Create the user `alice`")
    subprocess.run(create_user, cwd=tmp_path, check=True, timeout=60, capture_output=True)
    port = free_port()
    log = (tmp_path / "uvicorn.log").open("w")
    proc = subprocess.Popen(
        [*serve, "--host", "127.0.0.1", "--port", str(port)],
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, (tmp_path / "uvicorn.log").read_text()
            try:
                httpx.get(f"{url}/", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "uvicorn did not start"
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


def test_quickstart_served_by_uvicorn(quickstart: str, tmp_path: Path) -> None:
    with httpx.Client(base_url=quickstart) as http:
        page = http.get("/")
        assert page.status_code == 200 and 'name="password"' in page.text
        csrf_before = set_cookie(page, "csrftoken")
        assert csrf_before is not None
        token = token_in(page.text)
        credentials = {"username": "alice", "password": "correct horse"}
        assert http.post("/login", data=credentials).status_code == 403
        assert http.get("/").status_code == 200
        wrong = http.post(
            "/login", data={**credentials, "password": "x", "csrfmiddlewaretoken": token}
        )
        assert wrong.status_code == 303 and set_cookie(wrong, "sessionid") is None
        right = http.post("/login", data={**credentials, "csrfmiddlewaretoken": token})
        assert right.status_code == 303 and right.headers["location"] == "/"
        session_line = set_cookie(right, "sessionid")
        assert session_line is not None
        assert "HttpOnly" in session_line and "SameSite=Lax" in session_line
        rotated = set_cookie(right, "csrftoken")
        assert rotated is not None and rotated != csrf_before
        home = http.get("/")
        assert "Hello, user 1" in home.text
        with closing(sqlite3.connect(tmp_path / "example.db")) as db:
            assert db.execute("SELECT count(*) FROM cookieguard_sessions").fetchone() == (1,)
        out = http.post("/logout", data={"csrfmiddlewaretoken": token_in(home.text)})
        assert out.status_code == 303
        cleared = set_cookie(out, "sessionid")
        assert cleared is not None and "Max-Age=0" in cleared
        with closing(sqlite3.connect(tmp_path / "example.db")) as db:
            assert db.execute("SELECT count(*) FROM cookieguard_sessions").fetchone() == (0,)
        assert 'name="password"' in http.get("/").text


@pytest.fixture
def login_example(load: Loader, tmp_path: Path) -> ModuleType:
    """examples/login_starlette.py after `python examples/login_starlette.py` (as the README
    says: it creates the user alice)."""
    subprocess.run(
        [sys.executable, str(EXAMPLES / "login_starlette.py")],
        cwd=tmp_path,
        check=True,
        timeout=60,
        capture_output=True,
    )
    return load("login_starlette")


async def _log_in(http: httpx.AsyncClient, password: str, next_url: str = "") -> httpx.Response:
    page = await http.get("/login")
    form = {"csrfmiddlewaretoken": token_in(page.text), "username": "alice", "password": password}
    return await http.post("/login", data={**form, "next": next_url})


async def test_login_example_flow(login_example: ModuleType) -> None:
    async with browser(login_example.app) as http:
        gate = await http.get("/")
        assert gate.status_code == 303 and gate.headers["location"] == "/login?next=/"
        page = await http.get("/login", params={"next": "/"})
        assert page.status_code == 200 and set_cookie(page, "csrftoken") is not None
        assert 'name="next" value="/"' in page.text
        no_token = await http.post("/login", data={"username": "alice", "password": "x"})
        assert no_token.status_code == 403
        wrong = await _log_in(http, "wrong")
        assert wrong.status_code == 200 and "Wrong username or password" in wrong.text
        assert set_cookie(wrong, "sessionid") is None
        csrf_before = http.cookies["csrftoken"]
        right = await _log_in(http, "correct horse battery", next_url="/?tab=1")
        assert right.status_code == 303 and right.headers["location"] == "/?tab=1"
        assert set_cookie(right, "sessionid") is not None
        assert http.cookies["csrftoken"] != csrf_before
        home = await http.get("/")
        assert home.status_code == 200 and home.text == "Hello, user 1"
        page = await http.get("/login")
        out = await http.post("/logout", data={"csrfmiddlewaretoken": token_in(page.text)})
        assert out.status_code == 303 and out.headers["location"] == "/login"
        cleared = set_cookie(out, "sessionid")
        assert cleared is not None and "Max-Age=0" in cleared
        assert (await http.get("/")).status_code == 303


XSS_NEXT = [
    '/"><script>alert(1)</script>',
    "/'><script>alert(1)</script>",
    '/x"autofocus/onfocus="alert(1)',
    "/<img/src=x/onerror=alert(1)>",
    "/`-alert(1)-`",
]


@pytest.mark.parametrize("next_url", XSS_NEXT)
async def test_login_example_never_echoes_script(login_example: ModuleType, next_url: str) -> None:
    async with browser(login_example.app) as http:
        page = await http.get("/login", params={"next": next_url})
        assert page.status_code == 200
        assert "alert(1)" not in page.text and "<script" not in page.text
        assert 'name="next" value="/"' in page.text
        right = await _log_in(http, "correct horse battery", next_url=next_url)
        assert right.status_code == 303 and right.headers["location"] == "/"


async def test_login_example_escapes_the_next_it_keeps(login_example: ModuleType) -> None:
    # A safe `next` with "&" is kept; echoed raw, "&quot;" would become a quote in the value.
    async with browser(login_example.app) as http:
        page = await http.get("/login", params={"next": "/r?a=1&quot;b"})
        assert 'name="next" value="/r?a=1&amp;quot;b"' in page.text


async def test_login_example_throttles(login_example: ModuleType) -> None:
    async with browser(login_example.app) as http:
        for _ in range(10):
            assert (await _log_in(http, "wrong")).status_code == 200
        refused = await _log_in(http, "correct horse battery")
        assert refused.status_code == 429
        assert int(refused.headers["retry-after"]) > 0
        assert set_cookie(refused, "sessionid") is None
    async with browser(login_example.app, address="198.51.100.9") as other:
        assert (await _log_in(other, "correct horse battery")).status_code == 303
