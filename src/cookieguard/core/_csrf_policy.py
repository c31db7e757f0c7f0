"""The CSRF settings, digested once: trusted origins, exemptions, where a token may be found.

`CSRFPolicy` turns the configured lists into sets and tuples at start-up, so that the per
request decision (`core.csrf`) does only lookups. It also owns the rules for what an origin
is: how a serialised origin splits, which ports are default, how a request's own origin is
spelt from its scheme and Host.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urlsplit

from cookieguard.errors import ConfigError

__all__ = ["CSRFPolicy", "is_same_domain", "normalise_exempt_path", "own_origin", "split_origin"]

DEFAULT_PORTS = {"http": ":80", "https": ":443", "ws": ":80", "wss": ":443"}
_PATH_FORBIDDEN = "%\\?#"
_HOST_CHARS = re.compile(r"[a-z0-9.\-]+|[0-9a-f:.]+")
_DEFAULT_MAX_BODY = 2_621_440  # Django's DATA_UPLOAD_MAX_MEMORY_SIZE


def is_same_domain(host: str, pattern: str) -> bool:
    """Django's rule: ``.example.com`` matches example.com and every subdomain of it."""
    if not pattern:
        return False
    if pattern[0] == ".":
        return host.endswith(pattern) or host == pattern[1:]
    return host == pattern


def normalise_exempt_path(path: str) -> str:
    """Validate a configured exempt path: it must already be in the form a router dispatches on.

    Matching is exact, so a path that no router would ever see (``//x``, ``/x/../y``, encoded
    characters) could only ever be a mistake: it is refused at construction time.
    """
    if not path.startswith("/"):
        raise ConfigError(f"exempt path {path!r} must start with '/'")
    segments = path[1:].split("/")
    interior, last = segments[:-1], segments[-1]
    if (
        any(seg in ("", ".", "..") for seg in interior)
        or last in (".", "..")
        or any(c in path for c in _PATH_FORBIDDEN)
        or any(c < " " or c == "\x7f" for c in path)
    ):
        raise ConfigError(
            f"exempt path {path!r} must be a plain decoded path: no '//', '.' or '..' "
            "segments, percent-escapes, backslashes, query, fragment or control characters"
        )
    return path


def split_origin(origin: str) -> tuple[str, str, str] | None:
    """A serialised origin → (scheme, lower-case host, ":port" or ""); None if it is not one."""
    scheme, sep, netloc = origin.partition("://")
    if not sep or not netloc or any(c in netloc for c in "/?#@\\ "):
        return None
    try:
        parts = urlsplit(origin)
        port = parts.port
    except ValueError:
        return None
    if parts.hostname is None:
        return None
    if port is not None and DEFAULT_PORTS.get(scheme) == f":{port}":
        port = None
    host = parts.hostname
    if not _HOST_CHARS.fullmatch(host):
        return None  # browsers serialise hosts as LDH labels or IP literals, nothing else
    if ":" in host:
        host = f"[{host}]"
    return scheme.lower(), host, "" if port is None else f":{port}"


def own_origin(scheme: str, host: str) -> str:
    """The request's origin from its scheme and Host (``host[:port]``), default port dropped."""
    host = host.lower()
    default = DEFAULT_PORTS.get(scheme)
    if default and host.endswith(default):
        host = host[: -len(default)]
    if scheme == "ws":
        scheme = "http"
    elif scheme == "wss":
        scheme = "https"
    return f"{scheme}://{host}"


