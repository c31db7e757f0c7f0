"""The CSRF decision: a request's facts in; `Accept`, `Reject(reason)` or `NeedToken` out. No I/O.

A driver (ASGI, WSGI) follows it without knowing any rule:

1. `decide` with the request's facts: method, route path, scheme, Host, Origin, Referer,
   Sec-Fetch-Site, the token header, Content-Type, and a `SecretSource` for the stored
   secret (asked only if the decision gets that far, so most refusals never parse cookies).
2. On `NeedToken`, read the body (at most `NeedToken.max_size` bytes, encoded as
   `NeedToken.kind`) for form field `NeedToken.field`, then call `decide_form_token`.
3. `Reject` means 403; its `reason` is safe to log. A driver that can see the app's routes
   may still let the request reach an endpoint marked exempt: it asks only then, so a
   request that passes never pays for a route lookup.

WebSocket handshakes have their own, shorter rule: `decide_websocket`.

The order is fixed, and each step only ever narrows what passes:

1. Safe methods (GET, HEAD, OPTIONS, TRACE) pass, as do configured exempt paths.
2. ``Sec-Fetch-Site``: ``same-origin`` and ``none`` continue; ``same-site`` continues only when
   the policy allows sibling sites; any other value (``cross-site``, unknown) is rejected unless
   the Origin is a trusted one (Go 1.25's rule).
3. ``Origin``, when present, must be the request's own origin or a trusted one; ``null`` and
   unparsable values fail.
4. Over https with no Origin: Django's strict Referer check.
5. The token must carry the secret: from the header if sent, else from the form body when
   the body is a form and a secret exists. Tokenless mode skips steps 4 and 5.

Reasons are the ``REASON_*`` constants, in Django's words where Django has them, so logs read
the same across a Django front end and a cookieguard service.
"""

from __future__ import annotations

import dataclasses
import hmac
from dataclasses import dataclass
from typing import Protocol

from cookieguard.core._csrf_origin import (
    REASON_BAD_ORIGIN,
    REASON_BAD_REFERER,
    REASON_CROSS_SITE,
    REASON_INSECURE_REFERER,
    REASON_MALFORMED_REFERER,
    REASON_NO_REFERER,
    origin_problem,
    websocket_origin_problem,
)
from cookieguard.core._csrf_policy import CSRFPolicy, normalise_exempt_path, own_origin
from cookieguard.core.tokens import (
    CSRF_TOKEN_LENGTH,
    TOKEN_BAD_LENGTH,
    TOKEN_OK,
    token_format,
    unmask_token,
)

__all__ = [
    "ACCEPT",
    "MULTIPART",
    "NOT_A_FORM",
    "REASON_BAD_ORIGIN",
    "REASON_BAD_REFERER",
    "REASON_COOKIE_INCORRECT_LENGTH",
    "REASON_COOKIE_INVALID_CHARACTERS",
    "REASON_CROSS_SITE",
    "REASON_CSRF_TOKEN_MISSING",
    "REASON_INSECURE_REFERER",
    "REASON_MALFORMED_REFERER",
    "REASON_NO_CSRF_COOKIE",
    "REASON_NO_REFERER",
    "REASON_TOKEN_INCORRECT",
    "REASON_TOKEN_INCORRECT_LENGTH",
    "REASON_TOKEN_INVALID_CHARACTERS",
    "SAFE_METHODS",
    "TOKEN_FROM_FORM",
    "URLENCODED",
    "Accept",
    "CSRFPolicy",
    "NeedToken",
    "Reject",
    "SecretSource",
    "StoredSecret",
    "decide",
    "decide_form_token",
    "decide_websocket",
    "describe_source",
    "form_kind",
    "normalise_exempt_path",
    "own_origin",
    "secret_from_stored",
]

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
"""Methods that never change state (RFC 9110) and so are never checked."""

TOKEN_FROM_FORM = "POST"  # noqa: S105
"""The token's source, in reasons, when it came from the form body (Django's wording)."""

NOT_A_FORM, URLENCODED, MULTIPART = 0, 1, 2
"""Body kinds (`form_kind`): only the two form encodings are ever searched for a token."""

