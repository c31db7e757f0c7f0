"""Remember me: an opt-in persistent login cookie that cannot be stolen quietly.

The cookie (``__Host-remember`` over HTTPS, ``remember`` over plain HTTP; HttpOnly,
SameSite=Lax, Path=/) holds a *selector* naming a *series* and a secret *validator*. The
store keeps only SHA-256 hashes of validators, with a keyed fingerprint of the user's
password hash (`AuthHasher`'s HMAC), so a leaked table logs nobody in and a password change
kills every series (`change_password` deletes them through the per-user index too).

When a request has no logged-in session but a remember cookie, `RememberMiddleware`:

* unknown selector, malformed cookie: nothing happens but the cookie's deletion (one log line);
* known selector, validator matching a live hash: the user is logged in on a new session
  (which is *not* a recent login: sudo mode still asks for the password), and the validator
  rotates: a new one is issued, the one just used stays valid for `grace` seconds, so two
  tabs restoring at once both succeed (the Spring Security ``CookieTheftException`` problem);
* known selector, any other validator (one rotated away longer ago than `grace`, or a
  forgery): the whole series is deleted and a warning logged: whoever holds the current
  validator, the thief or the user, is logged out, and the user notices.

Every outcome is a security event: `REMEMBER_ME_USED`, or `REMEMBER_ME_REJECTED` with the
reason ``malformed``, ``unknown`` (no such live series), ``theft`` (replay or forgery) or
``invalid_user`` (gone, inactive, or the password changed).

Series live in the session store itself (`SessionStoreRememberStore`), as records under a
key no session id can hash to, carrying the user id: they share the store's connection,
expire and are purged like sessions, appear in "my sessions" (their user agent starts
with `REMEMBER_LABEL`), and die with "log out everywhere else" and password changes.

The rules (cookie format, matching, rotation) are `cookieguard.auth._remember_series`; this
module carries them out over a request. The WSGI front door (`cookieguard.wsgi.remember`,
the Flask extension) runs this very code inline over a sync store.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cookieguard.asgi._security_events import emit_for
from cookieguard.asgi._types import ASGIApp, Connection, Message, Receive, Scope, Send, scope_of
from cookieguard.asgi.session import SCOPE_KEY as SESSION_SCOPE_KEY
from cookieguard.auth._context import AuthConfig, auth_config
from cookieguard.auth._login import login
from cookieguard.auth._remember_series import (
    REMEMBER_LABEL,
    RememberSeries,
    RememberStore,
    SessionStoreRememberStore,
    judge,
    new_series,
    parse_cookie,
    rotation,
    series_key,
)
from cookieguard.auth._users import User
from cookieguard.core._auth import SESSION_USER_ID, SESSION_VERIFIED_AT
from cookieguard.core.cookies import CookieSpec, find_cookie, render_deletion, render_set_cookie
from cookieguard.core.session import Session
from cookieguard.errors import ConfigError, MiddlewareMissing
from cookieguard.events import EventType
from cookieguard.stores._inline import InlineStore
from cookieguard.stores.base import SessionStore, SyncSessionStore

__all__ = [
    "REMEMBER_LABEL",
    "RememberConfig",
    "RememberMiddleware",
    "RememberSeries",
    "RememberStore",
    "SessionStoreRememberStore",
    "cookie_header",
    "forget",
    "remember",
    "restore",
    "series_key",
    "settle",
]

logger = logging.getLogger("cookieguard.auth")

SETTINGS_SCOPE_KEY = "cookieguard.remember"
PENDING_SCOPE_KEY = "cookieguard.remember.pending"


@dataclass(frozen=True)
class RememberConfig:
    """Remember-me settings.

    Args:
        store: Where series live: a `RememberStore`, or a `SessionStore` to keep them in.
            A sync store (`open_sync_store`) makes a config for the WSGI front door.
        max_age: Seconds a series lives after its last use (cookie Max-Age too).
        grace: Seconds a rotated-away validator stays valid (racing tabs).
        cookie_name: Base name; ``__Host-`` is prefixed over HTTPS.
        clock: Epoch seconds; inject one in tests.
    """

    store: RememberStore | SessionStore | SyncSessionStore
    max_age: int = 30 * 24 * 3600
    grace: int = 30
    cookie_name: str = "remember"
    clock: Callable[[], float] = field(default=time.time, repr=False, compare=False)
    series_store: RememberStore = field(init=False, repr=False, compare=False)
    sync: bool = field(init=False, repr=False, compare=False)
    """The store is a blocking one: only the WSGI front door may use this config."""

    def __post_init__(self) -> None:
        for name in ("max_age", "grace"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ConfigError(f"RememberConfig.{name} must be an int of seconds")
        if self.max_age <= 0 or self.grace < 0:
            raise ConfigError("RememberConfig needs a positive max_age and grace >= 0")
        chosen: Any = self.store
        # The protocols only name methods: a coroutine `load` tells async from sync.
        sync = isinstance(chosen, SyncSessionStore) and not inspect.iscoroutinefunction(chosen.load)
        if sync:
            chosen = SessionStoreRememberStore(InlineStore(chosen))
        elif isinstance(chosen, SessionStore):
            chosen = SessionStoreRememberStore(chosen)
        elif not isinstance(chosen, RememberStore):
            raise ConfigError("RememberConfig.store must be a RememberStore or a SessionStore")
        object.__setattr__(self, "series_store", chosen)
        object.__setattr__(self, "sync", sync)
        CookieSpec(self.cookie_name)  # validates the name

    def spec(self, scope: Scope) -> CookieSpec:
        """The cookie's attributes for this request: ``__Host-`` and Secure over HTTPS."""
        if scope.get("scheme") in ("https", "wss"):
            return CookieSpec("__Host-" + self.cookie_name, secure=True)
        return CookieSpec(self.cookie_name)


