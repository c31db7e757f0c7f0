"""What `SQLiteStore` and `SyncSQLiteStore` run on a connection, written once for both.

The two stores differ only in how a connection is got and how a held write lock is waited
for (`sqlite_db.SQLiteDatabase` on the event loop, `sqlite_db.SyncSQLiteDatabase` in
threads). Everything else lives here: the parameters of each statement, the operations that
need several statements (id cycling, the read-modify-write fallback, a counter hit at its
limit, a WAL checkpoint), and how rows become records.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Collection, Mapping
from typing import Any

from cookieguard.stores._json import decode, dumps, encode_value
from cookieguard.stores._sqlite_sql import Statements
from cookieguard.stores.base import SessionInfo, SessionRecord

__all__ = [
    "checkpoint",
    "create_op",
    "hit_op",
    "infos",
    "record",
    "rmw_op",
    "update_statement",
]

# Keys SQLite's JSON path syntax can address exactly: nothing JSON would escape.
_UNSAFE_KEY = re.compile(r'["\\\x00-\x1f]')
_NO_LIMIT = 1 << 62  # a `hit` without a limit
WAL_LIMIT = 2000
"""Frames (pages) in the WAL past which a checkpoint may hold writers off (RESTART)."""

_PATHS: dict[str, str] = {}


def _json_path(name: str) -> str | None:
    """``$."name"`` for SQLite's JSON functions, or None if the name needs escaping."""
    if _UNSAFE_KEY.search(name):
        return None
    path = f'$."{name}"'
    if len(_PATHS) < 4096:  # session keys are a small, app-defined set
        _PATHS[name] = path
    return path


def record(row: Any) -> SessionRecord:
    """The record of a `Statements.load` row."""
    return SessionRecord(decode(row[0]), row[1], row[2], row[3], row[4], row[5], row[6])


def infos(rows: list[Any], user_id: str) -> list[SessionInfo]:
    """The session list of `Statements.list_user` rows."""
    return [SessionInfo(r[0], user_id, r[1], r[2], r[3], r[4], r[5]) for r in rows]


def create_op(
    sql: Statements, key_hash: str, rec: SessionRecord, replaces: str | None
) -> Callable[[sqlite3.Connection], None]:
    """Insert `rec`; with `replaces`, delete that one in the same transaction.

    Raises `sqlite3.IntegrityError` when `key_hash` exists (the caller's `KeyCollision`).
    """
    params = (
        key_hash,
        dumps(rec.data),
        rec.user_id,
        rec.created_at,
        rec.last_seen,
        rec.expires_at,
        rec.user_agent,
        rec.client_address,
    )

    def op(conn: sqlite3.Connection) -> None:
        if replaces is None:
            conn.execute(sql.insert, params)
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(sql.delete, (replaces,))
            conn.execute(sql.insert, params)
        except BaseException:
            conn.rollback()
            raise
        conn.execute("COMMIT")

    return op


def update_statement(
    sql: Statements,
    cache: dict[tuple[int, int], str],
    key_hash: str,
    set_items: Mapping[str, Any],
    delete_keys: Collection[str],
    last_seen: float,
    expires_at: float,
    now: float,
) -> tuple[str, list[Any]] | None:
    """The one UPDATE applying a delta, or None when a key needs `rmw_op` instead.

    `cache` keeps the SQL per (deleted, changed) count, per store.
    """
    params: list[Any] = []
    paths = _PATHS  # looked up inline: this runs on every save
    for name in delete_keys:
        if (path := paths.get(name) or _json_path(name)) is None:
            return None
        params.append(path)
    for name, value in set_items.items():
        if (path := paths.get(name) or _json_path(name)) is None:
            return None
        params.append(path)
        params.append(encode_value(value))
    params += (last_seen, expires_at, key_hash, now)
    shape = (len(delete_keys), len(set_items))
    if (text := cache.get(shape)) is None:
        text = cache[shape] = sql.update(*shape)
    return text, params


def rmw_op(
    sql: Statements,
    key_hash: str,
    set_items: Mapping[str, Any],
    delete_keys: Collection[str],
    last_seen: float,
    expires_at: float,
    now: float,
) -> Callable[[sqlite3.Connection], bool]:
    """A delta as read-modify-write inside ``BEGIN IMMEDIATE``, for keys JSON paths can't
    name. Encodes the values first, so an unencodable one fails before anything changes."""
    encoded = {k: encode_value(v) for k, v in set_items.items()}

    def op(conn: sqlite3.Connection) -> bool:
        conn.execute("BEGIN IMMEDIATE")
        try:
            row = conn.execute(sql.select_data, (key_hash, now)).fetchone()
            if row is None:
                conn.execute("COMMIT")
                return False
            data = decode(row[0])
            for key in delete_keys:
                data.pop(key, None)
            data.update({k: decode(v) for k, v in encoded.items()})
            text = f"{sql.update_head}data = ?{sql.update_tail}"
            conn.execute(text, (dumps(data), last_seen, expires_at, key_hash, now))
        except BaseException:
            conn.rollback()
            raise
        conn.execute("COMMIT")
        return True

    return op


def hit_op(
    sql: Statements, key: str, window: int, now: float, limit: int | None
) -> Callable[[sqlite3.Connection], tuple[int, float, bool]]:
    """Count one event: (count, window end, whether anything was written).

    At the limit nothing is written and the answer is ``(limit + 1, window end)``.
    """
    params = (key, now + window, now, now, now, _NO_LIMIT if limit is None else limit)

    def op(conn: sqlite3.Connection) -> tuple[int, float, bool]:
        rows = conn.execute(sql.hit, params).fetchall()
        if rows:
            return rows[0][0], rows[0][1], True
        assert limit is not None
        counter = conn.execute(sql.peek, (key, now)).fetchone()
        return limit + 1, counter[1] if counter is not None else now + 1, False

    return op


def checkpoint(conn: sqlite3.Connection) -> None:
    """PASSIVE, then RESTART if the WAL is still long.

    PASSIVE never blocks anyone, but the WAL restarts from its start only when a write
    begins right after a complete checkpoint, which steady traffic may never allow. Past
    `WAL_LIMIT` frames, RESTART copies the few frames PASSIVE left and makes the next write
    restart the log, holding writers off briefly (they back off and retry).
    """
    _, frames, _ = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    if frames > WAL_LIMIT:
        conn.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()
