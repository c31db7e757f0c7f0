"""The SQL text of `SQLiteStore`, built once per table name.

Only the validated table name is ever formatted into SQL; every value is a bound parameter.
"""

# ruff: noqa: S608

from __future__ import annotations


class Statements:
    """Every statement the store runs against `table` and its counters table."""

    def __init__(self, table: str) -> None:
        t, c = table, f"{table}_counters"
        self.schema = (
            f"CREATE TABLE IF NOT EXISTS {t} (key TEXT PRIMARY KEY, data TEXT NOT NULL,"
            " user_id TEXT, created_at REAL NOT NULL, last_seen REAL NOT NULL,"
            " expires_at REAL NOT NULL, user_agent TEXT, client_address TEXT) WITHOUT ROWID;"
            f"CREATE INDEX IF NOT EXISTS {t}_user ON {t} (user_id) WHERE user_id IS NOT NULL;"
            f"CREATE INDEX IF NOT EXISTS {t}_expiry ON {t} (expires_at);"
            f"CREATE TABLE IF NOT EXISTS {c} (key TEXT PRIMARY KEY, count INTEGER NOT NULL,"
            " window_end REAL NOT NULL) WITHOUT ROWID;"
        )
        self.load = (
            f"SELECT data, user_id, created_at, last_seen, expires_at, user_agent,"
            f" client_address FROM {t}"
            " WHERE key = ? AND expires_at > ?"
        )
        self.insert = (
            f"INSERT INTO {t} (key, data, user_id, created_at, last_seen, expires_at,"
            " user_agent, client_address) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
        )
        self.added_columns = ((t, "client_address", "TEXT"),)
        """Columns newer than the first schema: added in place to an older table."""
        self.delete = f"DELETE FROM {t} WHERE key = ?"
        self.update_head = f"UPDATE {t} SET "
        self.update_tail = ", last_seen = ?, expires_at = ? WHERE key = ? AND expires_at > ?"
        self.select_data = f"SELECT data FROM {t} WHERE key = ? AND expires_at > ?"
        self.list_user = (
            f"SELECT key, created_at, last_seen, expires_at, user_agent, client_address FROM {t}"
            " WHERE user_id = ? AND expires_at > ? ORDER BY last_seen DESC"
        )
        self.delete_user = f"DELETE FROM {t} WHERE user_id = ? AND key != ?"
        self.purge = (
            f"DELETE FROM {t} WHERE key IN (SELECT key FROM {t} WHERE expires_at <= ? LIMIT ?)"
        )
        self.purge_counters = (
            f"DELETE FROM {c} WHERE key IN (SELECT key FROM {c} WHERE window_end <= ? LIMIT ?)"
        )
        self.hit = (
            f"INSERT INTO {c} (key, count, window_end) VALUES (?, 1, ?)"
            " ON CONFLICT (key) DO UPDATE SET"
            " count = CASE WHEN window_end <= ? THEN 1 ELSE count + 1 END,"
            " window_end = CASE WHEN window_end <= ? THEN excluded.window_end ELSE window_end END"
            " WHERE window_end <= ? OR count < ?"
            " RETURNING count, window_end"
        )
        self.release = (
            f"UPDATE {c} SET count = count - 1 WHERE key = ? AND window_end > ? AND count > 0"
        )
        self.peek = f"SELECT count, window_end FROM {c} WHERE key = ? AND window_end > ?"
        self.reset = f"DELETE FROM {c} WHERE key = ?"

    def update(self, deleted: int, changed: int) -> str:
        """A delta: remove `deleted` keys, then set `changed` keys (paths and JSON values)."""
        expr = "data"
        if deleted:
            expr = f"json_remove(data{', ?' * deleted})"
        if changed:
            expr = f"json_set({expr}{', ?, json(?)' * changed})"
        return f"{self.update_head}data = {expr}{self.update_tail}"
