"""cookieguard for WSGI: sessions, CSRF protection and login for any WSGI app.

``CookieGuardWSGI(app, store=..., secret_key=..., users=...)`` installs the three layers
(`WSGISessionMiddleware`, `WSGICSRFMiddleware`, `WSGIAuthMiddleware`) in the one order that
works. They make the same decisions as the ASGI middlewares by running the same code: the
core's decisions, the ASGI driver's parts, and the auth coroutines driven inline over
blocking stores (`cookieguard._inline`). Stores come from `open_sync_store`.

The helpers take a Werkzeug/Flask request (``flask.request`` too) or the environ.
"""

from cookieguard.wsgi._auth import (
    SyncLoginThrottle,
    WSGIAuthMiddleware,
    authenticate,
    change_password,
    client_address,
    get_user,
    get_user_id,
    list_sessions,
    login,
    logout,
    reauthenticate,
    revoke_all_sessions,
    revoke_other_sessions,
    revoke_session,
    sync_auth_config,
)
from cookieguard.wsgi._csrf import (
    WSGICSRFMiddleware,
    csrf_header_name,
    csrf_input,
    csrf_meta,
    csrf_token_app,
    csrf_token_payload,
    get_csrf_token,
    rotate_csrf_token,
)
from cookieguard.wsgi._guard import CookieGuardWSGI
from cookieguard.wsgi._login_required import LoginRequired, login_required
from cookieguard.wsgi._recent import RecentLoginRequired, require_recent_login
from cookieguard.wsgi._remember_me import WSGIRememberMiddleware, forget, remember
from cookieguard.wsgi._session import WSGISessionMiddleware, get_session, get_session_store

__all__ = [
    "CookieGuardWSGI",
    "LoginRequired",
    "RecentLoginRequired",
    "SyncLoginThrottle",
    "WSGIAuthMiddleware",
    "WSGICSRFMiddleware",
    "WSGIRememberMiddleware",
    "WSGISessionMiddleware",
    "authenticate",
    "change_password",
    "client_address",
    "csrf_header_name",
    "csrf_input",
    "csrf_meta",
    "csrf_token_app",
    "csrf_token_payload",
    "forget",
    "get_csrf_token",
    "get_session",
    "get_session_store",
    "get_user",
    "get_user_id",
    "list_sessions",
    "login",
    "login_required",
    "logout",
    "reauthenticate",
    "remember",
    "require_recent_login",
    "revoke_all_sessions",
    "revoke_other_sessions",
    "revoke_session",
    "rotate_csrf_token",
    "sync_auth_config",
]
