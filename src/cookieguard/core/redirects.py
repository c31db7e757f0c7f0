"""Which `next` targets a login or logout may redirect to: same-site relative paths only.

An open redirect after login hands a freshly authenticated user to a phishing page, so the
rule is deliberately narrow: a path that starts with exactly one ``/``, made of the ASCII
characters a URL path, query or fragment may hold raw. Everything that a browser could read
as another host is refused: scheme-relative ``//evil`` and ``///evil``, ``/\\evil`` (browsers
treat ``\\`` as ``/``), absolute URLs with any scheme (``https:``, ``javascript:``, ``data:``),
and control or whitespace characters, which browsers strip from URLs (``/\\t/evil`` would
become ``//evil``).

A `next` value is also echoed: into the login form's hidden field, a link, a log line. So
the characters that end an HTML attribute or open a tag or a script string, ``"``, ``'``,
``<``, ``>`` and the backtick, are refused too, as are ``{``, ``}``, ``|`` and ``^``, which
RFC 3986 never allows raw either (``{{...}}`` is also how client-side template injection
starts). None of them is needed raw: each has a percent-encoded form that means the same to
the server (``%22``, ``%27``, ``%3C``...), which `next_for` produces and which is accepted.
Refusing rather than percent-encoding keeps `safe_next` a plain choice between the value it
was given and the default, and `is_safe_redirect` a plain predicate: a raw quote or angle
bracket in a `next` comes from a hand-made or hostile link, not from a page of the site, so
sending that user to the default page loses nothing worth keeping. Refusing is not
escaping: a page must still HTML-escape whatever it interpolates (``html.escape(value,
quote=True)``, or a template engine with autoescaping); this check is the second line, for
the page that forgot.
"""

from __future__ import annotations

from urllib.parse import quote

from cookieguard.errors import ConfigError

__all__ = ["MAX_REDIRECT_LENGTH", "is_safe_redirect", "login_redirect_url", "next_for", "safe_next"]

MAX_REDIRECT_LENGTH = 2048
"""Longer `next` values are refused (Django's limit; nobody needs more)."""

# RFC 3986's unreserved and reserved characters plus "%" (percent-escapes), less the single
# quote; "[" and "]" stay (inert in HTML, and common in query strings: ``?tags[]=a``). So no
# space or control character, no backslash, and none of ``"'<>`{}|^``.
_ALLOWED = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~:/?#[]@!$&()*+,;=%"
)
# What `quote` may leave as is when building a `next` from a decoded request path (a literal
# "%" is encoded), and from a raw query string (already percent-encoded by the client). The
# single quote is not among them, so a path holding one gets ``%27`` rather than no `next`.
_PATH_SAFE = "/:@!$&()*+,;=-._~"
_QUERY_SAFE = _PATH_SAFE + "%?"


def is_safe_redirect(url: str | None) -> bool:
    """True when `url` is a same-site relative path that is safe to redirect to.

    Args:
        url: the untrusted target, typically the `next` form field or query parameter.

    Returns:
        True for values such as ``/records`` or ``/view/?param=http://example.com``;
        False for anything empty, over-long, absolute, scheme-relative or containing
        backslashes, whitespace, control or non-ASCII characters, or any of
        ``"'<>`{}|^`` (send those percent-encoded).
    """
    if not url or len(url) > MAX_REDIRECT_LENGTH:
        return False
    if url[0] != "/" or (len(url) > 1 and url[1] == "/"):
        return False
    return _ALLOWED.issuperset(url)


def safe_next(url: str | None, default: str = "/") -> str:
    """`url` if `is_safe_redirect` accepts it, else `default`.

    Args:
        url: the untrusted target.
        default: where to go instead; it must itself be safe.

    Raises:
        ConfigError: if `default` is not a safe redirect (a configuration mistake).
    """
    if not is_safe_redirect(default):
        raise ConfigError("the default redirect must be a same-site path such as '/'")
    return url if url is not None and is_safe_redirect(url) else default


def next_for(path: str, query_string: bytes | str = b"") -> str | None:
    """The `next` value that brings a user back to `path` (decoded, as in an ASGI scope).

    The path is percent-encoded and the query string kept; returns None when the result
    would not be a safe redirect (for example a request path starting with ``//``).
    """
    if isinstance(query_string, bytes):
        query_string = query_string.decode("latin-1")
    target = quote(path, safe=_PATH_SAFE)
    if query_string:
        target = f"{target}?{quote(query_string, safe=_QUERY_SAFE)}"
    return target if is_safe_redirect(target) else None


def login_redirect_url(login_url: str, next_url: str | None, field: str = "next") -> str:
    """`login_url` with ``?next=...`` (or ``&next=...``) appended when `next_url` is safe."""
    if next_url is None or not is_safe_redirect(next_url):
        return login_url
    sep = "&" if "?" in login_url else "?"
    return f"{login_url}{sep}{field}={quote(next_url, safe='/')}"
