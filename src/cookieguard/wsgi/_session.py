"""Sessions for WSGI: load before the app, save when the app calls ``start_response``.

`SessionIO` is the whole session cycle with no server in it: find the cookie, load through a
`SyncSessionBackend`, and at response start carry out `Session.plan_save`'s outcome,
answering with the headers to add. `WSGISessionMiddleware` (any WSGI app) and the Flask
extension's session interface both use it, so they follow the ASGI driver's rules exactly:

* no cookie: nothing is loaded, nothing is created until the app writes data;
* a cookie: one store round trip; an unknown, expired or forged id is never adopted;
* the store is down for a request that carries a cookie: 503, never anonymous, never 500;
* at ``start_response``: the outcome, ``Set-Cookie`` (with ``Cache-Control: no-store``
  unless the app set one) and ``Vary: Cookie``; a store failure there turns the response
  into a 503 before any byte was sent, a session too big for its cookie into a 507. Nothing
  is saved for 5xx responses.
* a `StoreUnavailable` raised by the app (logout, the user re-check) before the response
  started: 503.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from cookieguard.asgi.session import (
    ADDRESS_MODE_SCOPE_KEY,
    BACKEND_SCOPE_KEY,
    COOKIE_DOMAIN_SCOPE_KEY,
    TOO_LARGE_MESSAGE,
    UNAVAILABLE_MESSAGE,
    _client_address,
    _user_agent,
)
from cookieguard.asgi.session import SCOPE_KEY as SESSION_SCOPE_KEY
from cookieguard.backends._base import SyncSessionBackend, sync_backend_for
from cookieguard.config import SessionConfig
from cookieguard.core._vary import vary_on_cookie
from cookieguard.core.cookies import find_cookie
from cookieguard.core.session import Session
from cookieguard.core.session_plan import NOTHING, NOTHING_VARY, Create
from cookieguard.core.tokens import hash_session_id
from cookieguard.errors import MiddlewareMissing, SessionTooLarge, StoreUnavailable
from cookieguard.stores.base import SyncSessionStore
from cookieguard.wsgi._responses import ErrorResponse, Refusal, WSGIApp
from cookieguard.wsgi._scope import WSGIEnviron, environ_of, scope_for, scope_of_request

__all__ = [
    "BACKEND_KEY",
    "SessionIO",
    "SessionSave",
    "WSGISessionMiddleware",
    "get_session",
    "get_session_store",
]

logger = logging.getLogger("cookieguard.sessions")

BACKEND_KEY = "cookieguard.sync_session_backend"
"""Where the request's `SyncSessionBackend` lives in the environ."""


