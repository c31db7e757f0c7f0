"""`SQLiteStore` for threaded (WSGI) servers: the same file, SQL and operations, blocking.

Only the I/O is this module's: statements run through `SyncSQLiteDatabase` (a connection per
concurrent thread, the same 0600 file creation and the same back-off on another process's
write lock as the async store), and the parameters, multi-statement operations and row
decoding are `_sqlite_ops`, which `SQLiteStore` uses too. Both stores can share one file.

WAL checkpoints follow the async store's policy (PASSIVE every `checkpoint_every` writes,
RESTART when the log stays long), run by the thread whose write reached the count; no
event loop exists to keep free, so no extra thread is needed.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Collection, Iterator, Mapping
from typing import Any

from cookieguard.errors import StoreUnavailable
from cookieguard.stores import _sqlite_ops as ops
from cookieguard.stores._names import check_table_name
from cookieguard.stores._sqlite_sql import Statements
from cookieguard.stores.base import KeyCollision, SessionInfo, SessionRecord
from cookieguard.stores.sqlite_db import SyncSQLiteDatabase

__all__ = ["SyncSQLiteStore"]


class SyncSQLiteStore:
    """Sessions and counters in one SQLite database file, for threaded code.

    Args: as `SQLiteStore` (`path`, `table`, `lock_timeout`, `checkpoint_every`).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        table: str = "cookieguard_sessions",
        lock_timeout: float = 5.0,
        checkpoint_every: int = 1000,
    ) -> None:
        check_table_name(table)
        self.path: str = os.fspath(path)
        self.table = table
        self.checkpoint_every = checkpoint_every
        self._sql = Statements(table)
        self._db = SyncSQLiteDatabase(
            self.path,
            schema=self._sql.schema,
            lock_timeout=lock_timeout,
            label="sqlite store",
            autocheckpoint=False,  # see _wrote()
        )
        self._db.added_columns = self._sql.added_columns
        self._update_sqls: dict[tuple[int, int], str] = {}
        self._writes = 0
        self._checkpointing = threading.Lock()

    @property
    def lock_timeout(self) -> float:
        """Seconds to keep retrying while other processes hold the write lock."""
        return self._db.lock_timeout

    @lock_timeout.setter
    def lock_timeout(self, seconds: float) -> None:
        self._db.lock_timeout = seconds

    def _wrote(self) -> None:
        """Count a write; every `checkpoint_every` writes, checkpoint in this thread."""
        self._writes += 1  # racy under threads: a checkpoint a few writes late is fine
        if self._writes < self.checkpoint_every or self.path == ":memory:":
            return
        if not self._checkpointing.acquire(blocking=False):
            return  # another thread is at it
        try:
            self._writes = 0
            self._db.run(ops.checkpoint)
        except StoreUnavailable:
            pass  # already logged; the next one will try again
        finally:
            self._checkpointing.release()

    def close(self) -> None:
        """Close the idle connections; those in use close when their thread gives them back.
        The next call opens new ones.
        """
        self._db.close()

    # -- sessions -------------------------------------------------------------------------

    def load(self, key_hash: str, *, now: float) -> SessionRecord | None:
        """One SELECT on the calling thread's connection (expired rows are filtered in SQL)."""
        sql, params = self._sql.load, (key_hash, now)
        row = self._db.run(lambda c: c.execute(sql, params).fetchone())
        return None if row is None else ops.record(row)

    def create(self, key_hash: str, record: SessionRecord, *, replaces: str | None = None) -> None:
        """INSERT in one transaction that also deletes `replaces`; the primary key turns a taken
        `key_hash` into `KeyCollision`.
        """
        op = ops.create_op(self._sql, key_hash, record, replaces)
        try:
            self._db.run(op)
        except sqlite3.IntegrityError:
            raise KeyCollision(key_hash[:12]) from None
        self._wrote()

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
        """One UPDATE with `json_remove`/`json_set` guarded by ``expires_at > now``, atomic across
        processes; keys JSON paths can't name use a read-modify-write under ``BEGIN IMMEDIATE``.
        False (no row matched) when the record is gone or expired.
        """
        statement = ops.update_statement(
            self._sql,
            self._update_sqls,
            key_hash,
            set_items,
            delete_keys,
            last_seen,
            expires_at,
            now,
        )
        if statement is None:
            rmw = ops.rmw_op(
                self._sql, key_hash, set_items, delete_keys, last_seen, expires_at, now
            )
            return self._db.run(rmw)
        sql, params = statement
        count = self._db.run(lambda c: c.execute(sql, params).rowcount)
        self._wrote()
        return count == 1

    def delete(self, key_hash: str) -> None:
        """One DELETE by key hash; no row is not an error."""
        self._db.run(lambda c: c.execute(self._sql.delete, (key_hash,)))
        self._wrote()

    def list_user(self, user_id: str, *, now: float) -> list[SessionInfo]:
        """One SELECT on the `user_id` index of the live rows, most recently seen first."""
        rows = self._db.run(lambda c: c.execute(self._sql.list_user, (user_id, now)).fetchall())
        return ops.infos(rows, user_id)

    def delete_user(self, user_id: str, *, keep: str | None = None) -> int:
        """One DELETE of the user's rows except `keep`; its row count is the answer."""
        params = (user_id, keep or "")
        count: int = self._db.run(lambda c: c.execute(self._sql.delete_user, params).rowcount)
        self._wrote()
        return count

    def purge_expired(self, *, now: float, batch_size: int = 1000) -> Iterator[int]:
        """DELETE up to `batch_size` expired rows per transaction, each on a pooled
        connection, then finished counters.
        """
        purge, counters = self._sql.purge, self._sql.purge_counters
        while count := self._db.run(lambda c: c.execute(purge, (now, batch_size)).rowcount):
            yield count
        while self._db.run(lambda c: c.execute(counters, (now, batch_size)).rowcount):
            pass

    # -- counters -------------------------------------------------------------------------

    def hit(
        self, key: str, *, window: int, now: float, limit: int | None = None
    ) -> tuple[int, float]:
        """One upserting statement in the database, so processes sharing the file never take a
        counter past `limit`; at the limit nothing is written and the window end is read back.
        """
        count, ends, wrote = self._db.run(ops.hit_op(self._sql, key, window, now, limit))
        if wrote:
            self._wrote()
        return count, ends

    def release(self, key: str, *, now: float) -> None:
        """One UPDATE taking an event back from the live window (never below zero)."""
        self._db.run(lambda c: c.execute(self._sql.release, (key, now)))
        self._wrote()

    def peek(self, key: str, *, now: float) -> tuple[int, float] | None:
        """One SELECT of the live window's (count, window end)."""
        row = self._db.run(lambda c: c.execute(self._sql.peek, (key, now)).fetchone())
        return None if row is None else (row[0], row[1])

    def reset(self, key: str) -> None:
        """One DELETE of the counter row."""
        self._db.run(lambda c: c.execute(self._sql.reset, (key,)))
