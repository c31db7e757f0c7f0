"""Which Set-Cookie each outcome sends, the cookie's spelling, and lifetimes as timedelta."""

from __future__ import annotations

from datetime import timedelta

import pytest

from cookieguard.config import CookieConfig, CSRFConfig, SessionConfig
from cookieguard.core.cookies import CookieSpec, render_set_cookie
from cookieguard.core.session_plan import (
    EXPIRE_COOKIE,
    NOTHING,
    NOTHING_VARY,
    Create,
    Delete,
    Nothing,
    SendCookie,
    Touch,
    Update,
    cookie_header,
)
from cookieguard.errors import ConfigError

SPEC = CookieSpec("sessionid", secure=True)
DELETION = "sessionid=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=/; Secure; HttpOnly"
CREATE = Create("h", {}, None, 0.0, 0.0, 60.0, None, SendCookie(60), vary=True)
UPDATE = Update("h", {"a": 1}, (), 0.0, 60.0, SendCookie(None), vary=True)
TOUCH = Touch("h", 0.0, 60.0, SendCookie(60), vary=False)


def test_live_outcomes_send_the_backend_value_with_their_max_age() -> None:
    assert cookie_header(SPEC, "v", CREATE) == (
        "sessionid=v; Expires=Thu, 01 Jan 1970 00:01:00 GMT; Max-Age=60; Path=/; Secure; "
        "HttpOnly; SameSite=Lax"
    )
    assert cookie_header(SPEC, "v", UPDATE) == "sessionid=v; Path=/; Secure; HttpOnly; SameSite=Lax"


def test_ended_sessions_expire_the_cookie_but_a_touch_never_does() -> None:
    for outcome in (CREATE, UPDATE, Delete("h"), Nothing(EXPIRE_COOKIE, vary=True)):
        assert cookie_header(SPEC, None, outcome) == DELETION + "; SameSite=Lax", outcome
    assert cookie_header(SPEC, None, TOUCH) is None
    assert cookie_header(SPEC, None, NOTHING) is None
    assert cookie_header(SPEC, None, NOTHING_VARY) is None


def test_attributes_are_spelled_as_rfc_6265_writes_them() -> None:
    spec = CookieSpec("n", domain="example.com", secure=True, samesite="None", partitioned=True)
    header = render_set_cookie(spec, "v", max_age=5, now=0)
    assert header == (
        "n=v; Expires=Thu, 01 Jan 1970 00:00:05 GMT; Max-Age=5; Domain=example.com; Path=/; "
        "Secure; HttpOnly; SameSite=None; Partitioned"
    )


def test_partitioned_needs_secure_at_config_time() -> None:
    with pytest.raises(ConfigError, match="Secure"):
        CookieConfig(name="sessionid", partitioned=True)  # secure=None: http would lack it
    with pytest.raises(ConfigError):
        CookieConfig(name="sessionid", partitioned=True, secure=False)
    cookie = CookieConfig(name="sessionid", partitioned=True, secure=True)
    assert cookie.spec(https=False).partitioned
    assert CookieConfig(name="s", partitioned=True, host_prefix=True).spec(https=False).secure


def test_lifetimes_accept_timedelta_and_read_as_int_seconds() -> None:
    config = SessionConfig(
        idle_timeout=timedelta(minutes=30),
        absolute_timeout=timedelta(hours=8),
        touch_interval=timedelta(seconds=90),
    )
    assert (config.idle_timeout, config.absolute_timeout, config.touch_interval) == (
        1800,
        28800,
        90,
    )
    assert type(config.idle_timeout) is int
    assert config == SessionConfig(idle_timeout=1800, absolute_timeout=28800, touch_interval=90)
    assert CSRFConfig(cookie_max_age=timedelta(days=1)).cookie_max_age == 86_400
    assert CSRFConfig(cookie_max_age=None).cookie_max_age is None


@pytest.mark.parametrize(
    "kwargs",
    [
        {"idle_timeout": timedelta(seconds=1.5)},
        {"idle_timeout": timedelta(0)},
        {"idle_timeout": -timedelta(minutes=1)},
        {"idle_timeout": None},
        {"idle_timeout": 1.5},
        {"touch_interval": True},
        {"absolute_timeout": "3600"},
    ],
)
def test_bad_lifetimes_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        SessionConfig(**kwargs)  # type: ignore[arg-type]
