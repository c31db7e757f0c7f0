"""Where sessions live, behind one seam every driver uses: `SessionBackend`.

Two implementations:

* `StoreBackend`: the cookie carries a random id; a `SessionStore` (memory, SQLite,
  PostgreSQL, Redis) keeps the record under SHA-256 of it.
* `SignedCookieBackend`: the whole session is signed into the cookie; nothing is stored.

A driver (ASGI today) loads the session with `SessionBackend.load`, asks the session for its
outcome (`Session.plan_save`) and hands that to `SessionBackend.commit`, which answers with the
Set-Cookie value to send. It never asks which kind of backend it has.

WSGI drivers use the sync twins (`SyncSessionBackend`: `SyncStoreBackend` over a
`SyncSessionStore`, `SyncSignedCookieBackend` over the same `SignedCookieBackend`), which run
the async backends' own code inline (`cookieguard._inline`): one set of rules for both.
"""

from __future__ import annotations

from cookieguard.backends._base import (
    SessionBackend,
    SyncSessionBackend,
    backend_for,
    sync_backend_for,
)
from cookieguard.backends._server import StoreBackend
from cookieguard.backends._signed import MAX_COOKIE_SIZE, SignedCookieBackend
from cookieguard.backends._sync import SyncSignedCookieBackend, SyncStoreBackend

__all__ = [
    "MAX_COOKIE_SIZE",
    "SessionBackend",
    "SignedCookieBackend",
    "StoreBackend",
    "SyncSessionBackend",
    "SyncSignedCookieBackend",
    "SyncStoreBackend",
    "backend_for",
    "sync_backend_for",
]
