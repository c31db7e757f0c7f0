"""The value `Session.plan_save` returns: what a response does to the store and the cookie.

Plain data, so the middleware and every store backend carry out the same decision and tests
can assert on it without any I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

__all__ = ["CookieAction", "ExpiryPolicy", "SaveAction", "SavePlan"]

SaveAction = Literal["none", "create", "update", "touch", "delete"]
CookieAction = Literal["keep", "set", "delete"]


class ExpiryPolicy(Protocol):
    """The expiry settings planning needs; `cookieguard.SessionConfig` satisfies it."""

    @property
    def idle_timeout(self) -> int: ...
    @property
    def absolute_timeout(self) -> int | None: ...
    @property
    def touch_interval(self) -> int: ...
    @property
    def browser_session(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class SavePlan:
    """What to do at response time: one store operation and one cookie decision.

    ``create`` inserts `set_items` as the whole record (deleting `replaces` atomically);
    ``update`` applies the delta `set_items`/`delete_keys`; ``touch`` is an update with an
    empty delta that only slides the expiry; ``delete`` removes `key_hash`.
    """

    action: SaveAction
    key_hash: str | None = None
    replaces: str | None = None
    set_items: Mapping[str, Any] = field(default_factory=dict)
    delete_keys: tuple[str, ...] = ()
    user_id: str | None = None
    now: float = 0.0
    created_at: float = 0.0
    last_seen: float = 0.0
    expires_at: float = 0.0
    cookie: CookieAction = "keep"
    """``set``: send the session cookie; ``delete``: send a deletion cookie; ``keep``: nothing."""
    max_age: int | None = None
    """Max-Age of a ``set`` cookie; None makes a browser-session cookie."""
    vary: bool = False
    """Add ``Vary: Cookie``: the response depended on the session."""
