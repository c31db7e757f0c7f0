"""What a login does to the user's other sessions: the session cap and new-device events.

Both need the user's session list, one `list_user` query at login; it is made only when a
cap is set or someone listens for security events, so a plain login costs nothing more.

"A device not seen before" means: no live session of the user has the same device (the
friendly name from `cookieguard.auth.devices`, or the User-Agent itself when it cannot be
named). Ended and expired sessions are forgotten, so a user whose every session expired
gets the event again on their next login; that errs towards telling.

The cap is applied at login, so two logins racing each other may briefly leave one session
over it; the next login trims it again.
"""

from __future__ import annotations

import logging

from cookieguard.asgi._security_events import app_subscriber, emit_for
from cookieguard.asgi._types import Connection, scope_of
from cookieguard.asgi.session import get_session_store
from cookieguard.auth.devices import UNKNOWN, device_name
from cookieguard.events import EventType, listening
from cookieguard.stores.base import SessionInfo

__all__ = ["after_login", "device_key", "request_user_agent"]

logger = logging.getLogger("cookieguard.auth")

_USER_AGENT_LIMIT = 512  # as much as the session middleware keeps in a record


def request_user_agent(conn: Connection) -> str | None:
    """The request's User-Agent, cut as a stored record keeps it."""
    for key, value in scope_of(conn).get("headers", ()):
        if key == b"user-agent":
            return bytes(value[:_USER_AGENT_LIMIT]).decode("latin-1")
    return None


def device_key(user_agent: str | None) -> str:
    """What "the same device" compares: the friendly name, else the User-Agent itself."""
    name = device_name(user_agent)
    return user_agent or "" if name == UNKNOWN else name


async def after_login(
    conn: Connection,
    user_id: str,
    *,
    key_hash: str | None,
    replaced: str | None,
    cap: int | None,
    now: float,
) -> None:
    """Enforce `cap` and report a new device for `user_id`, who just logged in.

    `key_hash` is the new session's; `replaced` the session it replaces (going away).
    """
    wants_events = listening(app_subscriber(conn))
    if cap is None and not wants_events:
        return
    try:
        store = get_session_store(conn)
    except RuntimeError:  # a session without SessionMiddleware's backend (tests, tools)
        return
    if store is None:
        return
    sessions = await store.list_user(user_id, now=now)
    agent = request_user_agent(conn)
    if wants_events:
        here = device_key(agent)
        if all(device_key(info.user_agent) != here for info in sessions):
            await emit_for(
                conn,
                EventType.NEW_DEVICE,
                user_id=user_id,
                key_hash=key_hash,
                device=device_name(agent),
            )
    if cap is not None:
        others = [info for info in sessions if info.key_hash != replaced]
        await _enforce_cap(conn, user_id, key_hash, others, cap)


async def _enforce_cap(
    conn: Connection, user_id: str, key_hash: str | None, others: list[SessionInfo], cap: int
) -> None:
    if len(others) < cap:
        return
    others.sort(key=lambda info: info.created_at, reverse=True)
    doomed = others[cap - 1 :]
    store = get_session_store(conn)
    assert store is not None
    for info in doomed:
        await store.delete(info.key_hash)
    logger.info("user %s over the session cap: %d oldest sessions ended", user_id, len(doomed))
    await emit_for(
        conn,
        EventType.SESSION_REVOKED,
        user_id=user_id,
        key_hash=key_hash,
        reason="cap",
        count=len(doomed),
    )