def _settings(conn: Connection) -> RememberConfig | None:
    found = scope_of(conn).get(SETTINGS_SCOPE_KEY)
    return found if isinstance(found, RememberConfig) else None


def _cookie(scope: Scope, config: RememberConfig) -> str | None:
    needle = (config.spec(scope).name + "=").encode("latin-1")
    return find_cookie(scope.get("headers", ()), needle)


def _user_agent(scope: Scope) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == b"user-agent":
            text = bytes(value[:200]).decode("latin-1")
            return text if text.isprintable() else None  # control characters: not kept
    return None


def _set_pending(scope: Scope, value: str | None) -> None:
    scope[PENDING_SCOPE_KEY] = value  # None: delete the cookie


async def remember(conn: Connection, user: User) -> None:
    """Start a remember-me series for `user` (just logged in) and set its cookie.

    Call it after `login` when the user ticked "remember me". Any series the request's
    cookie named is ended first.

    Raises:
        ConfigError: `RememberMiddleware` does not wrap the app.
        StoreUnavailable: the store is down; answer 503.
    """
    config = _settings(conn)
    if config is None:
        raise MiddlewareMissing("remember() needs RememberMiddleware inside AuthMiddleware")
    scope = scope_of(conn)
    await _end_named_series(scope, config)
    now = config.clock()
    auth = auth_config(conn).auth_hasher.auth_hash(user.password_hash)
    selector, validator, series = new_series(user.id, auth, now=now, max_age=config.max_age)
    key = series_key(selector)
    await config.series_store.create(key, series, now=now, user_agent=_user_agent(scope))
    _set_pending(scope, f"{selector}.{validator}")
    logger.info("user %s: remember-me series %s started", user.id, key[:12])


async def _end_named_series(scope: Scope, config: RememberConfig) -> None:
    parsed = parse_cookie(_cookie(scope, config))
    if parsed is not None:
        await config.series_store.delete(series_key(parsed[0]))


async def forget(conn: Connection) -> None:
    """End the series the request's remember cookie names and delete the cookie.

    `logout` calls it; a no-op without `RememberMiddleware`.
    """
    config = _settings(conn)
    if config is None:
        return
    scope = scope_of(conn)
    await _end_named_series(scope, config)
    if _cookie(scope, config) is not None or PENDING_SCOPE_KEY in scope:
        _set_pending(scope, None)


async def settle(scope: Scope, config: RememberConfig) -> str | None:
    """`cookie_header`, after ending the series of a request that restored (or had) a login
    but ends logged out without `logout` (``session.clear()``, a session ended by the
    re-check): a remember cookie must not log the user straight back in."""
    session = scope.get(SESSION_SCOPE_KEY)
    if (
        PENDING_SCOPE_KEY not in scope
        and scope.get(SETTINGS_SCOPE_KEY) is config
        and isinstance(session, Session)
        and session.peek(SESSION_USER_ID) is None
        and _cookie(scope, config) is not None
    ):
        await _end_named_series(scope, config)
        _set_pending(scope, None)
        logger.info("remember-me series ended with its logged-out session")
    return cookie_header(scope, config)


