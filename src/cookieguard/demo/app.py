"""Assemble the demo site: Starlette routes inside cookieguard's middleware.

The stack, outermost first, is the one the library recommends for any app::

    SecurityHeadersMiddleware(
        BodyLimitMiddleware(
            SessionMiddleware(CSRFMiddleware(AuthMiddleware(starlette_app)), store)
        ),
        no_store=True,
    )

Each route accepts the body it needs and no more (`BODY_LIMITS`): a larger one gets 413
before any of it is read, however the CSRF token was sent. Every response forbids framing, and
every one but the stylesheet (which sets its own Cache-Control) is `no-store`: each page either
carries a CSRF token or shows a user's data.

The demo shows CSRF rejection reasons on its 403 page (``CSRFConfig(debug=True)``), as
Django does with ``DEBUG=True``: it exists to show how the protection works. A production
app keeps the default and shows the generic page.

Every error page is in the site's look (``error.html``): the middlewares' own refusals (403,
413, 503) through their ``error_page`` hook, Starlette's (400, 404, 405) and the endpoints'
503 through exception handlers. Under ``/api/`` they are all JSON instead.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from http import HTTPStatus
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, ExceptionHandler

from cookieguard import (
    AuthConfig,
    AuthMiddleware,
    BodyLimitMiddleware,
    CSRFConfig,
    CSRFMiddleware,
    KeyRing,
    LoginThrottle,
    Refusal,
    SecurityHeadersMiddleware,
    SessionConfig,
    SessionMiddleware,
    SessionStore,
    SQLiteUserStore,
    StoreUnavailable,
    UserStore,
)
from cookieguard.auth import RememberConfig, RememberMiddleware
from cookieguard.config import THIRTY_DAYS
from cookieguard.demo._api import MAX_BODY, RecordsAPI, json_error
from cookieguard.demo._db import DemoDatabase
from cookieguard.demo._pages import Pages
from cookieguard.integrations.jinja2 import install_csrf
from cookieguard.integrations.starlette import requires_login
from cookieguard.integrations.starlette_recent import require_recent_login
from cookieguard.stores.purge import Purger

__all__ = ["create_app"]

HERE = Path(__file__).parent
SUDO_MAX_AGE = 600
"""Seconds a password entry keeps sensitive actions (sessions, password) open."""
STYLE = (HERE / "static" / "style.css").read_bytes()
SCRIPTS = {name: (HERE / "static" / name).read_bytes() for name in ("htmx.min.js", "csrf-htmx.js")}
"""HTMX 2 (vendored from the npm package htmx.org, see its header) and the CSRF listener."""
API_PREFIXES = ("/api/",)

_log = logging.getLogger("cookieguard.demo")

FORM_BODY_LIMIT = 16 * 1024
"""The largest body of the small forms (login, logout, sessions): a few short fields."""
BODY_LIMITS = {"/records": MAX_BODY, "/api/records": MAX_BODY}
"""Routes that take a record (10,000 characters, however encoded) get room for one."""


def _templates() -> Jinja2Templates:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        auto_reload=False,  # compiled once: no stat() of the template files per render
    )
    install_csrf(env)  # {{ csrf_input(request) }} in every form
    return Jinja2Templates(env=env)


async def _home(request: Request) -> Response:
    return RedirectResponse("/records", status_code=303)


async def _style(request: Request) -> Response:
    return Response(STYLE, media_type="text/css", headers={"cache-control": "public, max-age=3600"})


async def _script(request: Request) -> Response:
    body = SCRIPTS[request.url.path.removeprefix("/static/")]
    return Response(
        body, media_type="text/javascript", headers={"cache-control": "public, max-age=3600"}
    )


async def _client_left(request: Request, exc: Exception) -> Response:
    # A client that hung up mid-body is nobody's error: nobody reads this answer, and a
    # traceback per truncated request would let anyone flood the log.
    _log.debug("client disconnected before its body was read: %s", ascii(request.url.path[:200]))
    return Response(status_code=400)


_MESSAGES = {
    404: "There is no such page here.",
    405: "This address does not take that kind of request.",
}


def _refusal_renderer(templates: Jinja2Templates) -> Callable[[Refusal], str]:
    """The middlewares' `error_page`: their refusals in the site's look.

    It gets no request (a refusal may be sent before the app runs, or while the session
    store is down), so the page has no inspector and no session-dependent header.
    """
    page = templates.env.get_template("error.html")

    def render(refusal: Refusal) -> str:
        return page.render(
            username=None,
            inspector=None,
            status=refusal.status,
            title=refusal.title,
            message=refusal.message,
            hint=refusal.hint,
            detail=refusal.detail,
            csrf=refusal.code == "csrf_failed",
        )

    return render


def create_app(
    db: DemoDatabase,
    store: SessionStore,
    *,
    secret_key: str,
    users: UserStore | None = None,
    purge_interval: float = 300.0,
    inspector: bool = True,
) -> ASGIApp:
    """The demo site as an ASGI app.

    Args:
        db: the demo's records database (its path also holds the users table).
        store: where sessions and login-throttle counters live.
        secret_key: the site's secret key (signs the session auth hash).
        users: the user table; by default the SQLite users table in `db`'s file.
        purge_interval: seconds between two purges of expired sessions and throttle
            counters (a background task while the site runs; none for Redis).
        inspector: show the inspector panel on every page (one session-store read per
            page for a logged-in user).
    """
    users = users if users is not None else SQLiteUserStore(db.path)
    templates = _templates()
    pages = Pages(templates, db, users, LoginThrottle(store), inspector=inspector)
    site = Starlette(
        routes=_routes(pages, RecordsAPI(db)),
        lifespan=_lifespan(db, store, users, purge_interval),
        exception_handlers=_exception_handlers(templates),
    )
    return _secured(site, store, users, secret_key, _refusal_renderer(templates))


def _routes(pages: Pages, api: RecordsAPI) -> list[Route]:
    """The site's URLs: pages need a login, sensitive ones a recent one."""
    # Sensitive actions need the password entered within SUDO_MAX_AGE; a POST comes back to
    # the page its form was on, since a redirect cannot repeat it.
    sudo_sessions = require_recent_login(SUDO_MAX_AGE, fallback_next="/sessions")
    sudo_password = require_recent_login(SUDO_MAX_AGE, fallback_next="/password")
    return [
        Route("/", _home, methods=["GET"]),
        Route("/login", pages.login_page, methods=["GET"]),
        Route("/login", pages.login_submit, methods=["POST"]),
        Route("/logout", pages.logout, methods=["POST"]),
        Route("/records", requires_login(pages.records), methods=["GET"]),
        Route("/records", requires_login(pages.add_record), methods=["POST"]),
        Route(
            "/records/{record_id:int}/delete",
            requires_login(pages.delete_record),
            methods=["POST"],
        ),
        Route("/sessions", requires_login(pages.sessions), methods=["GET"]),
        Route("/sessions/revoke", sudo_sessions(pages.revoke), methods=["POST"]),
        Route("/sessions/revoke-others", sudo_sessions(pages.revoke_others), methods=["POST"]),
        Route("/reauth", requires_login(pages.reauth_page), methods=["GET"]),
        Route("/reauth", requires_login(pages.reauth_submit), methods=["POST"]),
        Route("/password", sudo_password(pages.password_page), methods=["GET"]),
        Route("/password", sudo_password(pages.password_submit), methods=["POST"]),
        Route("/api/records", requires_login(api.list), methods=["GET"]),
        Route("/api/records", requires_login(api.add), methods=["POST"]),
        Route("/static/style.css", _style, methods=["GET"]),
        *(Route(f"/static/{name}", _script, methods=["GET"]) for name in SCRIPTS),
    ]


