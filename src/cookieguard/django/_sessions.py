"""Sessions in Django's ``django_session`` table, shared with a running Django site.

`DjangoSessionBackend` is a `SessionBackend` (not a `SessionStore`): cookieguard's stores key
records by SHA-256 of the session id, but Django keeps the raw 32-character key in the table,
and the cookie is that key. So this backend reads and writes Django's rows itself, exactly as
``django.contrib.sessions.backends.db`` does:

* ``session_data`` is Django's signed JSON (`core.django_signing.SessionCodec`): rows written
  by Django load here, rows written here load in Django; ``SECRET_KEY_FALLBACKS`` verify;
* ``expire_date`` is what Django would write: now + the idle age (``SESSION_COOKIE_AGE``, or
  the session's ``_session_expiry`` seconds); a ``_session_expiry`` date set by Django's
  ``set_expiry(datetime)`` is kept as the fixed end. A row at or past it does not load;
* a changed session is re-encoded whole, but from the row as it is *now*, read under a row
  lock in the same transaction: keys another request (Django's or ours) wrote meanwhile are
  kept, and a row that was deleted (a logout on either side) is never re-created.

Anything that is not a live row signed by our keys (an unknown or retired key, a pickled or
corrupt ``session_data``) is no session: the request is anonymous, nothing is trusted, and
one warning is logged per row, naming neither the key nor the data.

Django's rows carry no creation time, so `SessionConfig.absolute_timeout` cannot be measured
from the login: configure it as None (`from_django_settings` does; Django has none either).
The table has no user column either: listing or ending one user's sessions (``my sessions``,
`change_password`) decodes every live row, as Django users do for the same purpose.
"""

# SQL is built only from the validated table name; values are always bound.
# ruff: noqa: S608

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping
from datetime import UTC, datetime
from typing import Any, Final
from zoneinfo import ZoneInfo

from cookieguard.config import TWO_WEEKS
from cookieguard.core._auth import SESSION_USER_ID
from cookieguard.core._django_signing import DJANGO_SESSION_SALT, SessionCodec
from cookieguard.core.cookies import CookieSpec
from cookieguard.core.session import EXPIRY_KEY, Session, is_well_formed_session_id
from cookieguard.core.session_plan import (
    Create,
    Delete,
    Nothing,
    SaveOutcome,
    Touch,
    Update,
    cookie_header,
)
from cookieguard.core.signing import KeyRing
from cookieguard.core.tokens import hash_session_id
from cookieguard.django._known_ids import KnownIds
from cookieguard.django._session_store import DjangoSessionStore
from cookieguard.django._tables import Database, Transaction, check_identifier, open_database
from cookieguard.errors import ConfigError, StoreUnavailable
from cookieguard.stores.base import SessionInfo, SessionRecord

__all__ = ["DjangoSessionBackend"]

logger = logging.getLogger("cookieguard.django")

_SCAN_BATCH: Final = 500
_CREATE_RETRIES: Final = 3


