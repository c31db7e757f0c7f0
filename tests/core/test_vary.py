"""One rule for ``Vary: Cookie`` on ASGI (bytes) and WSGI (str) headers."""

from __future__ import annotations

import pytest

from cookieguard.core._vary import vary_on_cookie


def test_a_response_without_vary_gets_one() -> None:
    assert vary_on_cookie([]) == [(b"vary", b"Cookie")]
    assert vary_on_cookie([], text=True) == [("Vary", "Cookie")]


def test_an_existing_vary_is_extended_not_repeated() -> None:
    headers = [(b"content-type", b"text/html"), (b"Vary", b"Accept")]
    assert vary_on_cookie(headers) == [
        (b"content-type", b"text/html"),
        (b"Vary", b"Accept, Cookie"),
    ]
    assert headers[1] == (b"Vary", b"Accept")  # the app's list is not changed
    assert vary_on_cookie([("vary", "Origin")], text=True) == [("vary", "Origin, Cookie")]


@pytest.mark.parametrize("value", [b"Cookie", b"accept, COOKIE", b" * "])
def test_a_vary_that_already_covers_cookie_is_left_alone(value: bytes) -> None:
    assert vary_on_cookie([(b"VARY", value)]) is None
    assert vary_on_cookie([("Vary", value.decode())], text=True) is None


def test_a_later_vary_naming_cookie_counts_too() -> None:
    assert vary_on_cookie([(b"vary", b"Accept"), (b"vary", b"Cookie")]) is None
