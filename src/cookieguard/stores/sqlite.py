"""The embedded default store: one SQLite file in WAL mode, shareable by several processes.

Point queries run inline on the event-loop thread through `SQLiteDatabase` (see
`cookieguard.stores.sqlite_db` for why, and how a held write lock is waited for without
putting the loop to sleep); the hot ones try the open connection directly first. The slow
jobs run in a worker thread on a second connection: `purge_expired` (in short batches) and
WAL checkpoints, which SQLite would otherwise run inside a commit on the loop every 1000 pages.

Deltas are one UPDATE with `json_remove`/`json_set`, atomic across processes; a session key
that SQLite's JSON paths cannot express (one containing a quote, backslash or control
character) falls back to a read-modify-write inside `BEGIN IMMEDIATE`. The statements and
operations are `_sqlite_ops`, shared with `SyncSQLiteStore`; this module is only the I/O.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable, Collection, Mapping
from typing import Any, TypeVar

from cookieguard.errors import StoreUnavailable
from cookieguard.stores import _sqlite_ops as ops
from cookieguard.stores._names import check_table_name
from cookieguard.stores._sqlite_sql import Statements
from cookieguard.stores.base import KeyCollision, SessionInfo, SessionRecord
from cookieguard.stores.sqlite_db import SQLiteDatabase

__all__ = ["SQLiteStore"]

_log = logging.getLogger("cookieguard.stores")

T = TypeVar("T")


class SQLiteStore:
    """Sessions and counters in one SQLite database file.

    Args:
        path: The database file (created if missing, owner-only 0600 like its -wal and
            -shm files; its directory must exist), or ``":memory:"`` for a private in-memory
            database. An existing file keeps its mode (one warning if others may read it).
        table: Name of the sessions table; the counters table gets a ``_counters`` suffix.
        lock_timeout: Seconds to keep retrying while other processes hold the write lock
            before giving up with `StoreUnavailable`.
        checkpoint_every: Writes between two background WAL checkpoints (keeps the WAL
            file small without ever checkpointing on the event loop).
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
        self._writes = 0
        self._checkpoint: asyncio.Task[None] | None = None
        self._sql = Statements(table)
        self._db = SQLiteDatabase(
            self.path,
            schema=self._sql.schema,
            lock_timeout=lock_timeout,
            label="sqlite store",
            autocheckpoint=False,  # see _wrote()
        )
        self._db.added_columns = self._sql.added_columns
        self._purge_conn: sqlite3.Connection | None = None
        self._purge_lock = threading.Lock()
        self._update_sqls: dict[tuple[int, int], str] = {}  # by (deleted, changed) counts

    # -- connection handling -------------------------------------------------------------

    @property
    def lock_timeout(self) -> float:
        """Seconds to keep retrying while other processes hold the write lock."""
        return self._db.lock_timeout

    @lock_timeout.setter
    def lock_timeout(self, seconds: float) -> None:
        self._db.lock_timeout = seconds

    async def _run(self, op: Callable[[sqlite3.Connection], T]) -> T:
        return await self._db.run(op)

    def _wrote(self) -> None:
        """Count a write; every `checkpoint_every` writes, checkpoint in a worker thread."""
        self._writes += 1
        if (
            self._writes >= self.checkpoint_every
            and self._checkpoint is None
            and self.path != ":memory:"
        ):
            self._writes = 0
            task = asyncio.get_running_loop().create_task(self._run_checkpoint())
            self._checkpoint = task

    async def _run_checkpoint(self) -> None:
        try:
            await self._in_thread(ops.checkpoint)
        except StoreUnavailable:
            pass  # already logged; the next one will try again
        finally:
            self._checkpoint = None

    async def close(self) -> None:
        """Wait for a running WAL checkpoint, then close the loop's connection and the background
        one. The next call reopens them.
        """
        if self._checkpoint is not None:
            await self._checkpoint
        self._db.close()
        with self._purge_lock:
            conn, self._purge_conn = self._purge_conn, None
            if conn is not None:
                conn.close()

    # -- sessions -------------------------------------------------------------------------

    async def load(self, key_hash: str, *, now: float) -> SessionRecord | None:
        """One SELECT on the loop's connection (expired rows are filtered in SQL); the retrying
        path only when the connection is missing or the statement fails.
        """
        sql, params = self._sql.load, (key_hash, now)
        conn = self._db.conn
        try:  # the common case, without the retry machinery
            row = conn.execute(sql, params).fetchone() if conn else None
        except sqlite3.Error:
            conn = None
        if conn is None:
            row = await self._run(lambda c: c.execute(sql, params).fetchone())
        return None if row is None else ops.record(row)

    async def create(
        self, key_hash: str, record: SessionRecord, *, replaces: str | None = None
    ) -> None:
        """INSERT in one transaction that also deletes `replaces`; the primary key turns a taken
        `key_hash` into `KeyCollision`.
        """
        op = ops.create_op(self._sql, key_hash, record, replaces)
        try:
            await self._run(op)
        except sqlite3.IntegrityError:
            raise KeyCollision(key_hash[:12]) from None
        self._wrote()

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
            return await self._run(rmw)
        sql, params = statement
        conn = self._db.conn
        try:  # the common case, without the retry machinery
            count = conn.execute(sql, params).rowcount if conn else -1
        except sqlite3.Error:
            count = -1
        if count < 0:
            count = await self._run(lambda c: c.execute(sql, params).rowcount)
        self._wrote()
        return count == 1

    async def delete(self, key_hash: str) -> None:
        """One DELETE by key hash; no row is not an error."""
        await self._run(lambda c: c.execute(self._sql.delete, (key_hash,)))
        self._wrote()

    async def list_user(self, user_id: str, *, now: float) -> list[SessionInfo]:
        """One SELECT on the `user_id` index of the live rows, most recently seen first."""
        rows = await self._run(lambda c: c.execute(self._sql.list_user, (user_id, now)).fetchall())
        return ops.infos(rows, user_id)

    async def delete_user(self, user_id: str, *, keep: str | None = None) -> int:
        """One DELETE of the user's rows except `keep`; its row count is the answer."""
        params = (user_id, keep or "")
        count = await self._run(lambda c: c.execute(self._sql.delete_user, params).rowcount)
        self._wrote()
        return count

    async def purge_expired(self, *, now: float, batch_size: int = 1000) -> AsyncIterator[int]:
        """DELETE up to `batch_size` expired rows per transaction on the background
        connection in a worker thread (the loop's own for ``:memory:``), then finished counters.
        """
        if self.path == ":memory:":  # a second connection would see another database
            while count := await self._run(
                lambda c: c.execute(self._sql.purge, (now, batch_size)).rowcount
            ):
                yield count
            await self._run(lambda c: c.execute(self._sql.purge_counters, (now, 1 << 30)))
            return
        purge, counters = self._sql.purge, self._sql.purge_counters
        while count := await self._in_thread(
            lambda c: c.execute(purge, (now, batch_size)).rowcount
        ):
            yield count
        while await self._in_thread(lambda c: c.execute(counters, (now, batch_size)).rowcount):
            pass

    async def _in_thread(self, op: Callable[[sqlite3.Connection], T]) -> T:
        """Run `op` on the background connection in a worker thread."""

        def job() -> T:
            with self._purge_lock:
                if self._purge_conn is None:
                    self._purge_conn = self._db.open()
                try:
                    return op(self._purge_conn)
                except sqlite3.Error:
                    self._purge_conn.close()
                    self._purge_conn = None
                    raise

        try:
            return await asyncio.to_thread(job)
        except sqlite3.Error as exc:
            raise self._db.unavailable(exc) from None

    # -- counters -------------------------------------------------------------------------

    async def hit(
        self, key: str, *, window: int, now: float, limit: int | None = None
    ) -> tuple[int, float]:
        """One upserting statement in the database, so processes sharing the file never take a
        counter past `limit`; at the limit nothing is written and the window end is read back.
        """
        count, ends, wrote = await self._run(ops.hit_op(self._sql, key, window, now, limit))
        if wrote:
            self._wrote()
        return count, ends

    async def release(self, key: str, *, now: float) -> None:
        """One UPDATE taking an event back from the live window (never below zero)."""
        await self._run(lambda c: c.execute(self._sql.release, (key, now)))
        self._wrote()

    async def peek(self, key: str, *, now: float) -> tuple[int, float] | None:
        """One SELECT of the live window's (count, window end)."""
        row = await self._run(lambda c: c.execute(self._sql.peek, (key, now)).fetchone())
        return None if row is None else (row[0], row[1])

    async def reset(self, key: str) -> None:
        """One DELETE of the counter row."""
        await self._run(lambda c: c.execute(self._sql.reset, (key,)))
