"""What a response does with its session: one tagged outcome, decided here, carried out anywhere.

`Session.plan_save` answers with exactly one of

* `Nothing`: no store work; maybe a deletion cookie (a dead cookie the app ended);
* `Create`: insert the whole record under a new id, deleting `Create.replaces` in the same
  step (login, `cycle_key`, a first write);
* `Update`: apply the delta of changed keys to the live record (or learn it is gone);
* `Touch`: an empty delta that only slides the idle expiry of a session that was only read;
* `Delete`: remove the record (`flush`, `clear`, the absolute deadline passed).

Each outcome also says which cookie the response carries (`SendCookie` with its Max-Age,
`EXPIRE_COOKIE`, or None) and whether it must vary on Cookie. Drivers (ASGI today, WSGI and
others next) and session backends `match` on the outcome and never re-derive any of it, so
every front door makes the same decision. Plain frozen data: tests assert on it without I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Final, Protocol

from cookieguard.core.cookies import CookieSpec, render_deletion, render_set_cookie

if TYPE_CHECKING:
    from cookieguard.core.session import Session

__all__ = [
    "EXPIRE_COOKIE",
    "NOTHING",
    "NOTHING_VARY",
    "Create",
    "Delete",
    "ExpireCookie",
    "ExpiryPolicy",
    "Nothing",
    "SaveOutcome",
    "SendCookie",
    "Touch",
    "Update",
    "cookie_header",
    "plan_changes",
]


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
class SendCookie:
    """Send the session cookie; its value (an id, or the signed data) comes from the backend."""

    max_age: int | None
    """Max-Age in seconds; None makes a browser-session cookie."""


@dataclass(frozen=True, slots=True)
class ExpireCookie:
    """Send a deletion cookie (same Path and Domain): the browser forgets the session."""


EXPIRE_COOKIE: Final = ExpireCookie()


@dataclass(frozen=True, slots=True)
class Nothing:
    """No store work. `cookie` is `EXPIRE_COOKIE` when a dead cookie must be cleared."""

    cookie: ExpireCookie | None
    vary: bool
    """Add ``Vary: Cookie``: the response depended on the session."""


NOTHING: Final = Nothing(None, vary=False)
"""The session was not used: the response needs no session work at all."""
NOTHING_VARY: Final = Nothing(None, vary=True)
"""Only read (most logged-in requests): add ``Vary: Cookie`` and nothing else."""
_NOTHING_EXPIRE: Final = Nothing(EXPIRE_COOKIE, vary=True)


@dataclass(frozen=True, slots=True)
class Create:
    """Insert `data` as a whole new record under `key_hash`; delete `replaces` atomically."""

    key_hash: str
    data: dict[str, Any]
    user_id: str | None
    created_at: float
    now: float
    """The save time: the record's ``last_seen``."""
    expires_at: float
    replaces: str | None
    cookie: SendCookie
    vary: bool


@dataclass(frozen=True, slots=True)
class Update:
    """Apply the delta to the live record under `key_hash`; a gone record stays gone."""

    key_hash: str
    set_items: dict[str, Any]
    delete_keys: tuple[str, ...]
    now: float
    expires_at: float
    cookie: SendCookie
    vary: bool


@dataclass(frozen=True, slots=True)
class Touch:
    """Slide the idle expiry of the record under `key_hash` (an empty delta).

    A touch failing or finding the record gone never changes the response: the browser may
    already hold a newer cookie (a login in another tab) that a deletion would destroy.
    """

    key_hash: str
    now: float
    expires_at: float
    cookie: SendCookie
    vary: bool


@dataclass(frozen=True, slots=True)
class Delete:
    """Remove the record under `key_hash` and clear the cookie."""

    key_hash: str
    cookie: ClassVar[ExpireCookie] = EXPIRE_COOKIE
    vary: ClassVar[bool] = True


SaveOutcome = Nothing | Create | Update | Touch | Delete


def cookie_header(spec: CookieSpec, value: str | None, outcome: SaveOutcome) -> str | None:
    """The Set-Cookie value that carries `outcome` out, given the backend's cookie `value`.

    `value` None means the session is gone (a deletion cookie), except after a `Touch`,
    which never sends one (see `Touch`).
    """
    match outcome:
        case (
            Create(cookie=cookie, now=now)
            | Update(cookie=cookie, now=now)
            | Touch(cookie=cookie, now=now)
        ) if value is not None:
            return render_set_cookie(spec, value, max_age=cookie.max_age, now=now)
        case Touch() | Nothing(cookie=None):
            return None
        case _:
            return render_deletion(spec)


def plan_changes(session: Session, policy: ExpiryPolicy, now: float, vary: bool) -> SaveOutcome:
    """The outcome of a session that was changed, cycled, flushed or is due a touch.

    `Session.plan_save` answers the common cases (unused, read-only) itself and calls this
    for the rest.
    """
    if session.is_stored:
        return _plan_stored(session, policy, now, vary)
    key_hash = session.key_hash
    if key_hash is not None and (dict.__len__(session) or session.user_id is not None):
        return _plan_create(session, key_hash, policy, now, vary)
    doomed = session.pending_delete
    if doomed is not None:
        return Delete(doomed)
    if session.cookie_present:
        return _NOTHING_EXPIRE  # a dead cookie the app explicitly ended: the browser forgets it
    return NOTHING_VARY if vary else NOTHING


def _deadline(session: Session, policy: ExpiryPolicy, now: float) -> float:
    expires = now + (session.expiry or policy.idle_timeout)
    if policy.absolute_timeout is not None:
        expires = min(expires, session.created_at + policy.absolute_timeout)
    return expires


def _cookie(session: Session, policy: ExpiryPolicy, now: float, expires: float) -> SendCookie:
    if policy.browser_session or session.expiry == 0:
        return SendCookie(None)
    return SendCookie(max(0, int(expires - now)))


def _plan_stored(session: Session, policy: ExpiryPolicy, now: float, vary: bool) -> SaveOutcome:
    key_hash = session.key_hash
    assert key_hash is not None  # a stored session has an id
    set_items, delete_keys = session.changes()
    unchanged = not set_items and not delete_keys and not session.expiry_changed
    if unchanged and now - session.last_seen < policy.touch_interval:
        return NOTHING_VARY if vary else NOTHING
    expires = _deadline(session, policy, now)
    if expires <= now:  # the absolute deadline passed during the request
        return Delete(key_hash)
    cookie = _cookie(session, policy, now, expires)
    if unchanged:
        return Touch(key_hash, now, expires, cookie, vary)
    return Update(key_hash, set_items, delete_keys, now, expires, cookie, vary)


def _plan_create(
    session: Session, key_hash: str, policy: ExpiryPolicy, now: float, vary: bool
) -> SaveOutcome:
    expires = _deadline(session, policy, now)
    doomed = session.pending_delete
    if expires <= now:  # a cycled session past its absolute deadline: end it instead
        if doomed is None:
            return NOTHING_VARY if vary else NOTHING
        return Delete(doomed)
    return Create(
        key_hash,
        session.record_data(),
        session.user_id,
        session.created_at,
        now,
        expires,
        doomed,
        _cookie(session, policy, now, expires),
        vary,
    )