class CSRFPolicy:
    """The settings the decision needs, pre-digested once so each request does only lookups.

    Built from `CSRFConfig` by a driver (`core` cannot import the config module); the
    keyword names and defaults are `CSRFConfig`'s.
    """

    __slots__ = (
        "_referer_hosts",
        "_trusted_exact",
        "_trusted_wildcards",
        "allow_same_site",
        "cookie_domain",
        "exempt_paths",
        "form_field",
        "header_name",
        "max_body_size",
        "require_token",
    )

    def __init__(
        self,
        *,
        trusted_origins: Iterable[str] = (),
        allow_same_site: bool = False,
        require_token: bool = True,
        exempt_paths: Iterable[str] = (),
        cookie_domain: str | None = None,
        header_name: str = "X-CSRFToken",
        form_field: str = "csrfmiddlewaretoken",
        max_body_size: int = _DEFAULT_MAX_BODY,
    ) -> None:
        exact: set[str] = set()
        wildcards: list[tuple[str, str, str]] = []  # (scheme, ".suffix", ":port" or "")
        referer_hosts: list[str] = []
        for origin in trusted_origins:
            scheme, sep, netloc = origin.partition("://")
            if not sep or not netloc or scheme not in ("http", "https"):
                raise ConfigError(f"trusted origin {origin!r} needs a scheme and a host")
            netloc = netloc.rstrip("/").lower()
            if netloc.startswith("*."):
                suffix = netloc[1:]
                host, colon, port = suffix.rpartition(":")
                if colon and port.isdigit():
                    port = "" if DEFAULT_PORTS[scheme] == f":{port}" else f":{port}"
                else:
                    host, port = suffix, ""
                wildcards.append((scheme, host, port))
                referer_hosts.append(netloc[1:])
            elif "*" in netloc:
                raise ConfigError(f"trusted origin {origin!r}: '*' only as the first label")
            else:
                if netloc.endswith(DEFAULT_PORTS[scheme]):
                    netloc = netloc[: -len(DEFAULT_PORTS[scheme])]
                exact.add(f"{scheme}://{netloc}")
                referer_hosts.append(netloc)
        self._trusted_exact = frozenset(exact)
        self._trusted_wildcards = tuple(wildcards)
        self._referer_hosts = tuple(referer_hosts)
        self.allow_same_site: bool = allow_same_site
        self.require_token: bool = require_token
        self.exempt_paths: frozenset[str] = frozenset(
            normalise_exempt_path(p) for p in exempt_paths
        )
        self.cookie_domain: str | None = cookie_domain.lower() if cookie_domain else None
        if not header_name or not form_field:
            raise ConfigError("header_name and form_field must not be empty")
        self.header_name: str = header_name
        self.form_field: bytes = form_field.encode("utf-8")  # as it appears in a form body
        self.max_body_size: int = max_body_size

    def with_cookie_domain(self, cookie_domain: str | None) -> CSRFPolicy:
        """This policy, but trusting `cookie_domain` in the Referer check.

        With the secret in the session (Django's ``CSRF_USE_SESSIONS``) the session cookie's
        domain is the one that counts, and only the session layer knows it.
        """
        copy = CSRFPolicy.__new__(CSRFPolicy)
        for name in CSRFPolicy.__slots__:
            setattr(copy, name, getattr(self, name))
        copy.cookie_domain = cookie_domain.lower() if cookie_domain else None
        return copy

    def is_exempt(self, route_path: str) -> bool:
        """Exact match on the decoded path the router dispatches on; never a prefix."""
        return route_path in self.exempt_paths

    def is_trusted_origin(self, origin: str) -> bool:
        """True if `origin` is listed exactly or falls under a wildcard entry."""
        if origin in self._trusted_exact:
            return True
        if not self._trusted_wildcards:
            return False
        parsed = split_origin(origin)
        if parsed is None:
            return False
        scheme, host, port = parsed
        for w_scheme, suffix, w_port in self._trusted_wildcards:
            if scheme == w_scheme and port == w_port and is_same_domain(host, suffix):
                return True
        return False

    def is_allowed_origin(self, origin: str, own_origin: str) -> bool:
        """The request's own origin, or a trusted one."""
        return origin == own_origin or self.is_trusted_origin(origin)

    def referer_hosts(self) -> tuple[str, ...]:
        """Host patterns a secure Referer may name besides the request's own host."""
        return self._referer_hosts
