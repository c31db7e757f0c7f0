"""Body reading for the CSRF token: found wherever it sits, and the bytes replayed intact."""

from __future__ import annotations

import itertools
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cookieguard.asgi._body import ClientDisconnected, read_form_token
from cookieguard.core.csrf import MULTIPART, NOT_A_FORM, URLENCODED, form_kind
from cookieguard.errors import RequestRejected

FIELD = b"csrfmiddlewaretoken"
TOKEN = "A" * 32 + "b" * 32


def chunked(body: bytes, cuts: list[int]) -> list[dict[str, Any]]:
    points = sorted({c % (len(body) + 1) for c in cuts} | {0, len(body)})
    pieces = [body[a:b] for a, b in itertools.pairwise(points)] or [b""]
    return [
        {"type": "http.request", "body": piece, "more_body": i < len(pieces) - 1}
        for i, piece in enumerate(pieces)
    ]


async def read_all(body: bytes, cuts: list[int], content_type: bytes, max_size: int = 10_000):
    messages = chunked(body, cuts)
    consumed = 0

    async def receive() -> dict[str, Any]:
        nonlocal consumed
        consumed += 1
        return messages.pop(0)

    token, replay = await read_form_token(
        receive,
        kind=form_kind(content_type.decode("latin-1")),
        content_type=content_type,
        field=FIELD,
        max_size=max_size,
        content_length=None,
    )
    seen = b""
    while True:
        message = await replay()
        seen += message["body"]
        if not message["more_body"]:
            break
    return token, seen, consumed


def multipart(
    parts: list[tuple[str, str | None, bytes]], boundary: str = "----cg7MA4YWxk"
) -> bytes:
    out = b""
    for name, filename, value in parts:
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        out += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode()
        out += value + b"\r\n"
    return out + f"--{boundary}--\r\n".encode()


names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=12).filter(
    lambda n: n != FIELD.decode()
)
values = st.binary(max_size=300).filter(lambda v: b"----cg7MA4YWxk" not in v)


@settings(max_examples=150, deadline=None)
@given(
    before=st.lists(st.tuples(names, st.none() | names, values), max_size=4),
    after=st.lists(st.tuples(names, st.none() | names, values), max_size=4),
    cuts=st.lists(st.integers(min_value=0, max_value=5000), max_size=12),
)
async def test_multipart_token_found_and_replayed(before: Any, after: Any, cuts: list[int]):
    body = multipart([*before, (FIELD.decode(), None, TOKEN.encode()), *after])
    ct = b"multipart/form-data; boundary=----cg7MA4YWxk"
    token, seen, _ = await read_all(body, cuts, ct)
    assert token == TOKEN
    assert seen == body


@settings(max_examples=150, deadline=None)
@given(
    pairs=st.lists(st.tuples(names, st.text(max_size=40)), max_size=6),
    cuts=st.lists(st.integers(min_value=0, max_value=2000), max_size=8),
)
async def test_urlencoded_token_found_and_replayed(pairs: Any, cuts: list[int]) -> None:
    body = urlencode([*pairs, (FIELD.decode(), TOKEN)]).encode()
    token, seen, _ = await read_all(body, cuts, b"application/x-www-form-urlencoded")
    assert token == TOKEN
    assert seen == body


async def test_reading_stops_at_the_field() -> None:
    head = multipart([(FIELD.decode(), None, TOKEN.encode())])[: -len("------cg7MA4YWxk--\r\n")]
    rest = b'------cg7MA4YWxk\r\nContent-Disposition: form-data; name="f"; filename="x"\r\n\r\n'
    messages = [
        {"type": "http.request", "body": head, "more_body": True},
        {"type": "http.request", "body": rest, "more_body": True},
        {"type": "http.request", "body": b"z" * 50_000, "more_body": False},
    ]

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    ct = b"multipart/form-data; boundary=----cg7MA4YWxk"
    token, replay = await read_form_token(
        receive, kind=MULTIPART, content_type=ct, field=FIELD, max_size=2048, content_length=None
    )
    assert token == TOKEN
    # The delimiter after the token had to be seen, nothing more: the file is still unread.
    assert len(messages) == 1
    first, second = await replay(), await replay()
    assert first == {"type": "http.request", "body": head + rest, "more_body": True}
    assert second["body"] == b"z" * 50_000 and not second["more_body"]


async def test_disconnect_and_content_length_bound() -> None:
    async def gone() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    with pytest.raises(ClientDisconnected):
        await read_form_token(
            gone,
            kind=URLENCODED,
            content_type=b"application/x-www-form-urlencoded",
            field=FIELD,
            max_size=2048,
            content_length=None,
        )
    with pytest.raises(RequestRejected) as info:
        await read_form_token(
            gone,
            kind=URLENCODED,
            content_type=b"application/x-www-form-urlencoded",
            field=FIELD,
            max_size=2048,
            content_length=4096,
        )
    assert info.value.status_code == 413


@pytest.mark.parametrize(
    ("content_type", "kind"),
    [
        ("application/x-www-form-urlencoded", URLENCODED),
        ("Application/X-WWW-Form-Urlencoded; charset=UTF-8", URLENCODED),
        ("multipart/form-data; boundary=x", MULTIPART),
        ("application/json", NOT_A_FORM),
        ("text/plain", NOT_A_FORM),
        ("", NOT_A_FORM),
        (None, NOT_A_FORM),
    ],
)
def test_form_kind(content_type: str | None, kind: int) -> None:
    assert form_kind(content_type) == kind
