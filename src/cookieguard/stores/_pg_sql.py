"""What `PostgresStore` and `SyncPostgresStore` share: the SQL, the parameters, the results.

The two stores differ only in how a statement reaches the server (`_pgwire`'s pipelined
libpq client on the event loop; a `psycopg_pool.ConnectionPool` and a blocking wait on the
same libpq calls in threads). Both send these prepared statements with these text-format
parameters and read the same `PGresult`s (typed `Any` here: psycopg's `pq` is optional), so
the tables are one format for both.
"""

# SQL is built only from the validated table name (see check_table_name); values are always bound.
# ruff: noqa: S608

from __future__ import annotations

import zlib
from collections.abc import Collection, Mapping
from typing import Any

from cookieguard.stores._json import decode, dumps
from cookieguard.stores.base import SessionInfo, SessionRecord

__all__ = ["Statement", "Statements"]

Statement = tuple[bytes, bytes, bool]
"""(prepared name, SQL, whether it is a short per-request one that may be pipelined)."""

_NO_LIMIT = (1 << 31) - 1  # a `hit` without a limit (the count column is an integer)
SETUP = "SET extra_float_digits = 3"
"""Run on every new connection: floats print exactly (shortest round-trip form)."""


class Statements:
    """Every statement of a store on `table` and its counters table."""

    def __init__(self, table: str) -> None:
        t, c = table, f"{table}_counters"
        self.schema = (
            f"SELECT pg_advisory_xact_lock({zlib.crc32(f'cookieguard:{t}'.encode())});"
            f"CREATE TABLE IF NOT EXISTS {t} (key text PRIMARY KEY, data jsonb NOT NULL,"
            " user_id text, created_at double precision NOT NULL,"
            " last_seen double precision NOT NULL, expires_at double precision NOT NULL,"
            " user_agent text, client_address text);"
            f"ALTER TABLE {t} ADD COLUMN IF NOT EXISTS client_address text;"
            f"CREATE INDEX IF NOT EXISTS {t}_user ON {t} (user_id) WHERE user_id IS NOT NULL;"
            f"CREATE INDEX IF NOT EXISTS {t}_expiry ON {t} (expires_at);"
            f"CREATE TABLE IF NOT EXISTS {c} (key text PRIMARY KEY, count integer NOT NULL,"
            " window_end double precision NOT NULL);"
        )
        insert = (
            f"INSERT INTO {t} (key, data, user_id, created_at, last_seen, expires_at,"
            " user_agent, client_address) VALUES ($1, $2::jsonb, $3, $4, $5, $6, $7, $8)"
        )
        sql = {
            "load": f"SELECT data, user_id, created_at, last_seen, expires_at, user_agent,"
            " client_address"
            f" FROM {t} WHERE key = $1 AND expires_at > $2",
            "insert": insert,
            # One statement, so the old id goes only if the new one lands.
            "cycle": f"WITH gone AS (DELETE FROM {t} WHERE key = $9) {insert}",
            "delete": f"DELETE FROM {t} WHERE key = $1",
            "update": f"UPDATE {t} SET data = (data - $1::text[]) || $2::jsonb, last_seen = $3,"
            " expires_at = $4 WHERE key = $5 AND expires_at > $6",
            "touch": f"UPDATE {t} SET last_seen = $1, expires_at = $2"
            " WHERE key = $3 AND expires_at > $4",
            "list": f"SELECT key, created_at, last_seen, expires_at, user_agent, client_address"
            f" FROM {t}"
            " WHERE user_id = $1 AND expires_at > $2 ORDER BY last_seen DESC",
            "delete_user": f"DELETE FROM {t} WHERE user_id = $1 AND key <> $2",
            # SKIP LOCKED: a batch never waits behind a session being saved right now.
            "purge": f"DELETE FROM {t} WHERE key IN (SELECT key FROM {t} WHERE expires_at <= $1"
            " LIMIT $2 FOR UPDATE SKIP LOCKED)",
            "purge_counters": f"DELETE FROM {c} WHERE key IN (SELECT key FROM {c}"
            " WHERE window_end <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED)",
            "hit": f"INSERT INTO {c} AS k (key, count, window_end) VALUES ($1, 1, $2)"
            " ON CONFLICT (key) DO UPDATE SET"
            " count = CASE WHEN k.window_end <= $3 THEN 1 ELSE k.count + 1 END,"
            " window_end = CASE WHEN k.window_end <= $3 THEN excluded.window_end"
            " ELSE k.window_end END WHERE k.window_end <= $3 OR k.count < $4"
            " RETURNING count, window_end",
            "release": f"UPDATE {c} SET count = count - 1"
            " WHERE key = $1 AND window_end > $2 AND count > 0",
            "peek": f"SELECT count, window_end FROM {c} WHERE key = $1 AND window_end > $2",
            "reset": f"DELETE FROM {c} WHERE key = $1",
        }
        # Names are per connection, connections per store. The load, on almost every
        # request, shares one pipelined connection; writes (insert, cycle, update, touch,
        # delete) and the slow or rare rest take a connection of their own: on the shared
        # connection each write's commit would wait for the one before it, where separate
        # connections commit in parallel.
        hot = {"load"}
        self.by_name: dict[str, Statement] = {
            k: (f"cg_{k}".encode(), v.encode(), k in hot) for k, v in sql.items()
        }
        self.load = self.by_name["load"]

    def create(
        self, key_hash: str, record: SessionRecord, replaces: str | None
    ) -> tuple[Statement, list[bytes | None]]:
        """The INSERT of a new record (with `replaces`: deleting that one in the same step)."""
        params: list[bytes | None] = [
            text(key_hash),
            text(dumps(record.data)),
            opt_text(record.user_id),
            num(record.created_at),
            num(record.last_seen),
            num(record.expires_at),
            opt_text(record.user_agent),
            opt_text(record.client_address),
        ]
        if replaces is None:
            return self.by_name["insert"], params
        params.append(text(replaces))
        return self.by_name["cycle"], params

    def update(
        self,
        key_hash: str,
        set_items: Mapping[str, Any],
        delete_keys: Collection[str],
        last_seen: float,
        expires_at: float,
        now: float,
    ) -> tuple[Statement, list[bytes | None]]:
        """A delta (``data - deleted || set``), or the idle touch when it is empty."""
        if not set_items and not delete_keys:
            touch: list[bytes | None] = [num(last_seen), num(expires_at), text(key_hash), num(now)]
            return self.by_name["touch"], touch
        return self.by_name["update"], [
            text_array(delete_keys),
            text(dumps(dict(set_items))),
            num(last_seen),
            num(expires_at),
            text(key_hash),
            num(now),
        ]

    def hit(
        self, key: str, window: int, now: float, limit: int | None
    ) -> tuple[Statement, list[bytes | None]]:
        """Count one event (no row back: at the limit, nothing written)."""
        cap = str(_NO_LIMIT if limit is None else limit).encode()
        return self.by_name["hit"], [text(key), num(now + window), num(now), cap]

    def purge_params(self, now: float, batch_size: int) -> list[bytes | None]:
        """Parameters of `purge` and `purge_counters`."""
        return [num(now), str(int(batch_size)).encode()]


