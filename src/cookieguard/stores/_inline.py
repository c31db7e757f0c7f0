"""Async views of blocking stores, for code shared with the async front doors.

`InlineStore` presents a `SyncSessionStore` (or just a `SyncCounterStore`) as the async
`SessionStore` protocol: each ``async def`` calls the blocking method and returns, never
suspending. The WSGI driver hands these views to the shared coroutines (session backends,
login, logout, throttling) and runs them with `cookieguard._inline.run_inline`, so both front
doors execute one body of code (see that module).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Mapping
from typing import Any

from cookieguard.stores.base import SessionInfo, SessionRecord, SyncCounterStore, SyncSessionStore

__all__ = ["InlineCounters", "InlineStore"]


class InlineCounters:
    """A `SyncCounterStore` seen as a `CounterStore` (login throttling)."""

    __slots__ = ("sync",)

    def __init__(self, sync: SyncCounterStore) -> None:
        self.sync = sync
        """The blocking store behind the view."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.sync!r})"

    async def hit(
        self, key: str, *, window: int, now: float, limit: int | None = None
    ) -> tuple[int, float]:
        return self.sync.hit(key, window=window, now=now, limit=limit)

    async def release(self, key: str, *, now: float) -> None:
        self.sync.release(key, now=now)

    async def peek(self, key: str, *, now: float) -> tuple[int, float] | None:
        return self.sync.peek(key, now=now)

    async def reset(self, key: str) -> None:
        self.sync.reset(key)


class InlineStore(InlineCounters):
    """A `SyncSessionStore` seen as a `SessionStore`."""

    __slots__ = ()

    sync: SyncSessionStore

    def __init__(self, sync: SyncSessionStore) -> None:
        super().__init__(sync)

    async def load(self, key_hash: str, *, now: float) -> SessionRecord | None:
        return self.sync.load(key_hash, now=now)

    async def create(
        self, key_hash: str, record: SessionRecord, *, replaces: str | None = None
    ) -> None:
        self.sync.create(key_hash, record, replaces=replaces)

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
        return self.sync.update(
            key_hash,
            set_items=set_items,
            delete_keys=delete_keys,
            last_seen=last_seen,
            expires_at=expires_at,
            now=now,
        )

    async def delete(self, key_hash: str) -> None:
        self.sync.delete(key_hash)

    async def list_user(self, user_id: str, *, now: float) -> list[SessionInfo]:
        return self.sync.list_user(user_id, now=now)

    async def delete_user(self, user_id: str, *, keep: str | None = None) -> int:
        return self.sync.delete_user(user_id, keep=keep)

    async def purge_expired(self, *, now: float, batch_size: int = 1000) -> AsyncIterator[int]:
        for count in self.sync.purge_expired(now=now, batch_size=batch_size):
            yield count

    async def close(self) -> None:
        self.sync.close()
