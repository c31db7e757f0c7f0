"""Recent-login ("sudo") mode: when the user last proved who they are, and asking again.

A logged-in session records the time of the last password check (`SESSION_VERIFIED_AT`):
`login` sets it, `reauthenticate` refreshes it, and a session restored from a remember-me
cookie has none (a cookie is not a proof of presence). Sensitive actions (log out
everywhere else, revoke a session, change the password) demand that time be at most
``max_age`` seconds old; each framework's ``require_recent_login`` renders the refusal that
`RecentLoginPolicy` decides:

* anonymous: the usual login answer (303 to the login page, or 401 JSON);
* logged in, not recent: a browser gets a 303 to the re-authentication page with a safe
  ``next`` (a GET's own URL; for a POST the guard's ``fallback_next``, since a redirect
  cannot repeat a form submission), an API client 403 JSON
  ``{"error": "reauthentication_required"}`` (403: the caller *is* authenticated).

`reauthenticate` checks the password of the user already logged in, through `authenticate`
(so a wrong password counts toward `LoginThrottle` like a failed login, and takes the same
time), and on success keeps the session's data and login but moves it to a new session id,
as after any change of privilege (OWASP): a copy of the old cookie stolen earlier does not
inherit the new sudo window.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

from cookieguard.asgi._types import Connection, scope_of
from cookieguard.asgi.session import get_session
from cookieguard.auth._context import auth_config
from cookieguard.auth._login import authenticate, get_user, get_user_id
from cookieguard.auth._login_policy import LoginPolicy
from cookieguard.auth._passwords import PasswordHasher
from cookieguard.auth._throttle import LoginThrottle
from cookieguard.auth._users import UserStore
from cookieguard.core._auth import SESSION_AUTH_HASH, SESSION_VERIFIED_AT
from cookieguard.core.redirects import is_safe_redirect, login_redirect_url, next_for
from cookieguard.core.signing import KeyRing
from cookieguard.errors import ConfigError

__all__ = [
    "REAUTH_REQUIRED",
    "SESSION_VERIFIED_AT",
    "RecentLoginPolicy",
    "is_recent_login",
    "login_age",
    "reauthenticate",
]

logger = logging.getLogger("cookieguard.auth")

REAUTH_REQUIRED = "reauthentication_required"
"""The ``error`` of the 403 JSON answer."""

_SAFE_METHODS = frozenset({"GET", "HEAD"})


def login_age(conn: Connection, *, now: float | None = None) -> float | None:
    """Seconds since the logged-in user last entered their password; None if unknown.

    None for anonymous requests, for sessions restored from a remember-me cookie, and for a
    malformed or future time (an unverifiable claim is never trusted).
    """
    if get_user_id(conn) is None:
        return None
    verified = get_session(conn).get(SESSION_VERIFIED_AT)
    if type(verified) is not float and type(verified) is not int:
        return None
    if now is None:
        now = auth_config(conn).clock()
    age = now - verified
    return age if math.isfinite(age) and age >= 0 else None


def is_recent_login(conn: Connection, max_age: float, *, now: float | None = None) -> bool:
    """True when the password was entered at most `max_age` seconds ago in this session."""
    age = login_age(conn, now=now)
    return age is not None and age <= max_age


async def reauthenticate(
    conn: Connection,
    user_store: UserStore | None,
    password: object,
    *,
    hasher: PasswordHasher | None = None,
    throttle: LoginThrottle | None = None,
    address: str = "",
    keyring: KeyRing | None = None,
) -> bool:
    """Check the logged-in user's `password` again; on success the login is recent.

    The session keeps its data and user, under a new id. A wrong password returns False,
    is logged, and counts toward `throttle` exactly as a failed login of that username from
    `address` (the username is the session's user's, never one from the form).

    Raises:
        LoginThrottled: too many failures; answer 429 with ``Retry-After``.
        StoreUnavailable: a store is down; answer 503.
    """
    config = auth_config(conn, keyring)
    store = user_store or config.user_store
    if store is None:
        raise ConfigError("reauthenticate() needs a user store (argument or AuthConfig)")
    user = await get_user(conn, store, keyring=keyring)
    if user is None:
        return False
    checked = await authenticate(
        store,
        user.username,
        password,
        hasher=hasher or config.hasher,
        throttle=throttle,
        address=address,
        conn=conn,
    )
    if checked is None or checked.id != user.id:
        logger.info("re-authentication of user %s failed", user.id)
        return False
    session = get_session(conn)
    session.cycle_key()
    if checked.password_hash != user.password_hash:  # rehashed: keep the session valid
        session[SESSION_AUTH_HASH] = config.auth_hasher.auth_hash(checked.password_hash)
    session[SESSION_VERIFIED_AT] = config.clock()
    logger.info("user %s re-authenticated", user.id)
    return True


class RecentLoginPolicy(LoginPolicy):
    """Who must log in, who must re-enter their password, and where each is sent.

    Args:
        max_age: Seconds a password check stays recent (e.g. 600).
        reauth_url: The re-authentication page (a same-site path).
        fallback_next: Where the re-authentication page sends the user back for a request
            that cannot be repeated by a redirect (a POST); None: nowhere (its default).
        login_url, api_prefixes: as `LoginPolicy`.
    """

    def __init__(
        self,
        max_age: float,
        *,
        reauth_url: str = "/reauth",
        fallback_next: str | None = None,
        login_url: str | None = None,
        api_prefixes: Sequence[str] = ("/api/",),
    ) -> None:
        super().__init__(login_url, api_prefixes=api_prefixes)
        if isinstance(max_age, bool) or not isinstance(max_age, int | float) or not max_age > 0:
            raise ConfigError("max_age must be a positive number of seconds")
        if not is_safe_redirect(reauth_url.partition("?")[0]):
            raise ConfigError("reauth_url must be a same-site path such as '/reauth'")
        if fallback_next is not None and not is_safe_redirect(fallback_next):
            raise ConfigError("fallback_next must be a same-site path")
        self.max_age = max_age
        self.reauth_url = reauth_url
        self.fallback_next = fallback_next

    def verdict(self, conn: Connection) -> str | None:
        """None to let the request through, else "login" or "reauth"."""
        if get_user_id(conn) is None:
            return "login"
        if is_recent_login(conn, self.max_age):
            return None
        return "reauth"

    def reauth_redirect_url(self, conn: Connection) -> str:
        """The re-authentication page with a ``next`` back (when one can be safely given)."""
        scope = scope_of(conn)
        path = scope.get("root_path", "") + scope.get("path", "")
        return self.reauth_target(scope.get("method", "GET"), path, scope.get("query_string", b""))

    def reauth_target(self, method: str, path: str, query_string: bytes | str = b"") -> str:
        """`reauth_redirect_url` from the request's method, full path and query string
        (for front doors whose request is no ASGI scope, such as WSGI)."""
        back = next_for(path, query_string) if method in _SAFE_METHODS else self.fallback_next
        return login_redirect_url(self.reauth_url, back, self.field)
