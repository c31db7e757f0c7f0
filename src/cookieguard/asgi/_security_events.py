"""Security events from a request: the scope's client, session and app callback filled in.

The drivers and the auth helpers call `emit_for`; `cookieguard.events` does the delivery.
The address follows `SessionConfig.client_address` (the session middleware leaves the mode
on the scope when it is not the default, "truncated").
"""

from __future__ import annotations

from typing import Any

from cookieguard.asgi._types import Connection, scope_of
from cookieguard.core._client_address import keep_address
from cookieguard.events import EventType, Subscriber, emit, make_event

__all__ = ["app_subscriber", "emit_for", "request_address"]

_AUTH_SCOPE_KEY = "cookieguard.auth"  # cookieguard.auth._context.AUTH_SCOPE_KEY (above us)
_MODE_SCOPE_KEY = "cookieguard.client_address_mode"  # asgi.session.ADDRESS_MODE_SCOPE_KEY


def request_address(conn: Connection) -> str | None:
    """The client's address as this app keeps it (truncated by default; None: not kept)."""
    scope = scope_of(conn)
    client = scope.get("client")
    if not client:
        return None
    return keep_address(client[0], scope.get(_MODE_SCOPE_KEY, "truncated"))


def app_subscriber(conn: Connection) -> Subscriber | None:
    """The app's own callback (`AuthConfig.on_security_event`), if `AuthMiddleware` runs."""
    config: Any = scope_of(conn).get(_AUTH_SCOPE_KEY)
    callback = getattr(config, "on_security_event", None)
    return callback if callable(callback) else None


async def emit_for(conn: Connection, kind: EventType, **fields: Any) -> None:
    """Emit a `kind` event for this request (fields as `cookieguard.events.make_event`)."""
    fields.setdefault("client_address", request_address(conn))
    await emit(make_event(kind, **fields), also=app_subscriber(conn))
