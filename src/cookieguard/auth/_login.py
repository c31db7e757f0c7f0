"""Login, logout and the current user, as session and CSRF operations.

* `authenticate` checks a username and password (throttled, timing-equalised, upgrading old
  hashes); `login` then binds the user to the session: a different user's (or a stale)
  session is flushed, otherwise the id is cycled keeping the data; the CSRF secret rotates.
* `logout` deletes the session server-side at once (not at response start, so a handler
  that fails afterwards cannot leave it alive), clears the cookie and rotates the CSRF secret.
* `get_user_id` answers from the session alone (no query): `change_password`
  (`cookieguard.auth._password_change`) deletes the user's other sessions through the
  store's per-user index, and `AuthMiddleware` re-checks
  each session against the user store every `AuthConfig.recheck_interval` seconds (for
  passwords changed outside cookieguard). `get_user` loads the user and re-verifies the
  auth hash on every request.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from cookieguard.asgi._security_events import app_subscriber, emit_for
from cookieguard.asgi._types import Connection, scope_of
from cookieguard.asgi.session import SCOPE_KEY as SESSION_SCOPE_KEY
from cookieguard.asgi.session import get_session
from cookieguard.auth._centre import after_login, request_user_agent
from cookieguard.auth._context import USER_SCOPE_KEY, AuthConfig, auth_config
from cookieguard.auth._passwords import PasswordHasher, acceptable_password
from cookieguard.auth._revalidate import end_session, verify_session_user
from cookieguard.auth._throttle import LoginAttempt, LoginThrottle
from cookieguard.auth._users import ManagedUserStore, User, UserStore, plausible_username
from cookieguard.auth.devices import device_name
from cookieguard.core._auth import (
    SESSION_AUTH_BACKEND,
    SESSION_AUTH_CHECKED,
    SESSION_AUTH_HASH,
    SESSION_USER_ID,
    SESSION_VERIFIED_AT,
    same_user,
)
from cookieguard.core.session import Session
from cookieguard.core.signing import KeyRing
from cookieguard.csrf_rotation import rotate_csrf_secret
from cookieguard.errors import ConfigError, InactiveUser, LoginThrottled
from cookieguard.events import EventType, emit, listening, make_event

__all__ = [
    "authenticate",
    "get_user",
    "get_user_id",
    "login",
    "logout",
]

logger = logging.getLogger("cookieguard.auth")

_MISSING: Any = object()


def _tag(session: Session) -> str:
    return (session.key_hash or "-")[:12]


async def authenticate(
    user_store: UserStore,
    username: object,
    password: object,
    *,
    hasher: PasswordHasher | None = None,
    throttle: LoginThrottle | None = None,
    address: str = "",
    conn: Connection | None = None,
) -> User | None:
    """The user whose username and password these are, or None.

    Unknown usernames cost one full password verification, like wrong passwords, and both
    return None, as do inactive users (``is_active`` false); so does a password that cannot
    be checked (over `MAX_PASSWORD_LENGTH` characters, or not valid text), without even
    looking the username up. A right password
    on an outdated hash (Django PBKDF2, wrapped or not, older Argon2 parameters) is rehashed
    and saved when the store supports `set_password`; the returned user then carries the new
    hash (log them in with it).

    Args:
        user_store: where to look the username up.
        username: the submitted username (anything that is not a string fails).
        password: the submitted password.
        hasher: the password hasher; the shared Argon2id default when omitted.
        throttle: counts attempts; raises `LoginThrottled` when over a limit.
        address: the client address for the throttle (see `client_address`).
        conn: the request, if any: its failure and throttling events then carry the
            client's (truncated) address and reach `AuthConfig.on_security_event`.

    Raises:
        LoginThrottled: too many failed attempts; answer 429 with ``Retry-After``.
        StoreUnavailable: the user store or counter store is down; answer 503.
    """
    if hasher is None:
        from cookieguard.auth._context import default_hasher

        hasher = default_hasher()
    name = username if isinstance(username, str) else ""
    attempt = await _begin(throttle, name, address, conn)
    try:
        user, ok, reason = await _check_password(user_store, hasher, name, password)
    except BaseException:
        if attempt is not None:
            await attempt.failed()  # the attempt stays counted; its in-flight slot is freed
        raise
    if attempt is not None:
        await (attempt.succeeded() if ok else attempt.failed())
    if not ok:
        logger.info("login failed")
        user_id = user.id if user is not None else None
        await _auth_event(
            conn, EventType.LOGIN_FAILED, username=name, user_id=user_id, reason=reason
        )
        return None
    return user


async def _begin(
    throttle: LoginThrottle | None, name: str, address: str, conn: Connection | None
) -> LoginAttempt | None:
    """The throttle's slot for this attempt (None without a throttle); a refusal is an event."""
    if throttle is None:
        return None
    try:
        return await throttle.begin(name, address)
    except LoginThrottled as exc:
        await _auth_event(conn, EventType.LOGIN_THROTTLED, username=name, reason=exc.reason)
        raise


