"""The inspector: what the cookies and the server hold for this very page, shown live.

A collapsible panel on every page that tells the story of Django's two cookies:

* ``csrftoken`` holds the bare 32-character secret (readable by scripts, by design). Every
  form gets a 64-character *masked* token instead: a fresh random mask, then the secret
  shifted by it, so the token differs on every page while unmasking gives the same secret
  back (the BREACH defence). The panel shows the cookie, one masked token and its unmasking.
* At login both change: a new CSRF secret and a new session id. The login handler keeps the
  pre-login values in the session (`remember_before_login`) so the panel can show
  "before -> after".
* ``sessionid`` is HttpOnly and never shown. The panel shows what the store keeps instead:
  the row under the SHA-256 of the id (`stored_session`), with its data and expiry.

It shows the CSRF secret in the page, which a production app would not: a page that reflects
a secret and is served compressed gives BREACH its oracle. The demo sends no compressed
responses, and the panel exists to teach; an app keeps only `csrf_input` in its pages.
"""

from __future__ import annotations

import hmac
import json
import time
from typing import Any

from starlette.requests import Request

from cookieguard import get_csrf_token, get_session, stored_session
from cookieguard.core.tokens import is_valid_secret, unmask_token

BEFORE_LOGIN_KEY = "demo_before_login"
"""Session key: the CSRF cookie and session key hash the browser had before logging in."""
_SHORTENED = ("_auth_user_hash",)  # an HMAC of the password hash: shown as a prefix only


def _when(epoch: object) -> str:
    if not isinstance(epoch, int | float):
        return "unknown"
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(epoch))


def remember_before_login(request: Request, csrf_cookie: str) -> dict[str, str | None]:
    """What to keep at login for the panel's "before -> after": call it before `login()`."""
    session = get_session(request)
    cookie = request.cookies.get(csrf_cookie)
    return {
        "csrftoken": cookie if cookie and is_valid_secret(cookie) else None,
        "session": session.key_hash if session.is_stored else None,
    }


def _shown_data(data: dict[str, Any]) -> str:
    shown = {
        key: (f"{value[:8]}... ({len(value)} chars)" if key in _SHORTENED else value)
        if isinstance(value, str)
        else value
        for key, value in data.items()
    }
    # ensure_ascii: the pages stay plain ASCII (see the templates' test).
    return json.dumps(shown, indent=2, sort_keys=True, ensure_ascii=True)


async def inspect(request: Request, csrf_cookie: str) -> dict[str, Any]:
    """The panel's facts for `request` (one store read when the request has a session)."""
    cookie = request.cookies.get(csrf_cookie)
    token = get_csrf_token(request)
    secret = unmask_token(token)
    if cookie is None:
        cookie_state = "none"  # a first visit: this response sets it
    elif hmac.compare_digest(cookie.encode(), secret.encode()):
        cookie_state = "same"
    else:
        cookie_state = "replaced"  # malformed: this response sets a fresh one
    facts: dict[str, Any] = {
        "cookie_name": csrf_cookie,
        "cookie": cookie,
        "cookie_state": cookie_state,
        "token": token,
        "secret": secret,
        "row": None,
        "before": None,
    }
    found = await stored_session(request)
    if found is not None:
        key_hash, record = found
        facts["row"] = {
            "key_hash": key_hash,
            "user_id": record.user_id,
            "created": _when(record.created_at),
            "last_seen": _when(record.last_seen),
            "expires": _when(record.expires_at),
            "data": _shown_data(record.data),
        }
        before = record.data.get(BEFORE_LOGIN_KEY)
        if isinstance(before, dict):
            facts["before"] = {
                "csrftoken": before.get("csrftoken"),
                "session": before.get("session"),
                "csrftoken_now": secret,
                "session_now": key_hash,
            }
    return facts
