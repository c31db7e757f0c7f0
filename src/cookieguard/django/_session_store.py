"""`DjangoSessionStore`: Django's session table seen as a cookieguard `SessionStore`.

It delegates to `DjangoSessionBackend`, which owns the SQL and the key-hash -> raw-key map:
the store protocol names sessions by key hash, Django's rows by the raw key.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Collection, Mapping
from typing import TYPE_CHECKING, Any, Final

from cookieguard.errors import ConfigError
from cookieguard.stores.base import SessionInfo, SessionRecord

if TYPE_CHECKING:
    from cookieguard.django._sessions import DjangoSessionBackend

__all__ = ["DjangoSessionStore"]


class DjangoSessionStore:
    """Django's session table behind the `SessionStore` protocol, keyed by key hash.

    What the auth helpers and `Purger` need from a store works: `delete` (logout ends the
    row at once), `list_user` and `delete_user` (scans: see the module docs), `update`,
    `load` and `purge_expired` (``clearsessions``' rule; both may run). `create` does not:
    rows are created by `DjangoSessionBackend` under their raw key. Login throttle counters
    need a cookieguard store of their own (``LoginThrottle(SQLiteStore(...))``).
    """

    def __init__(self, backend: DjangoSessionBackend) -> None:
        self.backend = backend

    def __repr__(self) -> str:
        return f"DjangoSessionStore({self.backend!r})"

    async def load(self, key_hash: str, *, now: float) -> SessionRecord | None:
        """The record of a session this process knows, else None."""
        key = self.backend.known_key(key_hash)
        return None if key is None else await self.backend.load_record(key, now=now)

    async def create(
        self, key_hash: str, record: SessionRecord, *, replaces: str | None = None
    ) -> None:
        """Not supported: Django's rows are created under their raw key by the backend."""
        raise ConfigError("create Django session rows through DjangoSessionBackend")

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
        """Apply a delta to a known session's row; False if it is gone or unknown."""
        key = self.backend.known_key(key_hash)
        if key is None:
            return False
        return await self.backend.rewrite(key, set_items, delete_keys, now, expires_at)

    async def delete(self, key_hash: str) -> None:
        """Delete a known session's row now (raises `StoreUnavailable` if it is not known)."""
        await self.backend.delete_hash(key_hash)

    async def list_user(self, user_id: str, *, now: float) -> list[SessionInfo]:
        """The user's live sessions, most recently saved first (a full-table scan)."""
        return await self.backend.user_sessions(user_id, now=now)

    async def delete_user(self, user_id: str, *, keep: str | None = None) -> int:
        """Delete every row of `user_id` except `keep` (a key hash); how many (a scan)."""
        ended = 0
        for info in await self.backend.user_sessions(user_id, now=time.time()):
            if info.key_hash != keep:
                await self.backend.delete_hash(info.key_hash)
                ended += 1
        return ended

    async def purge_expired(self, *, now: float, batch_size: int = 1000) -> AsyncIterator[int]:
        """Delete expired rows in batches, yielding each batch's count."""
        while count := await self.backend.purge(now=now, batch_size=batch_size):
            yield count

    async def hit(
        self, key: str, *, window: int, now: float, limit: int | None = None
    ) -> tuple[int, float]:
        """Not supported (see the class docs)."""
        raise ConfigError(_NO_COUNTERS)

    async def release(self, key: str, *, now: float) -> None:
        """Not supported (see the class docs)."""
        raise ConfigError(_NO_COUNTERS)

    async def peek(self, key: str, *, now: float) -> tuple[int, float] | None:
        """Not supported (see the class docs)."""
        raise ConfigError(_NO_COUNTERS)

    async def reset(self, key: str) -> None:
        """Not supported (see the class docs)."""
        raise ConfigError(_NO_COUNTERS)

    async def close(self) -> None:
        """Close the backend's database connections."""
        await self.backend.close()


_NO_COUNTERS: Final = (
    "Django's session table holds sessions only: give LoginThrottle a cookieguard store "
    "(SQLiteStore, PostgresStore, RedisStore) for its counters"
)
