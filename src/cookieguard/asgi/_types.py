"""ASGI type aliases and the one way cookieguard finds the scope behind a request object."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

Connection = Any
"""A Starlette/FastAPI/Litestar request or websocket (anything with `.scope`), or a raw scope."""


def scope_of(conn: Connection) -> Scope:
    """The ASGI scope behind `conn`: its `.scope` attribute, or `conn` itself if it is one."""
    scope = getattr(conn, "scope", conn)
    if type(scope) is dict and "type" in scope:
        return scope  # every server's scope: skips the slower ABC check below
    if not isinstance(scope, MutableMapping) or "type" not in scope:
        raise TypeError(f"expected a request object or an ASGI scope, got {type(conn).__name__}")
    return scope
