"""Per-route CSRF exemption for Starlette-style routers (Starlette, FastAPI).

A middleware runs before routing, so it cannot see which endpoint will serve a request. This
module asks the wrapped app's own route table, in the router's order and with the router's
own `matches()`, which endpoint a request would reach, and whether that endpoint carries the
`csrf_exempt` marker. Only the route that would really serve the request counts, so an
exempt route can never lend its exemption to a neighbouring path (CVE-2025-47910's lesson),
nor, since no answer is kept, to another request for the same path.

Routers this module cannot ask (Litestar's routes have no ``matches()``; its handlers carry
the marker or an ``opt`` key) are refused at construction when one of their handlers is
marked: a wrapper running before that router's routing cannot honour the marker, and a
marker silently ignored means a webhook answered 403. `handler_is_marked` is that check,
shared with `cookieguard.integrations.litestar`, which honours it after routing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

from cookieguard.asgi._types import Scope
from cookieguard.errors import ConfigError

EXEMPT_ATTRIBUTE = "_cookieguard_csrf_exempt"
EXEMPT_OPT_KEYS = ("csrf_exempt", "exclude_from_csrf")
"""Route-option keys that exempt a Litestar handler: ours, and Litestar's own CSRFConfig's."""
_MAX_DEPTH = 16

F = TypeVar("F", bound=Callable[..., Any])


def csrf_exempt(endpoint: F) -> F:
    """Mark a route endpoint (function, endpoint class or mounted app) as exempt from CSRF checks.

    Use sparingly, e.g. for webhooks authenticated by their own signature. `get_csrf_token`
    still works inside an exempt endpoint.

    Example:
        ```python
        @app.post("/hooks/payment")
        @csrf_exempt
        async def payment_hook(request: Request) -> dict[str, str]: ...
        ```
    """
    setattr(endpoint, EXEMPT_ATTRIBUTE, True)
    return endpoint


def is_marked(obj: object) -> bool:
    """True if `obj` carries the `csrf_exempt` marker."""
    return getattr(obj, EXEMPT_ATTRIBUTE, False) is True


def handler_is_marked(handler: object) -> bool:
    """True if a route handler object (Litestar's) is exempt: by an `EXEMPT_OPT_KEYS` option
    set to True (its own, or inherited from a router or controller), or by `csrf_exempt` on
    the handler, its function or any layer that owns it."""
    opt = getattr(handler, "opt", None)
    if isinstance(opt, dict) and any(opt.get(key) is True for key in EXEMPT_OPT_KEYS):
        return True
    try:
        fn = getattr(handler, "fn", None)
    except Exception:  # Litestar raises when a handler has no function yet
        fn = None
    layers = getattr(handler, "ownership_layers", None)
    owners = list(layers) if isinstance(layers, Sequence) else []
    return any(is_marked(obj) for obj in (handler, fn, *owners))


def _refuse_invisible_markers(app: object) -> None:
    """Raise if `app` routes without ``matches()`` (Litestar) and one of its handlers is marked."""
    for route in _routes_of(app) or ():
        if hasattr(route, "matches"):
            continue
        handlers = getattr(route, "route_handlers", None) or [getattr(route, "route_handler", None)]
        for handler in handlers:
            if handler is not None and handler_is_marked(handler):
                raise ConfigError(
                    f"route {getattr(route, 'path', '?')!r} is marked csrf-exempt, but "
                    "CSRFMiddleware runs before this app's routing and cannot see the marker: "
                    "install cookieguard.integrations.litestar.CookieGuardPlugin instead of "
                    "wrapping the app"
                )


def route_path(scope: Scope) -> str:
    """The path a Starlette router dispatches on: ``path`` without the ``root_path`` prefix."""
    path: str = scope["path"]
    root = scope.get("root_path", "")
    if root and path.startswith(root):
        if path == root:
            return ""
        if path[len(root)] == "/":
            return path[len(root) :]
    return path


def _routes_of(app: object) -> Sequence[Any] | None:
    """The route list of `app`, looking through wrapping middleware (`.app` chains)."""
    for _ in range(_MAX_DEPTH):
        routes = getattr(app, "routes", None)
        if isinstance(routes, Sequence):
            return routes
        app = getattr(app, "app", None)
        if app is None:
            return None
    return None


class ExemptionLookup(Protocol):
    """What `CSRFMiddleware` asks before a refusal: would this request reach an exempt endpoint?

    `RouteExemptions` answers for Starlette-style route tables; a framework whose router it
    cannot read (Quart's Werkzeug map, say) passes its own to ``CSRFMiddleware(exemptions=)``.
    An implementation must answer False, never raise, when in doubt: an error exempts nothing.
    """

    def is_exempt(self, scope: Scope) -> bool:
        """True if the endpoint that would serve `scope` is marked exempt."""
        ...


class RouteExemptions:
    """Answers "would this request reach a `csrf_exempt` endpoint?" for the wrapped app.

    Every answer is a fresh walk of the route table with the request's own scope, and none is
    remembered: routes may match on more than the path (Starlette's `Host` reads the Host
    header, a custom `BaseRoute.matches` anything at all), so an answer kept for one request
    could exempt a different one. The middleware asks only for a request it is about to
    refuse, so requests that pass the checks never pay for the walk.
    """

    __slots__ = ("_app",)

    def __init__(self, app: object) -> None:
        _refuse_invisible_markers(app)
        self._app = app

    def is_exempt(self, scope: Scope) -> bool:
        """True if the route that would serve `scope` is marked exempt."""
        # Found again each time: an app may replace its router (or routes) after startup,
        # and a refusal is not the path to save a few attribute reads on.
        routes = _routes_of(self._app)
        if not routes:
            return False
        try:
            return _lookup(routes, dict(scope), 0)
        except Exception:  # a router that chokes on a request must not exempt it
            return False


def _lookup(routes: Sequence[Any], scope: dict[str, Any], depth: int) -> bool:
    if depth > _MAX_DEPTH:
        return False
    for route in routes:
        matches = getattr(route, "matches", None)
        if matches is None:
            continue
        match, child = matches(scope)
        if getattr(match, "name", None) != "FULL":
            continue
        if is_marked(route) or is_marked(child.get("endpoint")) or is_marked(child.get("app")):
            return True
        # A Mount or Host: the request goes on to the first matching route inside.
        inner = getattr(route, "routes", None)
        if isinstance(inner, Sequence) and inner:
            return _lookup(inner, {**scope, **child}, depth + 1)
        return False
    return False
