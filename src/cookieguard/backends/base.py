"""The `SessionBackend` protocol: load a session from its cookie, commit an outcome."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from cookieguard.core.cookies import CookieSpec
from cookieguard.core.session import Session
from cookieguard.core.session_plan import SaveOutcome
from cookieguard.stores.base import SessionStore

__all__ = ["SessionBackend", "backend_for"]


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
    from cookieguard.backends.server import StoreBackend

    if isinstance(where, SessionBackend):
        return where
    if isinstance(where, SessionStore):
        return StoreBackend(where)
    raise TypeError(
        "sessions need a SessionStore (see cookieguard.stores.open_store) or a SessionBackend "
        f"such as SignedCookieBackend, not {type(where).__name__}"
    )
