"""The CSRF verdict on plain facts: no event loop, no app, only the decision."""

from __future__ import annotations

import pytest

from cookieguard.core import csrf
from cookieguard.core.csrf import (
    ACCEPT,
    CSRFPolicy,
    Reject,
    check_origin,
    normalise_exempt_path,
    verdict,
)
from cookieguard.core.tokens import mask_secret, new_csrf_secret
from cookieguard.errors import ConfigError

SECRET = new_csrf_secret()
TOKEN = mask_secret(SECRET)
DEFAULT = CSRFPolicy()
TOKENLESS = CSRFPolicy(require_token=False)


def decide(policy: CSRFPolicy = DEFAULT, **facts: object) -> csrf.Accept | Reject:
    base: dict[str, object] = {
        "method": "POST",
        "scheme": "http",
        "host": "example.com",
        "cookie_secret": SECRET,
        "token": TOKEN,
    }
    base.update(facts)
    return verdict(policy, **base)  # type: ignore[arg-type]


# Go 1.25 / filippo.io/csrf vectors (POST), in tokenless mode so only the origin gate decides.
GO_VECTORS = [
    ("same-origin", None, True),
    ("none", None, True),
    ("cross-site", None, False),
    ("same-site", None, False),
    (None, None, True),
    (None, "http://example.com", True),
    (None, "http://attacker.example", False),
    (None, "null", False),
]


@pytest.mark.parametrize(("sec_fetch_site", "origin", "accepted"), GO_VECTORS)
def test_go_vectors_tokenless(sec_fetch_site: str | None, origin: str | None, accepted: bool):
    result = decide(TOKENLESS, sec_fetch_site=sec_fetch_site, origin=origin, token=None)
    assert (result == ACCEPT) is accepted


@pytest.mark.parametrize(("sec_fetch_site", "origin", "accepted"), GO_VECTORS)
def test_go_vectors_with_token_required(
    sec_fetch_site: str | None, origin: str | None, accepted: bool
):
    # With a valid token the header gate alone still decides; the token never rescues a
    # cross-site request.
    result = decide(sec_fetch_site=sec_fetch_site, origin=origin)
    assert (result == ACCEPT) is accepted


@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS", "TRACE"])
def test_safe_methods_pass_even_cross_site(method: str) -> None:
    result = decide(
        method=method, sec_fetch_site="cross-site", origin="https://evil.test", token=None
    )
    assert result == ACCEPT


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE", "PROPFIND"])
def test_every_other_method_is_checked(method: str) -> None:
    assert decide(method=method, sec_fetch_site="cross-site") == Reject(
        csrf.REASON_CROSS_SITE % "cross-site"
    )
    assert decide(method=method, token=None) == Reject(csrf.REASON_CSRF_TOKEN_MISSING)
    assert decide(method=method) == ACCEPT


SFS_VALUES = ["same-origin", "none", "same-site", "cross-site", "nonsense", None]
ORIGINS = {
    "own": "http://example.com",
    "trusted": "https://partner.test",
    "trusted-wildcard": "https://a.b.trusted.test",
    "sibling": "http://sub.example.com",
    "other-port": "http://example.com:9000",
    "other-scheme": "https://example.com",
    "null": "null",
    "absent": None,
    "garbage": "http://[",
}
TRUSTING = CSRFPolicy(trusted_origins=["https://partner.test", "https://*.trusted.test"])


def expected(sfs: str | None, origin_kind: str) -> bool:
    """The documented rule, written independently of the implementation."""
    trusted = origin_kind in ("trusted", "trusted-wildcard")
    if sfs not in (None, "same-origin", "none"):
        return trusted
    if origin_kind == "absent":
        return True
    return origin_kind == "own" or trusted


@pytest.mark.parametrize("sfs", SFS_VALUES)
@pytest.mark.parametrize("origin_kind", list(ORIGINS))
def test_matrix_sec_fetch_site_by_origin(sfs: str | None, origin_kind: str) -> None:
    result = decide(TRUSTING, sec_fetch_site=sfs, origin=ORIGINS[origin_kind])
    assert (result == ACCEPT) is expected(sfs, origin_kind), result


