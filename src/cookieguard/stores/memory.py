"""In-process session stores: for tests, development and single-process apps.

Memory has no I/O, so the logic is written once, as plain methods of `_MemoryCore`, and both
flavours call it: `MemoryStore` (async) without a lock, because its methods never `await`
and so each is atomic on its event loop, which is exactly the delta semantics the real
backends provide; `SyncMemoryStore` (threaded WSGI servers) under one `threading.Lock`.
Values are kept JSON-encoded per key, so the memory stores accept and return exactly what
SQLite, PostgreSQL and Redis do (a tuple comes back as a list; a non-JSON value fails at save
time here too).
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Collection, Iterator, Mapping
from typing import Any

from cookieguard.stores._json import decode, encode_value
from cookieguard.stores.base import KeyCollision, SessionInfo, SessionRecord

__all__ = ["MemoryStore", "SyncMemoryStore"]

# Decoded JSON values of these types are immutable, so one decoded dict can be copied out.
_SCALARS = frozenset({str, int, float, bool, type(None)})


class _Row:
    __slots__ = (
        "client_address",
        "created_at",
        "data",
        "expires_at",
        "last_seen",
        "plain",
        "user_agent",
        "user_id",
    )

    def __init__(self, record: SessionRecord, data: dict[str, str]) -> None:
        self.data = data
        # The decoded data, kept after the first load when every value is a scalar; dropped
        # whenever the data changes. Loads then copy a dict instead of decoding JSON.
        self.plain: dict[str, Any] | None = None
        self.user_id = record.user_id
        self.created_at = record.created_at
        self.last_seen = record.last_seen
        self.expires_at = record.expires_at
        self.user_agent = record.user_agent
        self.client_address = record.client_address


class _MemoryCore:
    """Sessions and counters in plain dicts: the logic both memory stores share (not locked)."""

    def __init__(self) -> None:
        self._rows: dict[str, _Row] = {}
        self._by_user: dict[str, set[str]] = {}
        self._counters: dict[str, tuple[int, float]] = {}

    def __len__(self) -> int:
        """Number of stored records, live or expired (handy in tests)."""
        return len(self._rows)

    def _load(self, key_hash: str, now: float) -> SessionRecord | None:
        row = self._rows.get(key_hash)
        if row is None or row.expires_at <= now:
            return None
        plain = row.plain
        if plain is not None:
            data = dict(plain)
        else:
            # One decoder call for all values (each a complete JSON text) is 2x faster.
            data = dict(zip(row.data, decode(f"[{','.join(row.data.values())}]"), strict=True))
            if _SCALARS.issuperset(map(type, data.values())):
                row.plain = dict(data)
        # Positional: keyword arguments cost a dataclass __init__ more, on every request.
        return SessionRecord(
            data,
            row.user_id,
            row.created_at,
            row.last_seen,
            row.expires_at,
            row.user_agent,
            row.client_address,
        )

    def _create(self, key_hash: str, record: SessionRecord, replaces: str | None) -> None:
        if key_hash in self._rows:
            raise KeyCollision(key_hash[:12])
        data = {k: encode_value(v) for k, v in record.data.items()}  # may raise before any change
        if replaces is not None:
            self._drop(replaces)
        self._rows[key_hash] = _Row(record, data)
        if record.user_id is not None:
            self._by_user.setdefault(record.user_id, set()).add(key_hash)

    def _update(
        self,
        key_hash: str,
        set_items: Mapping[str, Any],
        delete_keys: Collection[str],
        last_seen: float,
        expires_at: float,
        now: float,
    ) -> bool:
        row = self._rows.get(key_hash)
        if row is None or row.expires_at <= now:
            return False
        encoded = {k: encode_value(v) for k, v in set_items.items()}  # may raise before any change
        data = row.data
        if encoded or delete_keys:
            row.plain = None
        for key in delete_keys:
            data.pop(key, None)
        data.update(encoded)
        row.last_seen = last_seen
        row.expires_at = expires_at
        return True

    def _list_user(self, user_id: str, now: float) -> list[SessionInfo]:
        infos = [
            SessionInfo(
                key_hash=key,
                user_id=user_id,
                created_at=row.created_at,
                last_seen=row.last_seen,
                expires_at=row.expires_at,
                user_agent=row.user_agent,
                client_address=row.client_address,
            )
            for key in self._by_user.get(user_id, ())
            if (row := self._rows[key]).expires_at > now
        ]
        infos.sort(key=lambda info: info.last_seen, reverse=True)
        return infos

    def _delete_user(self, user_id: str, keep: str | None) -> int:
        doomed = [key for key in self._by_user.get(user_id, ()) if key != keep]
        for key in doomed:
            self._drop(key)
        return len(doomed)

    def _purge_counters(self, now: float) -> None:
        # Finished counter windows go too (uncounted): they would otherwise pile up forever.
        for key in [k for k, (_, ends) in self._counters.items() if ends <= now]:
            del self._counters[key]

    def _purge_batch(self, now: float, batch_size: int) -> int:
        """Delete up to `batch_size` expired records; how many went (0: none left)."""
        batch: list[str] = []
        for key, row in self._rows.items():
            if row.expires_at <= now:
                batch.append(key)
                if len(batch) >= batch_size:
                    break
        for key in batch:
            self._drop(key)
        return len(batch)

    def _hit(self, key: str, window: int, now: float, limit: int | None) -> tuple[int, float]:
        count, ends = self._counters.get(key, (0, 0.0))
        if ends <= now:
            count, ends = 0, now + window
        elif limit is not None and count >= limit:
            return limit + 1, ends
        self._counters[key] = (count + 1, ends)
        return count + 1, ends

    def _release(self, key: str, now: float) -> None:
        entry = self._counters.get(key)
        if entry is not None and entry[1] > now and entry[0] > 0:
            self._counters[key] = (entry[0] - 1, entry[1])

    def _peek(self, key: str, now: float) -> tuple[int, float] | None:
        entry = self._counters.get(key)
        if entry is None or entry[1] <= now:
            return None
        return entry

    def _drop(self, key_hash: str) -> None:
        row = self._rows.pop(key_hash, None)
        if row is not None and row.user_id is not None:
            keys = self._by_user.get(row.user_id)
            if keys is not None:
                keys.discard(key_hash)
                if not keys:
                    del self._by_user[row.user_id]


class MemoryStore(_MemoryCore):
    """Sessions and counters in plain dicts, lost when the process exits.

    Not shared between worker processes: use `SQLiteStore` for a single host with several
    workers. For threaded (WSGI) code use `SyncMemoryStore`.
    """

    async def load(self, key_hash: str, *, now: float) -> SessionRecord | None:
        """The live record, decoded from the JSON kept per key (a fresh dict on each call)."""
        return self._load(key_hash, now)

    async def create(
        self, key_hash: str, record: SessionRecord, *, replaces: str | None = None
    ) -> None:
        """Insert the record, dropping `replaces` in the same step. Values are JSON-encoded first,
        so an unencodable one raises before anything changes.
        """
        self._create(key_hash, record, replaces)

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
        """Apply the delta to the stored dict in place, encoding the new values first (an
        unencodable one raises with nothing changed). False when the record is gone or expired.
        """
        return self._update(key_hash, set_items, delete_keys, last_seen, expires_at, now)

    async def delete(self, key_hash: str) -> None:
        """Drop the record and its entry in the user index; an unknown key is a no-op."""
        self._drop(key_hash)

    async def list_user(self, user_id: str, *, now: float) -> list[SessionInfo]:
        """The user's live sessions from the in-process user index, most recently seen first."""
        return self._list_user(user_id, now)

    async def delete_user(self, user_id: str, *, keep: str | None = None) -> int:
        """Drop the user's sessions except `keep`, using the in-process user index."""
        return self._delete_user(user_id, keep)

    async def purge_expired(self, *, now: float, batch_size: int = 1000) -> AsyncIterator[int]:
        """Drop finished counter windows, then expired records `batch_size` at a time."""
        self._purge_counters(now)
        while count := self._purge_batch(now, batch_size):
            yield count

    async def close(self) -> None:
        """Nothing to release; the data stays for the store's lifetime."""

    async def hit(
        self, key: str, *, window: int, now: float, limit: int | None = None
    ) -> tuple[int, float]:
        """Count one event in the in-process counter table (never written past `limit`)."""
        return self._hit(key, window, now, limit)

    async def release(self, key: str, *, now: float) -> None:
        """Take one event back from the live window; finished windows are left alone."""
        self._release(key, now)

    async def peek(self, key: str, *, now: float) -> tuple[int, float] | None:
        """The live window's (count, window end), or None when it has ended or never began."""
        return self._peek(key, now)

    async def reset(self, key: str) -> None:
        """Forget the counter; an unknown key is a no-op."""
        self._counters.pop(key, None)


