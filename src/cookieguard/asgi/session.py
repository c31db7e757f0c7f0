"""`SessionMiddleware`: load the session before the app, save it at ``http.response.start``.

A pure ASGI class (no BaseHTTPMiddleware): it wraps `send` and edits the response headers as
they pass. All decisions come from `cookieguard.core.session`; this module only performs them:

* no session cookie: nothing is loaded and nothing is created until the app writes data;
* a cookie: one store round trip; an unknown, expired or malformed id is never adopted;
* the store is down for a request that carries a cookie: 503 (never anonymous, never 500);
* at ``http.response.start``: the planned store operation, then ``Set-Cookie`` and
  ``Vary: Cookie``; a store failure there turns the response into a 503 before any byte
  of it was sent. Nothing is saved for 5xx responses.
* a `StoreUnavailable` raised inside (by `logout`, `AuthMiddleware`'s user re-check, a
  handler's own store call) before the response started: 503. Frameworks that answer
  exceptions themselves (Starlette sends its 500 first) need their own handler for it.

WebSocket connections get the session too, read-only: a handshake response cannot carry
``Set-Cookie`` once accepted, so changes made on a websocket are not saved.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from cookieguard.asgi.layering import check_layering
from cookieguard.asgi.responses import ApiPaths, accept_header, send_error
from cookieguard.asgi.types import ASGIApp, Connection, Message, Receive, Scope, Send, scope_of
from cookieguard.config import SessionConfig
from cookieguard.core.cookies import find_cookie, render_deletion, render_set_cookie
from cookieguard.core.session import SavePlan, Session, is_well_formed_session_id
from cookieguard.core.tokens import hash_session_id
from cookieguard.errors import SessionTooLarge, StoreUnavailable
from cookieguard.stores.base import KeyCollision, SessionRecord, SessionStore
from cookieguard.stores.cookie import CookieStore

__all__ = ["SessionBackend", "SessionMiddleware", "get_session", "get_session_store"]

logger = logging.getLogger("cookieguard.sessions")

SCOPE_KEY = "session"
STORE_SCOPE_KEY = "cookieguard.session_store"
COOKIE_DOMAIN_SCOPE_KEY = "cookieguard.session_cookie_domain"
"""The session cookie's Domain (or None), for ``CSRFConfig(use_session=True)``'s Referer check."""
USER_AGENT_LIMIT = 256
_KEY_COLLISION_RETRIES = 3


class SessionBackend(Protocol):
    """The seam between the middleware and where sessions live (server store or cookie)."""

    async def open(self, cookie_value: str, *, now: float) -> Session | None:
        """The session behind `cookie_value`, or None if it is unknown, expired or forged."""
        ...

    async def commit(
        self, session: Session, plan: SavePlan, *, user_agent: str | None, cookie_name: str
    ) -> str | None:
        """Carry out `plan`. Returns the cookie value to send, or None if the session is gone."""
        ...


class _ServerBackend:
    """Adapts a `SessionStore`: the cookie carries the id, the store keeps SHA-256 of it."""

    __slots__ = ("store",)

    def __init__(self, store: SessionStore) -> None:
        self.store = store

    async def open(self, cookie_value: str, *, now: float) -> Session | None:
        if not is_well_formed_session_id(cookie_value):
            return None  # garbage never costs a round trip
        key_hash = hash_session_id(cookie_value)
        record = await self.store.load(key_hash, now=now)
        if record is None:
            return None
        return Session.restore(
            cookie_value,
            record.data,
            user_id=record.user_id,
            created_at=record.created_at,
            last_seen=record.last_seen,
            expires_at=record.expires_at,
            key_hash=key_hash,
        )

    async def commit(
        self, session: Session, plan: SavePlan, *, user_agent: str | None, cookie_name: str
    ) -> str | None:
        key = plan.key_hash
        assert key is not None
        if plan.action == "create":
            record = SessionRecord(
                data=dict(plan.set_items),
                user_id=plan.user_id,
                created_at=plan.created_at,
                last_seen=plan.last_seen,
                expires_at=plan.expires_at,
                user_agent=user_agent,
            )
            await self.store.create(key, record, replaces=plan.replaces)
            return session.session_id
        if plan.action == "delete":
            await self.store.delete(key)
            return None
        alive = await self.store.update(
            key,
            set_items=plan.set_items,
            delete_keys=plan.delete_keys,
            last_seen=plan.last_seen,
            expires_at=plan.expires_at,
            now=plan.now,
        )
        return session.session_id if alive else None


def _with_vary_cookie(message: Message) -> Message:
    """`message`, or a copy of it that varies on Cookie (the app's message is never changed)."""
    headers = message.get("headers", ())
    if _has_token(headers, b"vary", b"cookie"):
        return message
    return {**message, "headers": [*headers, (b"vary", b"Cookie")]}


def _has_header(headers: list[tuple[bytes, bytes]], name: bytes) -> bool:
    size = len(name)
    return any(len(key) == size and key.lower() == name for key, _ in headers)


def _has_token(headers: Iterable[tuple[bytes, bytes]], name: bytes, token: bytes) -> bool:
    size = len(name)  # compared first: most headers differ in length, and lower() costs more
    for key, value in headers:
        if len(key) == size and key.lower() == name:
            lowered = value.lower()
            if token in lowered or lowered.strip() == b"*":
                return True
    return False


class SessionMiddleware:
    """Server-side (or signed-cookie) sessions for any ASGI app.

    Args:
        app: the ASGI application to wrap (put `CSRFMiddleware` inside, not outside).
        store: a `SessionStore` (memory, SQLite, PostgreSQL, Redis) or a `CookieStore`.
        config: cookie and expiry settings; defaults to `SessionConfig()`.
        clock: returns epoch seconds; inject one in tests to exercise expiry.

    Example:
        ```python
        app = SessionMiddleware(CSRFMiddleware(app), SQLiteStore("sessions.db"))
        ```
    """

    def __init__(
        self,
        app: ASGIApp,
        store: SessionStore | CookieStore,
        config: SessionConfig | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        check_layering("session", app)
        self.app = app
        self.store = store
        self.config = config or SessionConfig()
        self.clock = clock
        # Branch once here, never per request.
        if isinstance(store, CookieStore):
            self._backend: SessionBackend = store
        elif isinstance(store, SessionStore):
            self._backend = _ServerBackend(store)
        else:
            raise TypeError(
                f"store must be a SessionStore (see cookieguard.stores.open_store) or a "
                f"CookieStore, not {type(store).__name__}"
            )
        cookie = self.config.cookie
        self._cookie_name = cookie.wire_name
        self._cookie_domain = cookie.domain
        self._api = ApiPaths(self.config.api_prefixes)
        self._cookie_needle = cookie.wire_name.encode("latin-1") + b"="
        self._spec_http = cookie.spec(https=False)
        self._spec_https = cookie.spec(https=True)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind != "http" and kind != "websocket":
            await self.app(scope, receive, send)
            return
        scope[STORE_SCOPE_KEY] = self.store
        scope[COOKIE_DOMAIN_SCOPE_KEY] = self._cookie_domain
        value = find_cookie(scope.get("headers", ()), self._cookie_needle)
        if not value:
            session = Session()
        else:
            try:
                found = await self._backend.open(value, now=self.clock())
            except Exception as exc:  # any store failure: fail closed, never anonymous
                self._log_store_error("load", exc)
                await _unavailable(scope, send, self._api)
                return
            if found is None:
                logger.info(
                    "session cookie %s not adopted: unknown, expired or forged",
                    hash_session_id(value)[:12],
                )
                session = Session(cookie_present=True)
            else:
                session = found
        scope[SCOPE_KEY] = session
        if kind == "websocket":
            await self.app(scope, receive, send)
            return

        replaced = started = False

        async def send_wrapper(message: Message) -> None:
            nonlocal replaced, started
            if replaced:
                return  # our error response already went out; swallow the app's body
            if started:
                await send(message)
                return
            started = True
            if message["type"] == "http.response.start" and not session.untouched:
                try:
                    now = self.clock()
                    plan = session.plan_save(self.config, now, status=message["status"])
                    if plan.action == "none" and plan.cookie == "keep":
                        # Read-only, nothing to touch yet (most logged-in requests): at most
                        # a Vary, and no coroutine for it.
                        if plan.vary:
                            message = _with_vary_cookie(message)
                    else:
                        message = await self._finish(scope, session, message, plan, now)
                except SessionTooLarge as exc:
                    logger.error("session not saved: %s", exc)
                    replaced = True
                    await _too_large(scope, send, self._api)
                    return
                except Exception as exc:
                    self._log_store_error("save", exc)
                    replaced = True
                    await _unavailable(scope, send, self._api)
                    return
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except StoreUnavailable as exc:
            if started or replaced:
                raise  # too late for a 503: the server logs it and drops the connection
            self._log_store_error("request", exc, "a store")
            await _unavailable(scope, send, self._api, code="store_unavailable")

    async def _finish(
        self, scope: Scope, session: Session, message: Message, plan: SavePlan, now: float
    ) -> Message:
        """Carry out a plan that saves or changes the cookie; a copy of `message` with the
        session's headers added.

        Untouched sessions (the anonymous fast path) and read-only ones never get here.
        The app's message is never modified: an app may send the same dict every time.
        """
        headers = list(message.get("headers", ()))
        https = scope.get("scheme") in ("https", "wss")
        spec = self._spec_https if https else self._spec_http
        value: str | None = None
        if plan.action == "touch":
            try:
                value = await self._commit(scope, session, plan)
            except Exception as exc:  # a touch only slides expiry: never fail a read for it
                logger.warning("session touch skipped: store error (%s)", type(exc).__name__)
        elif plan.action != "none":
            value = await self._commit(scope, session, plan)
        if plan.action != "none":
            if value is not None and plan.cookie == "set":
                cookie = render_set_cookie(spec, value, max_age=plan.max_age, now=now)
                headers.append((b"set-cookie", cookie.encode("latin-1")))
                if not _has_header(headers, b"cache-control"):
                    headers.append((b"cache-control", b"no-store"))
            elif value is None and plan.action != "touch":
                # Deleted meanwhile (logout in another tab), or flushed: clear the cookie.
                # A failed touch sends nothing: the browser may already hold a newer cookie
                # (a login in another tab cycled the id) that a deletion would destroy.
                headers.append((b"set-cookie", render_deletion(spec).encode("latin-1")))
        elif plan.cookie == "delete":
            headers.append((b"set-cookie", render_deletion(spec).encode("latin-1")))
        if plan.vary and not _has_token(headers, b"vary", b"cookie"):
            headers.append((b"vary", b"Cookie"))
        return {**message, "headers": headers}

    async def _commit(self, scope: Scope, session: Session, plan: SavePlan) -> str | None:
        user_agent = _user_agent(scope) if plan.action == "create" else None
        for _ in range(_KEY_COLLISION_RETRIES):
            try:
                value = await self._backend.commit(
                    session, plan, user_agent=user_agent, cookie_name=self._cookie_name
                )
            except KeyCollision:
                session.cycle_key()  # a 1-in-2**165 event: draw another id and plan again
                plan = session.plan_save(self.config, plan.now)
                continue
            if value is None and plan.action in ("update", "touch"):
                logger.info(
                    "session %s ended during the request; not re-created",
                    (plan.key_hash or "")[:12],
                )
            return value
        raise StoreUnavailable("could not allocate a fresh session id")

    def _log_store_error(self, stage: str, exc: Exception, what: str = "session store") -> None:
        logger.error(
            "%s unavailable at %s (%s): answering 503",
            what,
            stage,
            type(exc).__name__,
            exc_info=not isinstance(exc, StoreUnavailable),
        )


def _user_agent(scope: Scope) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == b"user-agent":
            return bytes(value[:USER_AGENT_LIMIT]).decode("latin-1")
    return None


async def _unavailable(
    scope: Scope, send: Send, api: ApiPaths, *, code: str = "session_store_unavailable"
) -> None:
    if scope["type"] == "http":
        what = "session store" if code == "session_store_unavailable" else "storage backend"
        await send_error(
            send,
            503,
            f"The {what} is unavailable. Please try again in a moment.",
            as_json=api.wants_json(scope, accept_header(scope)),
            code=code,
            headers=[(b"retry-after", b"5")],
        )
    else:  # refuse the websocket handshake: "try again later"
        await send({"type": "websocket.close", "code": 1013})


async def _too_large(scope: Scope, send: Send, api: ApiPaths) -> None:
    await send_error(
        send,
        507,
        "This session holds more data than a cookie can carry, so it was not saved.",
        as_json=api.wants_json(scope, accept_header(scope)),
        code="session_too_large",
    )


def get_session(conn: Connection) -> Session:
    """The current request's `Session` (also at ``request.session`` in Starlette/FastAPI).

    Raises:
        RuntimeError: `SessionMiddleware` does not wrap this app.
    """
    session: Any = scope_of(conn).get(SCOPE_KEY)
    if not isinstance(session, Session):
        raise RuntimeError("no session here: wrap the app in cookieguard's SessionMiddleware")
    return session


def get_session_store(conn: Connection) -> SessionStore | CookieStore:
    """The store behind the current request's session (for listing or revoking sessions).

    Raises:
        RuntimeError: `SessionMiddleware` does not wrap this app.
    """
    store: Any = scope_of(conn).get(STORE_SCOPE_KEY)
    if store is None:
        raise RuntimeError("no session store here: wrap the app in SessionMiddleware")
    return store  # type: ignore[no-any-return]