def _lifespan(
    db: DemoDatabase, store: SessionStore, users: UserStore, purge_interval: float
) -> Callable[[Starlette], AbstractAsyncContextManager[None]]:
    """Purge expired sessions while the site runs; close every store when it stops."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            async with Purger(store, interval=purge_interval):
                yield
        finally:
            await store.close()
            close_users = getattr(users, "close", None)
            if close_users is not None:
                await close_users()
            db.close()

    return lifespan


def _exception_handlers(templates: Jinja2Templates) -> dict[Any, ExceptionHandler]:
    """Starlette's and the endpoints' errors in the site's look (JSON under ``/api/``)."""

    def error_page(request: Request, status: int, message: str) -> Response:
        context = {
            "username": None,
            "inspector": None,
            "status": status,
            "title": HTTPStatus(status).phrase,
            "message": message,
            "hint": None,
            "detail": None,
            "csrf": False,
        }
        return templates.TemplateResponse(request, "error.html", context, status_code=status)

    async def http_error(request: Request, exc: Exception) -> Response:
        # Starlette's own answers (404 no route, 405 wrong method, 400 unreadable form) and
        # the endpoints' 404s, in the site's look; JSON under /api/, as the API's own errors.
        assert isinstance(exc, HTTPException)
        message = exc.detail
        if message == HTTPStatus(exc.status_code).phrase:  # Starlette's bare "Not Found"
            message = _MESSAGES.get(exc.status_code, message)
        if request.url.path.startswith(API_PREFIXES):
            response: Response = json_error(message, exc.status_code)
        else:
            response = error_page(request, exc.status_code, message)
        if exc.headers:
            response.headers.update(exc.headers)  # e.g. 405's Allow
        return response

    async def unavailable(request: Request, exc: Exception) -> Response:
        # The session middleware answers 503 itself when a session cannot be loaded or
        # saved; this covers the store calls endpoints make (login throttle, users, session
        # lists) and the records database staying locked by another process too long.
        _log.warning("503 for %s: %s: %s", ascii(request.url.path[:200]), type(exc).__name__, exc)
        headers = {"retry-after": "5", "cache-control": "no-store"}
        if request.url.path.startswith(API_PREFIXES):
            response: Response = json_error("storage unavailable, retry shortly", 503)
            response.headers.update(headers)
            return response
        response = error_page(request, 503, "A storage backend is unavailable; retry shortly.")
        response.headers.update(headers)
        return response

    return {
        StoreUnavailable: unavailable,
        ClientDisconnect: _client_left,
        HTTPException: http_error,
    }


