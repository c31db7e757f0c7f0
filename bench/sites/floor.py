"""The `floor` subject: the least code the bench workloads' protection needs, for a lower bound.

Not a product and not a peer: one ASGI class doing only what W1-W4 need of sessions and CSRF,
with cookieguard's own primitives (secret, mask, unmask + compare, SHA-256 of the session id)
and none of its glue (no store protocol, no session object, no configuration, no events, no
error pages, no WSGI or framework support). Its instruction count over `bare`'s is what the
protection costs at least on this interpreter; cookieguard's count over the floor's is what
its structure costs. If a target ratio leaves less than the floor, no restructuring reaches it
without dropping a check.

What it does per request, as cookieguard does for these requests:

- the session: the ``sessionid`` cookie, its SHA-256, a dict lookup, the expiry compared;
- CSRF on an unsafe method: ``Origin`` must be the request's own origin and
  ``Sec-Fetch-Site`` absent or ``same-origin``; the ``csrftoken`` cookie must be a
  well-formed secret and the ``X-CSRFToken`` header a masked token for it (constant-time);
  a refusal is a bare 403;
- a page that shows a form: a new secret when the request brought none (``Set-Cookie:
  csrftoken``), masked with a pad from a 4 KiB buffer of OS randomness;
- ``Vary: Cookie`` on every response that read a cookie-derived value (appended: the app sets
  no ``Vary`` of its own).

Login (not measured) checks the password in `PeerDB`, stores the session and rotates the CSRF
secret; logout drops the session.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from cookieguard.core.cookies import find_cookie
from cookieguard.core.tokens import (
    hash_session_id,
    is_valid_secret,
    mask_with_pad,
    new_csrf_secret,
    new_session_id,
    sample_pad_indices,
    token_matches_secret,
)

SCOPE_KEY = "floor"
_SAFE = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
_CSRF_COOKIE = b"csrftoken="
_SESSION_COOKIE = b"sessionid="
_CSRF_SUFFIX = b"; Max-Age=31449600; Path=/; SameSite=Lax"
_SESSION_SUFFIX = b"; Max-Age=1209600; Path=/; HttpOnly; SameSite=Lax"
_LIFETIME = 14 * 24 * 3600
_FORBIDDEN = {"type": "http.response.start", "status": 403, "headers": [(b"vary", b"Cookie")]}


class Request:
    """What the handlers ask of the floor for one request."""

    __slots__ = ("csrf_secret", "new_csrf", "new_session", "session", "varies")

    def __init__(self, session: dict[str, Any] | None, csrf_secret: str | None) -> None:
        self.session = session
        self.csrf_secret = csrf_secret
        self.new_csrf = False
        self.new_session: str | None = None
        self.varies = False


class Floor:
    """The floor's ASGI layer around the app (sessions in a dict, keyed by the id's hash)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.sessions: dict[str, dict[str, Any]] = {}
        self._pads = iter(())

    def pad(self) -> bytes:
        pad = next(self._pads, None)
        if pad is None:
            indices = sample_pad_indices(secrets.token_bytes(4096))
            self._pads = iter([indices[i : i + 32] for i in range(0, len(indices) - 31, 32)])
            pad = next(self._pads)
        return pad

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = scope["headers"]
        session = None
        session_id = find_cookie(headers, _SESSION_COOKIE)
        if session_id:
            row = self.sessions.get(hash_session_id(session_id))
            if row is not None and row["expires_at"] > time.time():
                session = row
        csrf_secret = find_cookie(headers, _CSRF_COOKIE)
        if csrf_secret is not None and not is_valid_secret(csrf_secret):
            csrf_secret = None
        if scope["method"] not in _SAFE and not self._allowed(scope, csrf_secret):
            await send(_FORBIDDEN)
            await send({"type": "http.response.body", "body": b"Forbidden"})
            return
        request = scope[SCOPE_KEY] = Request(session, csrf_secret)

        async def send_wrapper(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start" and (request.varies or request.new_csrf):
                added = list(message.get("headers", ()))
                if request.new_csrf:
                    cookie = _CSRF_COOKIE + request.csrf_secret.encode() + _CSRF_SUFFIX
                    added.append((b"set-cookie", cookie))
                if request.new_session is not None:
                    cookie = _SESSION_COOKIE + request.new_session.encode() + _SESSION_SUFFIX
                    added.append((b"set-cookie", cookie))
                added.append((b"vary", b"Cookie"))
                message = {**message, "headers": added}
            await send(message)

        await self.app(scope, receive, send_wrapper)

    @staticmethod
    def _allowed(scope: dict[str, Any], secret: str | None) -> bool:
        origin = site = token = host = None
        for key, value in scope["headers"]:
            if key == b"origin":
                origin = value
            elif key == b"sec-fetch-site":
                site = value
            elif key == b"x-csrftoken":
                token = value
            elif key == b"host":
                host = value
        if site is not None and site != b"same-origin":
            return False
        if origin is not None and origin != scope["scheme"].encode() + b"://" + (host or b""):
            return False
        if secret is None or token is None:
            return False
        return token_matches_secret(token.decode("latin-1"), secret)


class FloorLayer:
    """The bench app's `Layer` for the floor (see `app.Layer`)."""

    def __init__(self, db: Any, floor: Floor) -> None:
        self.middleware: list[Any] = []
        self.db = db
        self.floor = floor

    def user(self, request: Any) -> tuple[str, str] | None:
        state: Request = request.scope[SCOPE_KEY]
        state.varies = True
        session = state.session
        return None if session is None else (session["user_id"], session["username"])

    def token(self, request: Any) -> str:
        state: Request = request.scope[SCOPE_KEY]
        state.varies = True
        if state.csrf_secret is None:
            state.csrf_secret, state.new_csrf = new_csrf_secret(), True
        return mask_with_pad(state.csrf_secret, self.floor.pad())

    async def login(self, request: Any, username: object, password: object) -> bool:
        user_id = None
        if isinstance(username, str) and isinstance(password, str):
            user_id = self.db.authenticate(username, password)
        if user_id is None:
            return False
        state: Request = request.scope[SCOPE_KEY]
        session_id = new_session_id()
        state.session = self.floor.sessions[hash_session_id(session_id)] = {
            "user_id": user_id,
            "username": username,
            "expires_at": time.time() + _LIFETIME,
        }
        state.new_session = session_id
        state.csrf_secret, state.new_csrf, state.varies = new_csrf_secret(), True, True
        return True

    async def logout(self, request: Any) -> None:
        state: Request = request.scope[SCOPE_KEY]
        if state.session is not None:
            for key, row in list(self.floor.sessions.items()):
                if row is state.session:
                    del self.floor.sessions[key]
            state.session = None
