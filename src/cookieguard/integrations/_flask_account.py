"""Account security for the Flask extension: recent-login, remember-me, the session centre.

Each piece is the WSGI front door's (`cookieguard.wsgi`), which runs the ASGI front doors'
own code inline, so the rules, the stored form and the security events are the same:

* ``@require_recent_login(max_age=600)`` under ``@app.route``: anonymous requests get the
  login answer; a login older than `max_age` seconds (or restored from a remember-me cookie)
  a 303 to the re-authentication page, or 403 JSON for API clients. The page checks the
  password with `AccountMixin.reauthenticate` (throttled like a login).
* `AccountMixin.remember` after `login` starts a remember-me series (``COOKIEGUARD_REMEMBER``);
  a request with no session but a valid cookie is logged in again, not recently.
* `AccountMixin.sessions` lists the user's sessions; `revoke_session`,
  `revoke_other_sessions` and `revoke_all_sessions` end them.
* `csrf_token_view`: ``{"csrfToken": ..., "headerName": ...}`` for single-page apps; the
  ``csrf_meta()`` Jinja global gives HTMX the same in ``<meta>`` tags.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

from flask import Response, current_app, request

from cookieguard.auth._recent import login_age
from cookieguard.auth._remember import RememberConfig
from cookieguard.auth._sessions import SessionEntry
from cookieguard.auth._users import User
from cookieguard.auth._users_sync import SyncManagedUserStore
from cookieguard.errors import ConfigError
from cookieguard.integrations._flask_session import refusal_response
from cookieguard.integrations._flask_settings import Settings
from cookieguard.wsgi import _auth as wsgi_auth
from cookieguard.wsgi import _remember_me as wsgi_remember
from cookieguard.wsgi._auth import SyncLoginThrottle
from cookieguard.wsgi._csrf import csrf_token_payload
from cookieguard.wsgi._recent import RecentLoginRequired
from cookieguard.wsgi._scope import scope_of_request

__all__ = ["EXTENSION", "AccountMixin", "csrf_token_view", "require_recent_login"]

F = TypeVar("F", bound=Callable[..., Any])
EXTENSION = "cookieguard"
"""The extension's key in ``app.extensions``."""


class _State(Protocol):
    settings: Settings
    throttle: SyncLoginThrottle | None


def extension_state() -> _State:
    """The current app's extension state.

    Raises:
        ConfigError: ``CookieGuard(app)`` is not installed on the current app.
    """
    state: Any = current_app.extensions.get(EXTENSION)
    if state is None or not hasattr(state, "settings"):
        raise ConfigError("CookieGuard(app) is not installed on this Flask app")
    return state  # type: ignore[no-any-return]


def _remember_config() -> RememberConfig:
    config = extension_state().settings.remember
    if config is None:
        raise ConfigError("remember() needs COOKIEGUARD_REMEMBER = True (or a RememberConfig)")
    return config


class AccountMixin:
    """The account methods of `CookieGuard` (on ``flask.request``)."""

    @staticmethod
    def reauthenticate(password: object) -> bool:
        """Check the logged-in user's password again; True: the login is recent again.

        For the re-authentication page of `require_recent_login`. The session keeps its
        data and login under a new id (as the ASGI front doors do). A wrong password
        counts toward the login throttle (``COOKIEGUARD_THROTTLE``) for this user and
        client address; over the limit, `LoginThrottled` answers 429.
        """
        state = extension_state()
        if state.settings.users is None:
            raise ConfigError("reauthenticate() needs COOKIEGUARD_USERS (a sync user store)")
        return wsgi_auth.reauthenticate(
            request,
            password,
            state.settings.users,
            throttle=state.throttle,
            address=wsgi_auth.client_address(request),
        )

    @staticmethod
    def login_age() -> float | None:
        """Seconds since the logged-in user last entered their password in this session;
        None when anonymous or restored from a remember-me cookie."""
        return login_age(scope_of_request(request))

    @staticmethod
    def remember(user: User) -> None:
        """Start a remember-me series for `user` (call it right after `login`)."""
        _remember_config()
        wsgi_remember.remember(request, user)

    @staticmethod
    def forget() -> None:
        """End this browser's remember-me series and delete its cookie (`logout` does)."""
        wsgi_remember.forget(request)

    @staticmethod
    def sessions() -> list[SessionEntry]:
        """The logged-in user's live sessions (remember-me series too), newest seen first."""
        return wsgi_auth.list_sessions(request)

    @staticmethod
    def revoke_session(handle: object) -> bool:
        """End the user's session named by `handle` (a `SessionEntry.handle`)."""
        return wsgi_auth.revoke_session(request, handle)

    @staticmethod
    def revoke_other_sessions() -> int:
        """End every other session (and remember-me series) of the user; how many."""
        return wsgi_auth.revoke_other_sessions(request)

    @staticmethod
    def revoke_all_sessions() -> int:
        """End every session of the user, this one too (a logout); how many."""
        return wsgi_auth.revoke_all_sessions(request)

    @staticmethod
    def change_password(user: User, new_password: str) -> User:
        """Set a new password; every other session and remember-me series of `user` ends."""
        users = extension_state().settings.users
        if not isinstance(users, SyncManagedUserStore):
            raise ConfigError("change_password() needs COOKIEGUARD_USERS with set_password()")
        return wsgi_auth.change_password(request, users, user, new_password)


def require_recent_login(
    max_age: float,
    *,
    reauth_url: str = "/reauth",
    fallback_next: str | None = None,
    login_url: str | None = None,
    api_prefixes: Sequence[str] = ("/api/",),
) -> Callable[[F], F]:
    """A view only a recent login reaches (see the module docstring).

    Put it under ``@app.route``. `fallback_next` is where the re-authentication page sends
    the user back after a refused POST (a redirect cannot repeat the form).
    """
    guard = RecentLoginRequired(
        max_age,
        reauth_url=reauth_url,
        fallback_next=fallback_next,
        login_url=login_url,
        api_prefixes=tuple(api_prefixes),
    )

    def wrap(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            refusal = guard.refusal(request)
            if refusal is not None:
                return refusal_response(refusal)
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return wrap


def csrf_token_view() -> Response:
    """A GET view: ``{"csrfToken": ..., "headerName": ...}`` with ``Cache-Control: no-store``.

    ``app.get("/csrf")(csrf_token_view)``. It sets the CSRF cookie when the browser has none.
    """
    response = Response(csrf_token_payload(request), mimetype="application/json")
    response.headers["Cache-Control"] = "no-store"
    return response
