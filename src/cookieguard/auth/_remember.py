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

Series live in the session store itself (`SessionStoreRememberStore`), as records under a
key no session id can hash to, carrying the user id: they share the store's connection,
expire and are purged like sessions, appear in "my sessions" (their user agent starts
with `REMEMBER_LABEL`), and die with "log out everywhere else" and password changes.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from cookieguard.asgi._types import ASGIApp, Connection, Message, Receive, Scope, Send, scope_of
from cookieguard.asgi.session import SCOPE_KEY as SESSION_SCOPE_KEY
from cookieguard.auth._context import AuthConfig, auth_config
from cookieguard.auth._login import login
from cookieguard.auth._users import User
from cookieguard.core._auth import SESSION_VERIFIED_AT
from cookieguard.core.cookies import CookieSpec, find_cookie, render_deletion, render_set_cookie
from cookieguard.core.session import Session
from cookieguard.errors import ConfigError, MiddlewareMissing
from cookieguard.stores.base import SessionRecord, SessionStore

__all__ = [
    "REMEMBER_LABEL",
    "RememberConfig",
    "RememberMiddleware",
    "RememberSeries",
    "RememberStore",
    "SessionStoreRememberStore",
    "forget",
    "remember",
    "series_key",
]

logger = logging.getLogger("cookieguard.auth")

SETTINGS_SCOPE_KEY = "cookieguard.remember"
PENDING_SCOPE_KEY = "cookieguard.remember.pending"
REMEMBER_LABEL = "[remember me] "
"""Prefix of a series' user agent in the session list."""
_MARK = "_remember_series"
_AUTH = "_remember_auth"
_VALIDATOR = "v:"
_MAX_COOKIE = 200


def series_key(selector: str) -> str:
    """The store key of a series: SHA-256 over a prefix no cookie value can contain (NUL),
    so no session id hashes to it."""
    return hashlib.sha256(b"cookieguard.remember\x00" + selector.encode("ascii")).hexdigest()


def _validator_hash(validator: str) -> str:
    return hashlib.sha256(validator.encode("ascii")).hexdigest()


@dataclass(frozen=True, slots=True)
class RememberSeries:
    """A stored series: whose it is, the password fingerprint and the validator hashes."""

    user_id: str
    auth_hash: str
    validators: dict[str, float | None]
    """Validator hash -> end of its grace window (None: current)."""
    expires_at: float


@runtime_checkable
class RememberStore(Protocol):
    """Where remember-me series live; every method is one round trip."""

    async def create(
        self, key: str, series: RememberSeries, *, now: float, user_agent: str | None
    ) -> None:
        """Store a new series under `key`."""
        ...

    async def load(self, key: str, *, now: float) -> RememberSeries | None:
        """The live series under `key`, or None."""
        ...

    async def rotate(
        self,
        key: str,
        *,
        set_validators: dict[str, float | None],
        drop: list[str],
        now: float,
        expires_at: float,
    ) -> bool:
        """Add or change validator hashes and drop others, atomically per hash (two racing
        rotations both land); False when the series is gone."""
        ...

    async def delete(self, key: str) -> None:
        """Remove the series if present."""
        ...


