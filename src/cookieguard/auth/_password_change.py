"""Changing a password ends the user's other sessions: from a request, or from an admin tool.

`change_password` keeps the caller's own session (under a new id, with the new auth hash)
when they change their own password; `reset_password` is the same without a request, for
``cookieguard users set-password``. Both delete the other sessions through the store's
per-user index at once; sessions in a store that cannot be reached that way (signed
cookies) end at their next auth-hash check.
"""

from __future__ import annotations

import dataclasses
import logging

from cookieguard.asgi._security_events import emit_for
from cookieguard.asgi._types import Connection, scope_of
from cookieguard.asgi.session import get_session, get_session_store
from cookieguard.auth._context import USER_SCOPE_KEY, auth_config
from cookieguard.auth._login import checked_now, get_user_id
from cookieguard.auth._passwords import PasswordHasher
from cookieguard.auth._users import ManagedUserStore, User
from cookieguard.core._auth import SESSION_AUTH_HASH
from cookieguard.core.signing import KeyRing
from cookieguard.errors import UserNotFound
from cookieguard.events import EventType, emit, make_event
from cookieguard.stores.base import SessionStore

__all__ = ["change_password", "reset_password"]

logger = logging.getLogger("cookieguard.auth")


async def change_password(
    conn: Connection,
    user_store: ManagedUserStore,
    user: User,
    new_password: str,
    *,
    keyring: KeyRing | None = None,
    hasher: PasswordHasher | None = None,
) -> User:
    """Set a new password and end every other session of `user`.

    When `user` is the one logged in on `conn`, their current session survives under a new
    id with the new auth hash; otherwise (an administrator changing someone's password)
    all of the user's sessions end.

    Returns:
        The user with the new password hash.

    Raises:
        InvalidPassword: the new password is unacceptable: empty, too long or not text (a
            `ValueError`).
        UserNotFound: the user no longer exists (also a `LookupError`).
    """
    config = auth_config(conn, keyring)
    session = get_session(conn)
    own = get_user_id(conn) == user.id
    store = get_session_store(conn)
    updated, ended = await _set_password(
        user_store,
        user,
        new_password,
        session_store=store,
        keep=session.key_hash if own and session.is_stored else None,
        hasher=hasher or config.hasher,
    )
    await emit_for(conn, EventType.PASSWORD_CHANGED, user_id=user.id, count=ended)
    if own:
        session.cycle_key()
        session[SESSION_AUTH_HASH] = config.auth_hasher.auth_hash(updated.password_hash)
        checked_now(session, config)
        scope_of(conn)[USER_SCOPE_KEY] = updated
    return updated


async def reset_password(
    user_store: ManagedUserStore,
    user: User,
    new_password: str,
    *,
    session_store: SessionStore | None,
    keep: str | None = None,
    hasher: PasswordHasher | None = None,
) -> tuple[User, int]:
    """Set a new password outside any request and end the user's sessions (but `keep`).

    The part of `change_password` that needs no connection, for an administrator's tool such
    as ``cookieguard users set-password``: the new hash is stored, then every session of the
    user in `session_store` is deleted through its per-user index. Sessions in a store that is
    not passed (None: e.g. signed cookies) end at their next auth-hash check instead.

    Returns:
        The user with the new password hash, and how many sessions ended.

    Raises:
        InvalidPassword: the new password is unacceptable: empty, too long or not text (a
            `ValueError`).
        UserNotFound: the user no longer exists (also a `LookupError`).
    """
    updated, ended = await _set_password(
        user_store, user, new_password, session_store=session_store, keep=keep, hasher=hasher
    )
    await emit(make_event(EventType.PASSWORD_CHANGED, user_id=user.id, count=ended))
    return updated, ended


async def _set_password(
    user_store: ManagedUserStore,
    user: User,
    new_password: str,
    *,
    session_store: SessionStore | None,
    keep: str | None,
    hasher: PasswordHasher | None,
) -> tuple[User, int]:
    new_hash = await (hasher or PasswordHasher()).ahash(new_password)
    if not await user_store.set_password(user.id, new_hash):
        raise UserNotFound("no such user")
    ended = 0
    if session_store is not None:
        ended = await session_store.delete_user(user.id, keep=keep)
    logger.info("password of user %s changed; %d other sessions ended", user.id, ended)
    return dataclasses.replace(user, password_hash=new_hash), ended
