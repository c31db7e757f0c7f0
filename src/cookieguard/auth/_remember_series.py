"""Remember-me series: the stored form and the rules, with no request and no I/O in them.

A cookie ``selector.validator`` names a *series* (`series_key` of the selector) and proves
possession with the *validator*, of which the store keeps only SHA-256 hashes. What a
presented cookie means is decided here, once, for every front door (`judge`): malformed,
unknown, a theft (a validator that is not live: rotated away longer ago than the grace
window, or never issued), or a match to rotate (`rotation`). `cookieguard.auth._remember`
carries the verdicts out over the request (ASGI, or WSGI inline).

`SessionStoreRememberStore` keeps series in any `SessionStore`, as records under a key no
session id can hash to, so they share the store's connection, expire and are purged like
sessions, are listed with the user's sessions and die with "log out everywhere else".
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from cookieguard.stores.base import SessionRecord, SessionStore

__all__ = [
    "REMEMBER_LABEL",
    "Match",
    "RememberSeries",
    "RememberStore",
    "Rotation",
    "SessionStoreRememberStore",
    "judge",
    "new_series",
    "parse_cookie",
    "rotation",
    "series_key",
]

REMEMBER_LABEL = "[remember me] "
"""Prefix of a series' user agent in the session list."""
_MARK = "_remember_series"
_AUTH = "_remember_auth"
_VALIDATOR = "v:"
MAX_COOKIE = 200
"""A longer cookie value is malformed (a real one is under 70 characters)."""
_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def series_key(selector: str) -> str:
    """The store key of a series: SHA-256 over a prefix no cookie value can contain (NUL),
    so no session id hashes to it."""
    return hashlib.sha256(b"cookieguard.remember\x00" + selector.encode("ascii")).hexdigest()


def validator_hash(validator: str) -> str:
    """What the store keeps of a validator."""
    return hashlib.sha256(validator.encode("ascii")).hexdigest()


def parse_cookie(value: str | None) -> tuple[str, str] | None:
    """(selector, validator) from a cookie value, or None when it cannot be one of ours."""
    if not value or len(value) > MAX_COOKIE:
        return None
    selector, dot, validator = value.partition(".")
    if not dot or not selector or not validator or not _ALPHABET.issuperset(selector + validator):
        return None
    return selector, validator


@dataclass(frozen=True, slots=True)
class RememberSeries:
    """A stored series: whose it is, the password fingerprint and the validator hashes."""

    user_id: str
    auth_hash: str
    validators: dict[str, float | None]
    """Validator hash -> end of its grace window (None: current)."""
    expires_at: float


def new_series(
    user_id: str, auth_hash: str, *, now: float, max_age: int
) -> tuple[str, str, RememberSeries]:
    """A fresh series for `user_id`: (selector, validator, what to store)."""
    selector, validator = secrets.token_urlsafe(16), secrets.token_urlsafe(32)
    series = RememberSeries(user_id, auth_hash, {validator_hash(validator): None}, now + max_age)
    return selector, validator, series


@dataclass(frozen=True, slots=True)
class Match:
    """`judge`'s verdict for a known series: the stored hash the validator matched (None:
    it matched none), and whether that hash is still live."""

    matched: str | None
    live: bool

    @property
    def theft(self) -> bool:
        """A validator that is not live: a replay after the grace window, or a forgery."""
        return self.matched is None or not self.live


def judge(series: RememberSeries, validator: str, now: float) -> Match:
    """Compare `validator` with every stored hash in full (constant time per hash)."""
    presented = validator_hash(validator).encode("ascii")
    matched: str | None = None
    live = False
    for stored, end in series.validators.items():  # a handful; each compared fully
        if hmac.compare_digest(stored.encode("ascii"), presented):
            matched, live = stored, end is None or now < end
    return Match(matched, live)


@dataclass(frozen=True, slots=True)
class Rotation:
    """A rotation to store: the new validator (for the cookie) and the hash changes."""

    validator: str
    set_validators: dict[str, float | None]
    drop: list[str]


