"""Server-side sessions: the cookie carries a random id, a `SessionStore` keeps the record.

The store only ever sees SHA-256 of the id (Rack's CVE-2019-16782 lesson): a leaked table or
lookup timing gives no usable cookie.
"""

from __future__ import annotations

import logging

from cookieguard.core.cookies import CookieSpec
from cookieguard.core.session import Session, is_well_formed_session_id
from cookieguard.core.session_plan import (
    Create,
    Delete,
    Nothing,
    SaveOutcome,
    Touch,
    Update,
    cookie_header,
)
from cookieguard.core.tokens import hash_session_id
from cookieguard.errors import StoreUnavailable
from cookieguard.stores.base import KeyCollision, SessionRecord, SessionStore

__all__ = ["StoreBackend"]

logger = logging.getLogger("cookieguard.sessions")

_KEY_COLLISION_RETRIES = 3


class StoreBackend:
    """Sessions in a `SessionStore` (memory, SQLite, PostgreSQL, Redis), keyed by id hash."""

    __slots__ = ("store",)

    def __init__(self, store: SessionStore) -> None:
        self.store: SessionStore = store

    def __repr__(self) -> str:
        return f"StoreBackend({self.store!r})"

    async def load(self, cookie_value: str, *, now: float) -> Session | None:
        """The session whose id is `cookie_value`; malformed ids cost no round trip."""
        if not is_well_formed_session_id(cookie_value):
            return None
        key_hash = hash_session_id(cookie_value)
        record = await self.store.load(key_hash, now=now)
        if record is None:
            return None
        return Session.restore(
            cookie_value,
            record.data,
            user_id=record.user_id,
            created_at=record.created_at,
            last_seen=record.last_seen,
            expires_at=record.expires_at,
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
        """Carry out `outcome` in the store; the Set-Cookie value (see `SessionBackend`)."""
        value: str | None = None
        match outcome:
            case Create():
                value = await self._create(session, outcome, user_agent, client_address)
            case Update():
                alive = await self.store.update(
                    outcome.key_hash,
                    set_items=outcome.set_items,
                    delete_keys=outcome.delete_keys,
                    last_seen=outcome.now,
                    expires_at=outcome.expires_at,
                    now=outcome.now,
                )
                value = session.session_id if alive else _gone(outcome.key_hash)
            case Touch():
                try:
                    alive = await self.store.update(
                        outcome.key_hash,
                        set_items={},
                        delete_keys=(),
                        last_seen=outcome.now,
                        expires_at=outcome.expires_at,
                        now=outcome.now,
                    )
                except Exception as exc:  # a touch only slides expiry: never fail a read
                    logger.warning("session touch skipped: store error (%s)", type(exc).__name__)
                    return None
                value = session.session_id if alive else _gone(outcome.key_hash)
            case Delete():
                await self.store.delete(outcome.key_hash)
            case Nothing():
                pass
        return cookie_header(cookie, value, outcome)

    async def _create(
        self,
        session: Session,
        outcome: Create,
        user_agent: str | None,
        client_address: str | None = None,
    ) -> str:
        record = SessionRecord(
            data=outcome.data,
            user_id=outcome.user_id,
            created_at=outcome.created_at,
            last_seen=outcome.now,
            expires_at=outcome.expires_at,
            user_agent=user_agent,
            client_address=client_address,
        )
        key_hash = outcome.key_hash
        for _ in range(_KEY_COLLISION_RETRIES):
            try:
                await self.store.create(key_hash, record, replaces=outcome.replaces)
            except KeyCollision:
                session.cycle_key()  # a 1-in-2**165 event: the session draws another id
                key_hash = session.key_hash or ""
                continue
            assert session.session_id is not None
            return session.session_id
        raise StoreUnavailable("could not allocate a fresh session id")

    async def close(self) -> None:
        """Close the store."""
        await self.store.close()


def _gone(key_hash: str) -> str | None:
    """None (no session to send), logged: the record ended while the request ran."""
    logger.info("session %s ended during the request; not re-created", key_hash[:12])
    return None
