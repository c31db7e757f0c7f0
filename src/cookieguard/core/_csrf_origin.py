"""The origin gate: Sec-Fetch-Site, then Origin, then (over https) Django's Referer check.

Steps 2-4 of the decision in `core.csrf`, on header values alone. Each function answers with
None (go on) or the reason for a refusal, one of the ``REASON_*`` texts here, in Django's
words where Django has them; `core.csrf` turns that into its `Reject`.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from cookieguard.core._csrf_policy import CSRFPolicy, is_same_domain, own_origin

REASON_BAD_ORIGIN = "Origin checking failed - %s does not match any trusted origins."
REASON_NO_REFERER = "Referer checking failed - no Referer."
REASON_BAD_REFERER = "Referer checking failed - %s does not match any trusted origins."
REASON_MALFORMED_REFERER = "Referer checking failed - Referer is malformed."
REASON_INSECURE_REFERER = "Referer checking failed - Referer is insecure while host is secure."
REASON_CROSS_SITE = (
    "Sec-Fetch-Site checking failed - %s request from an origin that is not trusted."
)
"""cookieguard's own: Django has no fetch-metadata check."""

_MAX_ECHO = 200  # attacker-chosen header values are cut before they enter a reason


def echo(value: str) -> str:
    """An attacker-chosen header value made fit for a reason: short and printable ASCII."""
    if len(value) > _MAX_ECHO:
        value = value[:_MAX_ECHO] + "..."
    return value if value.isascii() and value.isprintable() else ascii(value)[1:-1]


def origin_problem(
    policy: CSRFPolicy,
    scheme: str,
    host: str,
    origin: str | None,
    referer: str | None,
    sec_fetch_site: str | None,
) -> str | None:
    """Steps 2-4 for an unsafe request: None means "go on to the token".

    `host` is the Host header (``host[:port]``); `scheme` is ``http`` or ``https``. The
    request's own origin is ``scheme://Host`` exactly as sent (Django's comparison, and what
    every browser request matches), or that with the host lower-cased and a default port
    dropped.
    """
    if sec_fetch_site is not None and sec_fetch_site not in ("same-origin", "none"):
        if sec_fetch_site == "same-site" and policy.allow_same_site:
            # The browser vouches for a sibling site the app chose to trust: Origin is that
            # sibling's, so the own-origin comparison below would wrongly refuse it.
            return None
        if origin is None or not policy.is_trusted_origin(origin):
            return REASON_CROSS_SITE % echo(sec_fetch_site)
        return None
    if origin is not None:
        if host and origin == f"{scheme}://{host}":
            return None  # Django's literal comparison first: no normalising for the usual case
        if origin == "null" or not policy.is_allowed_origin(origin, own_origin(scheme, host)):
            return REASON_BAD_ORIGIN % echo(origin)
        return None
    if scheme == "https" and policy.require_token:
        return _referer_problem(policy, host.lower(), referer)
    return None


def websocket_origin_problem(
    policy: CSRFPolicy, scheme: str, host: str, origin: str | None
) -> str | None:
    """A WebSocket handshake carries no Sec-Fetch-Site and no token, only Origin.

    No Origin means no browser (nothing ambient to hijack); otherwise it must be the app's own
    origin (``ws``/``wss`` count as ``http``/``https``) or a trusted one.
    """
    if origin is None:
        return None
    if origin == "null" or not policy.is_allowed_origin(origin, own_origin(scheme, host)):
        return REASON_BAD_ORIGIN % echo(origin)
    return None


def _referer_problem(policy: CSRFPolicy, host: str, referer: str | None) -> str | None:
    if referer is None:
        return REASON_NO_REFERER
    try:
        parts = urlsplit(referer)
        netloc = parts.netloc.lower()
        # Touch .port so a malformed port fails here, as Django's parser does.
        _ = parts.port
    except ValueError:
        return REASON_MALFORMED_REFERER
    if not parts.scheme or not netloc:
        return REASON_MALFORMED_REFERER
    if parts.scheme.lower() != "https":
        return REASON_INSECURE_REFERER
    if any(is_same_domain(netloc, pattern) for pattern in policy.referer_hosts()):
        return None
    if policy.cookie_domain:
        good = policy.cookie_domain
        _, colon, port = host.rpartition(":")
        if colon and port.isdigit() and port != "443" and "]" not in port:
            good = f"{good}:{port}"
    else:
        good = host[:-4] if host.endswith(":443") else host
    if not is_same_domain(netloc, good):
        return REASON_BAD_REFERER % echo(referer)
    return None
