"""CSRF protection for WSGI: the core's decision, carried out with the ASGI driver's parts.

`CSRFCheck` hands `cookieguard.core.csrf.decide` the request's facts from the environ and
carries the answer out: the form body is read only on `NeedToken` (bounded, then replayed
through ``wsgi.input``: `cookieguard.wsgi._body`), a `Reject` becomes Django's 403 page (its
reason logged, shown in debug, and emitted as a `CSRF_REFUSED` security event), and the
response gets the ``csrftoken`` cookie when the secret is new or rotated and ``Vary:
Cookie`` whenever it carries a token. The per-request
state is the ASGI driver's `CSRFState`, the policy, cookie rendering and log format are the
ASGI `CSRFMiddleware`'s own, so no rule exists twice. `WSGICSRFMiddleware` wraps any WSGI app
with it; the Flask extension calls it from ``before_request``.

The state sits at ``environ[CSRF_STATE_KEY]`` (so `login` and `logout` rotate the secret)
and in the request's scope, where `csrf_input` and `get_csrf_token` find it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from typing import Any

from cookieguard._inline import run_inline
from cookieguard.asgi._csrf_state import NO_SESSION_MESSAGE, STATE_KEY, CSRFState
from cookieguard.asgi._csrf_state import csrf_header_name as _csrf_header_name
from cookieguard.asgi._csrf_state import csrf_input as _csrf_input
from cookieguard.asgi._csrf_state import csrf_meta as _csrf_meta
from cookieguard.asgi._csrf_state import get_csrf_token as _get_csrf_token
from cookieguard.asgi._csrf_state import rotate_csrf_token as _rotate_csrf_token
from cookieguard.asgi._security_events import emit_for
from cookieguard.asgi.csrf import _FAILURE_HINT, _FAILURE_MESSAGE, CSRFMiddleware, _log_path
from cookieguard.asgi.session import SCOPE_KEY as SESSION_SCOPE_KEY
from cookieguard.config import CSRFConfig
from cookieguard.core import csrf as core
from cookieguard.core._vary import vary_on_cookie
from cookieguard.csrf_rotation import CSRF_STATE_KEY
from cookieguard.errors import ConfigError, RequestRejected
from cookieguard.events import EventType
from cookieguard.wsgi._body import form_token
from cookieguard.wsgi._responses import ErrorResponse, Refusal, WSGIApp
from cookieguard.wsgi._scope import WSGIEnviron, header, scope_for, scope_of_request

__all__ = [
    "CSRFCheck",
    "WSGICSRFMiddleware",
    "csrf_header_name",
    "csrf_input",
    "csrf_meta",
    "csrf_token_app",
    "csrf_token_payload",
    "get_csrf_token",
    "rotate_csrf_token",
]

logger = logging.getLogger("cookieguard.csrf")


async def _no_app(scope: Any, receive: Any, send: Any) -> None:
    raise AssertionError("never called: only the ASGI middleware's parts are used")


def _host(environ: WSGIEnviron) -> str:
    host = header(environ, "HTTP_HOST")
    if host is not None:
        return host
    name, port = environ.get("SERVER_NAME", ""), str(environ.get("SERVER_PORT", ""))
    default = "443" if environ.get("wsgi.url_scheme") == "https" else "80"
    return name if not port or port == default else f"{name}:{port}"


class CSRFCheck:
    """The CSRF cycle of one configuration, for any WSGI front door.

    Args:
        config: settings; Django's names and lifetimes by default.
    """

    __slots__ = ("_asgi", "_errors", "_header_key", "config")

    def __init__(self, config: CSRFConfig | None = None) -> None:
        self._asgi = CSRFMiddleware(_no_app, config)
        self.config: CSRFConfig = self._asgi.config
        self._errors = ErrorResponse(self.config.api_prefixes)
        self._header_key = "HTTP_" + self.config.header_name.upper().replace("-", "_")

    def begin(self, environ: WSGIEnviron) -> CSRFState:
        """The request's CSRF state, bound where helpers and `login`/`logout` find it.

        Raises:
            ConfigError: ``use_session=True`` without a session layer outside.
        """
        scope = scope_for(environ)
        headers = scope["headers"]
        needle = self._asgi._cookie_needle
        if self.config.use_session:
            session = scope.get(SESSION_SCOPE_KEY)
            if session is None:
                raise ConfigError(NO_SESSION_MESSAGE)
            state = CSRFState(self.config, needle, headers, session)
        else:
            state = CSRFState(self.config, needle, headers)
        scope[STATE_KEY] = state
        environ[CSRF_STATE_KEY] = state
        return state

    def check(
        self,
        environ: WSGIEnviron,
        state: CSRFState,
        *,
        exempt: Callable[[], bool] | None = None,
    ) -> Refusal | core.Reject | None:
        """None if the request may proceed; else the refusal to answer with.

        A `Reject` (403) comes back as itself, so a framework can raise its own error; a
        body that cannot be read comes back as a 400/413 `Refusal`. `exempt` is asked only on
        the way to a refusal (the route's exemption, if the front door knows routes).
        """
        method = environ.get("REQUEST_METHOD", "GET").upper()
        if method in core.SAFE_METHODS:
            return None
        scope = scope_for(environ)
        decision = core.decide(
            self._asgi._policy_for(scope) if self.config.use_session else self._asgi.policy,
            method=method,
            path=_route_path(scope),
            scheme=environ.get("wsgi.url_scheme", "http"),
            host=_host(environ),
            secret=state,
            origin=header(environ, "HTTP_ORIGIN"),
            referer=header(environ, "HTTP_REFERER"),
            sec_fetch_site=header(environ, "HTTP_SEC_FETCH_SITE"),
            header_token=header(environ, self._header_key),
            content_type=environ.get("CONTENT_TYPE") or None,
        )
        if isinstance(decision, core.NeedToken):
            try:
                token = form_token(
                    environ, kind=decision.kind, field=decision.field, max_size=decision.max_size
                )
            except RequestRejected as exc:
                if exempt is not None and exempt():
                    return None
                return self._bad_body(environ, state, exc)
            decision = core.decide_form_token(decision, token)
        if isinstance(decision, core.Accept) or (exempt is not None and exempt()):
            return None
        logger.warning("Forbidden (%s): %s", decision.reason, _log_path(scope))
        run_inline(
            emit_for(scope, EventType.CSRF_REFUSED, reason=decision.reason, path=_log_path(scope))
        )
        return decision

    def refusal(self, environ: WSGIEnviron, state: CSRFState, reject: core.Reject) -> Refusal:
        """Django's 403 page (or JSON) for `reject`; the reason only in debug."""
        return self._errors.make(
            environ,
            403,
            _FAILURE_MESSAGE,
            code="csrf_failed",
            hint=_FAILURE_HINT,
            detail=reject.reason if self.config.debug else None,
            headers=self.headers(environ, state, []),
        )

    def _bad_body(self, environ: WSGIEnviron, state: CSRFState, exc: RequestRejected) -> Refusal:
        logger.warning("Bad request body (%s): %s", exc.reason, _log_path(scope_for(environ)))
        large = exc.status_code == 413
        return self._errors.make(
            environ,
            exc.status_code,
            "The request body is too large." if large else "The request body could not be read.",
            code="body_too_large" if large else "bad_request",
            detail=exc.reason if self.config.debug else None,
            headers=self.headers(environ, state, []),
        )

    def headers(
        self, environ: WSGIEnviron, state: CSRFState, headers: list[tuple[str, str]]
    ) -> list[tuple[str, str]]:
        """`headers` plus the CSRF cookie (when pending) and ``Vary: Cookie`` (when needed)."""
        if not (state.cookie_pending or state.token_issued):
            return headers
        added = list(headers)
        if state.cookie_pending:
            added.append(("Set-Cookie", self.cookie_value(environ, state)))
        return vary_on_cookie(added, text=True) or added

    def cookie_value(self, environ: WSGIEnviron, state: CSRFState) -> str:
        """The Set-Cookie value of the pending secret (only while `state.cookie_pending`)."""
        _, value = self._asgi._set_cookie(scope_for(environ), state)
        return value.decode("latin-1")


def _route_path(scope: dict[str, Any]) -> str:
    from cookieguard.asgi._routes import route_path

    return route_path(scope)


class WSGICSRFMiddleware:
    """Django-compatible CSRF protection, plus fetch metadata, for any WSGI app.

    Args:
        app: the WSGI app to protect.
        config: settings (``exempt_paths`` exempts exact paths, e.g. a webhook).

    With sessions, the session middleware must be the outer one:
    ``WSGISessionMiddleware(WSGICSRFMiddleware(app), store)``.
    """

    def __init__(self, app: WSGIApp, config: CSRFConfig | None = None) -> None:
        self.app = app
        self.check: CSRFCheck = CSRFCheck(config)
        self.config: CSRFConfig = self.check.config

    def __call__(self, environ: WSGIEnviron, start_response: Callable[..., Any]) -> Iterable[bytes]:
        check = self.check
        state = check.begin(environ)
        refused = check.check(environ, state)
        if isinstance(refused, core.Reject):
            refused = check.refusal(environ, state, refused)
        if refused is not None:
            return refused.send(start_response)

        def start_with_cookie(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Any:
            return start_response(status, check.headers(environ, state, headers), exc_info)

        return self.app(environ, start_with_cookie)


def get_csrf_token(request: object) -> str:
    """A fresh masked token for forms or the ``X-CSRFToken`` header (see the ASGI twin).

    Args:
        request: a Werkzeug/Flask request (or ``flask.request``), or the environ.
    """
    return _get_csrf_token(scope_of_request(request))


def csrf_input(request: object) -> str:
    """A hidden ``<input>`` carrying a fresh token, ready to paste into an HTML form."""
    return _csrf_input(scope_of_request(request))


def rotate_csrf_token(request: object) -> None:
    """Give the client a new secret; forms rendered earlier stop working."""
    _rotate_csrf_token(scope_of_request(request))


def csrf_meta(request: object) -> str:
    """The ``csrf-token`` and ``csrf-header`` ``<meta>`` tags for HTMX and other scripts
    (see the ASGI twin, `cookieguard.asgi._csrf_state.csrf_meta`)."""
    return _csrf_meta(scope_of_request(request))


def csrf_header_name(request: object) -> str:
    """The header the CSRF check reads a token from (`CSRFConfig.header_name`)."""
    return _csrf_header_name(scope_of_request(request))


def csrf_token_payload(request: object) -> bytes:
    """``{"csrfToken": ..., "headerName": ...}`` as JSON, for a single-page app.

    A fresh masked token; asking for it sets the CSRF cookie when the browser has none, so
    the token works for the next unsafe request. Serve it only on GET, with
    ``Cache-Control: no-store`` (`csrf_token_app` and the Flask view do).
    """
    token = get_csrf_token(request)
    return json.dumps({"csrfToken": token, "headerName": csrf_header_name(request)}).encode()


def csrf_token_app(environ: WSGIEnviron, start_response: Callable[..., Any]) -> Iterable[bytes]:
    """A WSGI app answering GET with `csrf_token_payload` (405 for other methods).

    Mount it inside the cookieguard layers, e.g. at ``/csrf``. No login is needed: a GET
    cannot be forged into anything harmful and another site cannot read the answer.
    """
    if environ.get("REQUEST_METHOD", "GET").upper() not in ("GET", "HEAD"):
        start_response("405 Method Not Allowed", [("Allow", "GET, HEAD"), ("Content-Length", "0")])
        return [b""]
    body = csrf_token_payload(environ)
    headers = [
        ("Content-Type", "application/json"),
        ("Content-Length", str(len(body))),
        ("Cache-Control", "no-store"),
    ]
    start_response("200 OK", headers)
    return [body]
