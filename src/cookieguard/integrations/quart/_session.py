"""Quart's `session` as cookieguard's server-side session.

cookieguard's `SessionMiddleware` (around ``app.asgi_app``) loads the session before Quart
runs and saves it when the response starts; Quart's `SessionInterface` only hands that same
object to Quart, wrapped in `QuartSession` so Flask idioms keep their meaning:

* reads and writes go straight to the cookieguard `Session` (one object, one delta), so
  ``login(request, user)``, ``logout(request)`` and ``session[...]`` never disagree;
* ``session.clear()`` is how Flask apps log out, so it ends the session as `logout` does:
  the id and data are dropped, the CSRF secret rotates, the response clears the cookie, and
  the stored record is deleted in `save_session`, before the response is sent (Quart calls
  it for error responses too, which the middleware does not save);
* ``session.permanent = False`` makes a browser-session cookie (`Session.set_expiry(0)`).

`save_session` saves nothing else: the middleware does, at response start, where a store
failure can still become a 503.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from quart.sessions import NullSession, SessionInterface, SessionMixin

from cookieguard.asgi._types import Scope
from cookieguard.asgi.session import SCOPE_KEY as SESSION_SCOPE_KEY
from cookieguard.asgi.session import get_session_store
from cookieguard.auth._context import USER_SCOPE_KEY
from cookieguard.core.session import Session
from cookieguard.csrf_rotation import rotate_csrf_secret
from cookieguard.errors import MiddlewareMissing

if TYPE_CHECKING:
    from quart import Quart
    from quart.wrappers import BaseRequestWebsocket, Response
    from werkzeug.wrappers import Response as WerkzeugResponse

__all__ = ["CookieGuardSessionInterface", "NoSession", "QuartSession"]

logger = logging.getLogger("cookieguard.sessions")


class QuartSession(SessionMixin):
    """Quart's view of the request's cookieguard `Session` (see the module notes).

    Args:
        session: the session `SessionMiddleware` loaded for this request.
        scope: the request's ASGI scope (for the CSRF secret and the store at ``clear()``).
    """

    def __init__(self, session: Session, scope: Scope) -> None:
        self._session = session
        self._scope = scope
        self._ended = False
        self._new = not session.is_stored

    @property
    def raw(self) -> Session:
        """The cookieguard `Session` itself (``cycle_key``, ``set_expiry``, ``user_id``...)."""
        return self._session

    def __getitem__(self, key: str) -> Any:
        return self._session[key]

    def get(self, key: str, default: Any = None) -> Any:
        """As `dict.get`, reading the underlying cookieguard session."""
        return self._session.get(key, default)

    def __setitem__(self, key: str, value: Any) -> None:
        self._session[key] = value

    def __delitem__(self, key: str) -> None:
        del self._session[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._session)

    def __len__(self) -> int:
        return len(self._session)

    def __contains__(self, key: object) -> bool:
        return key in self._session

    def __repr__(self) -> str:
        return f"<QuartSession {self._session!r}>"

    def clear(self) -> None:
        """End the session, as `cookieguard.logout` does (Flask's ``session.clear()`` logout).

        Nothing of it survives: the record is deleted before the response is sent, the
        cookie is cleared and the CSRF secret rotates. Data written afterwards starts a new
        session under a new id.
        """
        self._session.flush()
        self._scope[USER_SCOPE_KEY] = None  # get_user() answers None from now on
        rotate_csrf_secret(self._scope)
        self._ended = True

    def mark_changed(self, key: str | None = None) -> None:
        """Save `key` (or every key) after mutating a value in place (a list appended to)."""
        self._session.mark_changed(key)

    @property
    def new(self) -> bool:  # type: ignore[override]
        """True when the request brought no live session."""
        return self._new

    @property
    def modified(self) -> bool:
        """Something will be saved. Setting True rewrites every key (`mark_changed`)."""
        return self._session.modified

    @modified.setter
    def modified(self, value: bool) -> None:
        self._session.modified = value

    @property
    def accessed(self) -> bool:
        """The session was read or written: the response varies on Cookie."""
        return self._session.accessed

    @accessed.setter
    def accessed(self, value: bool) -> None:
        if value:
            self._session.mark_accessed()

    @property
    def permanent(self) -> bool:
        """False for a browser-session cookie (ends when the browser closes)."""
        return self._session.expiry != 0

    @permanent.setter
    def permanent(self, value: bool) -> None:
        self._session.set_expiry(None if value else 0)

    async def finish(self) -> None:
        """After ``clear()``: delete the old record now, not only at response start."""
        doomed = self._session.pending_delete
        if not self._ended or doomed is None:
            return
        store = get_session_store(self._scope)
        if store is None:
            return  # signed cookies: the deletion cookie is all there is
        try:
            await store.delete(doomed)
        except Exception as exc:
            # Still flushed: the middleware deletes at response start, answering 503 if the
            # store is still down, so the user is never told a live session ended.
            logger.warning(
                "session delete at clear() deferred: store error (%s)", type(exc).__name__
            )
            return
        self._session.deleted(doomed)


class NoSession(NullSession):
    """What Quart gets when cookieguard's middleware did not run for this request."""

    def _fail(self, *args: Any, **kwargs: Any) -> Any:
        raise MiddlewareMissing(
            "no cookieguard session for this request: CookieGuard(app) wraps app.asgi_app, "
            "and a request that does not pass through it (app.test_request_context(), or "
            "app.asgi_app replaced afterwards) has no session"
        )

    __setitem__ = __delitem__ = clear = pop = popitem = update = setdefault = _fail


class CookieGuardSessionInterface(SessionInterface):
    """Hands Quart the session cookieguard's middleware loaded; saving stays with it."""

    null_session_class = NoSession

    async def open_session(self, app: Quart, request: BaseRequestWebsocket) -> QuartSession | None:
        scope: Scope = request.scope  # type: ignore[assignment]
        session = scope.get(SESSION_SCOPE_KEY)
        if not isinstance(session, Session):
            return None  # Quart then uses NoSession, whose writes say what is wrong
        return QuartSession(session, scope)

    async def save_session(
        self,
        app: Quart,
        session: SessionMixin,
        response: Response | WerkzeugResponse | None,
    ) -> None:
        if isinstance(session, QuartSession):
            await session.finish()
