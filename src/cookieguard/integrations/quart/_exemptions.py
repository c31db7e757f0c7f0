"""CSRF exemption for Quart views, read from Quart's own (Werkzeug) URL map.

`CSRFMiddleware` runs before Quart, and its default lookup reads Starlette-style route
tables, which a Quart app does not have. `QuartExemptions` answers instead: it builds the
request object Quart would build from the scope, binds the app's URL map to it exactly as
Quart does (`Quart.create_url_adapter`: host, subdomain, root path, scheme), matches, and
looks at the view function that would run and the blueprints it belongs to. As with the
Starlette lookup, it is asked only for a request about to be refused, and nothing is kept.

A marker that nobody reads is worse than none: the view looks exempt and is not. So
importing this module connects `check_markers` to Quart's ``appcontext_pushed`` signal: an
app with marked views or blueprints but no `CookieGuard` fails on its first app context,
which is startup (before ``before_serving`` functions run) under any ASGI server, or the
first request otherwise. The check costs a dictionary lookup per app context once done.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from quart.signals import appcontext_pushed
from quart.wrappers.base import BaseRequestWebsocket
from werkzeug.datastructures import Headers

from cookieguard.asgi._routes import is_marked
from cookieguard.asgi._types import Scope
from cookieguard.errors import ConfigError

if TYPE_CHECKING:
    from quart import Quart

__all__ = ["EXTENSION_KEY", "QuartExemptions", "check_markers", "marked_names"]

EXTENSION_KEY = "cookieguard"
"""Where `CookieGuard.init_app` registers itself in ``app.extensions``."""


def _quart_path(scope: Scope) -> str:
    # As `quart.asgi` turns a scope into a request's path.
    path: str = scope["path"]
    path = path if path[:1] == "/" else urlsplit(path).path
    root: str = scope.get("root_path", "")
    if root:
        return " " if path == root or not path.startswith(root) else path.removeprefix(root)
    return path


def _request_for(app: Quart, scope: Scope) -> BaseRequestWebsocket:
    headers = Headers()
    for name, value in scope.get("headers", ()):
        headers.add(name.decode("latin-1"), value.decode("latin-1"))
    websocket = scope["type"] == "websocket"
    return BaseRequestWebsocket(
        "GET" if websocket else scope["method"],
        scope.get("scheme", "ws" if websocket else "http"),
        _quart_path(scope),
        scope.get("query_string", b""),
        headers,
        scope.get("root_path", ""),
        scope.get("http_version", "1.1"),
        scope,  # type: ignore[arg-type]
    )


class QuartExemptions:
    """Answers `CSRFMiddleware`'s "is this request's view exempt?" from ``app.url_map``.

    A view is exempt when its function (or the class behind ``View.as_view``) carries the
    `csrf_exempt` marker, or when any blueprint it is registered under does.
    """

    __slots__ = ("_app",)

    def __init__(self, app: Quart) -> None:
        self._app = app

    def is_exempt(self, scope: Scope) -> bool:
        try:
            return self._lookup(scope)
        except Exception:  # no route, wrong method, a bad Host: nothing is exempt
            return False

    def _lookup(self, scope: Scope) -> bool:
        app = self._app
        adapter = app.create_url_adapter(_request_for(app, scope))
        if adapter is None:
            return False
        rule, _ = adapter.match(return_rule=True)
        endpoint = rule.endpoint
        if not isinstance(endpoint, str):
            return False
        view = app.view_functions.get(endpoint)
        if view is not None and (is_marked(view) or is_marked(getattr(view, "view_class", None))):
            return True
        # "outer.inner.view": the blueprints "outer.inner" and "outer" (Quart's naming).
        name = endpoint.rpartition(".")[0]
        while name:
            if is_marked(app.blueprints.get(name)):
                return True
            name = name.rpartition(".")[0]
        return False


def marked_names(app: Quart) -> list[str]:
    """The endpoints and blueprints of `app` that carry the `csrf_exempt` marker."""
    names = [
        endpoint
        for endpoint, view in app.view_functions.items()
        if is_marked(view) or is_marked(getattr(view, "view_class", None))
    ]
    names += [f"blueprint {name}" for name, bp in app.blueprints.items() if is_marked(bp)]
    return sorted(names)


# app -> (number of views, number of blueprints) when last found fine. Routes cannot be added
# once an app serves, but may be after an early `app.app_context()` in setup code.
_checked: weakref.WeakKeyDictionary[Any, tuple[int, int]] = weakref.WeakKeyDictionary()


async def check_markers(app: Quart, **_: Any) -> None:
    """Refuse to run an app whose exempt markers no `CookieGuard` reads (see module notes).

    Raises:
        ConfigError: views or blueprints are marked, and `CookieGuard` is not initialised
            on `app`.
    """
    shape = (len(app.view_functions), len(app.blueprints))
    if _checked.get(app) == shape:
        return
    if EXTENSION_KEY not in app.extensions:
        marked = marked_names(app)
        if marked:
            raise ConfigError(
                f"{', '.join(marked)} marked csrf_exempt, but no CookieGuard is initialised "
                "on this Quart app, so the marker would be ignored: add "
                "CookieGuard(app, store=...) (or guard.init_app(app))"
            )
    _checked[app] = shape


appcontext_pushed.connect(check_markers)
