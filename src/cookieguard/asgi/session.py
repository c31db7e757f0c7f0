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
from collections.abc import Callable
from typing import Any

from cookieguard.asgi._layering import check_layering
from cookieguard.asgi._responses import ApiPaths, RefusalPage, accept_header, send_error
from cookieguard.asgi._types import ASGIApp, Connection, Message, Receive, Scope, Send, scope_of
from cookieguard.backends._base import SessionBackend, backend_for
from cookieguard.config import SessionConfig
from cookieguard.core._client_address import keep_address
from cookieguard.core._vary import vary_on_cookie
from cookieguard.core.cookies import find_cookie
from cookieguard.core.session import Session
from cookieguard.core.session_plan import NOTHING, NOTHING_VARY, Create, SaveOutcome
from cookieguard.core.tokens import hash_session_id
from cookieguard.errors import MiddlewareMissing, SessionTooLarge, StoreUnavailable
from cookieguard.stores.base import SessionStore

__all__ = ["SessionMiddleware", "get_session", "get_session_backend", "get_session_store"]

_log = logging.getLogger("cookieguard.sessions")

SCOPE_KEY = "session"
BACKEND_SCOPE_KEY = "cookieguard.session_backend"
COOKIE_DOMAIN_SCOPE_KEY = "cookieguard.session_cookie_domain"
ADDRESS_MODE_SCOPE_KEY = "cookieguard.client_address_mode"
"""`SessionConfig.client_address`, on the scope only when not the default ("truncated")."""
"""The session cookie's Domain (or None), for ``CSRFConfig(use_session=True)``'s Referer check."""
USER_AGENT_LIMIT = 256
UNAVAILABLE_MESSAGE = "The {what} is unavailable. Please try again in a moment."
"""The 503 text (``what``: "session store" or "storage backend"), shared by the front doors."""
TOO_LARGE_MESSAGE = "This session holds more data than a cookie can carry, so it was not saved."
"""The 507 text, shared by the front doors."""


def _with_vary_cookie(message: Message) -> Message:
    """`message`, or a copy of it that varies on Cookie (the app's message is never changed)."""
    merged = vary_on_cookie(message.get("headers", ()))
    return message if merged is None else {**message, "headers": merged}


def _has_header(headers: list[tuple[bytes, bytes]], name: bytes) -> bool:
    size = len(name)
    return any(len(key) == size and key.lower() == name for key, _ in headers)