class SessionStoreRememberStore:
    """`RememberStore` over any `SessionStore` (memory, SQLite, PostgreSQL, Redis), as records.

    Each validator hash is its own data key, so the store's atomic deltas make racing
    rotations merge instead of overwriting each other.
    """

    def __init__(self, store: SessionStore) -> None:
        self.store = store

    async def create(
        self, key: str, series: RememberSeries, *, now: float, user_agent: str | None
    ) -> None:
        data: dict[str, Any] = {_MARK: 1, _AUTH: series.auth_hash}
        data.update({_VALIDATOR + h: end for h, end in series.validators.items()})
        agent = REMEMBER_LABEL + (user_agent or "")
        record = SessionRecord(data, series.user_id, now, now, series.expires_at, agent[:256])
        await self.store.create(key, record)

    async def load(self, key: str, *, now: float) -> RememberSeries | None:
        record = await self.store.load(key, now=now)
        if record is None or record.data.get(_MARK) != 1 or record.user_id is None:
            return None
        auth = record.data.get(_AUTH)
        validators: dict[str, float | None] = {}
        for name, end in record.data.items():
            if name.startswith(_VALIDATOR) and (end is None or isinstance(end, int | float)):
                validators[name[len(_VALIDATOR) :]] = end
        if not isinstance(auth, str):
            return None
        return RememberSeries(record.user_id, auth, validators, record.expires_at)

    async def rotate(
        self,
        key: str,
        *,
        set_validators: dict[str, float | None],
        drop: list[str],
        now: float,
        expires_at: float,
    ) -> bool:
        return await self.store.update(
            key,
            set_items={_VALIDATOR + h: end for h, end in set_validators.items()},
            delete_keys=[_VALIDATOR + h for h in drop],
            last_seen=now,
            expires_at=expires_at,
            now=now,
        )

    async def delete(self, key: str) -> None:
        await self.store.delete(key)


@dataclass(frozen=True)
class RememberConfig:
    """Remember-me settings.

    Args:
        store: Where series live: a `RememberStore`, or a `SessionStore` to keep them in.
        max_age: Seconds a series lives after its last use (cookie Max-Age too).
        grace: Seconds a rotated-away validator stays valid (racing tabs).
        cookie_name: Base name; ``__Host-`` is prefixed over HTTPS.
        clock: Epoch seconds; inject one in tests.
    """

    store: RememberStore | SessionStore
    max_age: int = 30 * 24 * 3600
    grace: int = 30
    cookie_name: str = "remember"
    clock: Callable[[], float] = field(default=time.time, repr=False, compare=False)
    series_store: RememberStore = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.max_age <= 0 or self.grace < 0:
            raise ConfigError("RememberConfig needs a positive max_age and grace >= 0")
        chosen: Any = self.store
        if isinstance(chosen, SessionStore):
            chosen = SessionStoreRememberStore(chosen)
        elif not isinstance(chosen, RememberStore):
            raise ConfigError("RememberConfig.store must be a RememberStore or a SessionStore")
        object.__setattr__(self, "series_store", chosen)
        CookieSpec(self.cookie_name)  # validates the name

    def spec(self, scope: Scope) -> CookieSpec:
        """The cookie's attributes for this request: ``__Host-`` and Secure over HTTPS."""
        if scope.get("scheme") in ("https", "wss"):
            return CookieSpec("__Host-" + self.cookie_name, secure=True)
        return CookieSpec(self.cookie_name)


def _settings(conn: Connection) -> RememberConfig | None:
    found = scope_of(conn).get(SETTINGS_SCOPE_KEY)
    return found if isinstance(found, RememberConfig) else None


def _parse(value: str | None) -> tuple[str, str] | None:
    if not value or len(value) > _MAX_COOKIE:
        return None
    selector, dot, validator = value.partition(".")
    allowed = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    if not dot or not selector or not validator or not allowed.issuperset(selector + validator):
        return None
    return selector, validator


def _cookie(scope: Scope, config: RememberConfig) -> str | None:
    needle = (config.spec(scope).name + "=").encode("latin-1")
    return find_cookie(scope.get("headers", ()), needle)


def _user_agent(scope: Scope) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == b"user-agent":
            return str(value.decode("latin-1"))[:200]
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
    selector, validator = secrets.token_urlsafe(16), secrets.token_urlsafe(32)
    now = config.clock()
    auth = auth_config(conn).auth_hasher.auth_hash(user.password_hash)
    series = RememberSeries(user.id, auth, {_validator_hash(validator): None}, now + config.max_age)
    key = series_key(selector)
    await config.series_store.create(key, series, now=now, user_agent=_user_agent(scope))
    _set_pending(scope, f"{selector}.{validator}")
    logger.info("user %s: remember-me series %s started", user.id, key[:12])


async def _end_named_series(scope: Scope, config: RememberConfig) -> None:
    parsed = _parse(_cookie(scope, config))
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


