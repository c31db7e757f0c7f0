"""``flask.session`` as cookieguard's server-side session: a Flask `SessionInterface`.

`CookieGuardSessionInterface` opens and saves through the WSGI front door's `SessionIO`, so a
Flask app's sessions follow every rule of the other front doors (never adopt an unknown id,
save only the delta, outcome decided in core, Set-Cookie plus ``Vary: Cookie``, nothing
saved for a 5xx). The session object is cookieguard's `Session` (a dict with change
tracking) with Flask's ``permanent`` and ``new`` on top: `FlaskSession`.

Failures answer like the other front doors: a store that is down when the session is loaded
makes the request a 503 (the interface hands Flask its null session and the extension's first
``before_request`` refuses the request); a failure while saving turns the response into a
503 (or 507 for a signed cookie that would be too large) before any byte is sent.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from flask import Flask, Request, Response
from flask import request as current_request
from flask.sessions import SessionInterface, SessionMixin

from cookieguard.core._vary import vary_on_cookie
from cookieguard.core.session import Session
from cookieguard.errors import SessionTooLarge
from cookieguard.wsgi._responses import ErrorResponse, Refusal
from cookieguard.wsgi._scope import WSGIEnviron
from cookieguard.wsgi._session import SessionIO, log_store_error, too_large, unavailable

__all__ = [
    "UNAVAILABLE_KEY",
    "CookieGuardSessionInterface",
    "FlaskSession",
    "refusal_response",
    "vary_on_cookie_in",
]

logger = logging.getLogger("cookieguard.sessions")

UNAVAILABLE_KEY = "cookieguard.session_unavailable"
"""Set in the environ when the store could not load the request's session (answer 503)."""
_NOW_KEY = "cookieguard.session_now"


class FlaskSession(Session):
    """cookieguard's `Session` with Flask's session attributes.

    ``permanent`` (default True) keeps the cookie for the idle timeout; False makes it a
    browser-session cookie (``set_expiry(0)``). ``new`` is True until the session is stored.
    """

    __slots__ = ()

    @property
    def permanent(self) -> bool:
        """False for a cookie that ends with the browser."""
        return self.expiry != 0

    @permanent.setter
    def permanent(self, value: bool) -> None:
        self.set_expiry(None if value else 0)

    @property
    def new(self) -> bool:
        """No record exists yet for this session."""
        return not self.is_stored


def refusal_response(refusal: Refusal) -> Response:
    """A Flask response carrying a cookieguard error page (403/400/413/503/507)."""
    response = Response(refusal.body, status=refusal.status)
    response.headers.clear()
    for name, value in refusal.headers:
        response.headers.add(name, value)
    return response


class CookieGuardSessionInterface(SessionInterface):
    """Flask's session interface over a cookieguard store (see the module docstring).

    Args:
        io: the session cycle (store and configuration).
        clock: epoch seconds, read once per request.
        before_save: called with the environ and the response before every save (the
            extension adds its CSRF and remember-me cookies there).
    """

    def __init__(
        self,
        io: SessionIO,
        *,
        clock: Callable[[], float] = time.time,
        before_save: Callable[[WSGIEnviron, Response], None] | None = None,
    ) -> None:
        self.io = io
        self.clock = clock
        self._before_save = before_save
        self._errors = ErrorResponse(io.config.api_prefixes)

    def open_session(self, app: Flask, request: Request) -> SessionMixin | None:
        environ = request.environ
        now = environ[_NOW_KEY] = self.clock()
        try:
            session = self.io.open(environ, now)
        except Exception as exc:  # fail closed: the extension answers 503
            log_store_error("load", exc)
            environ[UNAVAILABLE_KEY] = True
            return None  # Flask's null session; the request never reaches the view
        # Same slots, one more layer of properties: the backend made a plain `Session`.
        session.__class__ = FlaskSession
        result: Any = session
        return result  # type: ignore[no-any-return]

    def is_null_session(self, obj: object) -> bool:
        # Ours never is; asked on every response, and Flask's isinstance test of its null
        # session class goes through the ABC machinery.
        return type(obj) is not FlaskSession and super().is_null_session(obj)

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        environ = current_request.environ
        if self._before_save is not None:
            self._before_save(environ, response)
        if not isinstance(session, Session) or environ.get(UNAVAILABLE_KEY):
            return
        try:
            saved = self.io.save(environ, session, environ[_NOW_KEY], response.status_code)
        except SessionTooLarge as exc:
            logger.error("session not saved: %s", exc)
            _replace(response, too_large(self._errors, environ))
            return
        except Exception as exc:
            log_store_error("save", exc)
            _replace(response, unavailable(self._errors, environ))
            return
        if saved.set_cookie is not None:
            response.headers.add("Set-Cookie", saved.set_cookie)
            if "Cache-Control" not in response.headers:
                response.headers["Cache-Control"] = "no-store"
        if saved.vary:
            vary_on_cookie_in(response)


def vary_on_cookie_in(response: Response) -> None:
    """Make `response` vary on Cookie by `vary_on_cookie`'s rule (an app's own ``Vary`` is
    extended; one naming Cookie, or ``*``, is kept), in place.

    Not Werkzeug's ``response.vary.add``: that parses a `HeaderSet` and raises a `KeyError`
    inside on every response without a ``Vary``, about a dozen Python calls per response.
    """
    headers = response.headers
    current = list(headers)
    merged = vary_on_cookie(current, text=True)
    if merged is None:
        return
    if len(merged) > len(current):
        headers.add(*merged[-1])
        return
    for index, pair in enumerate(merged):
        if pair is not current[index]:
            headers[index] = pair  # the first Vary, extended
            return


def _replace(response: Response, refusal: Refusal) -> None:
    """Turn `response` (not yet sent) into `refusal`, dropping the app's headers and body."""
    response.status_code = refusal.status
    response.headers.clear()
    for name, value in refusal.headers:
        response.headers.add(name, value)
    response.set_data(refusal.body)