class DjangoSessionBackend:
    """Sessions in Django's session table, readable and writable by both sides.

    Args:
        database: a `Database` (`cookieguard.django.open_database`), or where it is:
            a ``postgresql://`` DSN or the path of Django's SQLite file.
        keys: Django's ``SECRET_KEY`` and ``SECRET_KEY_FALLBACKS`` as a `KeyRing`.
        salt: the signing salt: ``"django.contrib.sessions."`` + the ``__qualname__`` of
            Django's ``SessionStore`` class (`DJANGO_SESSION_SALT` for the db backend).
        table: the session model's table (``db_table`` of a custom session model).
        cookie_age: Django's ``SESSION_COOKIE_AGE``: a row's default idle age.
        time_zone: Django's ``TIME_ZONE`` if ``USE_TZ = False`` (naive local datetimes);
            None for ``USE_TZ = True``, Django's default.
    """

    def __init__(
        self,
        database: Database | str,
        *,
        keys: KeyRing,
        salt: str = DJANGO_SESSION_SALT,
        table: str = "django_session",
        cookie_age: int = TWO_WEEKS,
        time_zone: str | None = None,
    ) -> None:
        if not isinstance(keys, KeyRing):
            raise ConfigError("DjangoSessionBackend(keys=...) takes a cookieguard.KeyRing")
        if isinstance(cookie_age, bool) or not isinstance(cookie_age, int) or cookie_age <= 0:
            raise ConfigError("cookie_age must be a positive int of seconds")
        t = check_identifier(table)
        self.database: Database = (
            open_database(database, time_zone=time_zone) if isinstance(database, str) else database
        )
        self.table = t
        self.cookie_age = cookie_age
        self._zone = UTC if time_zone is None else ZoneInfo(time_zone)
        self.codec: SessionCodec = SessionCodec(keys.current, tuple(keys.fallbacks), salt=salt)
        self._ids = KnownIds()
        self._refused: set[str] = set()
        db = self.database
        expire = db.epoch_sql("expire_date")
        self._sql_load = (
            f"SELECT session_data, {expire} FROM {t} WHERE session_key = ? AND expire_date > ?"
        )
        self._sql_lock = self._sql_load + db.for_update
        self._sql_insert = (
            f"INSERT INTO {t} (session_key, session_data, expire_date) VALUES (?, ?, ?)"
            " ON CONFLICT (session_key) DO NOTHING"
        )
        self._sql_update = f"UPDATE {t} SET session_data = ?, expire_date = ? WHERE session_key = ?"
        self._sql_delete = f"DELETE FROM {t} WHERE session_key = ?"
        self._sql_scan = (
            f"SELECT session_key, session_data, {expire} FROM {t}"
            " WHERE session_key > ? AND expire_date > ? ORDER BY session_key LIMIT ?"
        )
        self._sql_purge = (
            f"DELETE FROM {t} WHERE session_key IN"
            f" (SELECT session_key FROM {t} WHERE expire_date < ? LIMIT ?)"
        )
        self._store = DjangoSessionStore(self)

    def __repr__(self) -> str:
        return f"DjangoSessionBackend({self.database!r}, table={self.table!r})"

    @property
    def store(self) -> DjangoSessionStore:
        """The table as a `SessionStore`: logout's immediate delete, "my sessions", purges."""
        return self._store

    # -- the SessionBackend seam -------------------------------------------------------------

    async def load(self, cookie_value: str, *, now: float) -> Session | None:
        """The live session whose Django key is `cookie_value`, or None (see module docs)."""
        if not is_well_formed_session_id(cookie_value):
            return None
        key_hash = hash_session_id(cookie_value)
        row = await self.database.fetchone(self._sql_load, (cookie_value, self.database.when(now)))
        if row is None:
            return None
        data = self._decode(key_hash, row[0])
        if data is None:
            return None
        expires = self.database.epoch(row[1])
        last_seen = self._last_saved(data, expires, now)
        self._ids.remember(key_hash, cookie_value)
        return Session.restore(
            cookie_value,
            data,
            user_id=_user_of(data),
            created_at=last_seen,
            last_seen=last_seen,
            expires_at=expires,
            now=now,
            key_hash=key_hash,
        )

    async def commit(
        self,
        session: Session,
        outcome: SaveOutcome,
        *,
        cookie: CookieSpec,
        user_agent: str | None = None,
        client_address: str | None = None,
    ) -> str | None:
        """Carry `outcome` out on the table; the Set-Cookie value (see `SessionBackend`).

        Django's table has no place for the user agent or client address: both are dropped.
        """
        value: str | None = None
        match outcome:
            case Create():
                value = await self._create(session, outcome)
            case Update():
                key = session.session_id
                assert key is not None  # an updated session is a stored one
                alive = await self.rewrite(
                    key, outcome.set_items, outcome.delete_keys, outcome.now, outcome.expires_at
                )
                value = key if alive else _gone(outcome.key_hash)
            case Touch():
                key = session.session_id
                assert key is not None
                try:
                    alive = await self.rewrite(key, {}, (), outcome.now, outcome.expires_at)
                except Exception as exc:  # a touch only slides expiry: never fail a read
                    logger.warning("session touch skipped: database error (%s)", type(exc).__name__)
                    return None
                value = key if alive else _gone(outcome.key_hash)
            case Delete():
                await self.delete_hash(outcome.key_hash)
            case Nothing():
                pass
        return cookie_header(cookie, value, outcome)

    async def close(self) -> None:
        """Close the database connections."""
        await self.database.close()

    def known_key(self, key_hash: str) -> str | None:
        """The raw Django key of a session this process loaded recently (see `KnownIds`)."""
        return self._ids.get(key_hash)

    # -- rows --------------------------------------------------------------------------------

    def _decode(self, key_hash: str, session_data: object) -> dict[str, Any] | None:
        data, reason = self.codec.decode(session_data if isinstance(session_data, str) else "")
        if data is None and key_hash not in self._refused:  # once per row, not per request
            if len(self._refused) >= 4096:
                self._refused.clear()
            self._refused.add(key_hash)
            logger.warning(
                "django session %s refused (%s): treated as no session", key_hash[:12], reason
            )
        return data

    def _last_saved(self, data: Mapping[str, Any], expires: float, now: float) -> float:
        """When Django (or we) last saved the row: ``expire_date`` minus its idle age."""
        expiry = data.get(EXPIRY_KEY)
        if isinstance(expiry, str):
            return now  # a fixed end (set_expiry(datetime)): sliding does not apply
        age = expiry if type(expiry) is int and expiry > 0 else self.cookie_age
        return min(now, expires - age)

    def _expire_at(self, data: Mapping[str, Any], planned: float) -> float:
        """`planned`, unless Django's ``set_expiry(datetime)`` fixed the row's end."""
        expiry = data.get(EXPIRY_KEY)
        if isinstance(expiry, str):
            try:
                moment = datetime.fromisoformat(expiry)
            except ValueError:
                return planned
            if moment.tzinfo is None:  # USE_TZ = False: Django's local time
                moment = moment.replace(tzinfo=self._zone)
            return moment.timestamp()
        return planned

    async def _create(self, session: Session, outcome: Create) -> str:
        old: str | None = None
        if outcome.replaces is not None:
            old = self._ids.get(outcome.replaces)
            if old is None:
                raise StoreUnavailable("the replaced session's key is no longer known; retry")
        db = self.database
        for _ in range(_CREATE_RETRIES):
            key = session.session_id
            assert key is not None
            text = self.codec.encode(outcome.data, now=outcome.now)
            params = (key, text, db.when(self._expire_at(outcome.data, outcome.expires_at)))

            async def work(tx: Transaction, params: tuple[Any, ...] = params) -> int:
                if old is not None:
                    await tx.execute(self._sql_delete, (old,))
                return await tx.execute(self._sql_insert, params)

            if await db.transaction(work):
                if outcome.replaces is not None:
                    self._ids.forget(outcome.replaces)
                return key
            session.cycle_key()  # a 1-in-2**165 collision: draw another key
        raise StoreUnavailable("could not allocate a fresh session key")

    async def rewrite(
        self,
        key: str,
        set_items: Mapping[str, Any],
        delete_keys: Collection[str],
        now: float,
        expires_at: float,
    ) -> bool:
        """Apply a delta to the live row `key`, re-signed; False (nothing written) if gone.

        The row is read and written in one transaction under its lock, so concurrent
        writers of other keys (either side) are not lost.
        """
        db = self.database
        key_hash = hash_session_id(key)

        async def work(tx: Transaction) -> bool:
            row = await tx.fetchone(self._sql_lock, (key, db.when(now)))
            if row is None:
                return False
            data = self._decode(key_hash, row[0])
            if data is None:
                return False
            data.update(set_items)
            for name in delete_keys:
                data.pop(name, None)
            expire = self._expire_at(data, expires_at)
            text = self.codec.encode(data, now=now)
            await tx.execute(self._sql_update, (text, db.when(expire), key))
            return True

        return await db.transaction(work)

    async def delete_hash(self, key_hash: str) -> None:
        """Delete the row of a session this process loaded, named by its key hash.

        Raises:
            StoreUnavailable: the key is no longer known (see `KnownIds`): fail closed.
        """
        key = self._ids.get(key_hash)
        if key is None:
            logger.error("session %s cannot be deleted: its key is not known", key_hash[:12])
            raise StoreUnavailable("the session's key is no longer known; retry")
        await self.database.execute(self._sql_delete, (key,))
        self._ids.forget(key_hash)

    async def load_record(self, key: str, *, now: float) -> SessionRecord | None:
        """The live row `key` as a `SessionRecord`, or None."""
        session = await self.load(key, now=now)
        if session is None:
            return None
        return SessionRecord(
            data=session.record_data(),
            user_id=session.user_id,
            created_at=session.created_at,
            last_seen=session.last_seen,
            expires_at=session.expires_at or now,
        )

    async def user_sessions(self, user_id: str, *, now: float) -> list[SessionInfo]:
        """Every live row of `user_id`, decoding the whole table in batches (no user column)."""
        found: list[SessionInfo] = []
        after = ""
        db = self.database
        while True:
            rows = await db.fetchall(self._sql_scan, (after, db.when(now), _SCAN_BATCH))
            for key, session_data, expire in rows:
                key_hash = hash_session_id(str(key))
                data = self._decode(key_hash, session_data)
                if data is None or _user_of(data) != user_id:
                    continue
                expires = db.epoch(expire)
                seen = self._last_saved(data, expires, now)
                self._ids.remember(key_hash, str(key))
                found.append(SessionInfo(key_hash, user_id, seen, seen, expires, None))
            if len(rows) < _SCAN_BATCH:
                break
            after = str(rows[-1][0])
        found.sort(key=lambda info: info.last_seen, reverse=True)
        return found

    async def purge(self, *, now: float, batch_size: int) -> int:
        """Delete one batch of expired rows (``expire_date < now``, as ``clearsessions``)."""
        return await self.database.execute(self._sql_purge, (self.database.when(now), batch_size))


def _user_of(data: Mapping[str, Any]) -> str | None:
    user = data.get(SESSION_USER_ID)
    return user if isinstance(user, str) and user else None


def _gone(key_hash: str) -> str | None:
    """None (no session to send), logged: the row ended while the request ran."""
    logger.info("session %s ended during the request; not re-created", key_hash[:12])
    return None