class RememberMiddleware:
    """Restores logins from remember-me cookies and writes the cookie changes.

    Place it inside `AuthMiddleware` (it needs its `AuthConfig`, with a user store):
    ``AuthMiddleware(RememberMiddleware(app, RememberConfig(store)), auth_config)``.
    """

    def __init__(self, app: ASGIApp, config: RememberConfig) -> None:
        self.app = app
        self.config = config

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope[SETTINGS_SCOPE_KEY] = self.config
        session = scope.get(SESSION_SCOPE_KEY)
        if type(session) is Session and session.peek("_auth_user_id") is None:
            value = _cookie(scope, self.config)
            if value is not None:
                await self._restore(scope, session, value)

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start" and PENDING_SCOPE_KEY in scope:
                message = _with_cookie(message, self._header(scope, scope.pop(PENDING_SCOPE_KEY)))
            await send(message)

        await self.app(scope, receive, send_with_cookie)

    def _header(self, scope: Scope, value: str | None) -> str:
        spec = self.config.spec(scope)
        if value is None:
            return render_deletion(spec)
        return render_set_cookie(spec, value, max_age=self.config.max_age, now=self.config.clock())

    async def _restore(self, scope: Scope, session: Session, value: str) -> None:
        parsed = _parse(value)
        if parsed is None:
            logger.warning("malformed remember-me cookie ignored and deleted")
            _set_pending(scope, None)
            return
        selector, validator = parsed
        config, key = self.config, series_key(selector)
        now = config.clock()
        series = await config.series_store.load(key, now=now)
        if series is None:
            logger.info("remember-me cookie of an unknown or expired series deleted")
            _set_pending(scope, None)
            return
        presented = _validator_hash(validator).encode("ascii")
        matched: str | None = None
        live = False
        for stored, end in series.validators.items():  # a handful; each compared fully
            if hmac.compare_digest(stored.encode("ascii"), presented):
                matched, live = stored, end is None or now < end
        if matched is None or not live:
            await config.series_store.delete(key)
            logger.warning(
                "remember-me cookie of user %s replayed or forged: series %s revoked",
                series.user_id,
                key[:12],
            )
            _set_pending(scope, None)
            return
        auth = auth_config(scope)
        user = await self._user(auth, series)
        if user is None:
            await config.series_store.delete(key)
            logger.info("remember-me series %s no longer valid (password changed?)", key[:12])
            _set_pending(scope, None)
            return
        await self._rotate(scope, key, series, matched, now)
        await login(scope, user)
        session.pop(SESSION_VERIFIED_AT, None)  # a cookie proves no presence: not "recent"
        logger.info("user %s logged in from remember-me series %s", user.id, key[:12])

    async def _user(self, auth: AuthConfig, series: RememberSeries) -> User | None:
        users = auth.user_store
        if users is None:
            raise ConfigError("RememberMiddleware needs AuthConfig.user_store")
        user = await users.get_by_id(series.user_id)
        if user is None or user.is_active is not True:
            return None
        return user if auth.auth_hasher.matches(series.auth_hash, user.password_hash) else None

    async def _rotate(
        self, scope: Scope, key: str, series: RememberSeries, used: str, now: float
    ) -> None:
        config = self.config
        validator = secrets.token_urlsafe(32)
        grace_end = now + config.grace
        changes: dict[str, float | None] = {_validator_hash(validator): None}
        drop: list[str] = []
        for stored, end in series.validators.items():
            if end is None or stored == used:
                changes[stored] = min(end, grace_end) if end is not None else grace_end
            elif end <= now:
                drop.append(stored)
        await config.series_store.rotate(
            key, set_validators=changes, drop=drop, now=now, expires_at=now + config.max_age
        )
        selector = _parse(_cookie(scope, config))
        assert selector is not None
        _set_pending(scope, f"{selector[0]}.{validator}")


def _with_cookie(message: Message, header: str) -> Message:
    headers = list(message.get("headers", ()))
    headers.append((b"set-cookie", header.encode("latin-1")))
    return {**message, "headers": headers}