class SessionMiddleware:
    """Server-side (or signed-cookie) sessions for any ASGI app.

    Args:
        app: the ASGI application to wrap (put `CSRFMiddleware` inside, not outside).
        store: a `SessionStore` (memory, SQLite, PostgreSQL, Redis), or a `SessionBackend`
            such as `SignedCookieBackend`.
        config: cookie and expiry settings; defaults to `SessionConfig()`.
        clock: returns epoch seconds, read once per request (the load and the save use the
            same time); inject one in tests to exercise expiry.

    Example:
        ```python
        app = SessionMiddleware(CSRFMiddleware(app), SQLiteStore("sessions.db"))
        ```
    """

    def __init__(
        self,
        app: ASGIApp,
        store: SessionStore | SessionBackend,
        config: SessionConfig | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        check_layering("session", app)
        self.app = app
        self.store = store
        """What was passed in (the app closes it at shutdown)."""
        self.backend: SessionBackend = backend_for(store)
        self.config: SessionConfig = config or SessionConfig()
        self.clock = clock
        cookie = self.config.cookie
        self._cookie_domain = cookie.domain
        self._api = ApiPaths(self.config.api_prefixes)
        self._cookie_needle = cookie.wire_name.encode("latin-1") + b"="
        self._spec_http = cookie.spec(https=False)
        self._spec_https = cookie.spec(https=True)
        self._address_mode = self.config.client_address

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind != "http" and kind != "websocket":
            await self.app(scope, receive, send)
            return
        value, now = self._enter(scope)
        session = await self._load(scope, send, value, now) if value else Session(now)
        if session is None:
            return
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
                sent = await self._on_start(scope, session, message, now, send)
                if sent is None:
                    replaced = True
                    return
                message = sent
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except StoreUnavailable as exc:
            if started or replaced:
                raise  # too late for a 503: the server logs it and drops the connection
            await self._inner_unavailable(scope, send, exc)

    def _enter(self, scope: Scope) -> tuple[str | None, float]:
        """Mark the scope as served by this middleware; the session cookie and the time.

        One clock reading per request: the load and the save are judged at the same time.
        `_enter` and `_load` are shared by `__call__` and `cookieguard.CookieGuard`'s
        single-layer path, so both load (and refuse) exactly alike.
        """
        scope[BACKEND_SCOPE_KEY] = self.backend
        scope[COOKIE_DOMAIN_SCOPE_KEY] = self._cookie_domain
        if self._address_mode != "truncated":
            scope[ADDRESS_MODE_SCOPE_KEY] = self._address_mode
        return find_cookie(scope.get("headers", ()), self._cookie_needle), self.clock()

    async def _load(self, scope: Scope, send: Send, value: str, now: float) -> Session | None:
        """The session behind a cookie (a fresh one if it leads nowhere); None once a 503
        went out instead (the store failed: fail closed, never anonymous)."""
        try:
            found = await self.backend.load(value, now=now)
        except Exception as exc:
            self._log_store_error("load", exc)
            await _unavailable(scope, send, self._api, page=self.config.error_page)
            return None
        if found is None:
            _log.info(
                "session cookie %s not adopted: unknown, expired or forged",
                hash_session_id(value)[:12],
            )
            return Session(now, cookie_present=True)
        return found

    async def _on_start(
        self,
        scope: Scope,
        session: Session,
        message: Message,
        now: float,
        send: Send,
        varied: bool = False,
    ) -> Message | None:
        """The response start with the session's headers, after the planned store work.

        None: the save failed and an error response (503, or 507 for a session too large
        for its cookie) went out through `send` instead; the app's body must be swallowed.
        `varied`: `message` already varies on Cookie (the CSRF step of
        `cookieguard.CookieGuard` added it), so its headers need no second scan.
        """
        try:
            outcome = session.plan_save(self.config, now, status=message["status"])
            if outcome is NOTHING_VARY:  # read-only (most logged-in requests)
                return message if varied else _with_vary_cookie(message)
            if outcome is not NOTHING:
                return await self._finish(scope, session, message, outcome, varied)
            return message
        except SessionTooLarge as exc:
            _log.error("session not saved: %s", exc)
            await _too_large(scope, send, self._api, self.config.error_page)
        except Exception as exc:
            self._log_store_error("save", exc)
            await _unavailable(scope, send, self._api, page=self.config.error_page)
        return None

    async def _inner_unavailable(self, scope: Scope, send: Send, exc: StoreUnavailable) -> None:
        """The 503 for a `StoreUnavailable` raised inside, before the response started."""
        self._log_store_error("request", exc, "a store")
        await _unavailable(
            scope, send, self._api, code="store_unavailable", page=self.config.error_page
        )

    async def _finish(
        self,
        scope: Scope,
        session: Session,
        message: Message,
        outcome: SaveOutcome,
        varied: bool = False,
    ) -> Message:
        """Have the backend carry `outcome` out; a copy of `message` with its headers added.

        The app's message is never modified: an app may send the same dict every time.
        """
        https = scope.get("scheme") in ("https", "wss")
        agent = address = None
        if isinstance(outcome, Create):
            agent, address = _user_agent(scope), _client_address(scope, self._address_mode)
        header = await self.backend.commit(
            session,
            outcome,
            cookie=self._spec_https if https else self._spec_http,
            user_agent=agent,
            client_address=address,
        )
        headers = list(message.get("headers", ()))
        if header is not None:
            headers.append((b"set-cookie", header.encode("latin-1")))
            # A session cookie (or its deletion) must never be replayed by a shared cache.
            if not _has_header(headers, b"cache-control"):
                headers.append((b"cache-control", b"no-store"))
        if outcome.vary and not varied:
            headers = vary_on_cookie(headers) or headers
        return {**message, "headers": headers}

    def _log_store_error(self, stage: str, exc: Exception, what: str = "session store") -> None:
        _log.error(
            "%s unavailable at %s (%s): answering 503",
            what,
            stage,
            type(exc).__name__,
            exc_info=not isinstance(exc, StoreUnavailable),
        )


def _client_address(scope: Scope, mode: str) -> str | None:
    """What a new record keeps of the client's address (see `SessionConfig.client_address`)."""
    client = scope.get("client")
    return keep_address(client[0], mode) if client and mode != "none" else None


def _user_agent(scope: Scope) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == b"user-agent":
            text = bytes(value[:USER_AGENT_LIMIT]).decode("latin-1")
            # Control characters are no browser's: such a value is not kept (nor shown).
            return text if text.isprintable() and text else None
    return None


async def _unavailable(
    scope: Scope,
    send: Send,
    api: ApiPaths,
    *,
    code: str = "session_store_unavailable",
    page: RefusalPage | None = None,
) -> None:
    if scope["type"] == "http":
        what = "session store" if code == "session_store_unavailable" else "storage backend"
        await send_error(
            send,
            503,
            UNAVAILABLE_MESSAGE.format(what=what),
            as_json=api.wants_json(scope, accept_header(scope)),
            code=code,
            headers=[(b"retry-after", b"5")],
            page=page,
        )
    else:  # refuse the websocket handshake: "try again later"
        await send({"type": "websocket.close", "code": 1013})


async def _too_large(
    scope: Scope, send: Send, api: ApiPaths, page: RefusalPage | None = None
) -> None:
    await send_error(
        send,
        507,
        TOO_LARGE_MESSAGE,
        as_json=api.wants_json(scope, accept_header(scope)),
        code="session_too_large",
        page=page,
    )


def get_session(conn: Connection) -> Session:
    """The current request's `Session` (also at ``request.session`` in Starlette/FastAPI).

    Raises:
        MiddlewareMissing: `SessionMiddleware` does not wrap this app.
    """
    # `scope_of(conn)` without its call when the scope is a plain dict holding a `Session`,
    # as `get_user_id` does: endpoints ask on every request.
    scope = getattr(conn, "scope", conn)
    session: Any = scope.get(SCOPE_KEY) if type(scope) is dict else None
    if type(session) is Session:
        return session
    session = scope_of(conn).get(SCOPE_KEY)
    if not isinstance(session, Session):
        raise MiddlewareMissing("no session here: wrap the app in cookieguard's SessionMiddleware")
    return session


def get_session_backend(conn: Connection) -> SessionBackend:
    """The backend behind the current request's session.

    Raises:
        MiddlewareMissing: `SessionMiddleware` does not wrap this app.
    """
    backend: Any = scope_of(conn).get(BACKEND_SCOPE_KEY)
    if backend is None:
        raise MiddlewareMissing("no session backend here: wrap the app in SessionMiddleware")
    return backend  # type: ignore[no-any-return]


def get_session_store(conn: Connection) -> SessionStore | None:
    """The server-side store behind the current request's session (to list or revoke
    sessions); None with signed-cookie sessions, which have no server state.

    Raises:
        MiddlewareMissing: `SessionMiddleware` does not wrap this app.
    """
    return get_session_backend(conn).store
