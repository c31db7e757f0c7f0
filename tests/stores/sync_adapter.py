"""`AsyncView`: a sync store seen through the async `SessionStore` interface, for the tests.

The contract suite is written once, against `SessionStore`. Wrapping a sync store here lets
the same test bodies hold the sync stores to it: every call runs in a worker thread
(`asyncio.to_thread`), so the suite's concurrent calls (`asyncio.gather`) become concurrent
threads on one sync store, which is how a threaded WSGI server uses it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Collection, Mapping
from typing import Any

from cookieguard.stores.base import SessionInfo, SessionRecord, SyncSessionStore


class AsyncView:
    """The async face of `sync`; `sync` itself stays reachable for backend-specific helpers."""

    def __init__(self, sync: SyncSessionStore) -> None:
        self.sync = sync

    def __repr__(self) -> str:
        return f"AsyncView({type(self.sync).__name__})"

    async def load(self, key_hash: str, *, now: float) -> SessionRecord | None:
        return await asyncio.to_thread(self.sync.load, key_hash, now=now)

    async def create(
        self, key_hash: str, record: SessionRecord, *, replaces: str | None = None
    ) -> None:
        await asyncio.to_thread(self.sync.create, key_hash, record, replaces=replaces)

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
        return await asyncio.to_thread(
            self.sync.update,
            key_hash,
            set_items=set_items,
            delete_keys=delete_keys,
            last_seen=last_seen,
            expires_at=expires_at,
            now=now,
        )

    async def delete(self, key_hash: str) -> None:
        await asyncio.to_thread(self.sync.delete, key_hash)

    async def list_user(self, user_id: str, *, now: float) -> list[SessionInfo]:
        return await asyncio.to_thread(self.sync.list_user, user_id, now=now)

    async def delete_user(self, user_id: str, *, keep: str | None = None) -> int:
        return await asyncio.to_thread(self.sync.delete_user, user_id, keep=keep)

    async def purge_expired(self, *, now: float, batch_size: int = 1000) -> AsyncIterator[int]:
        batches = self.sync.purge_expired(now=now, batch_size=batch_size)
        while (count := await asyncio.to_thread(next, batches, None)) is not None:
            yield count

    async def close(self) -> None:
        await asyncio.to_thread(self.sync.close)

    async def hit(
        self, key: str, *, window: int, now: float, limit: int | None = None
    ) -> tuple[int, float]:
        return await asyncio.to_thread(self.sync.hit, key, window=window, now=now, limit=limit)

    async def release(self, key: str, *, now: float) -> None:
        await asyncio.to_thread(self.sync.release, key, now=now)

    async def peek(self, key: str, *, now: float) -> tuple[int, float] | None:
        return await asyncio.to_thread(self.sync.peek, key, now=now)

    async def reset(self, key: str) -> None:
        await asyncio.to_thread(self.sync.reset, key)