def test_reasons_use_django_words() -> None:
    assert decide(origin="https://evil.test") == Reject(
        "Origin checking failed - https://evil.test does not match any trusted origins."
    )
    assert decide(cookie_secret=None) == Reject("CSRF cookie not set.")
    assert decide(token=None) == Reject("CSRF token missing.")
    assert decide(token="x" * 10) == Reject("CSRF token from POST has incorrect length.")
    assert decide(token="!" * 64) == Reject("CSRF token from POST has invalid characters.")
    assert decide(token=mask_secret(new_csrf_secret())) == Reject("CSRF token from POST incorrect.")
    assert decide(token="x" * 10, token_source="X-CSRFToken") == Reject(
        "CSRF token from the 'X-Csrftoken' HTTP header has incorrect length."
    )
    assert decide(cookie_secret="short") == Reject("CSRF cookie has incorrect length.")
    assert decide(cookie_secret="-" * 32) == Reject("CSRF cookie has invalid characters.")


def test_bare_secret_and_legacy_masked_cookie_are_accepted() -> None:
    assert decide(token=SECRET) == ACCEPT
    # A Django < 4.1 cookie held a masked token; it still yields the secret.
    assert decide(cookie_secret=mask_secret(SECRET), token=mask_secret(SECRET)) == ACCEPT


def test_same_site_allowed_only_when_configured() -> None:
    sibling = "http://sub.example.com"
    assert decide(sec_fetch_site="same-site", origin=sibling) != ACCEPT
    relaxed = CSRFPolicy(allow_same_site=True)
    assert decide(relaxed, sec_fetch_site="same-site", origin=sibling) == ACCEPT
    # Allowing siblings never lets cross-site requests through, nor skips the token.
    assert decide(relaxed, sec_fetch_site="cross-site", origin=sibling) != ACCEPT
    assert decide(relaxed, sec_fetch_site="same-site", origin=sibling, token=None) == Reject(
        csrf.REASON_CSRF_TOKEN_MISSING
    )


def test_own_origin_normalises_host_case_and_default_port() -> None:
    assert decide(host="Example.COM:80", origin="http://example.com") == ACCEPT
    assert (
        decide(
            scheme="https",
            host="example.com:443",
            origin="https://example.com",
        )
        == ACCEPT
    )
    assert decide(host="example.com:8000", origin="http://example.com:8000") == ACCEPT
    # Ports make origins: localhost:9000 is same-site but not same-origin.
    assert decide(host="localhost:8000", origin="http://localhost:9000") != ACCEPT
    # The scheme counts: an http page may not post to the https site.
    assert decide(scheme="https", host="example.com", origin="http://example.com") != ACCEPT


def test_trusted_wildcards() -> None:
    policy = CSRFPolicy(
        trusted_origins=["https://*.example.net", "http://*.dev.test:8080", "https://x.test:443"]
    )

    def ok(origin: str) -> bool:
        return decide(policy, sec_fetch_site="cross-site", origin=origin) == ACCEPT

    assert ok("https://a.example.net")
    assert ok("https://a.b.example.net")
    assert ok("https://example.net")  # Django's rule: the bare domain matches too
    assert ok("https://A.Example.NET")
    assert ok("http://api.dev.test:8080")
    assert ok("https://x.test")  # default port in the setting is normalised away
    assert not ok("http://a.example.net")  # scheme must match
    assert not ok("https://a.example.net:8443")  # port must match
    assert not ok("https://evilexample.net")
    assert not ok("https://example.net.evil.test")
    assert not ok("http://api.dev.test")
    assert not ok("https://a.example.net/path")
    assert not ok("https://user@a.example.net")
    assert not ok("null")
    assert not ok("https://evil.test\x00.example.net")
    assert not ok("https://evil_test.example.net")


def test_trusted_origin_settings_are_validated() -> None:
    with pytest.raises(ConfigError):
        CSRFPolicy(trusted_origins=["example.com"])
    with pytest.raises(ConfigError):
        CSRFPolicy(trusted_origins=["https://a.*.example.com"])


HTTPS = {"scheme": "https", "host": "example.com"}


@pytest.mark.parametrize(
    ("referer", "reason"),
    [
        (None, csrf.REASON_NO_REFERER),
        ("", csrf.REASON_MALFORMED_REFERER),
        ("//example.com/", csrf.REASON_MALFORMED_REFERER),
        ("https://", csrf.REASON_MALFORMED_REFERER),
        ("https://[", csrf.REASON_MALFORMED_REFERER),
        ("https://example.com:notaport/", csrf.REASON_MALFORMED_REFERER),
        ("http://example.com/form", csrf.REASON_INSECURE_REFERER),
        ("https://evil.test/x", csrf.REASON_BAD_REFERER % "https://evil.test/x"),
        (
            "https://example.com.evil.test/",
            csrf.REASON_BAD_REFERER % "https://example.com.evil.test/",
        ),
        ("https://example.com:8443/", csrf.REASON_BAD_REFERER % "https://example.com:8443/"),
    ],
)
def test_https_referer_failures(referer: str | None, reason: str) -> None:
    assert decide(**HTTPS, referer=referer) == Reject(reason)


