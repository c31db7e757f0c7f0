"""Two demo servers on one --db and one Redis store act as one site, and survive Redis outages.

The Redis here is a private redis-server on a free port, so stopping it disturbs nobody else.
It saves its data on shutdown, so sessions live through the outage and the recovery shows
the very same login working again, without restarting the demo servers.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.demo.server import SERVER_KINDS, DemoServer, RedisServer, csrf_token, login


class Cluster:
    def __init__(self, redis: RedisServer, a: DemoServer, b: DemoServer) -> None:
        self.redis, self.a, self.b = redis, a, b


@pytest.fixture(scope="module", params=SERVER_KINDS)
def cluster(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    directory: Path = tmp_path_factory.mktemp("demo-cluster")
    redis = RedisServer(directory)
    redis.start()
    db = directory / "shared.sqlite3"
    servers = [
        DemoServer(db, store=redis.url, log=directory / f"server-{n}.log", kind=request.param)
        for n in "ab"
    ]
    try:
        for server in servers:  # both start at once on a database that does not exist yet
            server.start()
        for server in servers:
            server.wait_ready()
        yield Cluster(redis, *servers)
    finally:
        for server in servers:
            server.stop()
        redis.stop(save=False)


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    # Cookies are per host, not per port: one jar serves both servers, as in a browser.
    with httpx.Client(timeout=10) as client:
        yield client


def test_first_start_race_creates_one_demo_user(cluster: Cluster) -> None:
    made = [s.demo_credentials for s in (cluster.a, cluster.b) if s.demo_credentials]
    assert len(made) == 1


def test_login_on_one_server_is_valid_on_the_other(cluster: Cluster, http: httpx.Client) -> None:
    a, b = cluster.a.url, cluster.b.url
    credentials = cluster.a.demo_credentials or cluster.b.demo_credentials
    assert credentials is not None
    page = http.get(f"{a}/login")
    form = {"csrfmiddlewaretoken": csrf_token(page.text), "username": credentials[0]}
    response = http.post(f"{a}/login", data={**form, "password": credentials[1]})
    assert response.status_code == 303
    token = {"X-CSRFToken": http.cookies["csrftoken"]}
    added = http.post(f"{b}/api/records", json={"text": "written via b"}, headers=token)
    assert added.status_code == 201
    assert added.json() in http.get(f"{a}/api/records").json()
    # Logging out on a ends the session on b too.
    token_b = csrf_token(http.get(f"{b}/records").text)
    assert http.post(f"{a}/logout", data={"csrfmiddlewaretoken": token_b}).status_code == 303
    assert http.get(f"{b}/api/records").status_code == 401


def test_store_outage_gives_503_then_recovers(cluster: Cluster, http: httpx.Client) -> None:
    a, b = cluster.a.url, cluster.b.url
    credentials = cluster.a.demo_credentials or cluster.b.demo_credentials
    assert credentials is not None
    with httpx.Client(base_url=a, timeout=10) as browser:
        assert login(browser, *credentials).status_code == 303
        sessionid = browser.cookies["sessionid"]
    cookies = {"sessionid": sessionid}
    cluster.redis.stop(save=True)
    try:
        for url in (a, b):
            for path in ("/api/records", "/records"):
                response = httpx.get(f"{url}{path}", cookies=cookies, timeout=10)
                assert response.status_code == 503, (url, path, response.status_code)
                assert response.text.strip()  # a short reason
        # Logging in needs the store (throttle counters, the new session): 503, not 500.
        with httpx.Client(base_url=a, timeout=10) as fresh:
            form = {
                "csrfmiddlewaretoken": csrf_token(fresh.get("/login").text),
                "username": credentials[0],
                "password": credentials[1],
            }
            assert fresh.post("/login", data=form).status_code == 503
        # Pages that need no session still work.
        assert httpx.get(f"{b}/login", timeout=10).status_code == 200
    finally:
        cluster.redis.start()
    deadline = time.monotonic() + 15
    status = None
    while time.monotonic() < deadline:
        status = httpx.get(f"{a}/api/records", cookies=cookies, timeout=10).status_code
        if status == 200:
            break
        time.sleep(0.2)
    assert status == 200  # the same session, no restart of the demo servers
    assert httpx.get(f"{b}/api/records", cookies=cookies, timeout=10).status_code == 200
