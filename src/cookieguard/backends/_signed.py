"""Signed-cookie sessions: the whole session travels in the cookie, nothing is stored.

The value is HMAC-SHA256 signed with a `KeyRing` (the newest key signs, every key verifies,
so keys rotate without logging anyone out). It carries the creation time and the expiry, so
the server enforces idle and absolute timeouts itself instead of trusting the browser's
Max-Age.

What it cannot do, by construction:

* **revoke**: logout clears the browser's cookie, but a copy taken earlier stays valid until
  its expiry (keep `idle_timeout` short, or use a server-side store);
* **list or revoke a user's sessions** ("sign out other devices"): there is no server state;
* **merge concurrent writes**: two racing requests each send a whole cookie; the last
  response the browser receives wins;
* **hide data**: it is signed, not encrypted; the user can read (not change) it.

A session whose cookie would exceed 4096 bytes (name plus value, the limit browsers enforce
by silently dropping the cookie) raises `SessionTooLarge` at commit time; the middleware then
answers 507 Insufficient Storage and keeps the previous cookie, rather than losing data quietly.
"""

from __future__ import annotations

import json
import zlib
from typing import Any

from cookieguard.core.cookies import CookieSpec
from cookieguard.core.session import Session, is_well_formed_session_id
from cookieguard.core.session_plan import Create, SaveOutcome, Touch, Update, cookie_header
from cookieguard.core.signing import KeyRing, Signer
from cookieguard.errors import SessionTooLarge
from cookieguard.stores.base import SessionStore

__all__ = ["MAX_COOKIE_SIZE", "SignedCookieBackend"]

MAX_COOKIE_SIZE = 4096
"""Largest cookie name plus value browsers keep; larger cookies are silently dropped."""

_PURPOSE = "cookieguard.sessions.cookie"
_PLAIN, _DEFLATED = b"j", b"z"
_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode


class SignedCookieBackend:
    """Keeps each session in its own signed cookie (no server state; see module docs).

    Args:
        keys: signing keys, newest first; a plain string is a single key (>= 16 bytes).
        max_size: refuse sessions whose cookie name plus value would exceed this many bytes.
    """

    __slots__ = ("_signer", "max_size")

    def __init__(self, keys: KeyRing | str | bytes, *, max_size: int = MAX_COOKIE_SIZE) -> None:
        ring = keys if isinstance(keys, KeyRing) else KeyRing(keys)
        self._signer = Signer(ring, _PURPOSE)
        self.max_size: int = max_size

    def __repr__(self) -> str:
        return f"SignedCookieBackend(max_size={self.max_size})"

    @property
    def store(self) -> SessionStore | None:
        """None: there is no server state to list or revoke."""
        return None

    async def load(self, cookie_value: str, *, now: float) -> Session | None:
        """The session in `cookie_value`, or None if it is forged, malformed or expired."""
        return self.decode(cookie_value, now=now)

    async def commit(
        self,
        session: Session,
        outcome: SaveOutcome,
        *,
        cookie: CookieSpec,
        user_agent: str | None = None,
        client_address: str | None = None,
    ) -> str | None:
        """The Set-Cookie value for `outcome`: the re-signed session, or its deletion.

        Raises:
            SessionTooLarge: the cookie would exceed `max_size` bytes.
        """
        value: str | None = None
        match outcome:
            case (
                Create(now=now, expires_at=expires)
                | Update(now=now, expires_at=expires)
                | Touch(now=now, expires_at=expires)
            ):
                value = self.encode(session, last_seen=now, expires_at=expires)
                size = len(cookie.name) + 1 + len(value)
                if size > self.max_size:
                    raise SessionTooLarge(
                        f"the session cookie would be {size} bytes (limit {self.max_size}); "
                        "browsers drop such cookies silently. Store less in the session or "
                        "use a server-side store."
                    )
        return cookie_header(cookie, value, outcome)

    async def close(self) -> None:
        """Nothing to release."""

    def encode(self, session: Session, *, last_seen: float, expires_at: float) -> str:
        """The signed cookie value for `session`, saved at `last_seen`, ending at `expires_at`."""
        body = _dumps(
            {
                "i": session.session_id,
                "d": session.record_data(),
                "u": session.user_id,
                "c": session.created_at,
                "s": last_seen,
                "e": expires_at,
            }
        ).encode("utf-8")
        packed = zlib.compress(body, 6)
        payload = _DEFLATED + packed if len(packed) < len(body) else _PLAIN + body
        return self._signer.sign(payload)

    def decode(self, cookie_value: str, *, now: float) -> Session | None:
        """Verify and unpack a cookie value; None for anything we did not sign or that expired."""
        if len(cookie_value) > self.max_size:
            return None
        payload = self._signer.unsign(cookie_value)
        if payload is None:
            return None
        try:  # signed by us, so only a format change between versions can fail here
            kind, body = payload[:1], payload[1:]
            if kind == _DEFLATED:
                body = zlib.decompress(body)
            elif kind != _PLAIN:
                return None
            state: Any = json.loads(body)
            session_id, data, user_id = state["i"], state["d"], state["u"]
            created, seen, expires = float(state["c"]), float(state["s"]), float(state["e"])
        except (ValueError, TypeError, KeyError, zlib.error):
            return None
        if (
            not isinstance(session_id, str)
            or not is_well_formed_session_id(session_id)
            or not isinstance(data, dict)
            or not (user_id is None or isinstance(user_id, str))
            or expires <= now
        ):
            return None
        return Session.restore(
            session_id,
            data,
            user_id=user_id,
            created_at=created,
            last_seen=seen,
            expires_at=expires,
            now=now,
        )
