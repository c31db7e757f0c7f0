"""Starlette's ``SessionMiddleware`` constructor over cookieguard sessions.

An app moving over changes one import: the arguments, the cookie's name, lifetime and the
layout of its Set-Cookie header stay what Starlette's middleware gives. What changes is what
stands behind the cookie: cookieguard's signed-cookie sessions by default (an id, timestamps
and an expiry signed in, checked on every request), or any server-side store given as
``store=``, where a logout or ``clear()`` really ends the session.
"""

from __future__ import annotations

from typing import Literal

from cookieguard.asgi._types import ASGIApp
from cookieguard.asgi.session import SessionMiddleware as _CookieguardSessions
from cookieguard.backends._base import SessionBackend, backend_for
from cookieguard.backends._signed import SignedCookieBackend
from cookieguard.config import TWO_WEEKS, CookieConfig, SessionConfig
from cookieguard.core.cookies import CookieSpec, SameSite, render_deletion
from cookieguard.core.session import Session
from cookieguard.core.session_plan import Nothing, SaveOutcome
from cookieguard.core.signing import KeyRing
from cookieguard.errors import ConfigError
from cookieguard.stores.base import SessionStore

__all__ = ["SessionMiddleware"]

_SAMESITE: dict[str, SameSite] = {"lax": "Lax", "strict": "Strict", "none": "None"}


class SessionMiddleware(_CookieguardSessions):
    """Starlette's ``SessionMiddleware(app, secret_key, ...)``, answered by cookieguard.

    Args:
        app: the ASGI app to wrap.
        secret_key: signs the session cookie (at least 16 bytes; a `KeyRing` rotates keys).
        session_cookie: the cookie's name.
        max_age: the idle lifetime in seconds; None makes a browser-session cookie (the
            server still ends it after two weeks idle); 0 or less accepts no cookie back.
        path: the cookie's Path.
        same_site: ``"lax"``, ``"strict"`` or ``"none"``.
        https_only: always send the cookie with Secure. Otherwise cookieguard adds Secure
            to responses served over https, which Starlette's middleware does not.
        domain: the cookie's Domain; None makes a host-only cookie.
        partitioned: CHIPS (needs ``https_only``).
        store: a server-side store; the cookie then holds only the session id.
    """

    def __init__(
        self,
        app: ASGIApp,
        secret_key: str | bytes | KeyRing,
        session_cookie: str = "session",
        max_age: int | None = TWO_WEEKS,
        path: str = "/",
        same_site: Literal["lax", "strict", "none"] = "lax",
        https_only: bool = False,
        domain: str | None = None,
        partitioned: bool = False,
        *,
        store: SessionStore | None = None,
    ) -> None:
        samesite = _SAMESITE.get(str(same_site).lower())
        if samesite is None:
            raise ConfigError("same_site must be 'lax', 'strict' or 'none'")
        cookie = CookieConfig(
            name=session_cookie,
            path=path,
            domain=domain,
            secure=True if https_only else None,
            samesite=samesite,
            partitioned=partitioned,
            spelling="starlette",
        )
        lifetime = max_age if max_age is not None and max_age > 0 else TWO_WEEKS
        config = SessionConfig(
            cookie=cookie,
            idle_timeout=lifetime,
            absolute_timeout=None,
            browser_session=max_age is None,
        )
        backend: SessionBackend = (
            backend_for(store) if store is not None else SignedCookieBackend(secret_key)
        )
        if max_age is not None and max_age <= 0:
            backend = _NothingComesBack(backend)
        super().__init__(app, backend, config)


class _NothingComesBack:
    """A non-positive ``max_age``: every session dies with its response, as in Starlette,
    where such a cookie is already expired and its signature too old to accept."""

    __slots__ = ("_inner",)

    def __init__(self, inner: SessionBackend) -> None:
        self._inner = inner

    @property
    def store(self) -> SessionStore | None:
        """The wrapped backend's store (sessions can still be listed and revoked there)."""
        return self._inner.store

    async def load(self, cookie_value: str, *, now: float) -> Session | None:
        """None: no cookie is accepted back."""
        return None

    async def commit(
        self,
        session: Session,
        outcome: SaveOutcome,
        *,
        cookie: CookieSpec,
        user_agent: str | None = None,
        client_address: str | None = None,
    ) -> str | None:
        """Nothing is kept: a session that would be sent goes out as an expired cookie."""
        if isinstance(outcome, Nothing) and outcome.cookie is None:
            return None
        return render_deletion(cookie)

    async def close(self) -> None:
        """Closes the wrapped backend."""
        await self._inner.close()
