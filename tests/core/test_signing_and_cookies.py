from __future__ import annotations

import pytest

from cookieguard.config import CookieConfig
from cookieguard.core.cookies import (
    CookieSpec,
    parse_cookie_header,
    render_deletion,
    render_set_cookie,
)
from cookieguard.core.signing import KeyRing, Signer
from cookieguard.errors import ConfigError


def test_newest_key_signs_and_old_keys_verify() -> None:
    old = Signer(KeyRing("old-secret-key-0123456789"), "session")
    rotated = Signer(KeyRing("new-secret-key-0123456789", ["old-secret-key-0123456789"]), "session")
    value = old.sign(b"payload")
    assert rotated.unsign(value) == b"payload"
    assert old.unsign(rotated.sign(b"payload")) is None
    assert rotated.verify(b"m", rotated.signature(b"m")) == 0


def test_purposes_do_not_cross() -> None:
    ring = KeyRing("a-secret-key-of-enough-length")
    assert Signer(ring, "a").unsign(Signer(ring, "b").sign(b"x")) is None


@pytest.mark.parametrize("value", ["", ".", "abc", "abc.def", "é.é", "a.b.c", "x" * 5000])
def test_tampered_or_garbage_values_never_verify(value: str) -> None:
    assert Signer(KeyRing("a-secret-key-of-enough-length"), "p").unsign(value) is None


def test_keyring_hides_material_and_rejects_short_keys() -> None:
    ring = KeyRing("a-secret-key-of-enough-length")
    assert "secret" not in repr(ring)
    with pytest.raises(ConfigError):
        KeyRing("short")


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("a=1; b=2", {"a": "1", "b": "2"}),
        ("a=1; a=2", {"a": "1"}),
        ('a="quoted"', {"a": "quoted"}),
        ("garbage;;; =x; b", {}),
        ("  spaced = v  ", {"spaced": "v"}),
        ("x=" + "y" * 20000, {}),
    ],
)
def test_cookie_header_parsing_is_tolerant(header: str, expected: dict[str, str]) -> None:
    assert parse_cookie_header(header) == expected
    assert parse_cookie_header(header.encode("latin-1")) == expected


def test_set_cookie_rendering() -> None:
    spec = CookieSpec("sessionid", secure=True)
    rendered = render_set_cookie(spec, "abc", max_age=60, now=0)
    assert rendered == (
        "sessionid=abc; Expires=Thu, 01 Jan 1970 00:01:00 GMT; Max-Age=60; Path=/; "
        "Secure; HttpOnly; SameSite=Lax"
    )
    assert render_set_cookie(spec, "abc", max_age=None) == (
        "sessionid=abc; Path=/; Secure; HttpOnly; SameSite=Lax"
    )
    assert "Max-Age=0" in render_deletion(spec)
    with pytest.raises(ValueError):
        render_set_cookie(spec, "a;b", max_age=None)


def test_starlette_spelling_writes_starlettes_layout() -> None:
    spec = CookieSpec("session", domain=".example.com", secure=True, spelling="starlette")
    assert render_set_cookie(spec, "abc", max_age=60, now=0) == (
        "session=abc; path=/; Max-Age=60; httponly; samesite=lax; secure; domain=.example.com"
    )
    assert render_set_cookie(spec, "abc", max_age=None) == (
        "session=abc; path=/; httponly; samesite=lax; secure; domain=.example.com"
    )
    assert render_deletion(spec) == (
        "session=; path=/; expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; httponly; "
        "samesite=lax; secure; domain=.example.com"
    )
    starlette = CookieConfig(name="session", spelling="starlette").spec(https=False)
    assert render_set_cookie(starlette, "v", max_age=5).startswith("session=v; path=/; Max-Age")
    with pytest.raises(ValueError, match="spelling"):
        CookieSpec("session", spelling="camel")  # type: ignore[arg-type]


def test_host_prefix_forces_secure() -> None:
    config = CookieConfig(name="sessionid", host_prefix=True)
    spec = config.spec(https=False)
    assert spec.name == "__Host-sessionid" and spec.secure
    with pytest.raises(ConfigError):
        CookieConfig(name="x", host_prefix=True, path="/app")


def test_expires_dates_match_formatdate_across_second_boundaries() -> None:
    from email.utils import formatdate

    spec = CookieSpec("sessionid")
    for now in (0.0, 0.999, 1.0, 1_700_000_000.0, 1_700_000_000.5, 1_700_000_001.0, -0.5, 1.0):
        cookie = render_set_cookie(spec, "v", max_age=60, now=now)
        assert f"Expires={formatdate(now + 60, usegmt=True)};" in cookie, now
