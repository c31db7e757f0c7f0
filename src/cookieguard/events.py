"""Security events: one typed stream of what a security team watches for.

Every event goes three ways:

* to the callbacks subscribed with `subscribe` (process-wide) or given as
  `AuthConfig.on_security_event` (one app). A callback may be a plain function or a
  coroutine function; it runs in the request, so keep it quick (hand slow work to a queue).
  In a sync app (WSGI, Flask) there is no event loop: a coroutine callback that waits for
  I/O is stopped and logged there, so give those apps a plain function.
  A callback that raises is logged and skipped: it never breaks the request.
* to the ``cookieguard.events`` logger, at INFO (WARNING for refusals), with the event's
  fields as structured ``extra`` (``record.security_event``, ``record.user_id``, ...);
* to an OpenTelemetry counter ``cookieguard.security_events`` with the attributes ``event``
  and ``reason``, when ``opentelemetry-api`` is installed (``pip install
  'cookieguard[otel]'``). Without a configured SDK the API's meter is a no-op.

An event never carries a secret: no password, token, cookie or session id. A session is
named by the first 12 hex characters of its key hash (itself a SHA-256 of the id), as the
other log lines name it; addresses are kept as `SessionConfig.client_address` says.

Remember-me cookies emit `REMEMBER_ME_USED` and `REMEMBER_ME_REJECTED` (reason, e.g.
``"unknown"``, ``"expired"``, ``"theft"``), through `emit` like everything else.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from cookieguard._inline import inline, run_inline

__all__ = [
    "EventType",
    "SecurityEvent",
    "Subscriber",
    "emit",
    "listening",
    "set_meter_provider",
    "subscribe",
    "unsubscribe",
]

_log = logging.getLogger("cookieguard.events")

SESSION_TAG_LENGTH = 12
"""Hex characters of a session's key hash that an event carries (never the id itself)."""
MAX_USERNAME = 150
"""A submitted username longer than this is cut (Django's username limit)."""


class EventType(StrEnum):
    """What happened. The value is the name in logs and in the metric's ``event`` attribute."""

    LOGIN_SUCCEEDED = "login_succeeded"
    LOGIN_FAILED = "login_failed"
    """reason: ``unknown_user``, ``wrong_password``, ``inactive`` or ``invalid_input``."""
    LOGIN_THROTTLED = "login_throttled"
    """reason: the limit hit (``user``, ``address``, ``account``, ``busy``)."""
    LOGOUT = "logout"
    SESSION_REVOKED = "session_revoked"
    """reason: ``one``, ``others``, ``all`` (by the user) or ``cap``
    (`AuthConfig.max_sessions_per_user`); ``count`` says how many ended."""
    PASSWORD_CHANGED = "password_changed"  # noqa: S105 (an event name, not a password)
    """``count``: how many other sessions ended."""
    REMEMBER_ME_USED = "remember_me_used"
    REMEMBER_ME_REJECTED = "remember_me_rejected"
    CSRF_REFUSED = "csrf_refused"
    """reason: the CSRF check that failed (as in the 403's debug detail)."""
    NEW_DEVICE = "new_device"
    """A login from a device (browser and system) none of the user's live sessions has."""


_WARNINGS = frozenset(
    {
        EventType.LOGIN_FAILED,
        EventType.LOGIN_THROTTLED,
        EventType.REMEMBER_ME_REJECTED,
        EventType.CSRF_REFUSED,
    }
)


@dataclass(frozen=True, slots=True)
class SecurityEvent:
    """One security event. Fields that do not apply are None."""

    type: EventType
    at: float
    """Epoch seconds."""
    user_id: str | None = None
    username: str | None = None
    """The submitted username, for failed and throttled logins (cut to `MAX_USERNAME`)."""
    session: str | None = None
    """The session's key-hash prefix (`SESSION_TAG_LENGTH` hex characters)."""
    client_address: str | None = None
    """As `SessionConfig.client_address` keeps it (by default the /24 or /48 network)."""
    device: str | None = None
    """The friendly device name ("Firefox on Linux"), when known."""
    reason: str | None = None
    count: int | None = None
    path: str | None = None
    """The request path, for CSRF refusals."""

    def fields(self) -> dict[str, Any]:
        """The event as log-record fields (prefixed names, so none clashes with LogRecord's)."""
        return {
            "security_event": self.type.value,
            "user_id": self.user_id,
            "username": self.username,
            "session_tag": self.session,
            "client_address": self.client_address,
            "device": self.device,
            "reason": self.reason,
            "count": self.count,
            "request_path": self.path,
        }


