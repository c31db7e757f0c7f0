"""Django's users (``auth_user``, or a custom user model's table) as a cookieguard `UserStore`.

The table stays Django's: users are looked up as Django's ``ModelBackend`` does (the username
exactly, after the NFKC normalisation Django's login form applies), ``is_active`` is
respected (an inactive user cannot log in, and their sessions end at the next check), and the
only write is a password hash, and only one Django can read (`is_django_hash`): pair it with
`DjangoPasswordHasher`, which upgrades old rows to Django's current format. Users are created
on the Django side (``manage.py createsuperuser``, the admin, the site's sign-up).
"""

# SQL is built only from validated identifiers; values are always bound.
# ruff: noqa: S608

from __future__ import annotations

import logging
import unicodedata
from typing import Any

from cookieguard.auth._users import User, plausible_username
from cookieguard.django._hashers import is_django_hash
from cookieguard.django._tables import Database, check_identifier, open_database
from cookieguard.errors import ConfigError

__all__ = ["DjangoUserStore"]

logger = logging.getLogger("cookieguard.django")

_MAX_ID = 2**63 - 1


def _as_id(user_id: object) -> int | None:
    if isinstance(user_id, str) and user_id.isascii() and user_id.isdigit() and len(user_id) < 20:
        value = int(user_id)
        return value if value <= _MAX_ID else None
    return None


class DjangoUserStore:
    """Users in Django's user table (integer primary keys, Django's default).

    Args:
        database: a `Database`, a ``postgresql://`` DSN, or Django's SQLite file path (the
            same one the `DjangoSessionBackend` uses).
        table: the user model's table: ``auth_user``, or e.g. ``accounts_user``.
        id_column: its primary-key column.
        username_column: its username column (``USERNAME_FIELD`` may be ``email``).
        password_column: its password-hash column.
        is_active_column: the ``is_active`` column; None for a model without one (every
            user is then active, as Django's ``ModelBackend`` assumes).
    """

    def __init__(
        self,
        database: Database | str,
        *,
        table: str = "auth_user",
        id_column: str = "id",
        username_column: str = "username",
        password_column: str = "password",  # noqa: S107 - a column name
        is_active_column: str | None = "is_active",
    ) -> None:
        t = check_identifier(table)
        cid = check_identifier(id_column, "column")
        cname = check_identifier(username_column, "column")
        cpw = check_identifier(password_column, "column")
        active = (
            "TRUE" if is_active_column is None else check_identifier(is_active_column, "column")
        )
        self.database: Database = open_database(database) if isinstance(database, str) else database
        self.table = t
        columns = f"{cid}, {cname}, {cpw}, {active}"
        self._by_id = f"SELECT {columns} FROM {t} WHERE {cid} = ?"
        self._by_name = f"SELECT {columns} FROM {t} WHERE {cname} = ?"
        self._set_pw = f"UPDATE {t} SET {cpw} = ? WHERE {cid} = ?"

    def __repr__(self) -> str:
        return f"DjangoUserStore({self.database!r}, table={self.table!r})"

    @staticmethod
    def _user(row: tuple[Any, ...] | None) -> User | None:
        if row is None:
            return None
        return User(
            id=str(row[0]),
            username=str(row[1]),
            password_hash=str(row[2]),
            is_active=bool(row[3]),
        )

    async def get_by_id(self, user_id: str) -> User | None:
        """The user with this primary key, or None (anything but an integer matches nobody)."""
        key = _as_id(user_id)
        if key is None:
            return None
        return self._user(await self.database.fetchone(self._by_id, (key,)))

    async def get_by_username(self, username: str) -> User | None:
        """The user with this username (NFKC-normalised, as Django's form does), or None."""
        if not plausible_username(username) or "\x00" in username:
            return None
        try:
            username.encode("utf-8")
        except UnicodeEncodeError:
            return None
        name = unicodedata.normalize("NFKC", username)
        return self._user(await self.database.fetchone(self._by_name, (name,)))

    async def create_user(self, username: str, password_hash: str) -> User:
        """Not here: the table's other columns are Django's (create users on the Django side).

        Raises:
            ConfigError: always.
        """
        raise ConfigError(
            "Django owns this user table: create users with manage.py createsuperuser, the "
            "admin or the site's own sign-up"
        )

    async def set_password(self, user_id: str, password_hash: str) -> bool:
        """Store a new hash if Django can read it; False for no such user or another format.

        A hash Django cannot read (cookieguard's own Argon2id, a wrapped PBKDF2 row) would
        lock the user out of the Django site, so it is refused, with a warning: configure
        `DjangoPasswordHasher` as `AuthConfig.passwords`.
        """
        if not is_django_hash(password_hash):
            logger.warning(
                "not storing a password hash Django cannot read for user %s; "
                "use cookieguard.django.DjangoPasswordHasher",
                user_id,
            )
            return False
        key = _as_id(user_id)
        if key is None:
            return False
        return bool(await self.database.execute(self._set_pw, (password_hash, key)))

    async def close(self) -> None:
        """Close the database connections."""
        await self.database.close()
