"""The CSRF verdict: request facts in, `Accept` or `Reject(reason)` out. No I/O.

The order is fixed, and each step only ever narrows what passes:

1. Safe methods (GET, HEAD, OPTIONS, TRACE) pass.
2. ``Sec-Fetch-Site``: ``same-origin`` and ``none`` continue; ``same-site`` continues only when
   the policy allows sibling sites; any other value (``cross-site``, unknown) is rejected unless
   the Origin is a trusted one (Go 1.25's rule).
3. ``Origin``, when present, must be the request's own origin or a trusted one; ``null`` and
   unparsable values fail.
4. Over https with no Origin: Django's strict Referer check.
5. The submitted token must carry the secret (skipped in tokenless mode, as are steps 4).

Reasons are the module's ``REASON_*`` constants, in Django's words where Django has them, so
logs read the same across a Django front end and a cookieguard service.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from cookieguard.core.tokens import (
    CSRF_SECRET_LENGTH,
    CSRF_TOKEN_LENGTH,
    is_valid_token,
    unmask_token,
)
from cookieguard.errors import ConfigError

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
"""Methods that never change state (RFC 9110) and so are never checked."""

TOKEN_FROM_FORM = "POST"  # noqa: S105
"""`token_source` for a token read from the form body (Django's wording)."""

REASON_BAD_ORIGIN = "Origin checking failed - %s does not match any trusted origins."
REASON_NO_REFERER = "Referer checking failed - no Referer."
REASON_BAD_REFERER = "Referer checking failed - %s does not match any trusted origins."
REASON_MALFORMED_REFERER = "Referer checking failed - Referer is malformed."
REASON_INSECURE_REFERER = "Referer checking failed - Referer is insecure while host is secure."
REASON_NO_CSRF_COOKIE = "CSRF cookie not set."
REASON_CSRF_TOKEN_MISSING = "CSRF token missing."  # noqa: S105
REASON_COOKIE_INCORRECT_LENGTH = "CSRF cookie has incorrect length."
REASON_COOKIE_INVALID_CHARACTERS = "CSRF cookie has invalid characters."
REASON_TOKEN_INCORRECT_LENGTH = "CSRF token from %s has incorrect length."  # noqa: S105
REASON_TOKEN_INVALID_CHARACTERS = "CSRF token from %s has invalid characters."  # noqa: S105
REASON_TOKEN_INCORRECT = "CSRF token from %s incorrect."  # noqa: S105
REASON_CROSS_SITE = (
    "Sec-Fetch-Site checking failed - %s request from an origin that is not trusted."
)
"""cookieguard's own: Django has no fetch-metadata check."""

_MAX_ECHO = 200  # attacker-chosen header values are cut before they enter a reason
_DEFAULT_PORTS = {"http": ":80", "https": ":443", "ws": ":80", "wss": ":443"}
_PATH_FORBIDDEN = "%\\?#"
_HOST_CHARS = re.compile(r"[a-z0-9.\-]+|[0-9a-f:.]+")


@dataclass(frozen=True, slots=True)
class Accept:
    """The request may proceed."""


@dataclass(frozen=True, slots=True)
class Reject:
    """The request must be refused with 403; `reason` is a ``REASON_*`` text, safe to log."""

    reason: str


ACCEPT = Accept()


def _echo(value: str) -> str:
    """An attacker-chosen header value made fit for a reason: short and printable ASCII."""
    if len(value) > _MAX_ECHO:
        value = value[:_MAX_ECHO] + "..."
    return value if value.isascii() and value.isprintable() else ascii(value)[1:-1]


def _is_same_domain(host: str, pattern: str) -> bool:
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


class CSRFPolicy:
    """The settings the verdict needs, pre-digested once so each request does only lookups.

    Built from `CSRFConfig` by the middleware (`core` cannot import the config module).
    """

    __slots__ = (
        "_referer_hosts",
        "_trusted_exact",
        "_trusted_wildcards",
        "allow_same_site",
        "cookie_domain",
        "exempt_paths",
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
                    port = "" if _DEFAULT_PORTS[scheme] == f":{port}" else f":{port}"
                else:
                    host, port = suffix, ""
                wildcards.append((scheme, host, port))
                referer_hosts.append(netloc[1:])
            elif "*" in netloc:
                raise ConfigError(f"trusted origin {origin!r}: '*' only as the first label")
            else:
                if netloc.endswith(_DEFAULT_PORTS[scheme]):
                    netloc = netloc[: -len(_DEFAULT_PORTS[scheme])]
                exact.add(f"{scheme}://{netloc}")
                referer_hosts.append(netloc)
        self._trusted_exact = frozenset(exact)
        self._trusted_wildcards = tuple(wildcards)
        self._referer_hosts = tuple(referer_hosts)
        self.allow_same_site = allow_same_site
        self.require_token = require_token
        self.exempt_paths = frozenset(normalise_exempt_path(p) for p in exempt_paths)
        self.cookie_domain = cookie_domain.lower() if cookie_domain else None

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
        parsed = _split_origin(origin)
        if parsed is None:
            return False
        scheme, host, port = parsed
        for w_scheme, suffix, w_port in self._trusted_wildcards:
            if scheme == w_scheme and port == w_port and _is_same_domain(host, suffix):
                return True
        return False

    def is_allowed_origin(self, origin: str, own_origin: str) -> bool:
        """The request's own origin, or a trusted one."""
        return origin == own_origin or self.is_trusted_origin(origin)


def _split_origin(origin: str) -> tuple[str, str, str] | None:
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
    if port is not None and _DEFAULT_PORTS.get(scheme) == f":{port}":
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
    default = _DEFAULT_PORTS.get(scheme)
    if default and host.endswith(default):
        host = host[: -len(default)]
    if scheme == "ws":
        scheme = "http"
    elif scheme == "wss":
        scheme = "https"
    return f"{scheme}://{host}"


def check_origin(
    policy: CSRFPolicy,
    *,
    scheme: str,
    host: str,
    origin: str | None,
    referer: str | None,
    sec_fetch_site: str | None,
) -> Reject | None:
    """Steps 2-4 for an unsafe request; None means "go on to the token".

    `host` is the Host header (``host[:port]``); `scheme` is ``http`` or ``https``.
    """
    if sec_fetch_site is not None and sec_fetch_site not in ("same-origin", "none"):
        if sec_fetch_site == "same-site" and policy.allow_same_site:
            # The browser vouches for a sibling site the app chose to trust: Origin is that
            # sibling's, so the own-origin comparison below would wrongly refuse it.
            return None
        if origin is None or not policy.is_trusted_origin(origin):
            return Reject(REASON_CROSS_SITE % _echo(sec_fetch_site))
        return None
    if origin is not None:
        if host and origin == f"{scheme}://{host}":
            return None  # the common case, before any normalisation
        if origin == "null" or not policy.is_allowed_origin(origin, own_origin(scheme, host)):
            return Reject(REASON_BAD_ORIGIN % _echo(origin))
        return None
    if scheme == "https" and policy.require_token:
        return _check_referer(policy, host.lower(), referer)
    return None


def check_websocket_origin(
    policy: CSRFPolicy, *, scheme: str, host: str, origin: str | None
) -> Reject | None:
    """A WebSocket handshake carries no Sec-Fetch-Site and no token, only Origin.

    No Origin means no browser (nothing ambient to hijack); otherwise it must be the app's own
    origin (``ws``/``wss`` count as ``http``/``https``) or a trusted one.
    """
    if origin is None:
        return None
    if origin == "null" or not policy.is_allowed_origin(origin, own_origin(scheme, host)):
        return Reject(REASON_BAD_ORIGIN % _echo(origin))
    return None


def _check_referer(policy: CSRFPolicy, host: str, referer: str | None) -> Reject | None:
    if referer is None:
        return Reject(REASON_NO_REFERER)
    try:
        parts = urlsplit(referer)
        netloc = parts.netloc.lower()
        # Touch .port so a malformed port fails here, as Django's parser does.
        _ = parts.port
    except ValueError:
        return Reject(REASON_MALFORMED_REFERER)
    if not parts.scheme or not netloc:
        return Reject(REASON_MALFORMED_REFERER)
    if parts.scheme.lower() != "https":
        return Reject(REASON_INSECURE_REFERER)
    if any(_is_same_domain(netloc, pattern) for pattern in policy._referer_hosts):
        return None
    if policy.cookie_domain:
        good = policy.cookie_domain
        _, colon, port = host.rpartition(":")
        if colon and port.isdigit() and port != "443" and "]" not in port:
            good = f"{good}:{port}"
    else:
        good = host[:-4] if host.endswith(":443") else host
    if not _is_same_domain(netloc, good):
        return Reject(REASON_BAD_REFERER % _echo(referer))
    return None


def secret_from_stored(value: str | None) -> tuple[str | None, Reject | None]:
    """The secret from a stored cookie/session value, or why the value is unusable.

    A 64-char value is a legacy masked cookie (Django < 4.1) and yields its secret.
    """
    if value is None:
        return None, None
    if not is_valid_token(value):
        if len(value) not in (CSRF_SECRET_LENGTH, CSRF_TOKEN_LENGTH):
            return None, Reject(REASON_COOKIE_INCORRECT_LENGTH)
        return None, Reject(REASON_COOKIE_INVALID_CHARACTERS)
    return (unmask_token(value) if len(value) == CSRF_TOKEN_LENGTH else value), None


def describe_source(token_source: str) -> str:
    """``POST`` or a header name → the words Django uses in its token reasons."""
    if token_source == TOKEN_FROM_FORM:
        return TOKEN_FROM_FORM
    return f"the {token_source.title()!r} HTTP header"


def check_token(
    secret: str | None,
    token: str | None,
    *,
    token_source: str,
    secret_problem: Reject | None = None,
) -> Reject | None:
    """Step 5: the submitted `token` (bare or masked) must carry `secret`.

    `token_source` is `TOKEN_FROM_FORM` or the header name the token came from.
    """
    if secret_problem is not None:
        return secret_problem
    if secret is None:
        return Reject(REASON_NO_CSRF_COOKIE)
    if not token:
        return Reject(REASON_CSRF_TOKEN_MISSING)
    # `is_valid_token` and `is_valid_secret`, inlined: this runs on every unsafe request.
    size = len(token)
    if size != CSRF_TOKEN_LENGTH and size != CSRF_SECRET_LENGTH:
        return Reject(REASON_TOKEN_INCORRECT_LENGTH % describe_source(token_source))
    if not (token.isascii() and token.encode("ascii").isalnum()):
        return Reject(REASON_TOKEN_INVALID_CHARACTERS % describe_source(token_source))
    if not (
        len(secret) == CSRF_SECRET_LENGTH and secret.isascii() and secret.encode("ascii").isalnum()
    ):
        return Reject(REASON_COOKIE_INVALID_CHARACTERS)
    candidate = unmask_token(token) if size == CSRF_TOKEN_LENGTH else token
    # Both are validated ASCII strings here, which compare_digest takes directly.
    if not hmac.compare_digest(candidate, secret):
        return Reject(REASON_TOKEN_INCORRECT % describe_source(token_source))
    return None


def verdict(
    policy: CSRFPolicy,
    *,
    method: str,
    scheme: str,
    host: str,
    origin: str | None = None,
    referer: str | None = None,
    sec_fetch_site: str | None = None,
    cookie_secret: str | None = None,
    token: str | None = None,
    token_source: str = TOKEN_FROM_FORM,
) -> Accept | Reject:
    """The whole decision for one HTTP request, steps 1-5.

    Args:
        policy: the digested settings.
        method: the request method, upper case.
        scheme: ``http`` or ``https`` as the client used it.
        host: the Host header (``host[:port]``).
        origin: the Origin header, if any.
        referer: the Referer header, if any.
        sec_fetch_site: the Sec-Fetch-Site header, if any.
        cookie_secret: the stored value (cookie or session), as received.
        token: the submitted token (form field or header), if any.
        token_source: `TOKEN_FROM_FORM` or the header name, for the reason text.

    Returns:
        `ACCEPT`, or a `Reject` whose reason is one of the ``REASON_*`` texts.
    """
    if method in SAFE_METHODS:
        return ACCEPT
    rejected = check_origin(
        policy,
        scheme=scheme,
        host=host,
        origin=origin,
        referer=referer,
        sec_fetch_site=sec_fetch_site,
    )
    if rejected is not None:
        return rejected
    if not policy.require_token:
        return ACCEPT
    secret, problem = secret_from_stored(cookie_secret)
    rejected = check_token(secret, token, token_source=token_source, secret_problem=problem)
    return ACCEPT if rejected is None else rejected
