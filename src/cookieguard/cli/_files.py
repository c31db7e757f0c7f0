"""The demo's SQLite file as the commands see it: existing files only, read-only where they read.

A command that reads (listing users or sessions) or changes existing rows must not create a
database because of a typo in ``--db`` or ``--store``: SQLite would silently make an empty
file and the command would report "0 sessions". These helpers open with ``mode=ro`` and say
what is missing instead.
"""

# The table names are constants of this module; values are always bound.
# ruff: noqa: S608

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from cookieguard.cli._common import CommandError

USERS_TABLE = "cookieguard_users"


def require_file(path: str, what: str = "database") -> None:
    """Raise CommandError unless `path` is an existing file."""
    if path == ":memory:" or path.startswith("file:"):
        raise CommandError(f"{what} needs a file path, not {path!r}")
    if not os.path.exists(path):
        raise CommandError(f"{what} {path} does not exist")
    if not os.path.isfile(path):
        raise CommandError(f"{what} {path} is not a file")


def read_only(path: str) -> sqlite3.Connection:
    """A read-only connection to an existing database file."""
    require_file(path)
    uri = Path(os.path.abspath(path)).as_uri() + "?mode=ro"
    try:
        return sqlite3.connect(uri, uri=True, timeout=5)
    except sqlite3.Error as exc:
        raise CommandError(f"cannot read database {path}: {exc}") from None


def has_table(path: str, table: str) -> bool:
    """Whether the existing database `path` has `table` (CommandError if unreadable)."""
    conn = read_only(path)
    try:
        sql = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?"
        return conn.execute(sql, (table,)).fetchone() is not None
    except sqlite3.DatabaseError as exc:
        raise CommandError(f"cannot read database {path}: {exc}") from None
    finally:
        conn.close()


def require_users(path: str) -> None:
    """Raise CommandError unless `path` is an existing database with the users table."""
    if not has_table(path, USERS_TABLE):
        raise CommandError(f"{path} has no users table: is it the demo's database?")


def list_users(path: str) -> list[tuple[str, str, float]]:
    """(id, username, created_at) of every user, by id."""
    require_users(path)
    conn = read_only(path)
    try:
        rows = conn.execute(
            f"SELECT id, username, created_at FROM {USERS_TABLE} ORDER BY id"
        ).fetchall()
    except sqlite3.Error as exc:
        raise CommandError(f"cannot read database {path}: {exc}") from None
    finally:
        conn.close()
    return [(str(row[0]), str(row[1]), float(row[2])) for row in rows]


def user_id_of(path: str, username: str) -> str:
    """The id of `username` in the users table of `path` (CommandError if there is none)."""
    require_users(path)
    conn = read_only(path)
    try:
        sql = f"SELECT id FROM {USERS_TABLE} WHERE username = ?"
        row = conn.execute(sql, (username,)).fetchone()
    except sqlite3.Error as exc:
        raise CommandError(f"cannot read database {path}: {exc}") from None
    finally:
        conn.close()
    if row is None:
        hint = f" (to name a user by id, use --user-id {username})" if username.isdigit() else ""
        raise CommandError(f"no user {username[:60]!r} in {path}{hint}")
    return str(row[0])
