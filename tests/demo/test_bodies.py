"""Request bodies against a real `cookieguard demo` process: bounded memory, no file parts,
and no traceback when a client hangs up halfway through its body.

The raw-socket client below streams its bodies from a generator and stops as soon as the
server answers, so neither side ever holds a large body.
"""

from __future__ import annotations

import itertools
import select
import socket
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.demo.server import DemoServer, csrf_token, login

MiB = 1024 * 1024
BURST = 16
BURST_BODY = 50 * MiB
PIECE = 64 * 1024
MAX_RSS_GROWTH = 10 * MiB
BOUNDARY = "cgBodyLimitTest7"


@pytest.fixture(scope="module")
def own_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServer]:
    """A demo process of our own: its memory and its log see only this module's requests."""
    directory = tmp_path_factory.mktemp("demo-bodies")
    server = DemoServer(directory / "demo.sqlite3", log=directory / "server.log")
    server.start().wait_ready()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def cookies(own_site: DemoServer) -> dict[str, str]:
    """A logged-in user's `sessionid` and `csrftoken`."""
    assert own_site.demo_credentials is not None
    with httpx.Client(base_url=own_site.url, timeout=10) as client:
        response = login(client, *own_site.demo_credentials)
        assert response.status_code == 303, response.text
        client.get("/records")
        return {"sessionid": client.cookies["sessionid"], "csrftoken": client.cookies["csrftoken"]}


def address(site: DemoServer) -> tuple[str, int]:
    parts = urlsplit(site.url)
    assert parts.hostname is not None and parts.port is not None
    return parts.hostname, parts.port


def rss(pid: int, field: str) -> int:
    """`VmRSS` or `VmHWM` (peak) of process `pid`, in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no {field} in /proc/{pid}/status")


def reset_peak(pid: int) -> None:
    """Make `VmHWM` start again from the current RSS (Linux: clear_refs 5)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def raw_post(
    site: DemoServer,
    path: str,
    headers: dict[str, str],
    body: Iterator[bytes],
    *,
    chunked: bool,
    deadline: float,
) -> int | None:
    """POST `body` piece by piece until it ends or the server answers; the status, if any."""
    host, port = address(site)
    head = f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
    head += "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    if chunked:
        head += "Transfer-Encoding: chunked\r\n"
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(head.encode("latin-1") + b"\r\n")
        try:
            for piece in body:
                if select.select([sock], [], [], 0)[0] or time.monotonic() > deadline:
                    break  # an early answer: the server stopped reading
                sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
            else:
                if chunked:
                    sock.sendall(b"0\r\n\r\n")
        except OSError:
            pass  # the server closed its side; its answer may still be readable
        answer = b""
        try:
            while b"\r\n" not in answer:
                data = sock.recv(4096)
                if not data:
                    break
                answer += data
        except OSError:
            pass
    if not answer.startswith(b"HTTP/1.1 "):
        return None
    return int(answer.split(b" ", 2)[1])


