"""Users and records for the peer subjects (bare sites, starsessions and Flask-Session stacks).

Mirrors how cookieguard's demo keeps its data, so the sites differ only in their security
layer: one SQLite connection in autocommit mode with WAL and synchronous=NORMAL, used
synchronously from the event loop, records indexed on (user_id, id).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import sqlite3
import sys

MAX_RECORD_LENGTH = 10_000
_ITERATIONS = 200_000

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS users (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        username TEXT NOT NULL UNIQUE,
        password_hash TEXT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS records (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        user_id TEXT NOT NULL,
        text TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS records_user ON records (user_id, id)",
)


class PeerDB:
    """The users and records tables of one SQLite file."""

    def __init__(self, path: str) -> None:
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA busy_timeout = 5000")
        self._conn.execute("PRAGMA journal_mode = WAL")
        self._conn.execute("PRAGMA synchronous = NORMAL")
        for statement in _SCHEMA:
            self._conn.execute(statement)
        self._execute = self._conn.execute

    def close(self) -> None:
        self._conn.close()

    def records(self, user_id: str) -> list[tuple[int, str]]:
        return self._execute(
            "SELECT id, text FROM records WHERE user_id = ? ORDER BY id", (user_id,)
        ).fetchall()

    def add_record(self, user_id: str, text: str) -> int:
        cursor = self._execute("INSERT INTO records (user_id, text) VALUES (?, ?)", (user_id, text))
        return int(cursor.lastrowid or 0)

    def add_user(self, username: str, password: str) -> None:
        salt = os.urandom(16)
        digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, _ITERATIONS)
        self._execute(
            "INSERT INTO users (username, password_hash) VALUES (?, ?)",
            (username, f"{salt.hex()}${digest.hex()}"),
        )

    def authenticate(self, username: str, password: str) -> str | None:
        """The user's id as text when the password is right, else None."""
        row = self._execute(
            "SELECT id, password_hash FROM users WHERE username = ?", (username,)
        ).fetchone()
        if row is None:
            return None
        salt_hex, _, digest_hex = row[1].partition("$")
        digest = hashlib.pbkdf2_hmac(
            "sha256", password.encode(), bytes.fromhex(salt_hex), _ITERATIONS
        )
        return str(row[0]) if hmac.compare_digest(digest.hex(), digest_hex) else None


def record_text_error(body: object) -> str | None:
    """Why a JSON body is not a valid new record, or None (the contract's rules)."""
    if not isinstance(body, dict):
        return "body must be a JSON object"
    text = body.get("text")
    if not isinstance(text, str) or not text:
        return "text must be a non-empty string"
    if len(text) > MAX_RECORD_LENGTH:
        return "text is too long"
    return None


def adduser_command(prog: str, *peers: str) -> int:
    """`python PROG adduser cookieguard|PEER NAME DB`, the password on stdin (a PEER is one
    of `peers`, the subjects whose users live in `PeerDB`).

    Both bench apps' subjects keep users in their SQLite file: the peer stack in `PeerDB`'s
    table, cookieguard in its own users table (`SyncSQLiteUserStore`, which the async
    `SQLiteUserStore` reads too).
    """
    if len(sys.argv) != 5 or sys.argv[1] != "adduser" or sys.argv[2] not in ("cookieguard", *peers):
        print(f"usage: {prog} adduser {'|'.join(('cookieguard', *peers))} NAME DB", file=sys.stderr)
        return 2
    security, name, db_path = sys.argv[2:]
    password = sys.stdin.read().removesuffix("\n")
    if security in peers:
        db = PeerDB(db_path)
        try:
            db.add_user(name, password)
        finally:
            db.close()
        return 0
    import cookieguard
    from cookieguard.auth import default_hasher

    users = cookieguard.SyncSQLiteUserStore(db_path)
    try:
        users.create_user(name, default_hasher().hash(password))
    finally:
        users.close()
    return 0
