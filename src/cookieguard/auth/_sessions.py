""" "My sessions": list the logged-in user's sessions, revoke one, log out everywhere else.

Sessions are named by a *handle*: a prefix of the store's key hash (itself a SHA-256 of the
session id). A handle identifies a session in a page or a form but cannot be used as a
cookie, and revocation only searches the current user's own sessions, so nobody can end
another user's session by guessing or copying handles.

Needs a server-side store (signed-cookie sessions have no server state to list or delete).
"""

from __future__ import annotations

import hmac
import logging
import time
from dataclasses import dataclass

from cookieguard.asgi._security_events import emit_for
from cookieguard.asgi._types import Connection
from cookieguard.asgi.session import get_session, get_session_store
from cookieguard.auth._login import get_user_id, logout
from cookieguard.auth.devices import UNKNOWN, device_name
from cookieguard.errors import ConfigError
from cookieguard.events import EventType
from cookieguard.stores.base import SessionInfo, SessionRecord, SessionStore

__all__ = [
    "HANDLE_LENGTH",
    "SessionEntry",
    "list_sessions",
    "revoke_all_sessions",
    "revoke_other_sessions",
    "revoke_session",
    "stored_session",
]

logger = logging.getLogger("cookieguard.auth")

HANDLE_LENGTH = 20
"""Hex characters of the key hash used as a handle (80 bits: unique within any user's list)."""
_HEX = frozenset("0123456789abcdef")


@dataclass(frozen=True, slots=True)
class SessionEntry:
    """One of the user's sessions, as a "my sessions" page shows it."""

    handle: str
    """Opaque name for `revoke_session` (not a usable session id)."""
    created_at: float
    """When the session began (epoch seconds)."""
    last_seen: float
    """Last activity (epoch seconds; refreshed at most every `touch_interval`)."""
    expires_at: float
    """When the session ends unless used again."""
    user_agent: str | None
    """The browser's User-Agent at login, truncated."""
    current: bool
    """This is the session making the request."""
    device: str = UNKNOWN
    """A friendly name for `user_agent` ("Firefox on Linux"; see `cookieguard.auth.devices`)."""
    client_address: str | None = None
    """The client address at login, as `SessionConfig.client_address` kept it."""


def _server_store(conn: Connection) -> SessionStore:
    store = get_session_store(conn)
    if store is None:
        raise ConfigError("listing and revoking sessions needs a server-side session store")
    return store


def _current_hash(conn: Connection) -> str | None:
    session = get_session(conn)
    return session.key_hash if session.is_stored else None


async def _own_sessions(conn: Connection, user_id: str, now: float | None) -> list[SessionInfo]:
    store = _server_store(conn)
    return await store.list_user(user_id, now=time.time() if now is None else now)


async def list_sessions(conn: Connection, *, now: float | None = None) -> list[SessionEntry]:
    """The logged-in user's live sessions, most recently seen first ([] if anonymous)."""
    user_id = get_user_id(conn)
    if user_id is None:
        return []
    current = _current_hash(conn)
    return [
        SessionEntry(
            handle=info.key_hash[:HANDLE_LENGTH],
            created_at=info.created_at,
            last_seen=info.last_seen,
            expires_at=info.expires_at,
            user_agent=info.user_agent,
            current=info.key_hash == current,
            device=device_name(info.user_agent),
            client_address=info.client_address,
        )
        for info in await _own_sessions(conn, user_id, now)
    ]


async def stored_session(
    conn: Connection, *, now: float | None = None
) -> tuple[str, SessionRecord] | None:
    """What the store keeps for this request's session: (key hash, record), or None.

    None when the session is not in the store (an anonymous visitor without a session, or
    a session that ended). The key hash is the SHA-256 of the session id that the store is
    keyed on: it identifies the row but is no usable cookie, so a page may show it (the raw
    id never leaves the HttpOnly cookie). The record is read afresh (one round trip): it is
    what the store held when it was read, before this request's changes are saved.
    """
    session = get_session(conn)
    key_hash = session.key_hash
    if not session.is_stored or key_hash is None:
        return None
    record = await _server_store(conn).load(key_hash, now=time.time() if now is None else now)
    return None if record is None else (key_hash, record)


async def revoke_session(conn: Connection, handle: object, *, now: float | None = None) -> bool:
    """End the logged-in user's session named by `handle`; False if there is no such session.

    Revoking the current session is a logout (cookie cleared, CSRF secret rotated).
    """
    user_id = get_user_id(conn)
    if (
        user_id is None
        or not isinstance(handle, str)
        or len(handle) != HANDLE_LENGTH
        or not _HEX.issuperset(handle)
    ):
        return False
    wanted = handle.encode("ascii")
    for info in await _own_sessions(conn, user_id, now):
        if hmac.compare_digest(info.key_hash[:HANDLE_LENGTH].encode("ascii"), wanted):
            if info.key_hash == _current_hash(conn):
                await logout(conn)
            else:
                await _server_store(conn).delete(info.key_hash)
            logger.info("user %s ended session %s", user_id, info.key_hash[:12])
            await _revoked(conn, user_id, "one", 1, info.key_hash)
            return True
    return False


async def revoke_other_sessions(conn: Connection) -> int:
    """End every session of the logged-in user except this one; returns how many ended."""
    user_id = get_user_id(conn)
    if user_id is None:
        return 0
    ended = await _server_store(conn).delete_user(user_id, keep=_current_hash(conn))
    logger.info("user %s logged out everywhere else (%d sessions)", user_id, ended)
    await _revoked(conn, user_id, "others", ended, None)
    return ended


async def revoke_all_sessions(conn: Connection) -> int:
    """End every session of the logged-in user, this one too (a logout); how many ended."""
    user_id = get_user_id(conn)
    if user_id is None:
        return 0
    ended = await _server_store(conn).delete_user(user_id, keep=_current_hash(conn))
    current = _current_hash(conn)
    await logout(conn)
    ended += current is not None
    logger.info("user %s logged out everywhere (%d sessions)", user_id, ended)
    await _revoked(conn, user_id, "all", ended, None)
    return ended


async def _revoked(
    conn: Connection, user_id: str, reason: str, count: int, key_hash: str | None
) -> None:
    await emit_for(
        conn,
        EventType.SESSION_REVOKED,
        user_id=user_id,
        key_hash=key_hash,
        reason=reason,
        count=count,
    )