REASON_NO_CSRF_COOKIE = "CSRF cookie not set."
REASON_CSRF_TOKEN_MISSING = "CSRF token missing."  # noqa: S105
REASON_COOKIE_INCORRECT_LENGTH = "CSRF cookie has incorrect length."
REASON_COOKIE_INVALID_CHARACTERS = "CSRF cookie has invalid characters."
REASON_TOKEN_INCORRECT_LENGTH = "CSRF token from %s has incorrect length."  # noqa: S105
REASON_TOKEN_INVALID_CHARACTERS = "CSRF token from %s has invalid characters."  # noqa: S105
REASON_TOKEN_INCORRECT = "CSRF token from %s incorrect."  # noqa: S105


@dataclass(frozen=True, slots=True)
class Accept:
    """The request may proceed."""


@dataclass(frozen=True, slots=True)
class Reject:
    """The request must be refused with 403; `reason` is a ``REASON_*`` text, safe to log."""

    reason: str


@dataclass(frozen=True, slots=True)
class NeedToken:
    """Everything before the token passed; the token must come from the form body.

    Attributes:
        kind: `URLENCODED` or `MULTIPART`, from the Content-Type.
        field: the form field's name, as bytes (UTF-8) the way it appears in the body.
        max_size: read no further than this many bytes looking for the field (then 413).
        secret: the validated secret the token must carry (never log it).
    """

    kind: int
    field: bytes
    max_size: int
    secret: str = dataclasses.field(repr=False)


ACCEPT = Accept()
_NO_CSRF_COOKIE = Reject(REASON_NO_CSRF_COOKIE)
_TOKEN_MISSING = Reject(REASON_CSRF_TOKEN_MISSING)
_COOKIE_INCORRECT_LENGTH = Reject(REASON_COOKIE_INCORRECT_LENGTH)
_COOKIE_INVALID_CHARACTERS = Reject(REASON_COOKIE_INVALID_CHARACTERS)


class SecretSource(Protocol):
    """Where `decide` gets the stored secret, asked at most once and only when needed.

    The answer is ``(secret, None)`` for a usable 32-char secret, ``(None, None)`` when the
    request brought none, and ``(None, reject)`` when the stored value is malformed (the
    `Reject` from `secret_from_stored`). Drivers hold it lazily (the cookie is parsed on
    first use); `StoredSecret` wraps a value already in hand.
    """

    def secret_for_check(self) -> tuple[str | None, Reject | None]:
        """The secret as the request brought it, and why it is unusable if it is."""
        ...


def secret_from_stored(value: str | None) -> tuple[str | None, Reject | None]:
    """The secret from a stored cookie/session value, or why the value is unusable.

    A 64-char value is a legacy masked cookie (Django < 4.1) and yields its secret.
    """
    if value is None:
        return None, None
    shape = token_format(value)
    if shape != TOKEN_OK:
        return None, (
            _COOKIE_INCORRECT_LENGTH if shape == TOKEN_BAD_LENGTH else _COOKIE_INVALID_CHARACTERS
        )
    return (unmask_token(value) if len(value) == CSRF_TOKEN_LENGTH else value), None


class StoredSecret:
    """A `SecretSource` for a stored value already in hand: a cookie value, a session entry."""

    __slots__ = ("_read",)

    def __init__(self, value: str | None) -> None:
        self._read = secret_from_stored(value)

    def secret_for_check(self) -> tuple[str | None, Reject | None]:
        """The secret in the value, or why the value is unusable."""
        return self._read

    def __repr__(self) -> str:
        return "StoredSecret(...)"  # never the secret


def form_kind(content_type: str | None) -> int:
    """Classify a Content-Type header: `URLENCODED`, `MULTIPART` or `NOT_A_FORM`."""
    if not content_type:
        return NOT_A_FORM
    main = content_type.partition(";")[0].strip().lower()
    if main == "application/x-www-form-urlencoded":
        return URLENCODED
    if main == "multipart/form-data":
        return MULTIPART
    return NOT_A_FORM