def _secured(
    site: ASGIApp,
    store: SessionStore,
    users: UserStore,
    secret_key: str,
    refusal_page: Callable[[Refusal], str],
) -> ASGIApp:
    """`site` inside cookieguard's middleware, outermost first as the module docs show."""
    # A password changed in the users table by other means logs its sessions out within
    # five minutes (the re-check interval); every session ends 30 days after login at the
    # latest, however often it is used. Both are the defaults, spelled out here.
    auth_config = AuthConfig(keyring=KeyRing(secret_key), user_store=users, recheck_interval=300)
    # "Remember me" series live in the session store, next to the sessions they restore.
    remembered = RememberMiddleware(site, RememberConfig(store))
    auth = AuthMiddleware(remembered, auth_config)
    # The API answers in JSON whatever the client accepts: its refusals (403, 503) too.
    # Every other refusal is an HTML page in the site's look (`error_page`).
    csrf_config = CSRFConfig(debug=True, api_prefixes=API_PREFIXES, error_page=refusal_page)
    csrf = CSRFMiddleware(auth, csrf_config)
    sessions = SessionConfig(
        absolute_timeout=THIRTY_DAYS, api_prefixes=API_PREFIXES, error_page=refusal_page
    )
    stack = SessionMiddleware(csrf, store, sessions)
    limited = BodyLimitMiddleware(
        stack, FORM_BODY_LIMIT, path_limits=BODY_LIMITS, error_page=refusal_page
    )
    return SecurityHeadersMiddleware(limited, no_store=True)
