"""Wrapping a user table's Django PBKDF2 hashes in Argon2id, without the passwords.

A table imported from Django keeps ``pbkdf2_sha256$...`` rows until each user logs in again.
`wrap_legacy_hashes` replaces every such row by ``argon2id_pbkdf2_sha256$...`` (Argon2id of the
PBKDF2 output, see `PasswordHasher.wrap`): a leaked table then holds no bare PBKDF2 hash, and
every row is an Argon2id verification. The PBKDF2 step stays (it needs the password), so the
report names the iteration count to give `PasswordHasher(legacy_iterations=...)`: with it,
failed logins on any account, and on unknown usernames, cost the same.

Each row is replaced only if it is unchanged since it was read, so a login that upgrades a
hash while the command runs is never undone. Running it twice wraps nothing the second time.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

from cookieguard.auth._passwords import PasswordHasher

__all__ = ["LegacyHashTable", "WrapReport", "wrap_legacy_hashes"]

_log = logging.getLogger("cookieguard.auth")

_LEGACY_PREFIXES = ("pbkdf2_", "argon2id_pbkdf2_")


class LegacyHashTable(Protocol):
    """What the built-in users tables offer for a pass over every row."""

    async def password_hashes(self, *, after: int, limit: int) -> list[tuple[int, str]]:
        """(id, hash) of up to `limit` users with ids above `after`, in id order."""
        ...

    async def replace_password_hash(self, user_id: int, old: str, new: str) -> bool:
        """Replace the hash only if it is still `old`."""
        ...


@dataclass(frozen=True, slots=True)
class WrapReport:
    """What `wrap_legacy_hashes` did and what is left."""

    wrapped: int
    """Rows wrapped by this run."""
    legacy: int
    """PBKDF2 rows (wrapped or not) left in the table; each is upgraded at its next login."""
    max_iterations: int
    """Highest PBKDF2 iteration count among them: the `legacy_iterations` to configure."""


def _iterations(encoded: str) -> int:
    parts = encoded.split("$", 2)
    return int(parts[1]) if len(parts) == 3 and parts[1].isascii() and parts[1].isdigit() else 0


async def wrap_legacy_hashes(
    users: LegacyHashTable, hasher: PasswordHasher | None = None, *, batch_size: int = 200
) -> WrapReport:
    """Wrap every plain Django PBKDF2 row of `users` in Argon2id; report what is left.

    Args:
        users: a built-in users table (`SQLiteUserStore`, `PostgresUserStore`).
        hasher: the site's hasher (its Argon2 parameters are used); the default one if omitted.
        batch_size: rows read per query.
    """
    if hasher is None:
        from cookieguard.auth._context import default_hasher

        hasher = default_hasher()
    wrapped = legacy = max_iterations = 0
    after = 0
    while rows := await users.password_hashes(after=after, limit=batch_size):
        after = rows[-1][0]
        for user_id, encoded in rows:
            if not encoded.startswith(_LEGACY_PREFIXES):
                continue
            if encoded.startswith("pbkdf2_"):
                new = await hasher.awrap(encoded)
                if new is None:
                    _log.warning("user %s has a corrupt PBKDF2 hash; left as it is", user_id)
                    continue
                if not await users.replace_password_hash(user_id, encoded, new):
                    continue  # changed meanwhile: upgraded at a login, or a new password
                wrapped += 1
            legacy += 1
            max_iterations = max(max_iterations, _iterations(encoded))
    _log.info("wrapped %d PBKDF2 hashes; %d legacy rows remain", wrapped, legacy)
    return WrapReport(wrapped=wrapped, legacy=legacy, max_iterations=max_iterations)
