"""Creating demo users, shared by `cookieguard adduser` and the first start of the demo."""

from __future__ import annotations

import secrets

from cookieguard.auth import PasswordHasher, SQLiteUserStore
from cookieguard.errors import UserExists


async def create_user(db_path: str, username: str, password: str) -> str:
    """Add `username` to the users table of `db_path`; returns the new user's id.

    Raises:
        UserExists: the username is taken.
        InvalidUsername: the username is not acceptable (empty, too long, control characters).
    """
    users = SQLiteUserStore(db_path)
    try:
        password_hash = await PasswordHasher().ahash(password)
        user = await users.create_user(username, password_hash)
    finally:
        await users.close()
    return user.id


async def ensure_demo_user(db_path: str, username: str) -> tuple[str, str] | None:
    """Create `username` with a random password; (username, password), or None if it exists.

    The password is printed once by the caller: there is no other copy of it.
    """
    password = secrets.token_urlsafe(12)
    try:
        await create_user(db_path, username, password)
    except UserExists:
        return None
    return username, password
