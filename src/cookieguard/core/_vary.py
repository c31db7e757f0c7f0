"""``Vary: Cookie``, added the one way every driver adds it.

A response that depends on the session or the CSRF cookie must vary on Cookie, or a shared
cache may hand one visitor's page (and token) to another. Headers the app set are kept: an
existing ``Vary`` is extended (``Vary: Accept, Cookie``) rather than repeated, and one that
already names Cookie, or is ``*``, is left alone. ASGI headers are bytes and WSGI's are str;
the same rule serves both.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, overload

__all__ = ["vary_on_cookie"]

_BYTES = (b"vary", b"cookie", b"*", b", Cookie", (b"vary", b"Cookie"))
_TEXT = ("vary", "cookie", "*", ", Cookie", ("Vary", "Cookie"))


@overload
def vary_on_cookie(
    headers: Sequence[tuple[bytes, bytes]], *, text: bool = False
) -> list[tuple[bytes, bytes]] | None: ...
@overload
def vary_on_cookie(
    headers: Sequence[tuple[str, str]], *, text: bool = True
) -> list[tuple[str, str]] | None: ...
def vary_on_cookie(
    headers: Sequence[tuple[Any, Any]], *, text: bool = False
) -> list[tuple[Any, Any]] | None:
    """A new header list that varies on Cookie, or None when `headers` already do.

    `text` says which kind of headers these are (an empty list cannot tell): str pairs
    (WSGI) or bytes pairs (ASGI, the default).
    """
    vary, cookie, star, suffix, fresh = _TEXT if text else _BYTES
    first = -1
    for index, (name, value) in enumerate(headers):
        if len(name) == 4 and name.lower() == vary:
            lowered = value.lower()
            if cookie in lowered or lowered.strip() == star:
                return None
            if first < 0:
                first = index
    merged = list(headers)
    if first < 0:
        merged.append(fresh)
    else:
        name, value = merged[first]
        merged[first] = (name, value + suffix)
    return merged