def test_https_referer_successes() -> None:
    assert decide(**HTTPS, referer="https://example.com/form?a=1") == ACCEPT
    assert decide(**HTTPS, referer="https://EXAMPLE.com/") == ACCEPT
    assert decide(scheme="https", host="example.com:443", referer="https://example.com/") == ACCEPT
    trusting = CSRFPolicy(trusted_origins=["https://*.partner.test", "https://login.test"])
    assert decide(trusting, **HTTPS, referer="https://a.partner.test/") == ACCEPT
    assert decide(trusting, **HTTPS, referer="https://login.test/cb") == ACCEPT
    # With a cookie domain, any host under it is good (Django's CSRF_COOKIE_DOMAIN rule).
    shared = CSRFPolicy(cookie_domain=".example.com")
    assert (
        decide(shared, scheme="https", host="www.example.com", referer="https://a.example.com/")
        == ACCEPT
    )
    assert (
        decide(
            shared,
            scheme="https",
            host="www.example.com:8443",
            referer="https://a.example.com:8443/",
        )
        == ACCEPT
    )
    assert (
        decide(shared, scheme="https", host="www.example.com", referer="https://evil.test/")
        != ACCEPT
    )


def test_referer_is_not_needed_over_http_or_with_origin_or_tokenless() -> None:
    assert decide(referer=None) == ACCEPT
    assert decide(**HTTPS, origin="https://example.com", referer=None) == ACCEPT
    assert decide(TOKENLESS, **HTTPS, referer=None, token=None) == ACCEPT


def test_check_origin_alone_for_websocket_style_use() -> None:
    assert (
        check_origin(
            DEFAULT, scheme="http", host="h", origin="http://h", referer=None, sec_fetch_site=None
        )
        is None
    )
    assert csrf.own_origin("wss", "Chat.Example:443") == "https://chat.example"
    assert csrf.own_origin("ws", "localhost:8000") == "http://localhost:8000"


def test_long_attacker_values_are_cut_in_reasons() -> None:
    origin = "https://" + "a" * 5000 + ".test"
    result = decide(origin=origin)
    assert isinstance(result, Reject)
    assert len(result.reason) < 400


def test_exempt_paths_are_exact() -> None:
    policy = CSRFPolicy(exempt_paths=["/hooks/pay", "/api/"])
    assert policy.is_exempt("/hooks/pay")
    assert policy.is_exempt("/api/")
    for path in [
        "/hooks/pay/",
        "//hooks/pay",
        "/hooks//pay",
        "/hooks/pay/..",
        "/hooks/x/../pay",
        "/Hooks/pay",
        "/hooks/pay%2F",
        "/hooks/pay.json",
        "/hooks",
        "/api",
        "/api/x",
        "/api/../admin",
    ]:
        assert not policy.is_exempt(path), path


@pytest.mark.parametrize(
    "bad",
    [
        "hooks",
        "//x",
        "/a//b",
        "/a/../b",
        "/a/./b",
        "/a/..",
        "/a/.",
        "/%61",
        "/a?b",
        "/a#b",
        "/a\\b",
        "/a\nb",
    ],
)
def test_unnormalised_exempt_paths_are_refused(bad: str) -> None:
    with pytest.raises(ConfigError):
        normalise_exempt_path(bad)


def test_websocket_origin_rule() -> None:
    policy = CSRFPolicy(trusted_origins=["https://chat.partner.test"])

    def ok(origin: str | None, scheme: str = "wss") -> bool:
        return (
            csrf.check_websocket_origin(policy, scheme=scheme, host="app.test", origin=origin)
            is None
        )

    assert ok(None)
    assert ok("https://app.test")
    assert ok("http://app.test", scheme="ws")
    assert ok("https://chat.partner.test")
    assert not ok("http://app.test")  # wss page origins are https
    assert not ok("https://evil.test")
    assert not ok("null")


def test_reasons_echo_only_printable_ascii() -> None:
    result = decide(origin="https://e\x1b[31mvil\u00e9.test")
    assert isinstance(result, Reject)
    assert result.reason.isascii() and result.reason.isprintable()
