"""Per-request CSRF state and the helpers apps call: get a token, rotate the secret.

`CSRFMiddleware` puts a `CSRFState` at ``scope[CSRF_STATE_KEY]`` for every HTTP request (the
key of `cookieguard.csrf_rotation`, so login and logout can rotate the secret without knowing
this module). The secret is read lazily (from the cookie, or the session with
``use_session=True``) the first time something needs it, so requests that never do cost no
cookie parsing at all. `CSRFState` is the `SecretSource` the core's decision asks.
"""

from __future__ import annotations

import html
import os
import secrets
import threading
from collections.abc import Iterable, Iterator
from typing import Any

from cookieguard.asgi._types import Connection, scope_of
from cookieguard.config import CSRFConfig
from cookieguard.core import csrf as core
from cookieguard.core.cookies import find_cookie
from cookieguard.core.tokens import (
    CSRF_SECRET_LENGTH,
    mask_with_pad,
    new_csrf_secret,
    sample_pad_indices,
)
from cookieguard.csrf_rotation import CSRF_STATE_KEY
from cookieguard.errors import ConfigError, MiddlewareMissing

__all__ = [
    "NO_SESSION_MESSAGE",
    "SESSION_KEY",
    "STATE_KEY",
    "CSRFState",
    "csrf_input",
    "get_csrf_token",
    "rotate_csrf_token",
]

STATE_KEY = CSRF_STATE_KEY
"""Where the per-request `CSRFState` lives in the ASGI scope."""
SESSION_KEY = "_csrftoken"
"""Session key of the secret when ``use_session=True`` (Django's ``CSRF_SESSION_KEY``)."""
NO_SESSION_MESSAGE = (
    "CSRFConfig(use_session=True) needs scope['session']: wrap the app as "
    "SessionMiddleware(CSRFMiddleware(app), ...), sessions outermost."
)


class _PadSource:
    """Token pads, sampled from OS randomness 4 KiB at a time.

    Every token issued needs a 32-index pad, and a system call plus the sampling per token
    cost more than the rest of the masking. Pads are public (the first half of every
    token), so buffering them exposes nothing; each pad is handed out once (under the GIL a
    list iterator's ``next`` is atomic, so threads need no lock but to refill), secrets and
    session ids never come from here, and a forked child drops the parent's buffer.
    """

    __slots__ = ("_lock", "_pads")

    def __init__(self) -> None:
        self._pads: Iterator[bytes] = iter(())
        self._lock = threading.Lock()

    def __call__(self) -> bytes:
        pad = next(self._pads, None)
        return self._refill() if pad is None else pad

    def _refill(self) -> bytes:
        with self._lock:
            pad = next(self._pads, None)  # another thread may have refilled meanwhile
            if pad is not None:
                return pad
            indices = b""
            while len(indices) < CSRF_SECRET_LENGTH:  # 4096 bytes keep ~3968 indices
                indices += sample_pad_indices(secrets.token_bytes(4096))
            size = CSRF_SECRET_LENGTH
            pads = [indices[i : i + size] for i in range(0, len(indices) - size + 1, size)]
            self._pads = iter(pads[1:])
            return pads[0]

    def forget(self) -> None:
        self._pads = iter(())
        self._lock = threading.Lock()


_next_pad = _PadSource()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_next_pad.forget)


