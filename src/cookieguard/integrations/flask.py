"""cookieguard as a Flask extension: ``CookieGuard(app)`` or ``guard.init_app(app)``.

* ``flask.session`` is cookieguard's server-side session (`CookieGuardSessionInterface`):
  ``session["k"] = v``, ``session.clear()`` (ends the session: record deleted, cookie
  expired), ``session.permanent``. Its save also sends the response's CSRF and remember-me
  cookies (one Flask hook fewer per request), so it must stay the app's interface: one
  set after ``init_app`` fails the first request with a `ConfigError`.
* CSRF is checked in the first ``before_request`` with the core's decisions and Django's
  reasons; a refusal raises `CSRFError` (a Werkzeug ``Forbidden`` with ``.reason``), which an
  app may answer itself with ``@app.errorhandler(CSRFError)``. ``csrf_token()`` and
  ``csrf_input()`` are Jinja globals. ``@guard.exempt`` exempts a view or a blueprint.
* `login`, `logout`, `authenticate` (throttled), `get_user` work on ``flask.request``;
  Flask-Login runs unchanged on top: its ``user_logged_in`` signal gives the session a new id
  and the client a new CSRF secret, ``user_logged_out`` ends the session server-side.
* Account security (`cookieguard.integrations._flask_account`): ``@require_recent_login``
  and `CookieGuard.reauthenticate`, remember-me (``COOKIEGUARD_REMEMBER``), the session
  centre (`CookieGuard.sessions`, `CookieGuard.revoke_session`, ...), ``csrf_meta()`` and
  `csrf_token_view` for HTMX and single-page apps; every event reaches `cookieguard.events`.

Settings come from ``app.config``: ``SECRET_KEY`` (and ``SECRET_KEY_FALLBACKS``, which keep
verifying) signs the auth hash, and every cookieguard setting has the ``COOKIEGUARD_``
prefix (see `SETTINGS`); an unknown ``COOKIEGUARD_*`` key is a `ConfigError`, not a typo
that silently weakens protection.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Blueprint, Flask, Response, abort, current_app, request
from markupsafe import Markup
from werkzeug.exceptions import Forbidden

from cookieguard._inline import run_inline
from cookieguard.asgi._csrf_state import CSRFState
from cookieguard.asgi._routes import EXEMPT_ATTRIBUTE, is_marked
from cookieguard.auth._revalidate import end_session
from cookieguard.auth._users import User
from cookieguard.csrf_rotation import CSRF_STATE_KEY, rotate_csrf_secret
from cookieguard.errors import ConfigError, LoginThrottled, MiddlewareMissing, StoreUnavailable
from cookieguard.integrations._flask_account import (
    EXTENSION,
    AccountMixin,
    csrf_token_view,
    require_recent_login,
)
from cookieguard.integrations._flask_session import (
    UNAVAILABLE_KEY,
    CookieGuardSessionInterface,
    FlaskSession,
    refusal_response,
    vary_on_cookie_in,
)
from cookieguard.integrations._flask_settings import SETTINGS, Settings, read_settings
from cookieguard.wsgi import _auth as wsgi_auth
from cookieguard.wsgi import _remember_me as wsgi_remember
from cookieguard.wsgi._auth import SyncLoginThrottle, WSGIAuthMiddleware
from cookieguard.wsgi._csrf import CSRFCheck, csrf_input, csrf_meta, get_csrf_token
from cookieguard.wsgi._login_required import LoginRequired
from cookieguard.wsgi._responses import ErrorResponse, Refusal
from cookieguard.wsgi._scope import WSGIEnviron, scope_of_request
from cookieguard.wsgi._session import SessionIO, get_session, log_store_error, unavailable

__all__ = [
    "SETTINGS",
    "CSRFError",
    "CookieGuard",
    "FlaskSession",
    "csrf_token_view",
    "login_required",
    "require_recent_login",
]

_log = logging.getLogger("cookieguard.flask")

F = TypeVar("F", bound=Callable[..., Any])
_EXTENSION = EXTENSION


class CSRFError(Forbidden):
    """A request refused by the CSRF checks (403); `reason` is Django's wording, safe to log.

    Handle it with ``@app.errorhandler(CSRFError)`` to render your own page.
    """

    description: str = "CSRF verification failed. Request aborted."

    def __init__(self, reason: str, response: Response | None = None) -> None:
        super().__init__(response=response)
        self.reason = reason


class CookieGuard(AccountMixin):
    """Sessions, CSRF protection and login for a Flask app (see the module docstring).

    The account methods (`reauthenticate`, `remember`, `sessions`, `revoke_session`, ...)
    come from `AccountMixin` (`cookieguard.integrations._flask_account`).

    Args:
        app: the Flask app; or call `init_app` later (application factories).
    """

    def __init__(self, app: Flask | None = None) -> None:
        self._exempt_views: list[Callable[..., Any]] = []
        self._exempt_blueprints: set[str] = set()
        if app is not None:
            self.init_app(app)

    # -- setup ---------------------------------------------------------------------------

    def init_app(self, app: Flask) -> None:
        """Install the session interface, the hooks, the Jinja globals and the handlers.

        Raises:
            ConfigError: no ``SECRET_KEY``, no ``COOKIEGUARD_STORE``, or an unknown
                ``COOKIEGUARD_*`` setting.
        """
        settings = read_settings(app.config)
        state = _State(self, settings)
        state.owns_store = isinstance(app.config.get("COOKIEGUARD_STORE"), str)
        app.extensions[_EXTENSION] = state
        # The response's CSRF and remember-me cookies go on in the session interface's
        # save, just before the session's own: one Flask hook fewer per request (Flask wraps
        # every hook in `ensure_sync` each time).
        app.session_interface = CookieGuardSessionInterface(
            state.io, before_save=state.response_cookies
        )
        # First of all hooks: a view, or another extension's hook, never runs unchecked.
        app.before_request_funcs.setdefault(None, []).insert(0, state.before_request)
        app.jinja_env.globals["csrf_token"] = lambda: get_csrf_token(request)
        app.jinja_env.globals["csrf_input"] = lambda: Markup(csrf_input(request))  # noqa: S704
        app.jinja_env.globals["csrf_meta"] = lambda: Markup(csrf_meta(request))  # noqa: S704
        app.register_error_handler(StoreUnavailable, state.store_unavailable)
        app.register_error_handler(LoginThrottled, state.throttled)
        _connect_flask_login(app)

    @staticmethod
    def close(app: Flask) -> None:
        """Close the session store the extension opened from a ``COOKIEGUARD_STORE`` URL.

        Flask has no shutdown hook: call it where the app's process ends (``atexit``, the
        WSGI server's worker-exit hook, a test's teardown). A store object set in the config
        is the app's to close, and so is ``COOKIEGUARD_USERS``.
        """
        state = app.extensions.get(_EXTENSION)
        if isinstance(state, _State) and state.owns_store:
            state.settings.store.close()

    def exempt(self, view: F) -> F:
        """Exempt a view function, or a whole `Blueprint`, from the CSRF checks.

        Use it sparingly, e.g. for a webhook that carries its own signature. A marked view
        that no route of the app serves (the marker was lost under another decorator) makes
        every request fail with `ConfigError` until fixed, rather than leave it unprotected.
        """
        if isinstance(view, Blueprint):
            self._exempt_blueprints.add(view.name)
            return view
        setattr(view, EXEMPT_ATTRIBUTE, True)
        self._exempt_views.append(view)
        return view

    # -- per request ---------------------------------------------------------------------

    @staticmethod
    def _state() -> _State:
        state = current_app.extensions.get(_EXTENSION)
        if not isinstance(state, _State):
            raise MiddlewareMissing("CookieGuard(app) is not installed on this Flask app")
        return state

    def authenticate(self, username: object, password: object) -> User | None:
        """Check a username and password against ``COOKIEGUARD_USERS``, throttled per
        client address (`LoginThrottled` answers 429 with ``Retry-After``)."""
        state = self._state()
        users = state.settings.users
        if users is None:
            raise ConfigError("authenticate() needs COOKIEGUARD_USERS (a sync user store)")
        return wsgi_auth.authenticate(
            users,
            username,
            password,
            throttle=state.throttle,
            address=wsgi_auth.client_address(request),
            request=request,
        )

    @staticmethod
    def login(user: User) -> None:
        """Log `user` in: a new session id and a new CSRF secret."""
        wsgi_auth.login(request, user)

    @staticmethod
    def logout() -> None:
        """End the session server-side now and rotate the CSRF secret."""
        wsgi_auth.logout(request)

    @staticmethod
    def user_id() -> str | None:
        """The logged-in user's id (cookieguard's `login`), without a query."""
        return wsgi_auth.get_user_id(request)

    def user(self) -> User | None:
        """The logged-in `User`, verified against ``COOKIEGUARD_USERS``."""
        return wsgi_auth.get_user(request, self._state().settings.users)


class _State:
    """What the extension keeps per app: the layers built from its settings."""

    def __init__(self, guard: CookieGuard, settings: Settings) -> None:
        self.guard = guard
        self.settings = settings
        self.io = SessionIO(settings.store, settings.session)
        self.csrf = CSRFCheck(settings.csrf)
        self.auth = WSGIAuthMiddleware(_no_app, settings.auth)
        self.errors = ErrorResponse(settings.session.api_prefixes)
        self.throttle = (
            SyncLoginThrottle(settings.counters, settings.throttle)
            if settings.counters is not None
            else None
        )
        self._verified = False
        self.owns_store = False

    def before_request(self) -> None:
        environ = request.environ
        if environ.get(UNAVAILABLE_KEY):
            abort(refusal_response(unavailable(self.errors, environ)))
        if not self._verified:
            self._verify_exemptions(current_app)
        self.auth.prepare(environ)
        state = self.csrf.begin(environ)  # kept at environ[CSRF_STATE_KEY] for the response
        refused = self.csrf.check(environ, state, exempt=self._is_exempt)
        if refused is None:
            if self.settings.remember is not None:  # as RememberMiddleware: after the checks
                wsgi_remember.restore(request, self.settings.remember)
            return
        if isinstance(refused, Refusal):
            abort(refusal_response(refused))
        body = refusal_response(self.csrf.refusal(environ, state, refused))
        raise CSRFError(refused.reason, response=body)

    def response_cookies(self, environ: WSGIEnviron, response: Response) -> None:
        """The CSRF cookie and ``Vary`` (when a token was issued) and the remember-me cookie."""
        state: CSRFState | None = environ.get(CSRF_STATE_KEY)
        if state is None:
            return  # before_request did not get as far as the CSRF step
        if self.settings.remember is not None:
            remembered = wsgi_remember.cookie_header(request, self.settings.remember)
            if remembered is not None:
                response.headers.add("Set-Cookie", remembered)
        if state.cookie_pending or state.token_issued:
            if state.cookie_pending:
                response.headers.add("Set-Cookie", self.csrf.cookie_value(environ, state))
            vary_on_cookie_in(response)

    def store_unavailable(self, exc: StoreUnavailable) -> Response:
        log_store_error("request", exc, "a store")
        return refusal_response(unavailable(self.errors, request.environ, store=False))

    def throttled(self, exc: LoginThrottled) -> Response:
        return refusal_response(
            self.errors.make(
                request.environ,
                429,
                "Too many login attempts. Please wait a while and try again.",
                code="login_throttled",
                headers=[("Retry-After", str(exc.retry_after))],
            )
        )

    def _is_exempt(self) -> bool:
        """The view that serves this request, or one of its blueprints, is exempt."""
        if self.guard._exempt_blueprints.intersection(request.blueprints):
            return True
        endpoint = request.endpoint
        view = current_app.view_functions.get(endpoint) if endpoint else None
        return view is not None and is_marked(view)

    def _verify_exemptions(self, app: Flask) -> None:
        """Every view marked exempt must be one a route serves (see `CookieGuard.exempt`), and
        the session interface must still be cookieguard's: its save also sends the CSRF and
        remember-me cookies."""
        if not isinstance(app.session_interface, CookieGuardSessionInterface):
            _log.error("app.session_interface was replaced after CookieGuard(app)")
            raise ConfigError(
                "app.session_interface was replaced after CookieGuard(app): flask.session, "
                "the CSRF cookie and the remember-me cookie need cookieguard's own interface"
            )
        served = {id(view) for view in app.view_functions.values()}
        lost = [v for v in self.guard._exempt_views if id(v) not in served]
        if lost:
            names = ", ".join(getattr(v, "__qualname__", repr(v)) for v in lost)
            _log.error("csrf exemption of %s is not on any route", names)
            raise ConfigError(
                f"@guard.exempt marks {names}, but no route serves it: put @guard.exempt "
                "directly under @app.route (or keep the marker with functools.wraps)"
            )
        known = {bp for bp in app.blueprints}
        unknown = self.guard._exempt_blueprints - known
        if unknown:
            raise ConfigError(f"exempt blueprints {sorted(unknown)} are not registered")
        self._verified = True


def _no_app(environ: Any, start_response: Any) -> list[bytes]:
    raise AssertionError("never called: only the auth layer's re-check is used")


def _connect_flask_login(app: Flask) -> None:
    """Rotate the session id and CSRF secret at Flask-Login's login; end it at logout."""
    try:
        import flask_login
    except ImportError:
        return
    flask_login.user_logged_in.connect(_flask_login_in, app, weak=False)
    flask_login.user_logged_out.connect(_flask_login_out, app, weak=False)


def _flask_login_in(sender: Flask, user: Any = None, **extra: Any) -> None:
    session = get_session(request)
    session.cycle_key()  # a planted or pre-login id is worthless from here on
    user_id = user.get_id() if user is not None else None
    session.set_user(str(user_id) if user_id is not None else None)
    rotate_csrf_secret(scope_of_request(request))


def _flask_login_out(sender: Flask, user: Any = None, **extra: Any) -> None:
    session = get_session(request)
    remember = session.get("_remember")  # Flask-Login's note to clear its remember cookie
    scope = scope_of_request(request)
    wsgi_remember.forget(request)  # cookieguard's remember-me, if on (not Flask-Login's)
    rotate_csrf_secret(scope)
    run_inline(end_session(scope, session))
    if remember is not None:
        session["_remember"] = remember


def login_required(view: F) -> F:
    """A view anonymous requests never reach: 303 to the login page, or 401 JSON.

    For apps using cookieguard's own `login` (Flask-Login apps use its ``login_required``).
    """
    import functools

    guard = LoginRequired()

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if wsgi_auth.get_user_id(request) is None:
            return refusal_response(guard.refusal(request.environ))
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
