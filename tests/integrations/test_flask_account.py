"""Account security in Flask, through Flask's test client over real SQLite, Redis and
PostgreSQL: recent-login (stale, refreshed in place, throttled), remember-me (cookie,
storage, rotation, grace, replay, forgery, password binding, logout), the session centre
(devices, truncated addresses, revoke one/others/all, the cap, new devices), security events
and the HTMX/SPA helpers."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from cookieguard import PasswordHasher
from cookieguard.auth._remember import REMEMBER_LABEL, series_key
from cookieguard.core._auth import SESSION_VERIFIED_AT
from cookieguard.core.tokens import hash_session_id
from cookieguard.events import EventType, SecurityEvent
from cookieguard.stores.base import SyncSessionStore
from tests.store_backends import store_backend

from .flask_account_app import (
    FIREFOX,
    GRACE,
    MAX_AGE,
    META,
    PASSWORD,
    SAFARI,
    Clock,
    log_in,
    make_app,
    post,
    token,
    users_at,
)


@pytest.fixture(params=["sync-sqlite", "sync-redis", "sync-postgres"])
async def sync_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Any]:
    """A real sync store of each server-side kind, isolated and cleaned up after."""
    async with store_backend(request.param, tmp_path) as make:
        yield make().sync


@pytest.fixture
def site(sync_store: SyncSessionStore, tmp_path: Path) -> Iterator[Any]:
    """(app, guard, clock, app events, store)."""
    users = users_at(tmp_path / "users.db")
    clock, seen = Clock(), []
    app, guard = make_app(sync_store, users, clock, seen)
    yield app, guard, clock, seen, sync_store
    users.close()


def browser(app: Any, agent: str = FIREFOX, address: str = "192.0.2.44") -> FlaskClient:
    client: FlaskClient = app.test_client()
    client.environ_base.update(HTTP_USER_AGENT=agent, REMOTE_ADDR=address)
    return client


def cookie(client: FlaskClient, name: str) -> str:
    found = client.get_cookie(name)
    assert found is not None, name
    return found.value


def set_cookies(response: Any, name: str) -> list[str]:
    return [h for h in response.headers.getlist("Set-Cookie") if h.startswith(name + "=")]


def age_login(store: SyncSessionStore, client: FlaskClient, seconds: float) -> None:
    """Make the password check `seconds` old, in the stored session itself."""
    key = hash_session_id(cookie(client, "sessionid"))
    now = time.time()
    record = store.load(key, now=now)
    assert record is not None
    assert store.update(
        key,
        set_items={SESSION_VERIFIED_AT: now - seconds},
        delete_keys=[],
        last_seen=record.last_seen,
        expires_at=record.expires_at,
        now=now,
    )


def kinds(seen: list[SecurityEvent]) -> list[tuple[str, str | None]]:
    return [(event.type.value, event.reason) for event in seen]


# -- recent login -------------------------------------------------------------------------


def test_sudo_is_recent_then_stale_then_refreshed_in_the_same_login(site: Any) -> None:
    app, _, _, seen, store = site
    client = browser(app)
    log_in(client)
    assert client.get("/settings/danger").status_code == 200
    age_login(store, client, MAX_AGE + 1)
    stale = client.get("/settings/danger?tab=1")
    assert stale.status_code == 303
    assert stale.headers["Location"] == "/reauth?next=/settings/danger%3Ftab%3D1"
    assert "Cookie" in stale.headers["Vary"]
    form = post(client, "/settings/danger")  # a stale form: never carried out
    assert form.status_code == 303 and form.headers["Location"] == "/reauth?next=/settings"
    api = post(client, "/api/danger")
    assert api.status_code == 403 and api.json == {"error": "reauthentication_required"}
    assert api.headers["Cache-Control"] == "no-store"

    old = cookie(client, "sessionid")
    assert post(client, "/reauth", password="nope").status_code == 401
    assert client.get("/settings/danger").status_code == 303
    right = post(client, "/reauth?next=/settings/danger", password=PASSWORD)
    assert right.status_code == 303 and right.headers["Location"] == "/settings/danger"
    new = cookie(client, "sessionid")
    assert new != old  # the ASGI rule: same login and data, a new id
    assert store.load(hash_session_id(old), now=time.time()) is None
    me = client.get("/me").json
    assert me["user"] == "1" and me["cart"] == "kept" and 0 <= me["age"] < 5
    assert client.get("/settings/danger").status_code == 200
    assert ("login_failed", "wrong_password") in kinds(seen)


def test_anonymous_requests_get_the_login_answer(site: Any) -> None:
    app = site[0]
    client = browser(app)
    page = client.get("/settings/danger")
    assert page.status_code == 303 and page.headers["Location"].startswith("/login?next=")
    api = post(client, "/api/danger")
    assert api.status_code == 401 and api.json == {"error": "authentication required"}


def test_wrong_reauth_passwords_count_toward_the_login_throttle(site: Any) -> None:
    app, _, _, seen, _ = site
    client = browser(app)
    log_in(client)
    for _ in range(3):
        assert post(client, "/reauth", password="guess").status_code == 401
    refused = post(client, "/reauth", password=PASSWORD)  # refused before any check
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    throttled = [e for e in seen if e.type is EventType.LOGIN_THROTTLED]
    assert throttled and throttled[0].username == "alice"
    assert throttled[0].client_address == "192.0.2.0/24"


def test_a_stale_sudo_form_ends_no_session(site: Any) -> None:
    app, _, _, _, store = site
    laptop, phone = browser(app), browser(app, SAFARI)
    log_in(laptop)
    log_in(phone)
    age_login(store, laptop, MAX_AGE + 60)
    answer = post(laptop, "/sessions/others")
    assert answer.status_code == 303 and answer.headers["Location"] == "/reauth?next=/settings"
    assert phone.get("/me").json["user"] == "1"  # still logged in
    assert len(store.list_user("1", now=time.time())) == 2


# -- remember me --------------------------------------------------------------------------


def test_remember_cookie_attributes_and_only_hashes_stored(site: Any) -> None:
    app, _, clock, _, store = site
    client = browser(app)
    response = log_in(client, remember=True)
    (header,) = set_cookies(response, "remember")
    for attribute in ("HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=2592000"):
        assert attribute in header
    assert "Secure" not in header
    selector, validator = cookie(client, "remember").split(".")
    record = store.load(series_key(selector), now=clock.now)
    assert record is not None and record.user_id == "1"
    assert record.user_agent == REMEMBER_LABEL + FIREFOX
    assert validator not in repr(record.data) and selector not in repr(record.data)
    https: FlaskClient = app.test_client()
    secure = log_in_https(https)
    (host,) = set_cookies(secure, "__Host-remember")
    assert "Secure" in host and "Domain" not in host


def log_in_https(client: FlaskClient) -> Any:
    page = client.get("/page", base_url="https://localhost")
    found = META.search(page.text)
    assert found is not None
    return client.post(
        "/login",
        base_url="https://localhost",
        data={"username": "alice", "password": PASSWORD, "remember": "1"},
        headers={"X-CSRFToken": found[1], "Referer": "https://localhost/page"},
    )


def test_restore_rotates_is_not_recent_and_tolerates_a_racing_tab(site: Any) -> None:
    app, _, clock, seen, _ = site
    client = browser(app)
    log_in(client, remember=True)
    first = cookie(client, "remember")
    client.delete_cookie("sessionid")
    clock.now += 3600
    me = client.get("/me").json
    assert me["user"] == "1" and me["age"] is None  # restored: not a recent login
    rotated = cookie(client, "remember")
    assert rotated != first and rotated.split(".")[0] == first.split(".")[0]
    sudo = client.get("/settings/danger")
    assert sudo.status_code == 303 and sudo.headers["Location"].startswith("/reauth")
    used = [e for e in seen if e.type is EventType.REMEMBER_ME_USED]
    assert len(used) == 1 and used[0].user_id == "1" and used[0].session is not None
    tab = browser(app)
    tab.set_cookie("remember", first)
    clock.now += GRACE - 1
    assert tab.get("/me").json["user"] == "1"  # the old validator, within the grace window


def test_a_replay_after_the_grace_window_revokes_the_series(site: Any) -> None:
    app, _, clock, seen, store = site
    client = browser(app)
    log_in(client, remember=True)
    stolen = cookie(client, "remember")
    client.delete_cookie("sessionid")
    assert client.get("/me").json["user"] == "1"  # the user's own restore rotates
    current = cookie(client, "remember")
    clock.now += GRACE + 1
    thief = browser(app, address="203.0.113.9")
    thief.set_cookie("remember", stolen)
    replay = thief.get("/me")
    assert replay.status_code == 200 and replay.json["user"] is None
    assert "Max-Age=0" in set_cookies(replay, "remember")[0]
    assert store.load(series_key(stolen.split(".")[0]), now=clock.now) is None
    rejected = [e for e in seen if e.type is EventType.REMEMBER_ME_REJECTED]
    assert [(e.reason, e.user_id, e.client_address) for e in rejected] == [
        ("theft", "1", "203.0.113.0/24")
    ]
    user = browser(app)
    user.set_cookie("remember", current)
    assert user.get("/me").json["user"] is None  # the whole series is dead


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("garbage", "malformed"),
        ("x" * 500, "malformed"),
        ("abc.def\x01", "malformed"),
        (".", "malformed"),
        ("Zm9v.YmFy", "unknown"),
    ],
)
def test_forged_remember_cookies_get_nothing_and_store_nothing(
    site: Any, value: str, reason: str
) -> None:
    app, _, _, seen, store = site
    client = app.test_client(use_cookies=False)  # a jar would replace the raw header
    response = client.get("/me", headers={"Cookie": f"remember={value}"})
    assert response.status_code == 200 and response.json["user"] is None
    assert "Max-Age=0" in set_cookies(response, "remember")[0]
    assert kinds(seen) == [("remember_me_rejected", reason)]
    assert set_cookies(response, "sessionid") == []  # no session was made
    assert store.list_user("1", now=time.time()) == []


def test_a_password_change_kills_every_series(site: Any) -> None:
    app, _, clock, seen, store = site
    phone = browser(app, SAFARI)
    log_in(phone, remember=True)
    value = cookie(phone, "remember")
    laptop = browser(app)
    log_in(laptop)
    assert post(laptop, "/password", new="a-new-passw0rd").status_code == 200
    assert store.load(series_key(value.split(".")[0]), now=clock.now) is None
    phone.delete_cookie("sessionid")
    assert phone.get("/me").json["user"] is None
    changed = [e for e in seen if e.type is EventType.PASSWORD_CHANGED]
    assert changed[0].count == 2  # the phone's session and its series


def test_a_password_changed_behind_the_library_s_back_rejects_the_cookie(site: Any) -> None:
    app, _, _, seen, _ = site
    client = browser(app)
    log_in(client, remember=True)
    users = app.config["COOKIEGUARD_USERS"]
    users.set_password("1", PasswordHasher(time_cost=1, memory_cost=1024).hash("other"))
    client.delete_cookie("sessionid")
    response = client.get("/me")
    assert response.json["user"] is None and "Max-Age=0" in set_cookies(response, "remember")[0]
    assert ("remember_me_rejected", "invalid_user") in kinds(seen)


@pytest.mark.parametrize("path", ["/logout", "/clear"])
def test_logout_and_session_clear_end_the_series(site: Any, path: str) -> None:
    app, _, clock, _, store = site
    client = browser(app)
    log_in(client, remember=True)
    value = cookie(client, "remember")
    bye = post(client, path)
    assert bye.status_code == 200
    assert "Max-Age=0" in set_cookies(bye, "remember")[0]
    assert client.get_cookie("remember") is None
    assert store.load(series_key(value.split(".")[0]), now=clock.now) is None
    assert client.get("/me").json["user"] is None


# -- the session centre -------------------------------------------------------------------


def test_sessions_list_devices_truncated_addresses_and_series(site: Any) -> None:
    app = site[0]
    laptop, phone = browser(app), browser(app, SAFARI, "2001:db8:1:2::7")
    log_in(laptop)
    log_in(phone, remember=True)
    listed = laptop.get("/sessions").json
    devices = sorted((e["device"], str(e["address"]), e["current"]) for e in listed)
    assert devices == [
        ("Firefox on Linux", "192.0.2.0/24", True),
        ("Safari on iPhone", "2001:db8:1::/48", False),
        ("Safari on iPhone", "None", False),  # the phone's remember-me series
    ]
    series = [e for e in listed if e["address"] is None]
    assert series[0]["agent"] == REMEMBER_LABEL + SAFARI
    assert all(e["created"] <= e["seen"] for e in listed)


def test_revoke_one_others_and_all(site: Any) -> None:
    app, _, _, seen, store = site
    laptop, phone, tablet = browser(app), browser(app, SAFARI), browser(app, "Tablet/1.0")
    for client in (laptop, phone, tablet):
        log_in(client)
    handle = next(e["handle"] for e in laptop.get("/sessions").json if "iPhone" in e["device"])
    assert post(laptop, "/sessions/revoke", handle=handle).json == {"ended": True}
    assert phone.get("/me").json["user"] is None
    assert post(laptop, "/sessions/revoke", handle="0" * 20).json == {"ended": False}
    assert post(laptop, "/sessions/revoke", handle="not-a-handle").json == {"ended": False}
    assert post(laptop, "/sessions/others").json == {"ended": 1}
    assert tablet.get("/me").json["user"] is None
    log_in(phone)
    assert post(laptop, "/sessions/all").json == {"ended": 2}
    assert laptop.get("/me").json["user"] is None
    assert store.list_user("1", now=time.time()) == []
    revoked = [(e.reason, e.count) for e in seen if e.type is EventType.SESSION_REVOKED]
    assert revoked == [("one", 1), ("others", 1), ("all", 2)]


def test_the_session_cap_ends_the_oldest_on_login(
    sync_store: SyncSessionStore, tmp_path: Path
) -> None:
    users = users_at(tmp_path / "users.db")
    seen: list[SecurityEvent] = []
    app, _ = make_app(sync_store, users, Clock(), seen, COOKIEGUARD_MAX_SESSIONS_PER_USER=2)
    first, second, third = browser(app), browser(app, SAFARI), browser(app, "Tablet/1.0")
    log_in(first)
    time.sleep(0.01)
    log_in(second)
    time.sleep(0.01)
    log_in(third)
    assert first.get("/me").json["user"] is None  # the oldest ended
    assert second.get("/me").json["user"] == "1" and third.get("/me").json["user"] == "1"
    capped = [e for e in seen if e.type is EventType.SESSION_REVOKED]
    assert [(e.reason, e.count) for e in capped] == [("cap", 1)]
    users.close()


def test_a_new_device_is_an_event_and_a_known_one_is_not(site: Any) -> None:
    app, _, _, seen, _ = site
    log_in(browser(app))
    log_in(browser(app))  # the same browser and system again
    log_in(browser(app, SAFARI))
    new = [e.device for e in seen if e.type is EventType.NEW_DEVICE]
    assert new == ["Firefox on Linux", "Safari on iPhone"]


def test_a_huge_or_garbage_user_agent_is_cut_or_dropped_never_a_500(site: Any) -> None:
    app, _, _, _, store = site
    huge = browser(app, "Mozilla/5.0 " + "x" * 8000)
    log_in(huge)
    garbage = browser(app, "evil\x07agent")
    log_in(garbage)
    agents = sorted(str(info.user_agent) for info in store.list_user("1", now=time.time()))
    assert agents == ["Mozilla/5.0 " + "x" * 244, "None"]  # cut to 256; control chars: none
    listed = huge.get("/sessions").json
    assert {e["device"] for e in listed} == {"Unknown device"}


# -- security events and HTMX/SPA helpers -------------------------------------------------


def test_flask_logins_logouts_and_csrf_refusals_are_events(site: Any) -> None:
    app, _, _, seen, _ = site
    client = browser(app)
    assert post(client, "/login", username="alice", password="wrong").status_code == 401
    assert post(client, "/login", username="nobody", password="x").status_code == 401
    refused = client.post("/logout", data={"csrfmiddlewaretoken": "f" * 64})
    assert refused.status_code == 403
    log_in(client)
    post(client, "/logout")
    assert kinds(seen) == [
        ("login_failed", "wrong_password"),
        ("login_failed", "unknown_user"),
        ("csrf_refused", "CSRF token from POST incorrect."),
        ("login_succeeded", None),
        ("new_device", None),
        ("logout", None),
    ]
    assert {e.client_address for e in seen} == {"192.0.2.0/24"}
    assert seen[2].path == "/logout"
    for event in seen:
        assert PASSWORD not in json.dumps(event.fields())


def test_csrf_meta_and_the_token_endpoint_serve_scripts(site: Any) -> None:
    app = site[0]
    htmx = browser(app)
    page = htmx.get("/page").text
    found = META.search(page)
    assert found is not None
    assert '<meta name="csrf-header" content="X-CSRFToken">' in page
    assert htmx.post("/logout", headers={"X-CSRFToken": found[1]}).status_code == 200
    spa = browser(app)
    answer = spa.get("/csrf")
    assert answer.status_code == 200 and answer.headers["Cache-Control"] == "no-store"
    assert "Cookie" in answer.headers["Vary"]
    assert set_cookies(answer, "csrftoken")  # the cookie the token belongs to
    body = answer.json
    assert body["headerName"] == "X-CSRFToken" and len(body["csrfToken"]) == 64
    ok = spa.post("/logout", headers={body["headerName"]: body["csrfToken"]})
    assert ok.status_code == 200
    assert spa.post("/logout").status_code == 403  # without it: refused
    assert token(spa)  # and forms keep working


def test_flask_events_reach_the_otel_counter_and_async_callbacks_never_break_a_request(
    site: Any, caplog: pytest.LogCaptureFixture
) -> None:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    from cookieguard import events
    from tests.auth.centre.test_security_events import counts

    reader = InMemoryMetricReader()
    events.set_meter_provider(MeterProvider(metric_readers=[reader]))
    delivered: list[str] = []

    async def quick(event: SecurityEvent) -> None:  # finishes without waiting: delivered
        delivered.append(event.type.value)

    async def waits(event: SecurityEvent) -> None:  # needs an event loop: stopped, logged
        await asyncio.sleep(0)
        delivered.append("never")

    stop_quick, stop_waits = events.subscribe(quick), events.subscribe(waits)
    try:
        client = browser(site[0])
        assert post(client, "/login", username="alice", password="bad").status_code == 401
        log_in(client)
    finally:
        stop_quick()
        stop_waits()
        events._Metrics.resolved = False
        events._Metrics.counter = None
    found = counts(reader)
    assert found[("login_failed", "wrong_password")] == 1
    assert found[("login_succeeded", "")] == 1
    assert delivered == ["login_failed", "login_succeeded", "new_device"]
    assert "waited for I/O in a sync (WSGI) app" in caplog.text
