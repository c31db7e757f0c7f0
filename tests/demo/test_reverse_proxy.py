"""`cookieguard demo` behind a real TLS-terminating nginx, all on loopback.

nginx listens with a throwaway self-signed certificate on 127.0.0.1 and forwards to the demo
with ``X-Forwarded-Proto: $scheme`` and ``X-Forwarded-For: $remote_addr`` (what an edge
proxy should send: a client's own X-Forwarded-For is replaced, not appended to). Clients
connect from 127.0.0.2 and 127.0.0.3 (all of 127/8 is loopback), so they really are two
client addresses, while nginx reaches the demo from 127.0.0.1, the one address the demo is
told to trust.
"""

from __future__ import annotations

import shutil
import signal
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.demo.server import DemoServer, cli, csrf_token, free_port
from tests.store_backends import missing

CLIENT_A = "127.0.0.2"
CLIENT_B = "127.0.0.3"
FAILURES_BEFORE_429 = 10  # the contract's limit per username and client address

NGINX_CONF = """\
daemon off;
master_process off;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    server {{
        listen 127.0.0.1:{port} ssl;
        ssl_certificate {dir}/cert.pem;
        ssl_certificate_key {dir}/key.pem;
        location / {{
            proxy_pass {upstream};
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Forwarded-For $remote_addr;
        }}
    }}
}}
"""


def binary(name: str) -> str:
    """Path of `name` (also looked for in the sbin directories, where Debian puts nginx)."""
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/local/sbin:/sbin")
    if path is None:
        missing(f"{name} is not installed (apt-get install {name})")
    return path


