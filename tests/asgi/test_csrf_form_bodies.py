"""CSRFMiddleware end to end: the token in a form body, found, bounded, replayed; broken
bodies are 4xx, never 500."""

from __future__ import annotations

from collections.abc import AsyncIterator, MutableMapping
from typing import Any

import httpx
import pytest
from tests.asgi.csrf_site import (
    BASE,
    ORIGIN,
    fetch_token,
    make_app,
)
from tests.asgi.scopes import call_http, http_scope

from cookieguard.asgi.csrf import (
    CSRFMiddleware,
)
from cookieguard.core.tokens import mask_secret, new_csrf_secret


async def test_multipart_token_before_a_file(client: httpx.AsyncClient) -> None:
    token = await fetch_token(client)
    big = b"\x00\xff" * (2 * 1024 * 1024)  # 4 MiB: larger than the 2.5 MiB read bound
    r = await client.post(
        "/submit",
        data={"csrfmiddlewaretoken": token, "note": "héllo"},
        files={"upload": ("big.bin", big, "application/octet-stream")},
        headers=ORIGIN,
    )
    assert r.status_code == 200, r.text
    assert r.json()["fields"] == {
        "csrfmiddlewaretoken": token,
        "note": "héllo",
        "upload": f"file:big.bin:{len(big)}",
    }


async def test_multipart_token_after_a_small_file(client: httpx.AsyncClient) -> None:
    token = await fetch_token(client)
    r = await client.post(
        "/submit",
        files=[
            ("upload", ("a.txt", b"abc", "text/plain")),
            ("csrfmiddlewaretoken", (None, token.encode())),
        ],
        headers=ORIGIN,
    )
    assert r.status_code == 200, r.text
    assert r.json()["fields"]["upload"] == "file:a.txt:3"


async def test_multipart_token_after_a_huge_file_is_413(client: httpx.AsyncClient) -> None:
    token = await fetch_token(client)
    r = await client.post(
        "/submit",
        files=[
            ("upload", ("a.bin", b"x" * (3 * 1024 * 1024), "application/octet-stream")),
            ("csrfmiddlewaretoken", (None, token.encode())),
        ],
        headers=ORIGIN,
    )
    assert r.status_code == 413


async def test_a_file_named_like_the_field_is_not_the_token(client: httpx.AsyncClient) -> None:
    token = await fetch_token(client)
    r = await client.post(
        "/submit",
        files={"csrfmiddlewaretoken": ("t.txt", token.encode(), "text/plain")},
        headers=ORIGIN,
    )
    assert r.status_code == 403


async def test_urlencoded_over_the_bound_is_413(client: httpx.AsyncClient) -> None:
    token = await fetch_token(client)
    r = await client.post(
        "/submit",
        data={"csrfmiddlewaretoken": token, "blob": "x" * 3_000_000},
        headers=ORIGIN,
    )
    assert r.status_code == 413
    assert "too large" in r.text


async def test_chunked_urlencoded_over_the_bound_is_413(client: httpx.AsyncClient) -> None:
    token = await fetch_token(client)

    async def chunks() -> AsyncIterator[bytes]:
        yield f"csrfmiddlewaretoken={token}&blob=".encode()
        for _ in range(30):
            yield b"y" * 100_000

    r = await client.post(
        "/submit",
        content=chunks(),
        headers={"content-type": "application/x-www-form-urlencoded", **ORIGIN},
    )
    assert r.status_code == 413


async def test_the_app_reads_the_replayed_body_unchanged(client: httpx.AsyncClient) -> None:
    token = await fetch_token(client)
    raw = f"a=1&csrfmiddlewaretoken={token}&b=%C3%A9&b=2".encode()
    r = await client.post(
        "/echo",
        content=raw,
        headers={"content-type": "application/x-www-form-urlencoded", **ORIGIN},
    )
    assert r.status_code == 200
    assert r.json()["body"] == raw.decode("latin-1")


# -- broken bodies: 4xx, never 500 ---------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/x-www-form-urlencoded", b"csrfmiddlewaretoken=%zz"),
        ("application/x-www-form-urlencoded", b"a=%4&csrfmiddlewaretoken=x"),
        ("application/x-www-form-urlencoded", b"csrfmiddlewaretoken=\xff\xfe"),
        ("application/x-www-form-urlencoded", b"csrfmiddlewaretoken=%ff%fe"),
        ("multipart/form-data", b"--b\r\n"),
        ("multipart/form-data; boundary=", b"--\r\n"),
        ("multipart/form-data; boundary=b" + "x" * 80, b"--b\r\n"),
        ("multipart/form-data; boundary=b", b"--b\r\nContent-Disposition: form-data; name="),
        (
            "multipart/form-data; boundary=b",
            b'--b\r\nContent-Disposition: form-data; name="csrfmiddlewaretoken"\r\n\r\nabc',
        ),
        ("multipart/form-data; boundary=b", b"--bGARBAGE\r\n"),
        ("multipart/form-data; boundary=b", b"--b\r\nno colon here\r\n\r\nx\r\n--b--"),
        (
            "multipart/form-data; boundary=b",
            b'--b\r\nContent-Disposition: form-data; name="csrfmiddlewaretoken"\r\n\r\n'
            b"\xff\r\n--b--",
        ),
        ("multipart/form-data; boundary=b", b"no boundary at all"),
    ],
)
async def test_broken_bodies_are_400(
    client: httpx.AsyncClient, content_type: str, body: bytes
) -> None:
    await fetch_token(client)
    r = await client.post("/submit", content=body, headers={"content-type": content_type})
    assert r.status_code == 400, (r.status_code, r.text)


