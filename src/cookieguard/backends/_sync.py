"""The sync session backends (WSGI): the async backends' own code, driven inline.

`SyncStoreBackend` runs `StoreBackend` over an `InlineStore` view of a blocking store, and
`SyncSignedCookieBackend` runs a `SignedCookieBackend` (which does no I/O at all), each with
`cookieguard._inline.run_inline`. Loading, the outcomes, key-collision retries and the
Set-Cookie values therefore cannot drift between the ASGI and the WSGI front doors.
"""

from __future__ import annotations

from cookieguard._inline import run_inline
from cookieguard.backends._base import SessionBackend
from cookieguard.backends._server import StoreBackend
from cookieguard.backends._signed import SignedCookieBackend
from cookieguard.core.cookies import CookieSpec
from cookieguard.core.session import Session
from cookieguard.core.session_plan import SaveOutcome
from cookieguard.stores._inline import InlineStore
from cookieguard.stores.base import SyncSessionStore

__all__ = ["SyncSignedCookieBackend", "SyncStoreBackend"]


class _Inline:
    """A `SyncSessionBackend` made of an async backend whose awaits never suspend."""

    __slots__ = ("_inline",)

    def __init__(self, inline: SessionBackend) -> None:
        self._inline = inline

    @property
    def inline(self) -> SessionBackend:
        """The async backend driven inline (what the shared auth coroutines see)."""
        return self._inline

    def load(self, cookie_value: str, *, now: float) -> Session | None:
        """The live session behind `cookie_value` (see `SessionBackend.load`)."""
        return run_inline(self._inline.load(cookie_value, now=now))

    def commit(
        self,
        session: Session,
        outcome: SaveOutcome,
        *,
        cookie: CookieSpec,
        user_agent: str | None = None,
        client_address: str | None = None,
    ) -> str | None:
        """Carry out `outcome`; the Set-Cookie value (see `SessionBackend.commit`)."""
        return run_inline(
            self._inline.commit(
                session,
                outcome,
                cookie=cookie,
                user_agent=user_agent,
                client_address=client_address,
            )
        )

    def close(self) -> None:
        """Release what the backend holds."""
        run_inline(self._inline.close())


class SyncStoreBackend(_Inline):
    """Sessions in a `SyncSessionStore`, keyed by id hash (the sync `StoreBackend`)."""

    __slots__ = ("_store",)

    def __init__(self, store: SyncSessionStore) -> None:
        super().__init__(StoreBackend(InlineStore(store)))
        self._store = store

    def __repr__(self) -> str:
        return f"SyncStoreBackend({self._store!r})"

    @property
    def store(self) -> SyncSessionStore:
        """The blocking store, to list or revoke sessions."""
        return self._store


class SyncSignedCookieBackend(_Inline):
    """A `SignedCookieBackend` for WSGI: the same keys and cookie format as under ASGI."""

    __slots__ = ()

    def __init__(self, backend: SignedCookieBackend) -> None:
        super().__init__(backend)

    def __repr__(self) -> str:
        return f"SyncSignedCookieBackend({self._inline!r})"

    @property
    def store(self) -> SyncSessionStore | None:
        """None: there is no server state to list or revoke."""
        return None