def describe_source(token_source: str) -> str:
    """`TOKEN_FROM_FORM` or a header name → the words Django uses in its token reasons."""
    if token_source == TOKEN_FROM_FORM:
        return TOKEN_FROM_FORM
    return f"the {token_source.title()!r} HTTP header"


def decide(
    policy: CSRFPolicy,
    *,
    method: str,
    path: str,
    scheme: str,
    host: str,
    secret: SecretSource,
    origin: str | None = None,
    referer: str | None = None,
    sec_fetch_site: str | None = None,
    header_token: str | None = None,
    content_type: str | None = None,
) -> Accept | Reject | NeedToken:
    """The first verdict on one HTTP request, from its headers alone.

    Args:
        policy: the digested settings.
        method: the request method, upper case.
        path: the decoded path the router dispatches on (for ASGI: without ``root_path``).
        scheme: ``http`` or ``https`` as the client used it.
        host: the Host header (``host[:port]``).
        secret: the stored secret, asked only if the origin gate passes and a token is needed.
        origin: the Origin header, if any.
        referer: the Referer header, if any.
        sec_fetch_site: the Sec-Fetch-Site header, if any.
        header_token: the token header (`CSRFPolicy.header_name`), if any; empty is absent.
        content_type: the Content-Type header, if any.

    Returns:
        `ACCEPT`; a `Reject` whose reason is one of the ``REASON_*`` texts; or a `NeedToken`
        when only a token in the form body can decide (then call `decide_form_token`).
    """
    if method in SAFE_METHODS or path in policy.exempt_paths:
        return ACCEPT
    problem = origin_problem(policy, scheme, host, origin, referer, sec_fetch_site)
    if problem is not None:
        return Reject(problem)
    if not policy.require_token:
        return ACCEPT
    stored, stored_problem = secret.secret_for_check()
    if stored_problem is not None:
        return stored_problem
    if stored is None:
        return _NO_CSRF_COOKIE
    if header_token:
        return _token_verdict(stored, header_token, policy.header_name)
    kind = form_kind(content_type)
    if kind == NOT_A_FORM:
        return _TOKEN_MISSING
    return NeedToken(kind, policy.form_field, policy.max_body_size, stored)


def decide_form_token(need: NeedToken, token: str | None) -> Accept | Reject:
    """The token verdict for the form field `need` asked for (None: the field was absent)."""
    if not token:
        return _TOKEN_MISSING
    return _token_verdict(need.secret, token, TOKEN_FROM_FORM)


def decide_websocket(
    policy: CSRFPolicy, *, path: str, scheme: str, host: str, origin: str | None
) -> Accept | Reject:
    """The verdict on a WebSocket handshake: it carries no Sec-Fetch-Site and no token.

    No Origin means no browser (nothing ambient to hijack) and passes; otherwise the Origin
    must be the app's own (``ws``/``wss`` count as ``http``/``https``) or a trusted one,
    unless `path` is a configured exempt path.
    """
    problem = websocket_origin_problem(policy, scheme, host, origin)
    if problem is None or path in policy.exempt_paths:
        return ACCEPT
    return Reject(problem)


def _token_verdict(secret: str, token: str, source: str) -> Accept | Reject:
    """Step 5: the submitted `token` (bare or masked) must carry `secret`."""
    shape = token_format(token)
    if shape != TOKEN_OK:
        if shape == TOKEN_BAD_LENGTH:
            return Reject(REASON_TOKEN_INCORRECT_LENGTH % describe_source(source))
        return Reject(REASON_TOKEN_INVALID_CHARACTERS % describe_source(source))
    candidate = unmask_token(token) if len(token) == CSRF_TOKEN_LENGTH else token
    try:
        # The token is validated ASCII, and so is a secret from any `SecretSource`.
        same = hmac.compare_digest(candidate, secret)
    except TypeError:
        # Only a source that broke its promise (a non-ASCII secret) gets here: fail closed.
        return _COOKIE_INVALID_CHARACTERS
    if not same:
        return Reject(REASON_TOKEN_INCORRECT % describe_source(source))
    return ACCEPT