def filler(
    prefix: bytes, size: int, suffix: bytes = b"", *, fields: bool = False
) -> Iterator[bytes]:
    """`prefix`, `size` bytes in 64 KiB pieces, then `suffix`; made on the fly.

    With `fields`, a new url-encoded field starts every 512 KiB: each stays under the 1 MiB
    a form parser allows one field, so only a bound on the whole body can stop them.
    """
    yield prefix
    piece = b"a" * PIECE
    new_field = b"&f=" + piece[3:]
    for index in range(size // PIECE):
        yield new_field if fields and index % 8 == 7 else piece
    if suffix:
        yield suffix


def multipart_head(token: str) -> bytes:
    """The token part and the start of a file part of a multipart body."""
    return (
        f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=csrfmiddlewaretoken\r\n\r\n"
        f"{token}\r\n--{BOUNDARY}\r\nContent-Disposition: form-data; name=text\r\n\r\n"
        f"from a file post\r\n--{BOUNDARY}\r\n"
        'Content-Disposition: form-data; name="upload"; filename="big.bin"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()


def burst_request(
    site: DemoServer, cookies: dict[str, str], kind: int, deadline: float
) -> int | None:
    """One large body of shape `kind` (see `EXPECTED`), streamed until the server answers."""
    token = cookies["csrftoken"]
    base = {
        "Cookie": f"sessionid={cookies['sessionid']}; csrftoken={token}",
        "Origin": site.url,
    }
    urlencoded = {**base, "Content-Type": "application/x-www-form-urlencoded"}
    form = {**urlencoded, "X-CSRFToken": token}
    suffix = b""
    if kind == 0:  # the review's case: a login form far beyond any login, declared up front
        path, headers, prefix, chunked = "/login", form, b"username=", False
    elif kind == 1:  # the same, chunked: no length to refuse up front
        path, headers, prefix, chunked = "/login", form, b"password=", True
    elif kind == 2:  # a record form declared far beyond 10,000 characters
        path, headers, prefix, chunked = "/records", form, b"text=", False
    elif kind == 3:  # the token first in a chunked form: the CSRF layer's own read is cut short
        prefix = f"csrfmiddlewaretoken={token}&text=".encode()
        path, headers, chunked = "/records", urlencoded, True
    elif kind == 4:  # a file part after the form's token: refused, not spooled to disk
        headers = {**base, "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
        path, prefix, chunked = "/records", multipart_head(token), True
        suffix = f"\r\n--{BOUNDARY}--\r\n".encode()
    else:  # a JSON record far beyond 10,000 characters, chunked
        headers = {**base, "X-CSRFToken": token, "Content-Type": "application/json"}
        path, prefix, suffix, chunked = "/api/records", b'{"text": "', b'"}', True
    if not chunked:
        headers = {**headers, "Content-Length": str(len(prefix) + BURST_BODY + len(suffix))}
    body = filler(prefix, BURST_BODY, suffix, fields=kind <= 3)
    return raw_post(site, path, headers, body, chunked=chunked, deadline=deadline)


EXPECTED = [413, 413, 413, 413, 400, 413]
"""The answer to each body shape of `burst_request`: 413, or 400 for a file part."""


def records_texts(site: DemoServer, cookies: dict[str, str]) -> list[str]:
    with httpx.Client(base_url=site.url, cookies=cookies, timeout=10) as client:
        response = client.get("/api/records")
        assert response.status_code == 200
        return [record["text"] for record in response.json()]


def test_a_burst_of_large_bodies_gets_413_and_does_not_grow_memory(
    own_site: DemoServer, cookies: dict[str, str]
) -> None:
    assert own_site.proc is not None
    pid = own_site.proc.pid
    deadline = time.monotonic() + 30
    # Warm up every code path once, so the measurement sees the bodies and not first use.
    for kind in range(len(EXPECTED)):
        burst_request(own_site, cookies, kind, deadline)
    time.sleep(0.2)
    reset_peak(pid)
    before = rss(pid, "VmRSS")
    kinds = list(itertools.islice(itertools.cycle(range(len(EXPECTED))), BURST))
    with ThreadPoolExecutor(BURST) as pool:
        statuses = list(pool.map(lambda k: burst_request(own_site, cookies, k, deadline), kinds))
    growth = rss(pid, "VmHWM") - before
    print(f"demo RSS before the burst {before / MiB:.1f} MiB, peak growth {growth / MiB:.2f} MiB")
    assert statuses == [EXPECTED[kind] for kind in kinds]
    assert growth < MAX_RSS_GROWTH, f"peak RSS grew by {growth / MiB:.1f} MiB"
    assert "from a file post" not in records_texts(own_site, cookies)


def test_a_file_part_after_the_token_is_refused_and_nothing_is_stored(
    own_site: DemoServer, cookies: dict[str, str]
) -> None:
    marker = f"file-part-{uuid.uuid4().hex}"
    with httpx.Client(base_url=own_site.url, cookies=cookies, timeout=10) as client:
        token = csrf_token(client.get("/records").text)
        data = {"csrfmiddlewaretoken": token, "text": marker}
        files = {"upload": ("note.txt", b"a small file", "text/plain")}
        response = client.post("/records", data=data, files=files)
        assert 400 <= response.status_code < 500, response.text
        login_page = client.get("/login")
        response = client.post(
            "/login",
            data={"csrfmiddlewaretoken": csrf_token(login_page.text), "username": "x"},
            files={"password": ("p.txt", b"secret", "text/plain")},
        )
        assert 400 <= response.status_code < 500, response.text
        assert "sessionid" not in response.cookies
        # The same form without the file is taken: the refusal is about the file part.
        response = client.post("/records", data=data, files={})
        assert response.status_code == 303
    texts = records_texts(own_site, cookies)
    assert texts.count(marker) == 1


def test_a_body_within_the_limit_still_reaches_the_form(
    own_site: DemoServer, cookies: dict[str, str]
) -> None:
    # 10,000 characters of 3-byte UTF-8, percent-encoded: 90,000 bytes, all accepted.
    text = "\u20ac" * 10_000
    with httpx.Client(base_url=own_site.url, cookies=cookies, timeout=10) as client:
        token = csrf_token(client.get("/records").text)
        response = client.post("/records", data={"csrfmiddlewaretoken": token, "text": text})
        assert response.status_code == 303
        response = client.post(
            "/records", data={"csrfmiddlewaretoken": token, "text": text + "\u20ac"}
        )
        assert response.status_code == 400  # the contract's answer to 10,001 characters
        assert "Not added" in response.text
    assert text in records_texts(own_site, cookies)


def test_a_client_hanging_up_mid_body_leaves_no_traceback(
    own_site: DemoServer, cookies: dict[str, str]
) -> None:
    log = own_site.log
    start = log.stat().st_size
    host, port = address(own_site)
    token = cookies["csrftoken"]
    for path in ("/login", "/records", "/sessions/revoke"):
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Cookie: sessionid={cookies['sessionid']}; csrftoken={token}\r\n"
            f"X-CSRFToken: {token}\r\nOrigin: {own_site.url}\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\n"
        )
        with socket.create_connection((host, port), timeout=10) as sock:
            sock.sendall(head.encode() + b"text=only-the-start")
            time.sleep(0.05)  # let the app start reading before the client leaves
    # A refusal the server logs, sent after the hang-ups: once its line is in the log, the
    # hang-ups (handled first) have had their chance to log too.
    sentinel = f"/sentinel-{uuid.uuid4().hex}"
    assert httpx.post(own_site.url + sentinel, timeout=10).status_code == 403
    deadline = time.monotonic() + 10
    while (
        sentinel not in log.read_bytes()[start:].decode(errors="replace")
        and time.monotonic() < deadline
    ):
        time.sleep(0.05)
    time.sleep(0.3)
    written = log.read_bytes()[start:].decode(errors="replace")
    assert sentinel in written
    assert "Traceback" not in written, written
    assert "Exception in ASGI application" not in written, written
    # The site is fine afterwards.
    with httpx.Client(base_url=own_site.url, cookies=cookies, timeout=10) as client:
        assert client.get("/records").status_code == 200
