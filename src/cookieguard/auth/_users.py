"""Users: the `UserStore` protocol apps implement, and built-in tables for SQLite and PostgreSQL.

cookieguard needs three facts about a user: a stable id (kept in the session as a string), the
username people type, and the password hash. Any table that can answer "user by id" and "user
by username" plugs in through `UserStore`. The built-in tables also create users and set
passwords, for small apps, the demo site and the ``cookieguard adduser`` command.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from cookieguard.errors import InvalidUsername

__all__ = [
    "MAX_USERNAME_LENGTH",
    "ManagedUserStore",
    "User",
    "UserStore",
    "validate_username",
]

MAX_USERNAME_LENGTH = 150
"""Longest accepted username (Django's limit)."""


@dataclass(frozen=True, slots=True)
class User:
    """A user as authentication sees it."""

    id: str
    """Stable identifier, stored in the session; never reused for another person."""
    username: str
    """What the user types to log in (compared exactly)."""
    password_hash: str
    """Argon2id, Django PBKDF2 or Django Argon2 hash; ``!`` + anything means no password."""
    is_active: bool = True
    """False for a disabled account (Django's ``is_active``): its sessions end at the next
    check (`get_user`, `AuthMiddleware`'s re-check) and `login` refuses it."""


@runtime_checkable
class UserStore(Protocol):
    """Where users come from. Implement it over your own user table."""

    async def get_by_id(self, user_id: str) -> User | None:
        """The user with this id, or None."""
        ...

    async def get_by_username(self, username: str) -> User | None:
        """The user with exactly this username, or None."""
        ...


@runtime_checkable
class ManagedUserStore(UserStore, Protocol):
    """A `UserStore` that can also create users and change passwords (the built-in tables).

    `authenticate` uses `set_password` to upgrade old hashes when the store offers it.
    """

    async def create_user(self, username: str, password_hash: str) -> User:
        """Add a user. Raises `UserExists` if the username is taken."""
        ...

    async def set_password(self, user_id: str, password_hash: str) -> bool:
        """Replace the user's password hash; False if there is no such user."""
        ...


def validate_username(username: str) -> str:
    """`username` if it is acceptable for a new account, else raise `InvalidUsername`.

    Accepted: 1 to 150 characters, NFC-normalised, no leading or trailing whitespace, no
    control or separator characters other than the ordinary space.
    """
    if not username or len(username) > MAX_USERNAME_LENGTH:
        raise InvalidUsername(f"usernames must be 1 to {MAX_USERNAME_LENGTH} characters")
    if username != username.strip() or unicodedata.normalize("NFC", username) != username:
        raise InvalidUsername("usernames must be NFC-normalised without surrounding whitespace")
    for char in username:
        category = unicodedata.category(char)
        if category[0] == "C" or (category[0] == "Z" and char != " "):
            raise InvalidUsername("usernames must not contain control or invisible characters")
    return username


def plausible_username(username: object) -> bool:
    """Cheap filter before a lookup: a string of sane length that could name a user."""
    return isinstance(username, str) and 0 < len(username) <= MAX_USERNAME_LENGTH