def record_of(res: Any) -> SessionRecord | None:
    """The record of a `load` result, or None."""
    if not res.ntuples:
        return None
    value = res.get_value
    user_id, user_agent, address = value(0, 1), value(0, 5), value(0, 6)
    return SessionRecord(
        decode(value(0, 0).decode()),
        None if user_id is None else user_id.decode(),
        float(value(0, 2)),
        float(value(0, 3)),
        float(value(0, 4)),
        None if user_agent is None else user_agent.decode(),
        None if address is None else address.decode(),
    )


def infos_of(res: Any, user_id: str) -> list[SessionInfo]:
    """The session list of a `list` result (already newest first)."""
    value = res.get_value
    infos = []
    for i in range(res.ntuples):
        agent, address = value(i, 4), value(i, 5)
        infos.append(
            SessionInfo(
                value(i, 0).decode(),
                user_id,
                float(value(i, 1)),
                float(value(i, 2)),
                float(value(i, 3)),
                None if agent is None else agent.decode(),
                None if address is None else address.decode(),
            )
        )
    return infos


def counter_of(res: Any) -> tuple[int, float] | None:
    """(count, window end) of a `hit` or `peek` result, or None without a row."""
    if not res.ntuples:
        return None
    return int(res.get_value(0, 0)), float(res.get_value(0, 1))


def changed(res: Any) -> int:
    """Rows an UPDATE or DELETE changed."""
    return int(res.command_tuples or 0)


def refused_value(sqlstate: str) -> ValueError | None:
    """The `ValueError` for a data exception (e.g. \\u0000 in jsonb), else None."""
    if sqlstate.startswith("22"):
        return ValueError(f"value not storable in PostgreSQL (SQLSTATE {sqlstate})")
    return None


# -- text-format parameters ---------------------------------------------------------------


def text(value: str) -> bytes:
    """A text parameter (libpq passes them as C strings: no NUL)."""
    if "\x00" in value:
        raise ValueError("value not storable in PostgreSQL (NUL character)")
    return value.encode()


def opt_text(value: str | None) -> bytes | None:
    """A nullable text parameter."""
    return None if value is None else text(value)


def num(value: float) -> bytes:
    """A double precision parameter, exactly."""
    return repr(float(value)).encode()


def text_array(items: Collection[str]) -> bytes:
    """A ``text[]`` literal: every element double-quoted, backslashes and quotes escaped."""
    quoted = (item.replace("\\", "\\\\").replace('"', '\\"') for item in items)
    return text("{" + ",".join(f'"{q}"' for q in quoted) + "}")