Subscriber = Callable[[SecurityEvent], "Awaitable[object] | object"]
_subscribers: list[Subscriber] = []


def subscribe(callback: Subscriber) -> Callable[[], None]:
    """Call `callback` with every event from now on; returns a function that unsubscribes."""
    if not callable(callback):
        raise TypeError("subscribe() needs a callable taking a SecurityEvent")
    _subscribers.append(callback)
    return lambda: unsubscribe(callback)


def unsubscribe(callback: Subscriber) -> None:
    """Stop calling `callback` (no error if it was not subscribed)."""
    if callback in _subscribers:
        _subscribers.remove(callback)


def listening(also: Subscriber | None = None) -> bool:
    """Whether any callback would receive an event (work done only for them can be skipped)."""
    return bool(_subscribers) or also is not None


class _Metrics:
    """The OpenTelemetry counter, created on first use (None: the API is not installed)."""

    counter: Any = None
    resolved = False

    @classmethod
    def get(cls) -> Any:
        if not cls.resolved:
            cls.resolved = True
            try:
                from opentelemetry import metrics
            except ImportError:
                return None
            cls.counter = _counter(metrics.get_meter("cookieguard"))
        return cls.counter


def _counter(meter: Any) -> Any:
    return meter.create_counter(
        "cookieguard.security_events",
        unit="{event}",
        description="Security events (logins, logouts, revocations, refusals) by event and reason",
    )


def set_meter_provider(provider: Any) -> None:
    """Count events with `provider`'s meter instead of the global one (tests, or an app
    that keeps its own `MeterProvider`)."""
    _Metrics.resolved = True
    _Metrics.counter = _counter(provider.get_meter("cookieguard"))


async def emit(event: SecurityEvent, *, also: Subscriber | None = None) -> None:
    """Log, count and deliver `event` (to the subscribers, then to `also`). Never raises."""
    try:
        level = logging.WARNING if event.type in _WARNINGS else logging.INFO
        if _log.isEnabledFor(level):
            _log.log(level, "security event %s", event.type.value, extra=event.fields())
        counter = _Metrics.get()
        if counter is not None:
            counter.add(1, {"event": event.type.value, "reason": event.reason or ""})
    except Exception:
        _log.exception("security event %s not logged or counted", event.type.value)
    targets = [*_subscribers, also] if also is not None else list(_subscribers)
    for callback in targets:
        if callback is None:
            continue
        try:
            result = callback(event)
            if inspect.isawaitable(result):
                await _deliver(result, event)
        except Exception:
            _log.exception("security event subscriber failed on %s", event.type.value)


async def _deliver(result: Awaitable[object], event: SecurityEvent) -> None:
    """Await an async callback's result; in a sync front door (WSGI, Flask) drive it alone.

    There is no event loop under `run_inline`: an async callback that truly waits (network
    I/O, ``asyncio.sleep``) cannot finish there. It is closed and logged instead of
    suspending the request's coroutine (which would turn the request into an error).
    """
    if not inline():
        await result
        return
    if not inspect.iscoroutine(result):
        _log.error("security event subscriber returned a non-coroutine awaitable in a sync app")
        return
    try:
        run_inline(result)
    except TypeError:
        _log.error(
            "async security event subscriber waited for I/O in a sync (WSGI) app and was "
            "stopped on %s: subscribe a plain function there",
            event.type.value,
        )


def make_event(
    kind: EventType,
    *,
    user_id: str | None = None,
    username: object = None,
    key_hash: str | None = None,
    client_address: str | None = None,
    device: str | None = None,
    reason: str | None = None,
    count: int | None = None,
    path: str | None = None,
    at: float | None = None,
) -> SecurityEvent:
    """A `SecurityEvent`, with the raw values cut down to what an event may carry."""
    return SecurityEvent(
        type=kind,
        at=time.time() if at is None else at,
        user_id=user_id,
        username=username[:MAX_USERNAME] if isinstance(username, str) else None,
        session=key_hash[:SESSION_TAG_LENGTH] if key_hash else None,
        client_address=client_address,
        device=device,
        reason=reason,
        count=count,
        path=path,
    )
