"""The one interface every server-side session store implements, and its record types.

Stores never see a raw session id: every key is `core.tokens.hash_session_id(id)`. Times are
epoch seconds passed in by the caller (`now`), so stores hold no clock of their own and tests
need no sleeping. A store that cannot reach its backend raises `StoreUnavailable`.

`SyncSessionStore` and `SyncCounterStore` are the same contract with blocking methods, for
threaded WSGI servers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from cookieguard.errors import KeyCollision

__all__ = [
    "CounterStore",
    "KeyCollision",
    "SessionInfo",
    "SessionRecord",
    "SessionStore",
    "SyncCounterStore",
    "SyncSessionStore",
]


@dataclass(slots=True)
class SessionRecord:
    """What a store keeps for one session.

    Not frozen: a frozen dataclass's `__init__` costs twice as much, and one record is built
    on every request that carries a session. Stores hand out fresh records; the caller owns
    what it gets (including `data`), so changing one never touches the store.
    """

    data: dict[str, Any]
    """JSON-serialisable session data."""
    user_id: str | None
    """The logged-in user, for the per-user index; None for anonymous sessions."""
    created_at: float
    """When the session (or its current id) was created."""
    last_seen: float
    """Last time the session was saved or touched."""
    expires_at: float
    """When the session ends: min(idle deadline, absolute deadline). Loads at or after it miss."""
    user_agent: str | None = None
    """User-Agent seen at creation (truncated), to help users recognise their sessions."""
    client_address: str | None = None
    """Client address seen at creation, as `SessionConfig.client_address` keeps it (by
    default truncated to its network: IPv4 /24, IPv6 /48); None when not kept."""


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """One row of a user's session list (no data, no usable id)."""

    key_hash: str
    user_id: str
    created_at: float
    last_seen: float
    expires_at: float
    user_agent: str | None
    client_address: str | None = None


@runtime_checkable
class CounterStore(Protocol):
    """Fixed-window counters (login throttling), shared across app servers like sessions."""

    async def hit(
        self, key: str, *, window: int, now: float, limit: int | None = None
    ) -> tuple[int, float]:
        """Count one event under `key`. Returns (count in the current window, window end).

        The window starts with the first event after the previous window ended. With
        `limit`, a live counter already at `limit` is left as it is (nothing is written) and
        the answer is ``(limit + 1, window end)``: the event did not fit. Atomic, so
        concurrent callers never take a counter past `limit` (a reservation).
        """
        ...

    async def release(self, key: str, *, now: float) -> None:
        """Take one event back from `key`'s live window (never below zero)."""
        ...

    async def peek(self, key: str, *, now: float) -> tuple[int, float] | None:
        """(count, window end) of the live window under `key`, or None."""
        ...

    async def reset(self, key: str) -> None:
        """Forget `key`'s counter."""
        ...


@runtime_checkable
class SessionStore(CounterStore, Protocol):
    """A server-side session store. One contract suite (tests/stores/) holds them all to it."""

    async def load(self, key_hash: str, *, now: float) -> SessionRecord | None:
        """The live record under `key_hash`, or None if unknown or expired (one round trip).

        The record is new and the caller's: its `data` dict is not shared with the store.
        """
        ...

    async def create(
        self, key_hash: str, record: SessionRecord, *, replaces: str | None = None
    ) -> None:
        """Insert a new record; atomically delete `replaces` in the same step (id cycling).

        Raises `KeyCollision` if `key_hash` exists.
        """
        ...

    async def update(
        self,
        key_hash: str,
        *,
        set_items: Mapping[str, Any],
        delete_keys: Collection[str],
        last_seen: float,
        expires_at: float,
        now: float,
    ) -> bool:
        """Apply a delta atomically in the store: only the keys that changed.

        Two racing requests that change different keys both land. Returns False, changing
        nothing, when the record is gone or expired: a deleted session is never re-created.
        An empty delta just refreshes `last_seen` and `expires_at` (the idle-expiry touch).
        """
        ...

    async def delete(self, key_hash: str) -> None:
        """Remove the record if present."""
        ...

    async def list_user(self, user_id: str, *, now: float) -> list[SessionInfo]:
        """The user's live sessions, most recently seen first."""
        ...

    async def delete_user(self, user_id: str, *, keep: str | None = None) -> int:
        """Remove every session of `user_id` except `keep` (a key hash); returns how many."""
        ...

    def purge_expired(self, *, now: float, batch_size: int = 1000) -> AsyncIterator[int]:
        """Delete expired records in bounded batches, yielding each batch's count (progress).

        Each batch is its own short transaction, so readers are never blocked for long.
        """
        ...

    async def close(self) -> None:
        """Release connections. Stores connect lazily and reconnect after failures."""
        ...


@runtime_checkable
class SyncCounterStore(Protocol):
    """`CounterStore` for threaded (WSGI) code: the same methods and rules, blocking.

    Safe to call from many threads at once; `hit` with `limit` stays atomic across threads
    and processes.
    """

    def hit(
        self, key: str, *, window: int, now: float, limit: int | None = None
    ) -> tuple[int, float]:
        """As `CounterStore.hit`."""
        ...

    def release(self, key: str, *, now: float) -> None:
        """As `CounterStore.release`."""
        ...

    def peek(self, key: str, *, now: float) -> tuple[int, float] | None:
        """As `CounterStore.peek`."""
        ...

    def reset(self, key: str) -> None:
        """As `CounterStore.reset`."""
        ...


@runtime_checkable
class SyncSessionStore(SyncCounterStore, Protocol):
    """`SessionStore` for threaded (WSGI) code: the same methods and rules, blocking.

    Every sync store shares its SQL, scripts, key layout and record encoding with the async
    store of the same backend, and passes the same contract suite (tests/stores/).
    """

    def load(self, key_hash: str, *, now: float) -> SessionRecord | None:
        """As `SessionStore.load`."""
        ...

    def create(self, key_hash: str, record: SessionRecord, *, replaces: str | None = None) -> None:
        """As `SessionStore.create`."""
        ...

    def update(
        self,
        key_hash: str,
        *,
        set_items: Mapping[str, Any],
        delete_keys: Collection[str],
        last_seen: float,
        expires_at: float,
        now: float,
    ) -> bool:
        """As `SessionStore.update`."""
        ...

    def delete(self, key_hash: str) -> None:
        """As `SessionStore.delete`."""
        ...

    def list_user(self, user_id: str, *, now: float) -> list[SessionInfo]:
        """As `SessionStore.list_user`."""
        ...

    def delete_user(self, user_id: str, *, keep: str | None = None) -> int:
        """As `SessionStore.delete_user`."""
        ...

    def purge_expired(self, *, now: float, batch_size: int = 1000) -> Iterator[int]:
        """As `SessionStore.purge_expired`: bounded batches, each count yielded."""
        ...

    def close(self) -> None:
        """As `SessionStore.close` (a later call reconnects)."""
        ...
