"""The `SessionBackend` protocols (async and sync): load a session from its cookie, commit an
outcome."""

from __future__ import annotations

import inspect
from typing import Protocol, runtime_checkable

from cookieguard.core.cookies import CookieSpec
from cookieguard.core.session import Session
from cookieguard.core.session_plan import SaveOutcome
from cookieguard.stores.base import SessionStore, SyncSessionStore

__all__ = ["SessionBackend", "SyncSessionBackend", "backend_for", "sync_backend_for"]


@runtime_checkable
class SessionBackend(Protocol):
    """Where sessions live: the seam between a driver and a store (or the cookie itself)."""

    @property
    def store(self) -> SessionStore | None:
        """The server-side store, for listing and revoking sessions; None if there is none
        (signed-cookie sessions: nothing on the server to list or delete)."""
        ...

    async def load(self, cookie_value: str, *, now: float) -> Session | None:
        """The live session behind `cookie_value`, or None if unknown, expired or forged.

        Raises:
            StoreUnavailable: the store could not answer (the driver fails closed: 503).
        """
        ...

    async def commit(
        self,
        session: Session,
        outcome: SaveOutcome,
        *,
        cookie: CookieSpec,
        user_agent: str | None = None,
        client_address: str | None = None,
    ) -> str | None:
        """Carry out `outcome`; the Set-Cookie header value to send, or None for none.

        Args:
            session: the session `outcome` was planned for.
            outcome: what `session.plan_save` decided.
            cookie: the session cookie's attributes for this response (http or https).
            user_agent: the request's User-Agent, kept with a created record.
            client_address: what `SessionConfig.client_address` keeps of the client's
                address, kept with a created record.

        Raises:
            SessionTooLarge: the session does not fit in a cookie (signed cookies).
            StoreUnavailable: the store failed (a failed `Touch` is never an error).
        """
        ...

    async def close(self) -> None:
        """Release what the backend holds (a store's connections)."""
        ...


def backend_for(where: SessionStore | SessionBackend) -> SessionBackend:
    """`where` as a backend: a `SessionStore` gets a `StoreBackend` around it.

    Raises:
        TypeError: `where` is neither.
    """
    from cookieguard.backends._server import StoreBackend

    if isinstance(where, SessionBackend | SessionStore) and not inspect.iscoroutinefunction(
        where.load
    ):
        raise TypeError(
            f"{type(where).__name__} is a sync store; ASGI apps need an async one: "
            "open_store(url), SQLiteStore, MemoryStore, ..."
        )
    if isinstance(where, SessionBackend):
        return where
    if isinstance(where, SessionStore):
        return StoreBackend(where)
    raise TypeError(
        "sessions need a SessionStore (see cookieguard.stores.open_store) or a SessionBackend "
        f"such as SignedCookieBackend, not {type(where).__name__}"
    )


@runtime_checkable
class SyncSessionBackend(Protocol):
    """`SessionBackend` for threaded (WSGI) code: the same seam, blocking.

    The sync backends run the async backends' own code (`cookieguard._inline`), so both
    front doors load and save sessions by one set of rules.
    """

    @property
    def store(self) -> SyncSessionStore | None:
        """The blocking server-side store; None for signed-cookie sessions."""
        ...

    @property
    def inline(self) -> SessionBackend:
        """The async backend this one drives inline (for the shared auth code)."""
        ...

    def load(self, cookie_value: str, *, now: float) -> Session | None:
        """As `SessionBackend.load`."""
        ...

    def commit(
        self,
        session: Session,
        outcome: SaveOutcome,
        *,
        cookie: CookieSpec,
        user_agent: str | None = None,
        client_address: str | None = None,
    ) -> str | None:
        """As `SessionBackend.commit`."""
        ...

    def close(self) -> None:
        """As `SessionBackend.close`."""
        ...


def sync_backend_for(where: object) -> SyncSessionBackend:
    """`where` as a sync backend: a `SyncSessionStore` gets a `SyncStoreBackend`, a
    `SignedCookieBackend` its sync view.

    Raises:
        TypeError: `where` is an async store (use `open_sync_store`) or not a store at all.
    """
    from cookieguard.backends._signed import SignedCookieBackend
    from cookieguard.backends._sync import SyncSignedCookieBackend, SyncStoreBackend

    if isinstance(where, SignedCookieBackend):
        return SyncSignedCookieBackend(where)
    if isinstance(where, SyncSessionBackend) and not inspect.iscoroutinefunction(where.load):
        return where
    if isinstance(where, SyncSessionStore) and not inspect.iscoroutinefunction(where.load):
        return SyncStoreBackend(where)
    if isinstance(where, SessionStore | SessionBackend):
        raise TypeError(
            f"{type(where).__name__} is an async store; WSGI apps need a sync one: "
            "open_sync_store(url), SyncSQLiteStore, SyncMemoryStore, ..."
        )
    raise TypeError(
        "WSGI sessions need a sync store (see cookieguard.stores.open_sync_store) or a "
        f"SignedCookieBackend, not {type(where).__name__}"
    )