def self_signed_certificate(directory: Path) -> Path:
    """A throwaway certificate for IP 127.0.0.1 (cert.pem, key.pem); returns cert.pem."""
    subprocess.run(
        [
            *(binary("openssl"), "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"),
            *("-keyout", str(directory / "key.pem"), "-out", str(directory / "cert.pem")),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return directory / "cert.pem"


@contextmanager
def nginx_in_front(upstream: str, directory: Path) -> Iterator[str]:
    """nginx terminating TLS on a free loopback port in front of `upstream`; yields its URL."""
    nginx = binary("nginx")
    directory.mkdir()
    self_signed_certificate(directory)
    port = free_port()
    conf = directory / "nginx.conf"
    conf.write_text(NGINX_CONF.format(dir=directory, port=port, upstream=upstream))
    proc = subprocess.Popen(
        [nginx, "-p", str(directory), "-c", str(conf), "-e", str(directory / "error.log")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            if proc.poll() is not None:
                pytest.fail(f"nginx did not start:\n{(directory / 'error.log').read_text()}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail("nginx never listened")
                time.sleep(0.05)
        yield f"https://127.0.0.1:{port}"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def client(base_url: str, source: str, directory: Path | None = None) -> httpx.Client:
    """A client connecting from loopback address `source`; verifying the proxy's certificate."""
    verify: ssl.SSLContext | bool = True
    if base_url.startswith("https:"):
        assert directory is not None
        verify = ssl.create_default_context(cafile=str(directory / "cert.pem"))
    transport = httpx.HTTPTransport(local_address=source, verify=verify)
    return httpx.Client(base_url=base_url, transport=transport, timeout=15)


def cookie_lines(response: httpx.Response) -> dict[str, str]:
    return {line.split("=", 1)[0]: line.lower() for line in response.headers.get_list("set-cookie")}


def post_login(http: httpx.Client, username: str, password: str, **headers: str) -> httpx.Response:
    """GET the form, then POST it with the site's own Origin, as a browser does."""
    page = http.get("/login", headers=headers)
    assert page.status_code == 200
    form = {"csrfmiddlewaretoken": csrf_token(page.text), "username": username}
    form["password"] = password
    origin = str(http.base_url).rstrip("/")
    return http.post("/login", data=form, headers={"Origin": origin, **headers})


def add_user(site: DemoServer, username: str) -> str:
    password = f"{username} password 1"
    result = cli("adduser", username, "--db", str(site.db), stdin=password + "\n")
    assert result.returncode == 0, result.stderr
    return password


@pytest.fixture(scope="module")
def trusting_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServer]:
    """The demo told to believe forwarded headers from 127.0.0.1 only."""
    directory = tmp_path_factory.mktemp("proxied-demo")
    server = DemoServer(
        directory / "demo.sqlite3",
        log=directory / "server.log",
        extra=("--forwarded-allow-ips=127.0.0.1",),
    )
    server.start().wait_ready()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def proxy_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """nginx's files, among them the certificate clients verify."""
    return tmp_path_factory.mktemp("nginx") / "n"


@pytest.fixture(scope="module")
def proxy(trusting_site: DemoServer, proxy_dir: Path) -> Iterator[str]:
    """nginx in front of the trusting demo: its https URL."""
    with nginx_in_front(trusting_site.url, proxy_dir) as url:
        yield url


@pytest.fixture(scope="module")
def plain_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServer]:
    """The demo without the flag."""
    directory = tmp_path_factory.mktemp("plain-demo")
    server = DemoServer(directory / "demo.sqlite3", log=directory / "server.log")
    server.start().wait_ready()
    yield server
    server.stop()


def test_login_over_https_through_the_proxy(
    proxy: str, proxy_dir: Path, trusting_site: DemoServer
) -> None:
    assert trusting_site.demo_credentials is not None
    with client(proxy, CLIENT_A, proxy_dir) as http:
        form = http.get("/login")
        assert form.status_code == 200
        assert "; secure" in cookie_lines(form)["csrftoken"]
        response = post_login(http, *trusting_site.demo_credentials)
        assert response.status_code == 303, response.text  # the https Origin matched
        cookies = cookie_lines(response)
        assert "; secure" in cookies["sessionid"] and "; httponly" in cookies["sessionid"]
        assert "; secure" in cookies["csrftoken"]
        assert http.get("/records").status_code == 200  # the Secure cookie came back
        token = csrf_token(http.get("/records").text)
        added = http.post(
            "/api/records",
            json={"text": "through nginx"},
            headers={"X-CSRFToken": token, "Origin": proxy},
        )
        assert added.status_code == 201, added.text


def test_the_throttle_counts_each_client_address_behind_the_proxy(
    proxy: str, proxy_dir: Path, trusting_site: DemoServer
) -> None:
    password = add_user(trusting_site, "proxied-user")
    with client(proxy, CLIENT_A, proxy_dir) as a, client(proxy, CLIENT_B, proxy_dir) as b:
        for _ in range(FAILURES_BEFORE_429):
            assert post_login(a, "proxied-user", "wrong").status_code == 200
        assert post_login(a, "proxied-user", password).status_code == 429
        # A forged X-Forwarded-For does not help: nginx replaces it with the real address.
        forged = post_login(a, "proxied-user", password, **{"X-Forwarded-For": "198.51.100.7"})
        assert forged.status_code == 429
        # The other client address is counted on its own.
        assert post_login(b, "proxied-user", password).status_code == 303


def test_only_the_listed_proxy_is_believed(trusting_site: DemoServer) -> None:
    # A client reaching the trusting demo directly, not from 127.0.0.1, claims https and
    # another address: neither is believed.
    password = add_user(trusting_site, "direct-user")
    forged = {"X-Forwarded-Proto": "https"}
    with client(trusting_site.url, CLIENT_A) as http:
        form = http.get("/login", headers=forged)
        assert "; secure" not in cookie_lines(form)["csrftoken"]
        for n in range(FAILURES_BEFORE_429):
            spoof = {"X-Forwarded-For": f"198.51.100.{n + 1}"}
            assert post_login(http, "direct-user", "wrong", **spoof).status_code == 200
        spoof = {"X-Forwarded-For": "198.51.100.200"}
        assert post_login(http, "direct-user", password, **spoof).status_code == 429


def test_without_the_flag_forwarded_headers_are_not_trusted(
    plain_site: DemoServer, tmp_path: Path
) -> None:
    assert plain_site.demo_credentials is not None
    password = add_user(plain_site, "plain-user")
    with (
        nginx_in_front(plain_site.url, tmp_path / "nginx") as url,
        client(url, CLIENT_A, tmp_path / "nginx") as a,
    ):
        form = a.get("/login")
        assert "; secure" not in cookie_lines(form)["csrftoken"]
        # The demo still thinks it is served over http: an https Origin is foreign.
        assert post_login(a, *plain_site.demo_credentials).status_code == 403
    # Straight from 127.0.0.1 (which uvicorn would trust by default), forged headers are
    # ignored too: every attempt counts against the one real address.
    with client(plain_site.url, "127.0.0.1") as http:
        assert (
            "; secure"
            not in cookie_lines(http.get("/login", headers={"X-Forwarded-Proto": "https"}))[
                "csrftoken"
            ]
        )
        for n in range(FAILURES_BEFORE_429):
            spoof = {"X-Forwarded-For": f"198.51.100.{n + 1}"}
            assert post_login(http, "plain-user", "wrong", **spoof).status_code == 200
        spoof = {"X-Forwarded-For": "198.51.100.200"}
        assert post_login(http, "plain-user", password, **spoof).status_code == 429


@pytest.mark.parametrize("value", ["*", "proxy.example", "127.0.0.1,", "10.0.0.0/33"])
def test_the_flag_takes_addresses_and_networks_only(value: str, tmp_path: Path) -> None:
    result = cli("demo", "--port", "0", "--db", str(tmp_path / "x.sqlite3"),
                 f"--forwarded-allow-ips={value}")  # fmt: skip
    assert result.returncode == 2
    assert "--forwarded-allow-ips" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