async def _check_password(
    user_store: UserStore, hasher: PasswordHasher, name: str, password: object
) -> tuple[User | None, bool, str]:
    """(the user found, whether the login succeeds, the failure reason for the event).

    Every path verifies one password hash, a dummy one when there is no user to check
    against, so the time taken does not tell which usernames exist.
    """
    ok = False
    reason = "invalid_input"
    user = None
    # An unusable password skips the lookup: known and unknown names run the same code.
    if plausible_username(name) and acceptable_password(password):
        user = await user_store.get_by_username(name)
        reason = "unknown_user"
    if user is None:
        await hasher.averify_dummy(password if isinstance(password, str) else "")
    else:
        assert isinstance(password, str)
        check = await hasher.averify(user.password_hash, password)
        # An inactive user is refused like a wrong password, as Django's ModelBackend does.
        ok = check.ok and user.is_active is True
        reason = "wrong_password" if not check.ok else "inactive"
        if ok and check.needs_rehash:
            user = await _rehash(user_store, hasher, user, password)
    return user, ok, reason


async def _auth_event(conn: Connection | None, kind: EventType, **fields: Any) -> None:
    if conn is not None:
        await emit_for(conn, kind, **fields)
    else:
        await emit(make_event(kind, **fields))


async def _rehash(store: UserStore, hasher: PasswordHasher, user: User, password: str) -> User:
    if not isinstance(store, ManagedUserStore):
        return user
    new_hash = await hasher.ahash(password)
    if await store.set_password(user.id, new_hash):
        logger.info("password hash of user %s upgraded", user.id)
        return dataclasses.replace(user, password_hash=new_hash)
    return user


async def login(conn: Connection, user: User, *, keyring: KeyRing | None = None) -> None:
    """Bind `user` to the request's session, with a new session id and a new CSRF secret.

    Another user's session, or this user's session from before a password change, is
    flushed (nothing of it survives); an anonymous session keeps its data under a new id.

    Args:
        conn: the request (or scope); `SessionMiddleware` must wrap the app.
        user: the authenticated user (from `authenticate`).
        keyring: secret keys for the auth hash; defaults to `AuthMiddleware`'s.

    Raises:
        InactiveUser: `user` is inactive (``is_active`` false); nobody is logged in. It is
            also a `ValueError`, what this raised before.
    """
    if not isinstance(user, User):
        raise TypeError("login() needs the User returned by authenticate()")
    if user.is_active is not True:
        raise InactiveUser("login() refuses an inactive user")
    config = auth_config(conn, keyring)
    session = get_session(conn)
    replaced = session.key_hash if session.is_stored else None
    new_hash = config.auth_hasher.auth_hash(user.password_hash)
    stored_id = session.get(SESSION_USER_ID)
    if stored_id is not None and not (
        same_user(stored_id, user.id)
        and config.auth_hasher.matches(session.get(SESSION_AUTH_HASH), user.password_hash)
    ):
        session.flush()
    else:
        session.cycle_key()
    session[SESSION_USER_ID] = user.id
    if config.django_auth_backend is not None:  # Django's get_user needs it (a shared login)
        session[SESSION_AUTH_BACKEND] = config.django_auth_backend
    session[SESSION_AUTH_HASH] = new_hash
    checked_now(session, config)
    session[SESSION_VERIFIED_AT] = config.clock()  # the password was just checked: "sudo"
    session.set_user(user.id)
    rotate_csrf_secret(scope_of(conn))  # no CSRF driver, no secret: an API-only app
    scope_of(conn)[USER_SCOPE_KEY] = user
    logger.info("user %s logged in (session %s)", user.id, _tag(session))
    await emit_for(
        conn,
        EventType.LOGIN_SUCCEEDED,
        user_id=user.id,
        key_hash=session.key_hash,
        # Parsing the User-Agent only pays when someone listens (logs get None otherwise).
        device=device_name(request_user_agent(conn)) if listening(app_subscriber(conn)) else None,
    )
    await after_login(
        conn,
        user.id,
        key_hash=session.key_hash,
        replaced=replaced,
        cap=config.max_sessions_per_user,
        now=config.clock(),
    )


