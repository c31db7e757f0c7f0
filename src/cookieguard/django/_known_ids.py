"""Which raw Django session key a key hash stands for, for the sessions loaded recently."""

from __future__ import annotations

from typing import Final

__all__ = ["KNOWN_IDS", "KnownIds"]

KNOWN_IDS: Final = 16_384
"""Session keys remembered by key hash (see `KnownIds`)."""


class KnownIds:
    """key hash -> raw session key, for the sessions this process loaded recently.

    Core hands a backend only the key *hash* of a record to delete (after `flush`,
    `cycle_key`, `logout`), as every other store keys by it; Django's rows are keyed by the raw
    key, which a hash cannot give back. A load remembers it; the map holds the most recent
    `KNOWN_IDS` (a few MiB), far more than the requests in flight. Should one still be
    forgotten, the deletion fails closed (`StoreUnavailable`: a 503, and a retry works), so a
    logout never reports success while the row lives on.
    """

    __slots__ = ("_ids", "limit")

    def __init__(self, limit: int = KNOWN_IDS) -> None:
        self._ids: dict[str, str] = {}
        self.limit = limit

    def remember(self, key_hash: str, key: str) -> None:
        ids = self._ids
        ids.pop(key_hash, None)
        ids[key_hash] = key
        if len(ids) > self.limit:
            del ids[next(iter(ids))]

    def get(self, key_hash: str) -> str | None:
        return self._ids.get(key_hash)

    def forget(self, key_hash: str) -> None:
        self._ids.pop(key_hash, None)
