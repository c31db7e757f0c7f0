"""Ending a logged-in session for good, and checking one against the user store.

Shared by `logout`, `get_user` and `AuthMiddleware`'s periodic re-check:

* `end_session` flushes the session and deletes its record from the store *now*, not at
  response start: nothing is saved for a 5xx response or when no response is sent, and a
  logout must not depend on the rest of the handler succeeding (Django's ``logout()``
  deletes the row at once too). A store that is down raises `StoreUnavailable` and the
  session stays flushed, so the response cannot pretend the user was logged out.
  Signed-cookie sessions have no server record: only the cleared cookie ends them.
* `verify_session_user` loads the user and checks the session's auth hash: a gone,
  inactive or re-passworded user ends the session; a hash made with a fallback key is
  upgraded under a new session id.
* `recheck` is what `AuthMiddleware` runs once every `AuthConfig.recheck_interval`.
"""

from __future__ import annotations

import logging

from cookieguard.asgi._types import Connection, Scope, scope_of
from cookieguard.asgi.session import get_session_store
from cookieguard.auth._context import USER_SCOPE_KEY, AuthConfig
from cookieguard.auth._users import User, UserStore
from cookieguard.core._auth import SESSION_AUTH_CHECKED, SESSION_AUTH_HASH, HashCheck
from cookieguard.core.session import Session

__all__ = ["end_session", "recheck", "verify_session_user"]

logger = logging.getLogger("cookieguard.auth")


def _tag(session: Session) -> str:
    return (session.key_hash or "-")[:12]


async def end_session(conn: Connection, session: Session) -> None:
    """Flush `session` and delete its stored record at once (see the module docs).

    Raises:
        StoreUnavailable: the session store is down; the session is still flushed, so the
            response's save tries the delete again (and answers 503 if it fails too).
    """
    session.flush()
    doomed = session.pending_delete
    if doomed is None:
        return
    store = get_session_store(conn)
    if store is None:
        return  # signed cookies: no server state, the response's deletion cookie is all
    await store.delete(doomed)
    session.deleted(doomed)


async def verify_session_user(
    conn: Connection, session: Session, config: AuthConfig, store: UserStore, user_id: str
) -> User | None:
    """The user behind `session` if its auth hash still matches, else None (session ended).

    Caches the answer on the scope for `get_user`.
    """
    scope = scope_of(conn)
    user = await store.get_by_id(user_id)
    verdict = (
        HashCheck.INVALID
        if user is None or user.is_active is not True
        else config.auth_hasher.check(session.get(SESSION_AUTH_HASH), user.password_hash)
    )
    if user is None or verdict is HashCheck.INVALID:
        scope[USER_SCOPE_KEY] = None
        logger.info("session %s no longer valid for user %s; ended", _tag(session), user_id)
        await end_session(conn, session)
        return None
    if verdict is HashCheck.UPGRADE:
        session.cycle_key()
        session[SESSION_AUTH_HASH] = config.auth_hasher.auth_hash(user.password_hash)
        logger.info("auth hash of session %s upgraded to the current key", _tag(session))
    scope[USER_SCOPE_KEY] = user
    return user


async def recheck(
    scope: Scope, session: Session, config: AuthConfig, user_id: str, now: float
) -> None:
    """Check `session` against `config.user_store` and record when, if it is still valid."""
    store = config.user_store
    assert store is not None  # AuthMiddleware refuses a recheck_interval without a store
    if await verify_session_user(scope, session, config, store, user_id) is not None:
        session[SESSION_AUTH_CHECKED] = now
