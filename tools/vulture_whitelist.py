"""Names vulture (`make lint`) cannot see used: each is called by something outside src.

Whatever vulture reports that is not listed here is dead code: delete it rather than list it.
"""

# ruff: noqa
# mypy: ignore-errors
_ = object()

# Public API: called by applications, not by the library itself.
__getattr__  # PEP 562 lazy store names on `cookieguard`
parse_cookie_header  # cookieguard.core.cookies
mask_secret  # cookieguard.core.tokens
token_matches_secret  # cookieguard.core.tokens
_.session_backend  # cookieguard.django.DjangoSite
_.user_app  # CookieGuard / CookieGuardWSGI: the app as the user passed it
description  # flask.CSRFError: Werkzeug renders it

# Documented event type; nothing emits it yet (remember-me sign-ins).
REMEMBER_ME_USED

# Framework hooks, called by Flask, Quart, Litestar, asyncio and io.
_.open_session
_.save_session
_.__class__
null_session_class
_._cookieguard_csrf  # kept on flask.g, read back with g.get("_cookieguard_csrf")
sender  # blinker signal receivers take the sender positionally
_.on_app_init
_.receive_route
_.connection_made
_.data_received
_.connection_lost
_.readable
_.readinto

# Context-manager protocol parameters.
exc_type
tb
