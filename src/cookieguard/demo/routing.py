"""A Starlette router that looks routes up by path instead of trying each one in turn.

Starlette's `Router` runs every route's regex until one matches, so the fifth route costs five
matches on every request. The demo's routes are all fixed paths, so a dict from path to the
routes declared for it finds the candidates in one lookup; those are then matched exactly as
Starlette would (methods, 405 for a known path with another method). Anything the table does
not answer (an unknown path, a mounted root path, a trailing-slash redirect) goes to
Starlette's own loop, so the behaviour is the same, only cheaper.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from starlette.routing import BaseRoute, Match, Route, Router
from starlette.types import Receive, Scope, Send


class PathTableRouter(Router):
    """`Router` with a path → routes table in front of the linear search."""

    def __init__(self, routes: Sequence[BaseRoute], *, lifespan: Any = None) -> None:
        super().__init__(list(routes), lifespan=lifespan)
        table: dict[str, list[BaseRoute]] = {}
        for route in routes:
            if not isinstance(route, Route) or route.param_convertors:
                table = {}  # a pattern or a mount could match first: keep Starlette's order
                break
            table.setdefault(route.path, []).append(route)
        self._table = table

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        candidates = (
            self._table.get(scope["path"])
            if scope["type"] == "http" and not scope.get("root_path")
            else None
        )
        if candidates is not None:
            partial: BaseRoute | None = None
            partial_scope: Scope = {}
            for route in candidates:
                match, child_scope = route.matches(scope)
                if match is Match.FULL:
                    scope.setdefault("router", self)
                    scope["route"] = route
                    scope.update(child_scope)
                    await route.handle(scope, receive, send)
                    return
                if match is Match.PARTIAL and partial is None:
                    partial, partial_scope = route, child_scope
            if partial is not None:
                scope.setdefault("router", self)
                scope["route"] = partial
                scope.update(partial_scope)
                await partial.handle(scope, receive, send)
                return
        await super().app(scope, receive, send)