class CSRFState:
    """The CSRF secret of one request and whether the response must carry it.

    A `core.csrf.SecretSource` (`secret_for_check`) and a `RotatableCSRFSecret` (`rotate`).
    """

    __slots__ = (
        "_cookie_needle",
        "_headers",
        "_loaded",
        "_problem",
        "_secret",
        "_session_map",
        "config",
        "cookie_pending",
        "token_issued",
    )

    def __init__(
        self,
        config: CSRFConfig,
        cookie_needle: bytes,
        headers: Iterable[tuple[bytes, bytes]],
        session: Any = None,
    ) -> None:
        # The state deliberately holds no reference to the scope: the scope holds the state,
        # and a cycle would leave every request's scope to the garbage collector.
        self.config: CSRFConfig = config
        self._cookie_needle = cookie_needle
        self._headers = headers
        self._session_map = session
        self._secret: str | None = None
        self._problem: core.Reject | None = None
        self._loaded = False
        self.cookie_pending: bool = False
        self.token_issued: bool = False

    def load(self, raw: str | None) -> None:
        """Adopt the stored value; a malformed one is replaced by a fresh secret, which the
        response then carries (Django does the same)."""
        self._loaded = True
        if raw is None:  # a first visit: nothing to check
            return
        self._secret, self._problem = core.secret_from_stored(raw)
        if self._problem is not None:
            self._store(new_csrf_secret())

    def _ensure_loaded(self) -> None:
        # Loaded on first use, so a request that never needs the secret never parses cookies.
        if self._loaded:
            return
        if not self.config.use_session:
            self.load(find_cookie(self._headers, self._cookie_needle))
        else:
            raw = self._session().get(SESSION_KEY)
            self.load(raw if isinstance(raw, str) or raw is None else "")

    def _session(self) -> Any:
        if self._session_map is None:
            raise ConfigError(NO_SESSION_MESSAGE)
        return self._session_map

    def _store(self, secret: str) -> None:
        self._secret = secret
        if self.config.use_session:
            session = self._session()
            if session.get(SESSION_KEY) != secret:
                session[SESSION_KEY] = secret
        else:
            self.cookie_pending = True

    def secret_for_check(self) -> tuple[str | None, core.Reject | None]:
        """The secret as the request brought it, and why it is unusable if it is."""
        self._ensure_loaded()
        return (None, self._problem) if self._problem is not None else (self._secret, None)

    def get_token(self) -> str:
        """A freshly masked token for the current secret, creating the secret if needed."""
        if not self._loaded:
            self._ensure_loaded()
        secret = self._secret
        if secret is None:
            secret = new_csrf_secret()
            self._store(secret)
        # A secret the request brought in a valid cookie is not sent back: the browser
        # already holds it. (Django re-sends it to restart the one-year Max-Age; here it
        # restarts whenever the secret rotates, which every login does, and a cookie that
        # does expire is replaced on the next page that asks for a token.) The response
        # still varies on Cookie: its body carries a token for this cookie's secret.
        self.token_issued = True
        return mask_with_pad(secret, _next_pad())

    def rotate(self) -> None:
        """Replace the secret; tokens issued before stop working."""
        self._ensure_loaded()
        self._problem = None
        self._store(new_csrf_secret())

    def take_pending_cookie(self) -> str | None:
        """The secret the response's cookie must carry, once; None if it need not be sent."""
        if not self.cookie_pending:
            return None
        self.cookie_pending = False
        return self._secret  # pending is only ever set together with a secret

    @property
    def secret(self) -> str | None:
        """The current secret, if any (never log it)."""
        self._ensure_loaded()
        return self._secret


def _state(conn: Connection) -> CSRFState:
    state = scope_of(conn).get(STATE_KEY)
    if not isinstance(state, CSRFState):
        raise MiddlewareMissing("CSRFMiddleware is not installed around this app")
    return state


def get_csrf_token(conn: Connection) -> str:
    """A fresh masked 64-char token for forms (`csrfmiddlewaretoken`) or the X-CSRFToken header.

    Each call returns a different string for the same secret (BREACH defence); all of them
    stay valid until the secret rotates. Calling it makes the response send the cookie when
    the request did not bring a valid one, and vary on Cookie in any case.

    Args:
        conn: a Starlette/FastAPI request (or anything with `.scope`), or a raw scope.
    """
    # `_state(conn)` without its two calls when the scope is a plain dict holding the state:
    # every page with a form asks.
    scope = getattr(conn, "scope", conn)
    state = scope.get(STATE_KEY) if type(scope) is dict else None
    if type(state) is not CSRFState:
        state = _state(conn)
    return state.get_token()


def rotate_csrf_token(conn: Connection) -> None:
    """Give the client a new secret (call it at login); forms rendered earlier stop working."""
    _state(conn).rotate()


_INPUT_PREFIXES: dict[str, str] = {}


def _input_prefix(field: str) -> str:
    # Escaped once per field name rather than on every page.
    prefix = _INPUT_PREFIXES.get(field)
    if prefix is None:
        prefix = _INPUT_PREFIXES[field] = (
            f'<input type="hidden" name="{html.escape(field)}" value="'
        )
    return prefix


def csrf_input(conn: Connection) -> str:
    """A hidden ``<input>`` carrying a fresh token, ready to paste into an HTML form."""
    state = _state(conn)
    return _input_prefix(state.config.form_field) + state.get_token() + '">'


def csrf_header_name(conn: Connection) -> str:
    """The header the middleware reads a token from (`CSRFConfig.header_name`)."""
    return _state(conn).config.header_name


def csrf_meta(conn: Connection) -> str:
    """Two ``<meta>`` tags for scripts (HTMX, single-page apps): a fresh token and the header.

    ``<meta name="csrf-token" content="...">`` holds a masked token like `csrf_input`'s, and
    ``<meta name="csrf-header" content="X-CSRFToken">`` the header name to send it in, so a
    script needs no configuration of its own. The token stays valid until the secret rotates
    (at login): a page whose ``<head>`` outlives a rotation (HTMX's ``hx-boost`` swaps only
    the body) must read the current secret from the cookie instead, see the README.
    """
    state = _state(conn)
    return (
        f'<meta name="csrf-token" content="{state.get_token()}">\n'
        f'<meta name="csrf-header" content="{html.escape(state.config.header_name)}">'
    )
