"""The session: a real `dict` that remembers what changed, and the only keeper of session ids.

Rule: this module is the only place a session id is created, cycled or deleted. Backends and
drivers carry out the outcome `Session.plan_save` decides (`core.session_plan`); they never
mint, adopt or drop an id on their own. That keeps fixation defences in one reviewable spot:

* an id arrives only through `Session.restore`, after the backend found a live record for it;
  an unknown, expired or forged id is never adopted (the caller builds a fresh `Session`);
* a fresh id is minted when data is first written (`new_session_id()`), never for a read;
* `cycle_key()` and a change of owner (`set_user`) replace the id; the old record is deleted
  atomically by the store's ``create(..., replaces=old)``;
* `flush()` (and `clear()`) drop the id and the data; the old record is deleted and the
  cookie cleared.

Change tracking lives in `core.session_dict.TrackedDict`: every mutating dict method records
the keys it changed, so a save writes only that delta. A nested value changed in place
(``session["cart"].append(x)``) is invisible to the dict: call ``session.mark_changed("cart")``
afterwards (or ``mark_changed()`` for every key).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cookieguard.core._session_dict import EXPIRY_KEY, TrackedDict
from cookieguard.core.session_plan import NOTHING, NOTHING_VARY, ExpiryPolicy, SaveOutcome
from cookieguard.core.session_plan import plan_changes as _plan_changes
from cookieguard.core.tokens import SESSION_ID_ALPHABET, hash_session_id, new_session_id
from cookieguard.errors import InvalidSessionChange

__all__ = ["EXPIRY_KEY", "Session", "is_well_formed_session_id"]

_ID_CHARS = frozenset(SESSION_ID_ALPHABET)
_update, _pop = dict.update, dict.pop


def is_well_formed_session_id(value: str) -> bool:
    """True if `value` could be an id we minted: checked before any store lookup."""
    return len(value) == 32 and _ID_CHARS.issuperset(value)


class Session(TrackedDict):
    """A session's data as a `dict`, with the bookkeeping needed to save it safely.

    `json.dumps`, ``isinstance(session, dict)`` and every dict method work as on a dict;
    `copy()` and ``|`` return plain dicts. `clear()` ends a stored session (record deleted,
    cookie expired), as Starlette and Django users expect; `flush()` says so explicitly.

    Drivers build one with `Session(...)` (nothing stored yet) or `Session.restore(...)`
    (a live record the backend returned).
    """

    __slots__ = (
        "_cookie_present",
        "_created_at",
        "_expires_at",
        "_expiry",
        "_expiry_changed",
        "_hash",
        "_id",
        "_last_seen",
        "_replaces",
        "_started",
        "_stored",
        "_user_id",
    )

    accessed: bool
    """The data was read or written: the response depends on the cookie (Vary: Cookie)."""

    def __init__(self, now: float, /, *, cookie_present: bool = False) -> None:
        """A session with no record yet, begun at `now` (epoch seconds).

        Args:
            now: the request's time: the new session's `created_at` and `last_seen`.
            cookie_present: the request carried a session cookie that led nowhere (unknown,
                expired or forged); ending the session then clears it in the browser.
        """
        # key -> True (set) / False (deleted) since load; allocated on the first write.
        self._delta: dict[str, bool] | None = None
        self._id: str | None = None
        self._hash: str | None = None
        self._stored = False
        self._replaces: str | None = None
        self._user_id: str | None = None
        self._started = self._created_at = self._last_seen = now
        self._expires_at: float | None = None
        self._expiry: int | None = None
        self._expiry_changed = False
        self._cookie_present = cookie_present
        self._modified = False
        self.accessed = False

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
        now: float,
        key_hash: str | None = None,
    ) -> Session:
        """The session behind a live record; only call it after the backend found one.

        `data` is copied (the caller keeps it); `now` is the request's time and `key_hash`
        the caller's ``hash_session_id(session_id)``, if it has it.
        """
        # Every slot set once, without running __init__: this runs on every request with a
        # session cookie. Counted with valgrind (callgrind, 20 000 calls, a 3-key record):
        # about 5.3k instructions per call, against 6.9k for __init__ followed by
        # re-assigning the stored fields. tests/core/test_session_dict.py::
        # test_restore_agrees_with_init holds the two to the same slots.
        session = cls.__new__(cls)
        _update(session, data)
        expiry = None
        if EXPIRY_KEY in data:  # a `set_expiry` value, hidden from the dict
            kept = _pop(session, EXPIRY_KEY)
            if isinstance(kept, int) and not isinstance(kept, bool) and kept >= 0:
                expiry = kept
        session._delta = None
        session._id = session_id
        session._hash = key_hash
        session._stored = True
        session._replaces = None
        session._user_id = user_id
        session._started = now
        session._created_at = created_at
        session._last_seen = last_seen
        session._expires_at = expires_at
        session._expiry = expiry
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
    def created_at(self) -> float:
        """Start of the absolute-timeout window (for a new session or owner: this request)."""
        return self._created_at

    @property
    def last_seen(self) -> float:
        """When the record was last saved or touched (for a new session: this request)."""
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
    def expiry_changed(self) -> bool:
        """`set_expiry` changed the per-session timeout since the session was loaded."""
        return self._expiry_changed

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
            raise InvalidSessionChange("pending session changes cannot be discarded; use flush()")
        self.mark_changed()
        self._modified = True

    @property
    def is_stored(self) -> bool:
        """A record exists under the current id (it was loaded and not cycled or flushed)."""
        return self._stored

    @property
    def cookie_present(self) -> bool:
        """The request carried a session cookie (live or dead)."""
        return self._cookie_present

    @property
    def untouched(self) -> bool:
        """Never read or written and nothing stored: the response needs no session work."""
        return not (self.accessed or self._modified or self._stored)

    @property
    def pending_delete(self) -> str | None:
        """Key hash of the stored record the next save deletes (after `flush` or `cycle_key`)."""
        return self._replaces

    # -- the dict (reads and writes are tracked by TrackedDict) ------------------------------

    def __repr__(self) -> str:  # no values: sessions hold tokens
        shown = self.key_hash[:12] if self.key_hash else None
        return f"<Session key_hash={shown} keys={sorted(dict.keys(self))}>"

    def clear(self) -> None:
        """End the session, as `flush()` does: a stored record is deleted, the cookie expired.

        What Starlette and Django users mean by ``request.session.clear()`` at logout. To
        empty the data but keep the session, delete the keys one by one.
        """
        self.flush()

    def _record(self, key: str, is_set: bool) -> None:
        TrackedDict._record(self, key, is_set)
        if self._id is None:  # data is first written: the session gets its id
            self._id = new_session_id()

    # -- explicit changes --------------------------------------------------------------------

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
        self.accessed = True
        self._modified = True

    def flush(self) -> None:
        """End the session: data, owner and id are gone; the record is deleted on save.

        The response clears the cookie. Data written afterwards starts a new session.
        `logout()` also deletes the record at once.
        """
        if self._stored:
            self._replaces = self.key_hash
            self._stored = False
        dict.clear(self)
        self._id = self._hash = None
        self._delta = None
        self._user_id = None
        self._created_at = self._last_seen = self._started
        self._expires_at = None
        self._expiry = None
        self._expiry_changed = False
        self.accessed = True
        self._modified = True

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
        new absolute-timeout window, starting with this request.
        """
        if user_id == self._user_id:
            return
        if self._stored or self._id is None:
            self.cycle_key()
        self._user_id = user_id
        self._created_at = self._started
        self.accessed = True
        self._modified = True

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
            raise InvalidSessionChange("set_expiry() takes a non-negative int of seconds, or None")
        if seconds != self._expiry:
            self._expiry = seconds
            self._expiry_changed = True
            self._modified = True

    # -- what a save writes ------------------------------------------------------------------

    def record_data(self) -> dict[str, Any]:
        """The data as a store keeps it (including the per-session expiry)."""
        data = dict.copy(self)
        if self._expiry is not None:
            data[EXPIRY_KEY] = self._expiry
        return data

    def changes(self) -> tuple[dict[str, Any], tuple[str, ...]]:
        """The delta since load: (keys to set with their values, keys to delete)."""
        set_items, deleted = self._changed()
        if self._expiry_changed:
            if self._expiry is None:
                deleted.append(EXPIRY_KEY)
            else:
                set_items[EXPIRY_KEY] = self._expiry
        return set_items, tuple(deleted)

    def plan_save(self, policy: ExpiryPolicy, now: float, *, status: int = 200) -> SaveOutcome:
        """Decide what the response does to the store and the cookie (`core.session_plan`).

        Args:
            policy: expiry settings (a `SessionConfig`).
            now: the current time in epoch seconds.
            status: the response status; nothing is saved for a 5xx.
        """
        # The common cases inline (this runs on every response that used the session): an
        # unused or errored session, and a read-only one not yet due a touch.
        if status >= 500 or not (self._stored or self._modified):
            return NOTHING_VARY if self.accessed else NOTHING
        if (
            self._stored
            and self._delta is None
            and not self._expiry_changed
            and now - self._last_seen < policy.touch_interval
        ):
            return NOTHING_VARY if self.accessed else NOTHING
        return _plan_changes(self, policy, now, self.accessed)
