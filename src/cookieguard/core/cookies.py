"""Cookie header parsing and Set-Cookie rendering, tolerant of what browsers really send.

Parsing never raises: garbage pairs are skipped. When a name repeats, the first value wins,
as browsers list the most specific (longest path) cookie first; a planted duplicate for a
parent path therefore cannot displace the real one.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from email.utils import formatdate
from typing import Literal

from cookieguard.errors import ConfigError

__all__ = [
    "CookieSpec",
    "MAX_COOKIE_HEADER",
    "SameSite",
    "find_cookie",
    "parse_cookie_header",
    "render_deletion",
    "render_set_cookie",
]

SameSite = Literal["Lax", "Strict", "None"]
CookieSpelling = Literal["rfc", "starlette"]
"""How Set-Cookie attribute names are written (browsers accept any case).

``"rfc"`` (the default) spells them as RFC 6265 and browsers' tools do (``Path``,
``HttpOnly``, ``SameSite=Lax``...). ``"starlette"`` writes exactly the layout Starlette's own
``SessionMiddleware`` sends (``path=/; Max-Age=...; httponly; samesite=lax``), so an app moving
over keeps the header its tests and proxies already read.
"""

MAX_COOKIE_HEADER = 16 * 1024
"""Cookie headers beyond this many bytes are treated as absent rather than parsed."""

_FORBIDDEN_VALUE_CHARS = frozenset(';,\\"\r\n\x00 \t')


def parse_cookie_header(header: str | bytes) -> dict[str, str]:
    """Cookie request header → {name: value}; first occurrence of a name wins."""
    if isinstance(header, bytes):
        if len(header) > MAX_COOKIE_HEADER:
            return {}
        header = header.decode("latin-1")
    elif len(header) > MAX_COOKIE_HEADER:
        return {}
    cookies: dict[str, str] = {}
    for chunk in header.split(";"):
        name, sep, value = chunk.partition("=")
        if not sep:
            continue
        name = name.strip()
        if not name or name in cookies:
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        cookies[name] = value
    return cookies


def find_cookie(headers: Iterable[tuple[bytes, bytes]], needle: bytes) -> str | None:
    """The value of the cookie whose ``name=`` is `needle`, from an ASGI header list.

    The same answer as `parse_cookie_header` (first occurrence wins, oversized headers
    ignored) for every name a browser sends, without splitting every cookie of the header:
    this runs on every request.
    """
    for key, value in headers:
        if key != b"cookie" or len(value) > MAX_COOKIE_HEADER:
            continue
        start = value.find(needle)
        while start >= 0:
            # A name starts the header or follows ";" and blanks ("; " from every browser).
            if start == 0 or value.startswith(b"; ", start - 2) or _follows_separator(value, start):
                end = value.find(b";", start)
                raw = value[start + len(needle) : end if end >= 0 else None].strip()
                if len(raw) >= 2 and raw[0] == raw[-1] == 0x22:  # quoted
                    raw = raw[1:-1]
                return raw.decode("latin-1")
            start = value.find(needle, start + 1)
    return None


def _follows_separator(value: bytes, start: int) -> bool:
    before = start - 1
    while before >= 0 and value[before] in b" \t":
        before -= 1
    return before < 0 or value[before] == 0x3B


@dataclass(frozen=True, slots=True)
class CookieSpec:
    """How one cookie is written: the attributes shared by its setting and its deletion."""

    name: str
    path: str = "/"
    domain: str | None = None
    secure: bool = False
    httponly: bool = True
    samesite: SameSite | None = "Lax"
    partitioned: bool = False
    """CHIPS: the browser keeps a separate cookie per top-level site (needs Secure)."""
    spelling: CookieSpelling = "rfc"
    """How the attribute names are written (see `CookieSpelling`)."""

    def __post_init__(self) -> None:
        if self.spelling not in ("rfc", "starlette"):
            raise ConfigError("cookie spelling must be 'rfc' or 'starlette'")
        if not self.name or any(c in _FORBIDDEN_VALUE_CHARS or c == "=" for c in self.name):
            raise ConfigError(f"invalid cookie name {self.name!r}")
        if self.name.startswith("__Host-") and (
            not self.secure or self.domain is not None or self.path != "/"
        ):
            raise ConfigError("__Host- cookies need Secure, Path=/ and no Domain")
        if self.name.startswith("__Secure-") and not self.secure:
            raise ConfigError("__Secure- cookies need Secure")
        if self.samesite == "None" and not self.secure:
            raise ConfigError("SameSite=None requires Secure")
        if self.partitioned and not self.secure:
            raise ConfigError("Partitioned cookies need Secure (browsers drop them otherwise)")


_last_date: tuple[int, str] = (-1, "")


def _http_date(when: float) -> str:
    """`formatdate(when, usegmt=True)`, formatted once per whole second.

    Formatting costs more than the rest of a Set-Cookie; responses rendered in the same
    second (the same ``now + max_age``) reuse the text.
    """
    global _last_date
    second = math.floor(when)
    cached = _last_date
    if cached[0] == second:
        return cached[1]
    text = formatdate(second, usegmt=True)
    _last_date = (second, text)
    return text


def render_set_cookie(
    spec: CookieSpec, value: str, *, max_age: int | None, now: float | None = None
) -> str:
    """A Set-Cookie header value. `max_age=None` makes a browser-session cookie.

    `now` (epoch seconds) adds an Expires attribute for old clients alongside Max-Age.
    Attribute names are spelled as RFC 6265 and browsers write them (``Expires``,
    ``Max-Age``, ``Domain``, ``Path``, ``Secure``, ``HttpOnly``, ``SameSite``, ``Partitioned``),
    or in Starlette's layout when `spec.spelling` asks for it.
    """
    if not _FORBIDDEN_VALUE_CHARS.isdisjoint(value):
        raise ValueError("cookie value contains characters that need quoting")
    if spec.spelling == "starlette":
        return _render_starlette(spec, value, max_age=max_age)
    parts = [f"{spec.name}={value}"]
    if max_age is not None:
        if now is not None:
            parts.append("Expires=" + _http_date(now + max_age))
        parts.append(f"Max-Age={max_age}")
    if spec.domain:
        parts.append(f"Domain={spec.domain}")
    parts.append(f"Path={spec.path}")
    if spec.secure:
        parts.append("Secure")
    if spec.httponly:
        parts.append("HttpOnly")
    if spec.samesite:
        parts.append(f"SameSite={spec.samesite}")
    if spec.partitioned:
        parts.append("Partitioned")
    return "; ".join(parts)


_STARLETTE_EPOCH = "expires=Thu, 01 Jan 1970 00:00:00 GMT"


def _render_starlette(spec: CookieSpec, value: str, *, max_age: int | None) -> str:
    """Starlette's SessionMiddleware layout: path first, then the lifetime, then the flags.

    A deletion (``max_age`` 0 or less) carries the 1970 expiry Starlette sends as well as
    ``Max-Age``, so every browser drops the cookie.
    """
    parts = [f"{spec.name}={value}", f"path={spec.path}"]
    if max_age is not None:
        if max_age <= 0:
            parts.append(_STARLETTE_EPOCH)
        parts.append(f"Max-Age={max_age}")
    if spec.httponly:
        parts.append("httponly")
    if spec.samesite:
        parts.append(f"samesite={spec.samesite.lower()}")
    if spec.secure:
        parts.append("secure")
    if spec.domain:
        parts.append(f"domain={spec.domain}")
    if spec.partitioned:
        parts.append("partitioned")
    return "; ".join(parts)


def render_deletion(spec: CookieSpec) -> str:
    """A Set-Cookie value that makes browsers drop the cookie (same path and domain)."""
    return render_set_cookie(spec, "", max_age=0, now=0.0)
