"""At startup: is every `csrf_exempt` route one the middleware's exemption lookup can reach?

`CSRFMiddleware` exempts a route by asking the wrapped app's route table, found through the
``.app`` chain (see `cookieguard.asgi._routes`). A wrapper that keeps its inner app under
another name, or a mounted sub-app wrapped in middleware, hides routes from that lookup: a
marked webhook then gets 403 for every call, and nothing says why. This module finds such
markers once, when the app has started, so the mistake is reported before traffic arrives.

The real route table comes from the scope: a Starlette or FastAPI app records itself at
``scope["app"]`` (and its router at ``scope["router"]``) as the lifespan startup passes
through it. Every route under it is walked, looking also through middleware-wrapped mounts
(``.app`` chains), for `csrf_exempt` markers; each must be reachable by the lookup's own walk
from the middleware. Apps of other frameworks set no ``scope["app"]`` with routes and are not
checked here (their adapters use their own exemption idioms).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from typing import Any

from cookieguard.asgi._routes import _routes_of as routes_of
from cookieguard.asgi._routes import is_marked
from cookieguard.asgi._types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["ExemptionCheck", "unreachable_exemptions"]

logger = logging.getLogger("cookieguard.csrf")

_MAX_DEPTH = 16


def _marked_objects(route: Any) -> Iterator[object]:
    for obj in (route, getattr(route, "endpoint", None), getattr(route, "app", None)):
        if obj is not None and is_marked(obj):
            yield obj


def _describe(route: Any) -> str:
    path = getattr(route, "path", None)
    name = getattr(route, "name", None)
    return f"{path!r}" if path is not None else f"route {name or type(route).__name__}"


def _all_marked(routes: Sequence[Any], depth: int, prefix: str) -> Iterator[tuple[int, str]]:
    """Every marked object under `routes`, looking through wrapped mounts as well."""
    if depth > _MAX_DEPTH:
        return
    for route in routes:
        here = prefix + str(getattr(route, "path", ""))
        for obj in _marked_objects(route):
            yield id(obj), here or _describe(route)
        inner = getattr(route, "routes", None)
        hidden = routes_of(getattr(route, "app", None))
        for table in (inner, hidden):
            if isinstance(table, Sequence) and table:
                yield from _all_marked(table, depth + 1, here)


def _reachable(routes: Sequence[Any], depth: int) -> Iterator[int]:
    """The marked objects the exemption lookup can reach (it follows ``route.routes`` only)."""
    if depth > _MAX_DEPTH:
        return
    for route in routes:
        for obj in _marked_objects(route):
            yield id(obj)
        inner = getattr(route, "routes", None)
        if isinstance(inner, Sequence) and inner:
            yield from _reachable(inner, depth + 1)


def unreachable_exemptions(wrapped: object, scope: Scope) -> list[str]:
    """Paths of `csrf_exempt` routes of the running app that the lookup from `wrapped` misses.

    Args:
        wrapped: the app `CSRFMiddleware` wraps (where its lookup starts).
        scope: the lifespan (or first request) scope, after the app has seen it.
    """
    actual = routes_of(scope.get("app")) or routes_of(scope.get("router"))
    if not actual:
        return []
    visible = routes_of(wrapped) or ()
    reachable = set(_reachable(visible, 0))
    missing: dict[int, str] = {}
    for key, where in _all_marked(actual, 0, ""):
        if key not in reachable:
            missing.setdefault(key, where)
    return sorted(set(missing.values()))


def _message(paths: list[str]) -> str:
    return (
        f"csrf_exempt route(s) {', '.join(repr(p) for p in paths)} cannot be seen by "
        "CSRFMiddleware's exemption lookup (a wrapper between them keeps its app under "
        "another attribute than .app, or a mounted app is wrapped in middleware), so they "
        "would answer 403. Keep each wrapper's inner app at .app, put the mounted app's "
        "middleware outside the Mount, or list the paths in CSRFConfig(exempt_paths=...)"
    )


class ExemptionCheck:
    """Runs `unreachable_exemptions` once: at lifespan startup, else after the first request.

    At startup a problem fails the startup (``lifespan.startup.failed``, so the server stops
    with the message); without a lifespan (a server run with it off) it is logged as an
    error after the first request the app answered.
    """

    __slots__ = ("done", "wrapped")

    def __init__(self, wrapped: object) -> None:
        self.wrapped = wrapped
        self.done = False

    async def lifespan(self, scope: Scope, receive: Receive, send: Send, app: ASGIApp) -> None:
        """Pass the lifespan to `app`; check the routes when the app reports it started."""

        async def checked_send(message: Message) -> None:
            if message.get("type") == "lifespan.startup.complete" and not self.done:
                self.done = True
                missing = unreachable_exemptions(self.wrapped, scope)
                if missing:
                    text = _message(missing)
                    logger.error("%s", text)
                    message = {"type": "lifespan.startup.failed", "message": text}
            await send(message)

        await app(scope, receive, checked_send)

    def after_request(self, scope: Scope) -> None:
        """The check for a server without lifespan: an error in the log, once."""
        self.done = True
        missing = unreachable_exemptions(self.wrapped, scope)
        if missing:
            logger.error("%s", _message(missing))
