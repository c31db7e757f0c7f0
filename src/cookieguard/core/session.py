"""The session mapping and the decision of what to save at response time (sans-IO).

Rule: this module is the only place a session id is created, cycled or deleted. The middleware
and the stores carry out the `SavePlan` that `Session.plan_save` computes; they never mint,
adopt or drop an id on their own. That keeps fixation defences in one reviewable spot:

* an id arrives only through `Session.restore`, after the store found a live record for it;
  an unknown, expired or forged id is never adopted (the caller builds a fresh `Session()`);
* a fresh id is minted when data is first written (`new_session_id()`), never for a read;
* `cycle_key()` and a change of owner (`set_user`) replace the id; the old record is deleted
  atomically by the store's ``create(..., replaces=old)``;
* `flush()` drops the id and the data; the old record is deleted and the cookie cleared.

Change tracking: the session remembers which keys were set and deleted since it was loaded,
so a save writes only that delta and two racing requests that touch different keys both land.
Mutating a nested value (``session["cart"].append(x)``) is invisible to the mapping: call
``session.mark_changed("cart")`` afterwards (or ``mark_changed()`` for every key).

Values must be JSON-serialisable. They are checked at assignment, so the `TypeError` points at
the line that stored the bad value instead of surfacing at response time.

Expiry: ``expires_at = min(last_seen + idle, created_at + absolute)``. The idle timeout slides
on every save and on a throttled touch (at most once per ``touch_interval``) of a session that
was only read.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, MutableMapping
from typing import Any, Final

from cookieguard.core.session_plan import CookieAction, ExpiryPolicy, SaveAction, SavePlan
from cookieguard.core.tokens import SESSION_ID_ALPHABET, hash_session_id, new_session_id

__all__ = [
    "EXPIRY_KEY",
    "CookieAction",
    "ExpiryPolicy",
    "SaveAction",
    "SavePlan",
    "Session",
    "is_well_formed_session_id",
]

EXPIRY_KEY: Final = "_session_expiry"
"""Data key under which a per-session `set_expiry` value is stored (hidden from the mapping)."""

_ID_CHARS = frozenset(SESSION_ID_ALPHABET)
_validate_json = json.JSONEncoder(allow_nan=False, check_circular=True).encode


def is_well_formed_session_id(value: str) -> bool:
    """True if `value` could be an id we minted: checked before any store lookup."""
    return len(value) == 32 and _ID_CHARS.issuperset(value)


_NOTHING = SavePlan("none")
_NOTHING_VARY = SavePlan("none", vary=True)


class Session(MutableMapping[str, Any]):
    """A session's data as a mapping, with the bookkeeping needed to save it safely.

    Build one with `Session()` (nothing stored yet) or `Session.restore(...)` (a live record
    the store returned). Reads set `accessed` (the response then varies on Cookie); writes set
    `modified` and are remembered as a delta.
    """

    __slots__ = (
        "_cookie_present",
        "_created_at",
        "_data",
        "_delta",
        "_expires_at",
        "_expiry",
        "_expiry_changed",
        "_hash",
        "_id",
        "_last_seen",
        "_modified",
        "_replaces",
        "_stored",
        "_user_id",
        "accessed",
    )

    def __init__(self, *, cookie_present: bool = False) -> None:
        """A session with no record yet.

        Args:
            cookie_present: the request carried a session cookie that led nowhere (unknown,
                expired or forged); a `flush()` then clears it in the browser.
        """
        self._data: dict[str, Any] = {}
        # key -> True (set) / False (deleted) since load; allocated on the first write.
        self._delta: dict[str, bool] | None = None
        self._id: str | None = None
        self._hash: str | None = None
        self._stored = False
        self._replaces: str | None = None
        self._user_id: str | None = None
        self._created_at: float | None = None
        self._last_seen: float | None = None
        self._expires_at: float | None = None
        self._expiry: int | None = None
        self._expiry_changed = False
        self._cookie_present = cookie_present
        self._modified = False
        self.accessed = False
        """The data was read or written: the response depends on the cookie."""

    @classmethod
    def restore(
        cls,
        session_id: str,
        data: Mapping[str, Any],
        *,
        user_id: str | None,
        created_at: float,
        last_seen: float,
        expires_at: float,
        key_hash: str | None = None,
    ) -> Session:
        """The session behind a live record; only call it after the store found one.

        A plain `dict` is adopted, not copied (stores hand out fresh ones): pass one that
        nothing else holds. Any other mapping is copied.
        """
        values = data if type(data) is dict else dict(data)
        expiry = values.pop(EXPIRY_KEY, None)
        valid = isinstance(expiry, int) and not isinstance(expiry, bool) and expiry >= 0
        # Every slot set once, without running __init__ first: this runs on every request.
        session = cls.__new__(cls)
        session._data = values
        session._delta = None
        session._id = session_id
        session._hash = key_hash  # the caller's hash_session_id(session_id), if it has it
        session._stored = True
        session._replaces = None
        session._user_id = user_id
        session._created_at = created_at
        session._last_seen = last_seen
        session._expires_at = expires_at
        session._expiry = expiry if valid else None
        session._expiry_changed = False
        session._cookie_present = True
        session._modified = False
        session.accessed = False
        return session

    # -- identity and metadata (read-only) ---------------------------------------------------

    @property
    def session_id(self) -> str | None:
        """The id the cookie will carry; None until data is written. Never log it."""
        return self._id

    @property
    def key_hash(self) -> str | None:
        """SHA-256 of `session_id`: the only form stores see (safe to log a prefix of)."""
        if self._hash is None and self._id is not None:
            self._hash = hash_session_id(self._id)
        return self._hash

    @property
    def user_id(self) -> str | None:
        """The owner recorded for the per-user index, or None (anonymous)."""
        return self._user_id

    @property
    def created_at(self) -> float | None:
        """Start of the absolute-timeout window; None until first saved (or after login)."""
        return self._created_at

    @property
    def last_seen(self) -> float | None:
        """When the stored record was last saved or touched; None if not stored."""
        return self._last_seen

    @property
    def expires_at(self) -> float | None:
        """When the stored record ends, as loaded; None if not stored."""
        return self._expires_at

    @property
    def expiry(self) -> int | None:
        """The per-session idle timeout set by `set_expiry` (0: browser session), or None."""
        return self._expiry

    @property
    def modified(self) -> bool:
        """Something will be saved (data, owner, expiry or id).

        Setting it to True (Django's habit after an in-place mutation) is `mark_changed()`:
        every key is rewritten.
        """
        return self._modified

    @modified.setter
    def modified(self, value: bool) -> None:
        if not value:
            raise ValueError("pending session changes cannot be discarded; use flush()")
        self.mark_changed()
        self._modified = True

    @property
    def is_stored(self) -> bool:
        """A record exists under the current id (it was loaded and not cycled or flushed)."""
        return self._stored

    @property
    def untouched(self) -> bool:
        """Never read or written and nothing stored: the response needs no session work."""
        return not (self.accessed or self._modified or self._stored)

    # -- mapping -----------------------------------------------------------------------------

    def __getitem__(self, key: str) -> Any:
        self.accessed = True
        return self._data[key]

    def get(self, key: str, default: Any = None) -> Any:  # no KeyError round trip
        self.accessed = True
        return self._data.get(key, default)

    def peek(self, key: str, default: Any = None) -> Any:
        """Read `key` without marking the session accessed.

        For middleware that inspects every request's session (`AuthMiddleware` reads the
        user id and the last auth check): the response only varies on Cookie when the app,
        or a decision taken on what was read, actually used the session.
        """
        return self._data.get(key, default)

    def __setitem__(self, key: str, value: Any) -> None:
        if not isinstance(key, str):
            raise TypeError(f"session keys must be str, not {type(key).__name__}")
        if key == EXPIRY_KEY:
            raise KeyError(f"{EXPIRY_KEY!r} is reserved; use set_expiry()")
        _check_json(key, value)
        self._data[key] = value
        self._record(key, True)

    def __delitem__(self, key: str) -> None:
        self.accessed = True
        del self._data[key]
        self._record(key, False)

    def __iter__(self) -> Iterator[str]:
        self.accessed = True
        return iter(self._data)

    def __len__(self) -> int:
        self.accessed = True
        return len(self._data)

    def __contains__(self, key: object) -> bool:
        self.accessed = True
        return key in self._data

    def clear(self) -> None:
        """Delete every key (as a delta). To end the session itself, use `flush()`."""
        for key in list(self._data):
            del self[key]

    def __repr__(self) -> str:
        shown = self.key_hash[:12] if self.key_hash else None
        return f"<Session key_hash={shown} keys={sorted(self._data)}>"

    # -- explicit changes --------------------------------------------------------------------

    def mark_accessed(self) -> None:
        """Record a read (Starlette's `request.session` calls this)."""
        self.accessed = True

    def mark_changed(self, key: str | None = None) -> None:
        """Save `key` (or every key) although it was mutated in place, e.g. a list appended to."""
        keys = list(self._data) if key is None else [key]
        for name in keys:
            _check_json(name, self._data[name])  # KeyError for an absent key
            self._record(name, True)

    def cycle_key(self) -> None:
        """Give the session a new id, keeping its data; the old record is deleted on save.

        Call it whenever privileges change (login does) so a planted id is worthless. The
        absolute-timeout window is kept.
        """
        if self._stored:
            self._replaces = self.key_hash
            self._stored = False
        self._id = new_session_id()
        self._hash = None
        self.accessed = self._modified = True

    def flush(self) -> None:
        """End the session: data, owner and id are gone; the record is deleted on save.

        The response clears the cookie. Data written afterwards starts a new session.
        """
        if self._stored:
            self._replaces = self.key_hash
            self._stored = False
        self._id = self._hash = None
        self._data = {}
        self._delta = None
        self._user_id = None
        self._created_at = self._last_seen = self._expires_at = None
        self._expiry = None
        self._expiry_changed = False
        self.accessed = self._modified = True

    @property
    def pending_delete(self) -> str | None:
        """Key hash of the stored record the next save deletes (after `flush` or `cycle_key`)."""
        return self._replaces

    def deleted(self, key_hash: str) -> None:
        """The caller deleted the record `key_hash` from the store itself; the save need not.

        `logout` deletes at once, so an error response (nothing is saved for a 5xx) or no
        response at all cannot leave the old cookie logged in. A flushed session still
        clears the cookie on the next response.
        """
        if key_hash == self._replaces:
            self._replaces = None

    def set_user(self, user_id: str | None) -> None:
        """Record the owner for the per-user index (login calls it after `cycle_key()`).

        A different owner always gets a new id (OWASP: renew the id on privilege change) and a
        new absolute-timeout window.
        """
        if user_id == self._user_id:
            return
        if self._stored or self._id is None:
            self.cycle_key()
        self._user_id = user_id
        self._created_at = None
        self.accessed = self._modified = True

    def set_expiry(self, seconds: int | None) -> None:
        """Set this session's idle timeout.

        Args:
            seconds: idle seconds before the session ends; ``0`` ends it when the browser
                closes (a cookie without Max-Age, server-side the default idle timeout);
                ``None`` restores the configured default. The absolute timeout still applies.
        """
        if seconds is not None and (
            isinstance(seconds, bool) or not isinstance(seconds, int) or seconds < 0
        ):
            raise ValueError("set_expiry() takes a non-negative int of seconds, or None")
        if seconds != self._expiry:
            self._expiry = seconds
            self._expiry_changed = True
            self._modified = True

    def record_data(self) -> dict[str, Any]:
        """The data as a store keeps it (including the per-session expiry)."""
        data = dict(self._data)
        if self._expiry is not None:
            data[EXPIRY_KEY] = self._expiry
        return data

    def _record(self, key: str, is_set: bool) -> None:
        if self._delta is None:
            self._delta = {}
        self._delta[key] = is_set
        self.accessed = self._modified = True
        if self._id is None:
            self._id = new_session_id()

    # -- planning ----------------------------------------------------------------------------

    def plan_save(self, policy: ExpiryPolicy, now: float, *, status: int = 200) -> SavePlan:
        """Decide what the response must do to the store and the cookie.

        Args:
            policy: expiry settings (a `SessionConfig`).
            now: the current time in epoch seconds.
            status: the response status; nothing is saved for a 5xx.
        """
        if status >= 500 or not (self._stored or self._modified):
            return _NOTHING_VARY if self.accessed else _NOTHING
        vary = self.accessed
        if self._stored:
            return self._plan_stored(policy, now, vary)
        if self._id is not None and (self._data or self._user_id is not None):
            return self._plan_create(policy, now, vary)
        if self._replaces is not None:
            return SavePlan("delete", key_hash=self._replaces, now=now, cookie="delete", vary=True)
        if self._cookie_present:
            # A dead cookie the app explicitly ended: make the browser forget it too.
            return SavePlan("none", cookie="delete", vary=True)
        return _NOTHING_VARY if vary else _NOTHING

    def _deadline(self, policy: ExpiryPolicy, now: float, created_at: float) -> float:
        expires = now + (self._expiry or policy.idle_timeout)
        if policy.absolute_timeout is not None:
            expires = min(expires, created_at + policy.absolute_timeout)
        return expires

    def _max_age(self, policy: ExpiryPolicy, now: float, expires_at: float) -> int | None:
        if policy.browser_session or self._expiry == 0:
            return None
        return max(0, int(expires_at - now))

    def _plan_stored(self, policy: ExpiryPolicy, now: float, vary: bool) -> SavePlan:
        assert self._created_at is not None and self._last_seen is not None
        delta = self._delta
        if not delta and not self._expiry_changed:
            if now - self._last_seen < policy.touch_interval:
                return _NOTHING_VARY if vary else _NOTHING
            action: SaveAction = "touch"
        else:
            action = "update"
        expires = self._deadline(policy, now, self._created_at)
        if expires <= now:  # the absolute deadline passed during the request
            return SavePlan("delete", key_hash=self.key_hash, now=now, cookie="delete", vary=True)
        set_items: dict[str, Any] = {}
        deleted: list[str] = []
        if delta:
            data = self._data
            for key, is_set in delta.items():
                if is_set:
                    set_items[key] = data[key]
                else:
                    deleted.append(key)
        if self._expiry_changed:
            if self._expiry is None:
                deleted.append(EXPIRY_KEY)
            else:
                set_items[EXPIRY_KEY] = self._expiry
        return SavePlan(
            action,
            key_hash=self.key_hash,
            set_items=set_items,
            delete_keys=tuple(deleted),
            user_id=self._user_id,
            now=now,
            created_at=self._created_at,
            last_seen=now,
            expires_at=expires,
            cookie="set",
            max_age=self._max_age(policy, now, expires),
            vary=vary,
        )

    def _plan_create(self, policy: ExpiryPolicy, now: float, vary: bool) -> SavePlan:
        created = now if self._created_at is None else self._created_at
        expires = self._deadline(policy, now, created)
        if expires <= now:  # a cycled session past its absolute deadline: end it instead
            if self._replaces is None:
                return _NOTHING_VARY if vary else _NOTHING
            return SavePlan("delete", key_hash=self._replaces, now=now, cookie="delete", vary=True)
        return SavePlan(
            "create",
            key_hash=self.key_hash,
            replaces=self._replaces,
            set_items=self.record_data(),
            user_id=self._user_id,
            now=now,
            created_at=created,
            last_seen=now,
            expires_at=expires,
            cookie="set",
            max_age=self._max_age(policy, now, expires),
            vary=vary,
        )


def _check_json(key: str, value: Any) -> None:
    try:
        _validate_json(value)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"session values must be JSON-serialisable; {key!r} holds a {type(value).__name__}"
            f" ({exc})"
        ) from None
