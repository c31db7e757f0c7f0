"""Security events: what subscribers get, what the logs and the OTel counter get, and no secret."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from cookieguard import events
from cookieguard.auth._passwords import PasswordHasher
from cookieguard.auth._sqlite_users import SQLiteUserStore
from cookieguard.auth._throttle import ThrottlePolicy
from cookieguard.core.tokens import hash_session_id
from cookieguard.events import EventType, SecurityEvent
from cookieguard.stores.base import SessionStore
from cookieguard.stores.memory import MemoryStore
from tests.auth.centre.centre_app import FIREFOX, client, site
from tests.auth.centre.conftest import PASSWORD

GOOD = f"user=alice&password={PASSWORD.replace(' ', '+')}"


@pytest.fixture
def metrics() -> Iterator[InMemoryMetricReader]:
    reader = InMemoryMetricReader()
    events.set_meter_provider(MeterProvider(metric_readers=[reader]))
    yield reader
    events._Metrics.resolved = False
    events._Metrics.counter = None


def counts(reader: InMemoryMetricReader) -> dict[tuple[str, str], int]:
    data = reader.get_metrics_data()
    found: dict[tuple[str, str], int] = {}
    assert data is not None
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                if metric.name != "cookieguard.security_events":
                    continue
                for point in metric.data.data_points:  # type: ignore[union-attr]
                    attrs: Any = point.attributes
                    found[(attrs["event"], attrs["reason"])] = point.value  # type: ignore[union-attr]
    return found


async def _story(store: SessionStore, users: SQLiteUserStore, hasher: PasswordHasher) -> Any:
    """Every kind of event a site emits; returns the cookies and tokens it saw, to hunt for."""
    policy = ThrottlePolicy(max_attempts_per_user=2, max_in_flight_per_address=None)
    asgi = site(store, users, hasher, policy=policy)
    secrets: list[str] = [PASSWORD, "n3w-passw0rd-for-alice"]
    async with client(asgi, address="192.0.2.44") as browser, client(asgi) as attacker:
        assert (await attacker.get("/login?user=nobody&password=x")).status_code == 401
        assert (await attacker.get("/login?user=bob&password=wrong")).status_code == 401
        assert (await attacker.get("/login?user=bob&password=wrong")).status_code == 401
        assert (await attacker.get("/login?user=bob&password=wrong")).status_code == 429
        first = await browser.get(f"/login?{GOOD}")
        assert first.status_code == 200
        secrets += [first.cookies["sessionid"]]
        refused = await browser.post("/form", data={"csrfmiddlewaretoken": "forged"})
        assert refused.status_code == 403
        assert (await browser.get(f"/password?new={secrets[1]}")).status_code == 200
        secrets += [browser.cookies["sessionid"], browser.cookies.get("csrftoken", "")]
        assert (await browser.get("/logout")).status_code == 200
    return [s for s in secrets if s]


async def test_every_event_reaches_subscribers_logs_and_counters(
    store: SessionStore,
    users: SQLiteUserStore,
    hasher: PasswordHasher,
    received: list[SecurityEvent],
    metrics: InMemoryMetricReader,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    secrets = await _story(store, users, hasher)
    alice = await users.get_by_username("alice")
    assert alice is not None

    kinds = [(e.type, e.reason) for e in received]
    assert kinds == [
        (EventType.LOGIN_FAILED, "unknown_user"),
        (EventType.LOGIN_FAILED, "wrong_password"),
        (EventType.LOGIN_FAILED, "wrong_password"),
        (EventType.LOGIN_THROTTLED, "user"),
        (EventType.LOGIN_SUCCEEDED, None),
        (EventType.NEW_DEVICE, None),
        (EventType.CSRF_REFUSED, "CSRF token from POST has incorrect length."),
        (EventType.PASSWORD_CHANGED, None),
        (EventType.LOGOUT, None),
    ]
    by_type = {e.type: e for e in received}
    assert by_type[EventType.LOGIN_FAILED].username == "bob"
    assert by_type[EventType.LOGIN_FAILED].client_address == "203.0.113.0/24"
    success = by_type[EventType.LOGIN_SUCCEEDED]
    assert success.user_id == alice.id
    assert success.device == "Firefox on Linux"
    assert success.client_address == "192.0.2.0/24"
    assert success.session == hash_session_id(secrets[2])[:12]
    assert by_type[EventType.CSRF_REFUSED].path == "/form"
    assert by_type[EventType.PASSWORD_CHANGED].count == 0
    assert by_type[EventType.LOGOUT].user_id == alice.id

    logged = [r for r in caplog.records if hasattr(r, "security_event")]
    assert [r.security_event for r in logged] == [e.type.value for e in received]  # type: ignore[attr-defined]
    assert logged[0].levelno == logging.WARNING and logged[4].levelno == logging.INFO
    assert logged[4].user_id == alice.id  # type: ignore[attr-defined]

    assert counts(metrics) == {
        ("login_failed", "unknown_user"): 1,
        ("login_failed", "wrong_password"): 2,
        ("login_throttled", "user"): 1,
        ("login_succeeded", ""): 1,
        ("new_device", ""): 1,
        ("csrf_refused", "CSRF token from POST has incorrect length."): 1,
        ("password_changed", ""): 1,
        ("logout", ""): 1,
    }

    # No password, session id or token anywhere: not in events, not in any log record.
    assert len(secrets) >= 4
    texts = [repr(e) for e in received]
    ours = [r for r in caplog.records if r.name.startswith("cookieguard")]
    texts += [f"{r.getMessage()} {r.__dict__}" for r in ours]
    for secret in secrets:
        assert not [t for t in texts if secret in t], "a secret reached an event or a log"


async def test_async_callbacks_and_app_callbacks_are_awaited(
    users: SQLiteUserStore, hasher: PasswordHasher
) -> None:
    got: list[str] = []

    async def slow(event: SecurityEvent) -> None:
        await asyncio.sleep(0)
        got.append(f"global {event.type}")

    async def app_level(event: SecurityEvent) -> None:
        got.append(f"app {event.type}")

    unsubscribe = events.subscribe(slow)
    try:
        asgi = site(MemoryStore(), users, hasher, on_event=app_level)
        async with client(asgi) as browser:
            assert (await browser.get("/login?user=alice&password=bad")).status_code == 401
    finally:
        unsubscribe()
    assert got == ["global login_failed", "app login_failed"]


async def test_a_failing_callback_is_logged_and_the_request_goes_on(
    users: SQLiteUserStore,
    hasher: PasswordHasher,
    received: list[SecurityEvent],
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(event: SecurityEvent) -> None:
        raise RuntimeError("subscriber bug")

    async def broken_async(event: SecurityEvent) -> None:
        raise ValueError("async subscriber bug")

    unsubscribe = events.subscribe(broken)
    try:
        asgi = site(MemoryStore(), users, hasher, on_event=broken_async)
        async with client(asgi, user_agent=FIREFOX) as browser:
            response = await browser.get(f"/login?{GOOD}")
            assert response.status_code == 200
            assert (await browser.get("/sessions")).json()[0]["current"] is True
    finally:
        unsubscribe()
    assert [e.type for e in received][:1] == [EventType.LOGIN_SUCCEEDED]  # later ones still ran
    failures = [r for r in caplog.records if "subscriber failed" in r.getMessage()]
    assert len(failures) >= 2 and all(r.exc_info for r in failures)


def test_subscribe_refuses_what_cannot_be_called() -> None:
    with pytest.raises(TypeError):
        events.subscribe("not a callback")  # type: ignore[arg-type]