def cookie_header(scope: Scope, config: RememberConfig) -> str | None:
    """The Set-Cookie value the response must carry (a new cookie or a deletion), once;
    None when the cookie does not change."""
    if PENDING_SCOPE_KEY not in scope:
        return None
    value = scope.pop(PENDING_SCOPE_KEY)
    spec = config.spec(scope)
    if value is None:
        return render_deletion(spec)
    return render_set_cookie(spec, value, max_age=config.max_age, now=config.clock())


async def restore(scope: Scope, config: RememberConfig) -> None:
    """Log the request in from its remember cookie, if it has no logged-in session.

    Binds `config` to the scope first (so `remember` and `forget` find it). Needs the
    session and `AuthConfig` (with a user store) on the scope; run it before the app.
    """
    scope[SETTINGS_SCOPE_KEY] = config
    session = scope.get(SESSION_SCOPE_KEY)
    if not isinstance(session, Session) or session.peek(SESSION_USER_ID) is not None:
        return
    value = _cookie(scope, config)
    if value is not None:
        await _restore(scope, config, session, value)


async def _rejected(scope: Scope, reason: str, user_id: str | None = None) -> None:
    _set_pending(scope, None)
    await emit_for(scope, EventType.REMEMBER_ME_REJECTED, reason=reason, user_id=user_id)


async def _restore(scope: Scope, config: RememberConfig, session: Session, value: str) -> None:
    parsed = parse_cookie(value)
    if parsed is None:
        logger.warning("malformed remember-me cookie ignored and deleted")
        await _rejected(scope, "malformed")
        return
    selector, validator = parsed
    key = series_key(selector)
    now = config.clock()
    series = await config.series_store.load(key, now=now)
    if series is None:
        logger.info("remember-me cookie of an unknown or expired series deleted")
        await _rejected(scope, "unknown")
        return
    match = judge(series, validator, now)
    if match.theft or match.matched is None:
        await config.series_store.delete(key)
        logger.warning(
            "remember-me cookie of user %s replayed or forged: series %s revoked",
            series.user_id,
            key[:12],
        )
        await _rejected(scope, "theft", series.user_id)
        return
    user = await _user(auth_config(scope), series)
    if user is None:
        await config.series_store.delete(key)
        logger.info("remember-me series %s no longer valid (password changed?)", key[:12])
        await _rejected(scope, "invalid_user", series.user_id)
        return
    turn = rotation(series, match.matched, now, config.grace)
    await config.series_store.rotate(
        key,
        set_validators=turn.set_validators,
        drop=turn.drop,
        now=now,
        expires_at=now + config.max_age,
    )
    _set_pending(scope, f"{selector}.{turn.validator}")
    await login(scope, user)
    session.pop(SESSION_VERIFIED_AT, None)  # a cookie proves no presence: not "recent"
    logger.info("user %s logged in from remember-me series %s", user.id, key[:12])
    await emit_for(scope, EventType.REMEMBER_ME_USED, user_id=user.id, key_hash=session.key_hash)


async def _user(auth: AuthConfig, series: RememberSeries) -> User | None:
    users = auth.user_store
    if users is None:
        raise ConfigError("remember-me needs AuthConfig.user_store (the users to log in)")
    user = await users.get_by_id(series.user_id)
    if user is None or user.is_active is not True:
        return None
    return user if auth.auth_hasher.matches(series.auth_hash, user.password_hash) else None


class RememberMiddleware:
    """Restores logins from remember-me cookies and writes the cookie changes.

    Place it inside `AuthMiddleware` (it needs its `AuthConfig`, with a user store):
    ``AuthMiddleware(RememberMiddleware(app, RememberConfig(store)), auth_config)``.

    Raises:
        ConfigError: `config` is over a sync store (that one is for the WSGI front door).
    """

    def __init__(self, app: ASGIApp, config: RememberConfig) -> None:
        if config.sync:
            raise ConfigError(
                "RememberMiddleware needs an async store (open_store), not a sync one"
            )
        self.app = app
        self.config = config

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await restore(scope, self.config)

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                header = await settle(scope, self.config)
                if header is not None:
                    message = _with_cookie(message, header)
            await send(message)

        await self.app(scope, receive, send_with_cookie)


def _with_cookie(message: Message, header: str) -> Message:
    headers = list(message.get("headers", ()))
    headers.append((b"set-cookie", header.encode("latin-1")))
    return {**message, "headers": headers}