class SyncMemoryStore(_MemoryCore):
    """`MemoryStore` for threaded (WSGI) servers: the same logic, each call under one lock.

    Not shared between worker processes: use `SyncSQLiteStore` for a single host with
    several workers.
    """

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()

    def load(self, key_hash: str, *, now: float) -> SessionRecord | None:
        """The live record, decoded under the lock (a fresh dict each call)."""
        with self._lock:
            return self._load(key_hash, now)

    def create(self, key_hash: str, record: SessionRecord, *, replaces: str | None = None) -> None:
        """Insert the record, dropping `replaces` in the same step. Values are JSON-encoded first,
        so an unencodable one raises before anything changes.
        """
        with self._lock:
            self._create(key_hash, record, replaces)

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
        """Apply the delta to the stored dict in place, encoding the new values first (an
        unencodable one raises with nothing changed). False when the record is gone or expired.
        """
        with self._lock:
            return self._update(key_hash, set_items, delete_keys, last_seen, expires_at, now)

    def delete(self, key_hash: str) -> None:
        """Drop the record and its entry in the user index; an unknown key is a no-op."""
        with self._lock:
            self._drop(key_hash)

    def list_user(self, user_id: str, *, now: float) -> list[SessionInfo]:
        """The user's live sessions from the in-process user index, most recently seen first."""
        with self._lock:
            return self._list_user(user_id, now)

    def delete_user(self, user_id: str, *, keep: str | None = None) -> int:
        """Drop the user's sessions except `keep`, using the in-process user index."""
        with self._lock:
            return self._delete_user(user_id, keep)

    def purge_expired(self, *, now: float, batch_size: int = 1000) -> Iterator[int]:
        """Drop finished counter windows, then expired records: each batch takes the lock
        on its own, so requests run between batches.
        """
        with self._lock:
            self._purge_counters(now)
        while True:
            with self._lock:  # one batch at a time: requests run between batches
                count = self._purge_batch(now, batch_size)
            if not count:
                return
            yield count

    def close(self) -> None:
        """Nothing to release; the data stays for the store's lifetime."""

    def hit(
        self, key: str, *, window: int, now: float, limit: int | None = None
    ) -> tuple[int, float]:
        """Count one event under the lock, so threads never take a counter past `limit`."""
        with self._lock:
            return self._hit(key, window, now, limit)

    def release(self, key: str, *, now: float) -> None:
        """Take one event back from the live window; finished windows are left alone."""
        with self._lock:
            self._release(key, now)

    def peek(self, key: str, *, now: float) -> tuple[int, float] | None:
        """The live window's (count, window end), or None when it has ended or never began."""
        with self._lock:
            return self._peek(key, now)

    def reset(self, key: str) -> None:
        """Forget the counter; an unknown key is a no-op."""
        with self._lock:
            self._counters.pop(key, None)
