"""One `cookieguard demo` process per server kind, shared by the black-box tests here.

The site runs on plain uvicorn and on ``uvicorn[standard]`` (see `SERVER_KINDS`); in-process
async tests run on asyncio's loop and on uvloop (tests/loops.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from tests import loops
from tests.demo.server import SERVER_KINDS, DemoServer, cli, login

pytest_asyncio_loop_factories = loops.pytest_asyncio_loop_factories


@pytest.fixture(scope="session", params=SERVER_KINDS)
def site(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DemoServer]:
    """The demo on a fresh database with the default store (sessions in the same file)."""
    directory = tmp_path_factory.mktemp("demo-site")
    server = DemoServer(
        directory / "demo.sqlite3", log=directory / "server.log", kind=request.param
    )
    server.start().wait_ready()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def demo_user(site: DemoServer) -> tuple[str, str]:
    """The user the first start created, with the password it printed."""
    assert site.demo_credentials is not None, site.stdout_lines
    return site.demo_credentials


@pytest.fixture
def client(site: DemoServer) -> Iterator[httpx.Client]:
    """A fresh cookie jar against the shared site."""
    with httpx.Client(base_url=site.url, timeout=10) as http:
        yield http


@pytest.fixture
def user_client(client: httpx.Client, demo_user: tuple[str, str]) -> httpx.Client:
    """A client logged in as the demo user."""
    response = login(client, *demo_user)
    assert response.status_code == 303, response.text
    return client


@pytest.fixture(scope="session")
def other_user(site: DemoServer) -> tuple[str, str]:
    """A second user, added with `cookieguard adduser` while the site runs."""
    username, password = "other-user", "another password 2"
    result = cli("adduser", username, "--db", str(site.db), stdin=password + "\n")
    assert result.returncode == 0, result.stderr
    match = re.search(r"\(id (\d+)\)", result.stdout)
    assert match is not None, result.stdout
    site.user_ids[username] = match[1]
    return username, password
