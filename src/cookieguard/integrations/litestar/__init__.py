"""cookieguard for Litestar 2: one plugin, route options, a guard, dependencies, templates.

Example:
    ```python
    app = Litestar(
        route_handlers=[...],
        plugins=[CookieGuardPlugin(store=open_store("sqlite:///site.db"),
                                   secret_key="...", users=SQLiteUserStore("site.db"))],
    )
    ```

* `CookieGuardPlugin` installs sessions, CSRF and auth as Litestar middleware (run after
  routing, per handler), so ``request.session``, ``request.set_session()`` and
  ``request.clear_session()`` are cookieguard's (clearing logs out: the record is deleted).
* exemption: ``@post("/hook", opt={"csrf_exempt": True})`` (or Litestar's own key,
  ``exclude_from_csrf``), or `csrf_exempt` under the route decorator.
* ``guards=[requires_login]``: 401 JSON for API clients, a redirect for browsers;
  ``guards=[require_recent_login(max_age=600)]`` for sensitive actions (sudo mode).
* dependencies ``session``, ``csrf_token``, ``user`` and ``current_user``.
* templates: ``{{ csrf_field() }}`` and ``{{ csrf_token() }}``.
"""

from __future__ import annotations

from cookieguard.asgi._routes import csrf_exempt
from cookieguard.integrations.litestar._dependencies import (
    dependencies,
    provide_csrf_token,
    provide_current_user,
    provide_session,
    provide_user,
)
from cookieguard.integrations.litestar._guards import LoginGuard, LoginRequired, requires_login
from cookieguard.integrations.litestar._middleware import CookieGuardMiddleware
from cookieguard.integrations.litestar._plugin import CookieGuardPlugin
from cookieguard.integrations.litestar._recent import (
    ReauthRequired,
    RecentLoginGuard,
    require_recent_login,
)
from cookieguard.integrations.litestar._templates import csrf_field, csrf_token

__all__ = [
    "CookieGuardMiddleware",
    "CookieGuardPlugin",
    "LoginGuard",
    "LoginRequired",
    "ReauthRequired",
    "RecentLoginGuard",
    "csrf_exempt",
    "csrf_field",
    "csrf_token",
    "dependencies",
    "provide_csrf_token",
    "provide_current_user",
    "provide_session",
    "provide_user",
    "require_recent_login",
    "requires_login",
]