@dataclass(frozen=True, slots=True)
class SessionSave:
    """What a response must carry after the save: a Set-Cookie value, and Vary: Cookie."""

    set_cookie: str | None
    vary: bool

    def apply(self, headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """`headers` (WSGI's list of str pairs) with the session's headers added."""
        names = {name.lower() for name, _ in headers}
        added = list(headers)
        if self.set_cookie is not None:
            added.append(("Set-Cookie", self.set_cookie))
            # A session cookie (or its deletion) must never be replayed by a shared cache.
            if "cache-control" not in names:
                added.append(("Cache-Control", "no-store"))
        if self.vary:
            return vary_on_cookie(added, text=True) or added
        return added


NO_SAVE = SessionSave(None, vary=False)
VARY_ONLY = SessionSave(None, vary=True)


def log_store_error(stage: str, exc: Exception, what: str = "session store") -> None:
    """One log line for a store failure that is answered 503 (never the id or the data)."""
    logger.error(
        "%s unavailable at %s (%s): answering 503",
        what,
        stage,
        type(exc).__name__,
        exc_info=not isinstance(exc, StoreUnavailable),
    )


class SessionIO:
    """Load and save sessions for one configuration (see the module docstring).

    Args:
        store: a `SyncSessionStore` (`open_sync_store`), or a `SignedCookieBackend` /
            `SyncSessionBackend`.
        config: cookie and expiry settings.
    """

    __slots__ = ("_needle", "_spec_http", "_spec_https", "backend", "config")

    def __init__(self, store: object, config: SessionConfig | None = None) -> None:
        self.backend: SyncSessionBackend = sync_backend_for(store)
        config = config or SessionConfig()
        self.config: SessionConfig = config
        self._needle = config.cookie.wire_name.encode("latin-1") + b"="
        self._spec_http = config.cookie.spec(https=False)
        self._spec_https = config.cookie.spec(https=True)

    def bind(self, environ: WSGIEnviron) -> dict[str, Any]:
        """Put the backend where the shared code and the sync helpers find it."""
        scope = scope_for(environ)
        scope[BACKEND_SCOPE_KEY] = self.backend.inline
        scope[COOKIE_DOMAIN_SCOPE_KEY] = self.config.cookie.domain
        if self.config.client_address != "truncated":
            scope[ADDRESS_MODE_SCOPE_KEY] = self.config.client_address
        environ[BACKEND_KEY] = self.backend
        return scope

    def open(self, environ: WSGIEnviron, now: float) -> Session:
        """The request's session, bound into `environ`.

        Raises:
            Exception: whatever the store raised (answer 503: `log_store_error`).
        """
        scope = self.bind(environ)
        value = find_cookie(scope["headers"], self._needle)
        if not value:
            session = Session(now)
        else:
            found = self.backend.load(value, now=now)
            if found is None:
                logger.info(
                    "session cookie %s not adopted: unknown, expired or forged",
                    hash_session_id(value)[:12],
                )
                session = Session(now, cookie_present=True)
            else:
                session = found
        adopt(environ, session)
        return session

    def save(self, environ: WSGIEnviron, session: Session, now: float, status: int) -> SessionSave:
        """Carry out the session's outcome for a response with `status`.

        Raises:
            SessionTooLarge: answer 507 (signed cookies).
            Exception: the store failed (answer 503).
        """
        if session.untouched:
            return NO_SAVE
        outcome = session.plan_save(self.config, now, status=status)
        if outcome is NOTHING_VARY:  # read-only (most logged-in requests)
            return VARY_ONLY
        if outcome is NOTHING:
            return NO_SAVE
        https = environ.get("wsgi.url_scheme") == "https"
        agent = address = None
        if isinstance(outcome, Create):  # what a new record keeps: the ASGI driver's rules
            scope = scope_for(environ)
            agent, address = _user_agent(scope), _client_address(scope, self.config.client_address)
        value = self.backend.commit(
            session,
            outcome,
            cookie=self._spec_https if https else self._spec_http,
            user_agent=agent,
            client_address=address,
        )
        return SessionSave(value, outcome.vary)


def adopt(environ: WSGIEnviron, session: Session) -> None:
    """Make `session` the request's session, for the shared code and the helpers."""
    scope_for(environ)[SESSION_SCOPE_KEY] = session


def unavailable(api: ErrorResponse, environ: WSGIEnviron, *, store: bool = True) -> Refusal:
    """The 503 page or JSON for a store that is down."""
    what = "session store" if store else "storage backend"
    return api.make(
        environ,
        503,
        UNAVAILABLE_MESSAGE.format(what=what),
        code="session_store_unavailable" if store else "store_unavailable",
        headers=[("Retry-After", "5")],
    )


def too_large(api: ErrorResponse, environ: WSGIEnviron) -> Refusal:
    """The 507 for a session that does not fit in its cookie."""
    return api.make(environ, 507, TOO_LARGE_MESSAGE, code="session_too_large")


class WSGISessionMiddleware:
    """Server-side (or signed-cookie) sessions for any WSGI app.

    Args:
        app: the WSGI app (put `WSGICSRFMiddleware` inside, not outside).
        store: a `SyncSessionStore` (see `open_sync_store`), or a `SignedCookieBackend`.
        config: cookie and expiry settings.
        clock: epoch seconds, read once per request.
    """

    def __init__(
        self,
        app: WSGIApp,
        store: SyncSessionStore | object,
        config: SessionConfig | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.app = app
        self.store = store
        self.io: SessionIO = SessionIO(store, config)
        self.config: SessionConfig = self.io.config
        self.clock = clock
        self._errors = ErrorResponse(self.config.api_prefixes)

    def __call__(self, environ: WSGIEnviron, start_response: Callable[..., Any]) -> Iterable[bytes]:
        now = self.clock()
        try:
            session = self.io.open(environ, now)
        except Exception as exc:  # any store failure: fail closed, never anonymous
            log_store_error("load", exc)
            return unavailable(self._errors, environ).send(start_response)
        return _SavingResponse(self, environ, start_response, session, now)


class _SavingResponse:
    """The app's response with the session saved at ``start_response`` (see the module)."""

    def __init__(
        self,
        middleware: WSGISessionMiddleware,
        environ: WSGIEnviron,
        start_response: Callable[..., Any],
        session: Session,
        now: float,
    ) -> None:
        self._mw = middleware
        self._environ = environ
        self._start = start_response
        self._session = session
        self._now = now
        self._started = False
        self._error: Refusal | None = None
        self._result: Iterable[bytes] | None = None
        try:
            self._result = middleware.app(environ, self._start_response)
        except StoreUnavailable as exc:
            self._fail_before_start(exc)

    def _fail_before_start(self, exc: StoreUnavailable) -> None:
        if self._started:
            raise exc
        log_store_error("request", exc, "a store")
        self._error = unavailable(self._mw._errors, self._environ, store=False)
        self._error.start(self._start)
        self._started = True

    def _start_response(
        self, status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Callable[[bytes], Any]:
        if self._error is not None:
            return _discard
        errors = self._mw._errors
        try:
            saved = self._mw.io.save(self._environ, self._session, self._now, int(status[:3]))
        except SessionTooLarge as exc:
            logger.error("session not saved: %s", exc)
            self._error = too_large(errors, self._environ)
        except Exception as exc:
            log_store_error("save", exc)
            self._error = unavailable(errors, self._environ)
        if self._error is not None:
            self._started = True
            self._error.start(self._start, exc_info)
            return _discard
        self._started = True
        return self._start(status, saved.apply(headers), exc_info)  # type: ignore[no-any-return]

    def __iter__(self) -> Iterator[bytes]:
        if self._error is None and self._result is not None:
            iterator = iter(self._result)
            while True:
                try:
                    chunk = next(iterator)
                except StopIteration:
                    break
                except StoreUnavailable as exc:
                    self._fail_before_start(exc)
                    break
                if self._error is not None:
                    break  # our error response replaces the app's body
                yield chunk
        if self._error is not None:
            yield self._error.body

    def close(self) -> None:
        close = getattr(self._result, "close", None)
        if close is not None:
            close()


def _discard(data: bytes) -> None:
    """The ``write`` callable once an error response replaced the app's."""


def get_session(request: object) -> Session:
    """The current request's `Session` (a dict that saves itself).

    Args:
        request: a Werkzeug/Flask request (or ``flask.request``), or the WSGI environ.

    Raises:
        MiddlewareMissing: no cookieguard session layer runs for this request.
    """
    session = scope_of_request(request).get(SESSION_SCOPE_KEY)
    if not isinstance(session, Session):
        raise MiddlewareMissing("no session here: wrap the app in cookieguard's WSGI sessions")
    return session


def get_session_store(request: object) -> SyncSessionStore | None:
    """The blocking store behind the request's session (None with signed cookies).

    Raises:
        MiddlewareMissing: no cookieguard session layer runs for this request.
    """
    backend = environ_of(request).get(BACKEND_KEY)
    if backend is None:
        raise MiddlewareMissing(
            "no session backend here: wrap the app in cookieguard's WSGI sessions"
        )
    store: SyncSessionStore | None = backend.store
    return store