async def test_form_without_the_field_is_403(client: httpx.AsyncClient) -> None:
    await fetch_token(client)
    for content_type, body in [
        ("application/x-www-form-urlencoded", b"a=1&b=2"),
        ("application/x-www-form-urlencoded", b""),
        (
            "multipart/form-data; boundary=b",
            b'--b\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--b--\r\n',
        ),
        ("text/plain", b"csrfmiddlewaretoken=whatever"),
    ]:
        r = await client.post("/submit", content=body, headers={"content-type": content_type})
        assert r.status_code == 403, content_type


async def test_percent_encoded_field_name_and_quoted_boundary(client: httpx.AsyncClient) -> None:
    token = await fetch_token(client)
    body = f"csrf%6Diddlewaretoken={token}".encode()
    r = await client.post(
        "/echo", content=body, headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert r.status_code == 200
    body = (
        f'--a"b\r\nContent-Disposition: form-data; name="csrfmiddlewaretoken"\r\n\r\n{token}'
        '\r\n--a"b--\r\n'
    ).encode()
    # A quote is not a valid boundary character: refused as malformed.
    r = await client.post(
        "/echo", content=body, headers={"content-type": 'multipart/form-data; boundary=a"b'}
    )
    assert r.status_code == 400
    body = (
        f"--a b\r\nContent-Disposition: form-data; name=csrfmiddlewaretoken\r\n\r\n{token}"
        "\r\n--a b--\r\n"
    ).encode()
    r = await client.post(
        "/echo", content=body, headers={"content-type": 'multipart/form-data; boundary="a b"'}
    )
    assert r.status_code == 200


async def test_token_split_across_chunks(client: httpx.AsyncClient) -> None:
    token = await fetch_token(client)
    body = (
        '--XyZ\r\nContent-Disposition: form-data; name="a"\r\n\r\n' + "v" * 1000 + "\r\n"
        f'--XyZ\r\nContent-Disposition: form-data; name="csrfmiddlewaretoken"\r\n\r\n{token}'
        "\r\n--XyZ--\r\n"
    ).encode()

    async def trickle() -> AsyncIterator[bytes]:
        for i in range(0, len(body), 7):
            yield body[i : i + 7]

    r = await client.post(
        "/submit", content=trickle(), headers={"content-type": "multipart/form-data; boundary=XyZ"}
    )
    assert r.status_code == 200, r.text
    assert r.json()["fields"] == {"a": "v" * 1000, "csrfmiddlewaretoken": token}


async def test_huge_and_non_ascii_headers_never_500(client: httpx.AsyncClient) -> None:
    token = await fetch_token(client)
    cases: list[list[tuple[bytes, bytes]]] = [
        [(b"origin", "http://tëst".encode())],
        [(b"origin", b"http://" + b"a" * 100_000)],
        [(b"referer", b"\xff\xfe")],
        [(b"sec-fetch-site", b"\xff")],
        [(b"x-csrftoken", "é".encode() * 64)],
        [(b"x-csrftoken", b"a" * 100_000)],
        [(b"content-length", b"nope"), (b"content-type", b"application/x-www-form-urlencoded")],
        [(b"content-type", b"multipart/form-data; boundary=\xff")],
    ]
    for headers in cases:
        r = await client.post("/echo", content=b"", headers=headers)
        assert 400 <= r.status_code < 500, headers
    r = await client.post("/echo", content=b"", headers={"x-csrftoken": token})
    assert r.status_code == 200


async def test_one_big_chunk_holding_the_token_is_not_refused() -> None:
    """Servers may deliver a body in one message; the bound is on reading further."""
    app = make_app()
    token = mask_secret(secret := new_csrf_secret())
    body = (
        (
            f'--b\r\nContent-Disposition: form-data; name="csrfmiddlewaretoken"\r\n\r\n{token}\r\n'
            '--b\r\nContent-Disposition: form-data; name="f"; filename="x"\r\n\r\n'
        ).encode()
        + b"z" * (4 * 1024 * 1024)
        + b"\r\n--b--\r\n"
    )
    headers = [
        (b"cookie", f"csrftoken={secret}".encode()),
        (b"content-type", b"multipart/form-data; boundary=b"),
    ]
    messages = await call_http(app, http_scope("POST", "/echo", headers), body)
    assert messages[0]["status"] == 200
    assert len(messages[1]["body"]) > len(body)  # the echo saw the whole body


@pytest.mark.parametrize(
    ("extra", "status"),
    [
        # Refused on its headers: the body is never touched.
        ([(b"sec-fetch-site", b"cross-site"), (b"origin", b"http://evil.test")], 403),
        # No secret at all: refused before reading.
        ([(b"origin", BASE.encode())], 403),
        # Token in the header: the body is left for the app alone.
        ([(b"x-csrftoken", b"HEADER")], 200),
    ],
)
async def test_body_is_read_only_when_needed(extra: list[tuple[bytes, bytes]], status: int):
    secret = new_csrf_secret()
    headers = [
        (b"content-type", b"application/x-www-form-urlencoded"),
        *[(k, mask_secret(secret).encode() if v == b"HEADER" else v) for k, v in extra],
    ]
    if status == 200 or extra[0][0] == b"sec-fetch-site":
        headers.append((b"cookie", f"csrftoken={secret}".encode()))
    received: list[str] = []
    messages: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        received.append("read")
        return {"type": "http.request", "body": b"a=1", "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        messages.append(dict(message))

    async def app(scope: Any, receive_: Any, send_: Any) -> None:
        assert receive_ is receive  # the app got the server's own receive, unwrapped
        await send_({"type": "http.response.start", "status": 200, "headers": []})
        await send_({"type": "http.response.body", "body": b""})

    await CSRFMiddleware(app)(http_scope("POST", "/", headers), receive, send)
    assert messages[0]["status"] == status
    assert received == []