def rotation(series: RememberSeries, used: str, now: float, grace: int) -> Rotation:
    """Issue a new validator; the current ones (and the one `used`) live `grace` more seconds,
    hashes whose grace ended are dropped. Racing tabs each add theirs: both land."""
    validator = secrets.token_urlsafe(32)
    grace_end = now + grace
    changes: dict[str, float | None] = {validator_hash(validator): None}
    drop: list[str] = []
    for stored, end in series.validators.items():
        if end is None or stored == used:
            changes[stored] = min(end, grace_end) if end is not None else grace_end
        elif end <= now:
            drop.append(stored)
    return Rotation(validator, changes, drop)


@runtime_checkable
class RememberStore(Protocol):
    """Where remember-me series live; every method is one round trip."""

    async def create(
        self, key: str, series: RememberSeries, *, now: float, user_agent: str | None
    ) -> None:
        """Store a new series under `key`."""
        ...

    async def load(self, key: str, *, now: float) -> RememberSeries | None:
        """The live series under `key`, or None."""
        ...

    async def rotate(
        self,
        key: str,
        *,
        set_validators: dict[str, float | None],
        drop: list[str],
        now: float,
        expires_at: float,
    ) -> bool:
        """Add or change validator hashes and drop others, atomically per hash (two racing
        rotations both land); False when the series is gone."""
        ...

    async def delete(self, key: str) -> None:
        """Remove the series if present."""
        ...


class SessionStoreRememberStore:
    """`RememberStore` over any `SessionStore` (memory, SQLite, PostgreSQL, Redis), as records.

    Each validator hash is its own data key, so the store's atomic deltas make racing
    rotations merge instead of overwriting each other. A sync store is seen through its
    inline view (`cookieguard.stores._inline.InlineStore`) by the WSGI front door.
    """

    def __init__(self, store: SessionStore) -> None:
        self.store = store

    async def create(
        self, key: str, series: RememberSeries, *, now: float, user_agent: str | None
    ) -> None:
        """Store a new series as one record owned by its user (so "log out everywhere" ends it).

        The user agent is kept, prefixed, in the record's label, for a devices page.
        """
        data: dict[str, Any] = {_MARK: 1, _AUTH: series.auth_hash}
        data.update({_VALIDATOR + h: end for h, end in series.validators.items()})
        agent = REMEMBER_LABEL + (user_agent or "")
        record = SessionRecord(data, series.user_id, now, now, series.expires_at, agent[:256])
        await self.store.create(key, record)

    async def load(self, key: str, *, now: float) -> RememberSeries | None:
        """The live series under `key`; None when absent, expired or not a series record."""
        record = await self.store.load(key, now=now)
        if record is None or record.data.get(_MARK) != 1 or record.user_id is None:
            return None
        auth = record.data.get(_AUTH)
        validators: dict[str, float | None] = {}
        for name, end in record.data.items():
            if name.startswith(_VALIDATOR) and (end is None or isinstance(end, int | float)):
                validators[name[len(_VALIDATOR) :]] = end
        if not isinstance(auth, str):
            return None
        return RememberSeries(record.user_id, auth, validators, record.expires_at)

    async def rotate(
        self,
        key: str,
        *,
        set_validators: dict[str, float | None],
        drop: list[str],
        now: float,
        expires_at: float,
    ) -> bool:
        """Apply the validator changes as one store delta (racing rotations merge).

        False when the series is gone (expired or deleted meanwhile).
        """
        return await self.store.update(
            key,
            set_items={_VALIDATOR + h: end for h, end in set_validators.items()},
            delete_keys=[_VALIDATOR + h for h in drop],
            last_seen=now,
            expires_at=expires_at,
            now=now,
        )

    async def delete(self, key: str) -> None:
        """Remove the series record if present (a no-op otherwise)."""
        await self.store.delete(key)
