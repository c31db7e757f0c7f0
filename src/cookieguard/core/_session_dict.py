"""A `dict` that remembers which keys changed and whether it was read: the session's data.

Every mutating dict method (``[]=``, ``del``, `pop`, `popitem`, `setdefault`, `update`, ``|=``,
`clear`) is overridden to record the keys it changed, because a dict subclass's C methods never
call an overridden `__setitem__`. A save then writes only that delta, and two racing requests
that touch different keys both land. Reads set `accessed` (the response varies on Cookie);
`peek` reads without that. `copy()`, ``|`` and `copy.copy` give plain dicts.

CPython serialises an *empty* dict (json.dumps, JSONResponse) without calling any method, so
that one read goes unseen; a non-empty one is read through `items()` and is seen.

Values must be JSON-serialisable and keys str; both are checked at assignment, so the
`TypeError` points at the line that stored the bad value instead of surfacing at response time.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Final, Self

__all__ = ["EXPIRY_KEY", "TrackedDict"]

EXPIRY_KEY: Final = "_session_expiry"
"""Data key under which a per-session `set_expiry` value is stored (hidden from the dict)."""

_validate_json = json.JSONEncoder(allow_nan=False, check_circular=True).encode
_get, _set, _del, _has = dict.get, dict.__setitem__, dict.__delitem__, dict.__contains__


class TrackedDict(dict[str, Any]):
    """The change-tracking half of `Session` (which adds ids, owner and expiry)."""

    __slots__ = ("_delta", "_modified", "accessed")

    _delta: dict[str, bool] | None
    """key -> True (set) / False (deleted) since load; allocated on the first write."""
    _modified: bool
    accessed: bool
    """The data was read or written: the response depends on the cookie."""

    # -- reads (they mark the dict accessed) -------------------------------------------------

    def __getitem__(self, key: str) -> Any:
        self.accessed = True
        return dict.__getitem__(self, key)

    def get(self, key: str, default: Any = None) -> Any:
        """As `dict.get`, and the session counts as read (see `peek` for a read that does not)."""
        self.accessed = True
        return _get(self, key, default)

    if TYPE_CHECKING:  # the declared signature; at run time ``dict.get`` itself (no frame)

        def peek(self, key: str, default: Any = None) -> Any:
            """Read without marking the session accessed.

            For middleware that inspects every request's session (`AuthMiddleware` reads the
            user id and the last auth check): the response only varies on Cookie when the
            app, or a decision taken on what was read, actually used the session.
            """
            ...

    else:
        peek = dict.get

    def __contains__(self, key: object) -> bool:
        self.accessed = True
        return _has(self, key)

    def __iter__(self) -> Iterator[str]:
        self.accessed = True
        return dict.__iter__(self)

    def __reversed__(self) -> Iterator[str]:
        self.accessed = True
        return dict.__reversed__(self)

    def __len__(self) -> int:
        self.accessed = True
        return dict.__len__(self)

    def keys(self) -> Any:
        """A live view of the keys; listing them counts as reading the session."""
        self.accessed = True
        return dict.keys(self)

    def values(self) -> Any:
        """A live view of the values; counts as reading the session."""
        self.accessed = True
        return dict.values(self)

    def items(self) -> Any:
        """A live view of the pairs; counts as reading (``json.dumps`` of the session uses it)."""
        self.accessed = True
        return dict.items(self)

    def copy(self) -> dict[str, Any]:
        """A plain `dict` of the data (not a session: it saves nothing)."""
        self.accessed = True
        return dict.copy(self)

    def __or__(self, other: Any) -> Any:
        if not isinstance(other, Mapping):
            return NotImplemented
        self.accessed = True
        merged = dict.copy(self)
        merged.update(other)
        return merged

    def __ror__(self, other: Any) -> Any:
        if not isinstance(other, Mapping):
            return NotImplemented
        self.accessed = True
        merged = dict(other)
        merged.update(dict.items(self))
        return merged

    def __eq__(self, other: object) -> bool:
        self.accessed = True
        return dict.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        return not self == other

    __hash__ = None

    def __reduce__(self) -> Any:  # copy.copy() and pickle give the plain data, as copy() does
        return (dict, (dict.copy(self),))

    @classmethod
    def fromkeys(cls, iterable: Iterable[Any], value: Any = None, /) -> Any:
        """A plain `dict` (a session cannot be made from nothing)."""
        return dict.fromkeys(iterable, value)

    # -- writes (each records the keys it changed) -------------------------------------------

    def __setitem__(self, key: str, value: Any) -> None:
        _check_item(key, value)
        _set(self, key, value)
        self._record(key, True)

    def __delitem__(self, key: str) -> None:
        self.accessed = True
        _del(self, key)
        self._record(key, False)

    def pop(self, key: str, *default: Any) -> Any:
        """As `dict.pop`; a removed key is recorded so the save deletes it from the store."""
        self.accessed = True
        if _has(self, key):
            value = dict.pop(self, key)
            self._record(key, False)
            return value
        if default:
            return default[0]
        raise KeyError(key)

    def popitem(self) -> tuple[str, Any]:
        """Remove and return the last item inserted, as `dict.popitem` does."""
        self.accessed = True
        key, value = dict.popitem(self)
        self._record(key, False)
        return key, value

    def setdefault(self, key: str, default: Any = None) -> Any:
        """As `dict.setdefault`; a value it stores is checked and saved like an assignment."""
        self.accessed = True
        if _has(self, key):
            return dict.__getitem__(self, key)
        self[key] = default
        return default

    def update(self, other: Any = (), /, **kwargs: Any) -> None:
        """As `dict.update`; every value is checked before any is stored."""
        staged = dict(other, **kwargs)
        for key, value in staged.items():
            _check_item(key, value)
        for key, value in staged.items():
            _set(self, key, value)
            self._record(key, True)

    def __ior__(self, other: Any) -> Self:  # type: ignore[override]
        self.update(other)
        return self

    def clear(self) -> None:
        """Delete every key (as a delta); `Session.clear` ends the session instead."""
        for key in list(dict.keys(self)):
            del self[key]

    def _record(self, key: str, is_set: bool) -> None:
        delta = self._delta
        if delta is None:
            delta = self._delta = {}
        delta[key] = is_set
        self.accessed = self._modified = True

    # -- explicit changes --------------------------------------------------------------------

    def mark_accessed(self) -> None:
        """Record a read the dict could not see."""
        self.accessed = True

    def mark_changed(self, key: str | None = None) -> None:
        """Save `key` (or every key) although it was mutated in place, e.g. a list appended to."""
        keys = list(dict.keys(self)) if key is None else [key]
        for name in keys:
            _check_item(name, dict.__getitem__(self, name))  # KeyError for an absent key
            self._record(name, True)

    def _changed(self) -> tuple[dict[str, Any], list[str]]:
        """The delta since load: (keys to set with their values, keys deleted)."""
        set_items: dict[str, Any] = {}
        deleted: list[str] = []
        for key, is_set in (self._delta or {}).items():
            if is_set:
                set_items[key] = dict.__getitem__(self, key)
            else:
                deleted.append(key)
        return set_items, deleted


def _check_item(key: object, value: Any) -> None:
    if not isinstance(key, str):
        raise TypeError(f"session keys must be str, not {type(key).__name__}")
    if key == EXPIRY_KEY:
        raise KeyError(f"{EXPIRY_KEY!r} is reserved; use set_expiry()")
    try:
        _validate_json(value)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"session values must be JSON-serialisable; {key!r} holds a {type(value).__name__}"
            f" ({exc})"
        ) from None