def checked_now(session: Session, config: AuthConfig) -> None:
    """Record that the auth hash was just computed from the user's current password hash.

    The next re-check against the user store is then due one interval from now.
    """
    if config.recheck_interval is not None:
        session[SESSION_AUTH_CHECKED] = config.clock()


async def logout(conn: Connection) -> None:
    """End the session server-side, clear its cookie and rotate the CSRF secret.

    The record is deleted from the store before this returns (and so leaves the user's
    "my sessions" list), so the old cookie is dead even if the handler then fails, answers
    5xx or sends nothing. With signed-cookie sessions (`SignedCookieBackend`) there is no record:
    only the deletion cookie of a successful response ends the session. Safe to call for
    anonymous requests.

    Raises:
        StoreUnavailable: the session store is down. Let it propagate (answer 503): the
            session is not ended and the user must not be told otherwise.
    """
    session = get_session(conn)
    user_id = get_user_id(conn)
    key_hash = session.key_hash
    scope_of(conn)[USER_SCOPE_KEY] = None
    from cookieguard.auth._remember import forget  # remember imports this module

    await forget(conn)
    rotate_csrf_secret(scope_of(conn))
    await end_session(conn, session)
    if user_id is not None:
        logger.info("user %s logged out", user_id)
        await emit_for(conn, EventType.LOGOUT, user_id=user_id, key_hash=key_hash)


def get_user_id(conn: Connection) -> str | None:
    """The logged-in user's id from the session, without any query (None: anonymous).

    Trustworthy because `AuthMiddleware` re-checks the session against the user store every
    `AuthConfig.recheck_interval` seconds, before the app runs.
    """
    # get_session() without its two calls when the scope is a plain dict holding a Session:
    # endpoints and `requires_login` ask on every request.
    scope = getattr(conn, "scope", conn)
    session = scope.get(SESSION_SCOPE_KEY) if type(scope) is dict else None
    if type(session) is not Session:
        session = get_session(conn)
    value = session.get(SESSION_USER_ID)
    return value if isinstance(value, str) and value else None


async def get_user(
    conn: Connection, user_store: UserStore | None = None, *, keyring: KeyRing | None = None
) -> User | None:
    """The logged-in `User`, loaded and verified once per request (then cached on the scope).

    A session whose user is gone or inactive, or whose auth hash no longer matches (the
    password changed), is ended (deleted server-side at once) and the request is anonymous.
    A hash made with a fallback key is upgraded to the current key (with a new session id).

    Args:
        conn: the request (or scope).
        user_store: where users live; defaults to `AuthConfig.user_store`.
        keyring: secret keys; defaults to `AuthMiddleware`'s.
    """
    scope = scope_of(conn)
    cached = scope.get(USER_SCOPE_KEY, _MISSING)
    user_id = get_user_id(conn)
    if cached is not _MISSING and (
        (cached is None and user_id is None) or (isinstance(cached, User) and cached.id == user_id)
    ):
        return cached
    if user_id is None:
        scope[USER_SCOPE_KEY] = None
        return None
    config = auth_config(conn, keyring)
    store = user_store or config.user_store
    if store is None:
        raise ConfigError("get_user() needs a user store (argument or AuthConfig.user_store)")
    return await verify_session_user(conn, get_session(conn), config, store, user_id)
