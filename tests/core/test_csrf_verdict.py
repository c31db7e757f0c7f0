"""The CSRF decision on plain facts, as a driver uses it: no event loop, no app, no server."""

from __future__ import annotations

from typing import Literal

import pytest

from cookieguard.core import csrf
from cookieguard.core.csrf import (
    ACCEPT,
    CSRFPolicy,
    NeedToken,
    Reject,
    StoredSecret,
    decide_form_token,
    normalise_exempt_path,
)
from cookieguard.core.tokens import mask_secret, new_csrf_secret
from cookieguard.errors import ConfigError

SECRET = new_csrf_secret()
TOKEN = mask_secret(SECRET)
DEFAULT = CSRFPolicy()
TOKENLESS = CSRFPolicy(require_token=False)
FORM = "application/x-www-form-urlencoded"


def decide(
    policy: CSRFPolicy = DEFAULT,
    *,
    method: str = "POST",
    path: str = "/submit",
    scheme: str = "http",
    host: str = "example.com",
    cookie: str | None = SECRET,
    token: str | None = TOKEN,
    token_in: Literal["form", "header"] = "form",
    origin: str | None = None,
    referer: str | None = None,
    sec_fetch_site: str | None = None,
) -> csrf.Accept | Reject:
    """What a driver does: the verdict on the headers, then the form field if it asks for one.

    `cookie` is the stored value as the request brought it; `token` is sent in the form body
    (the default, as a browser form does) or in the header.
    """
    first = csrf.decide(
        policy,
        method=method,
        path=path,
        scheme=scheme,
        host=host,
        secret=StoredSecret(cookie),
        origin=origin,
        referer=referer,
        sec_fetch_site=sec_fetch_site,
        header_token=token if token_in == "header" else None,
        content_type=FORM if token_in == "form" else "application/json",
    )
    if isinstance(first, NeedToken):
        assert token_in == "form"
        return decide_form_token(first, token)
    return first


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
    assert decide(cookie=None) == Reject("CSRF cookie not set.")
    assert decide(token=None) == Reject("CSRF token missing.")
    assert decide(token="x" * 10) == Reject("CSRF token from POST has incorrect length.")
    assert decide(token="!" * 64) == Reject("CSRF token from POST has invalid characters.")
    assert decide(token=mask_secret(new_csrf_secret())) == Reject("CSRF token from POST incorrect.")
    assert decide(token="x" * 10, token_in="header") == Reject(
        "CSRF token from the 'X-Csrftoken' HTTP header has incorrect length."
    )
    assert decide(cookie="short") == Reject("CSRF cookie has incorrect length.")
    assert decide(cookie="-" * 32) == Reject("CSRF cookie has invalid characters.")
    assert decide(cookie="-" * 64) == Reject("CSRF cookie has invalid characters.")


def test_bare_secret_and_legacy_masked_cookie_are_accepted() -> None:
    assert decide(token=SECRET) == ACCEPT
    # A Django < 4.1 cookie held a masked token; it still yields the secret.
    assert decide(cookie=mask_secret(SECRET), token=mask_secret(SECRET)) == ACCEPT


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


def test_own_origin_maps_websocket_schemes() -> None:
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

    def ok(origin: str | None, scheme: str = "wss", path: str = "/ws") -> bool:
        decision = csrf.decide_websocket(
            policy, path=path, scheme=scheme, host="app.test", origin=origin
        )
        return decision == ACCEPT

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


def test_websocket_refusal_reason_and_exempt_paths() -> None:
    policy = CSRFPolicy(exempt_paths=["/ws/public"])
    facts = {"scheme": "ws", "host": "app.test", "origin": "http://evil.test"}
    assert csrf.decide_websocket(policy, path="/ws", **facts) == Reject(
        csrf.REASON_BAD_ORIGIN % "http://evil.test"
    )
    assert csrf.decide_websocket(policy, path="/ws/public", **facts) == ACCEPT
    assert csrf.decide_websocket(policy, path="/ws/public/x", **facts) != ACCEPT


# -- the shape of the decision: what a driver is asked to fetch, and when ------------------


class CountingSecret:
    """A `SecretSource` that records whether the decision asked for the secret."""

    def __init__(self, value: str | None) -> None:
        self.asked = 0
        self._stored = StoredSecret(value)

    def secret_for_check(self) -> tuple[str | None, Reject | None]:
        self.asked += 1
        return self._stored.secret_for_check()


def first_verdict(
    policy: CSRFPolicy = DEFAULT, **facts: object
) -> tuple[csrf.Accept | Reject | NeedToken, int]:
    """`csrf.decide` alone, and how often it asked for the secret (stored as `cookie`)."""
    given = {"method": "POST", "path": "/submit", "scheme": "http", "host": "example.com"}
    given.update(facts)  # type: ignore[arg-type]
    source = CountingSecret(given.pop("cookie", SECRET))
    decision = csrf.decide(policy, secret=source, **given)  # type: ignore[arg-type]
    return decision, source.asked


@pytest.mark.parametrize(
    ("content_type", "kind"),
    [
        (FORM, csrf.URLENCODED),
        ("Application/X-WWW-Form-Urlencoded; charset=UTF-8", csrf.URLENCODED),
        ("multipart/form-data; boundary=x", csrf.MULTIPART),
    ],
)
def test_a_form_without_a_token_header_asks_for_the_field(content_type: str, kind: int) -> None:
    policy = CSRFPolicy(form_field="tok\u00e9n", max_body_size=4096)
    decision, asked = first_verdict(policy, content_type=content_type)
    assert decision == NeedToken(kind, "tok\u00e9n".encode(), 4096, SECRET)
    assert asked == 1
    assert SECRET not in repr(decision)  # it may end up in a log line
    assert decide_form_token(decision, TOKEN) == ACCEPT
    assert decide_form_token(decision, None) == Reject(csrf.REASON_CSRF_TOKEN_MISSING)
    assert decide_form_token(decision, "") == Reject(csrf.REASON_CSRF_TOKEN_MISSING)
    assert decide_form_token(decision, mask_secret(new_csrf_secret())) == Reject(
        "CSRF token from POST incorrect."
    )


@pytest.mark.parametrize(
    ("facts", "expected"),
    [
        # A token header decides on its own: the body is never needed, even for a form.
        ({"header_token": TOKEN, "content_type": FORM}, ACCEPT),
        # An empty header counts as absent: the form is searched.
        ({"header_token": "", "content_type": FORM}, "need"),
        ({"header_token": "x", "content_type": FORM}, "length"),
        # Not a form and no header: nothing to read.
        ({"content_type": "application/json"}, Reject(csrf.REASON_CSRF_TOKEN_MISSING)),
        ({}, Reject(csrf.REASON_CSRF_TOKEN_MISSING)),
        # No secret, or an unusable one: refused before any body is read.
        ({"content_type": FORM, "cookie": None}, Reject(csrf.REASON_NO_CSRF_COOKIE)),
        ({"content_type": FORM, "cookie": "x"}, Reject(csrf.REASON_COOKIE_INCORRECT_LENGTH)),
    ],
)
def test_what_the_first_verdict_needs(facts: dict[str, object], expected: object) -> None:
    decision, _ = first_verdict(**facts)
    if expected == "need":
        assert isinstance(decision, NeedToken)
    elif expected == "length":
        assert decision == Reject(
            "CSRF token from the 'X-Csrftoken' HTTP header has incorrect length."
        )
    else:
        assert decision == expected


def test_the_header_name_in_reasons_follows_the_policy() -> None:
    policy = CSRFPolicy(header_name="X-XSRF-Token")
    decision, _ = first_verdict(policy, header_token="!" * 64)
    assert decision == Reject(
        "CSRF token from the 'X-Xsrf-Token' HTTP header has invalid characters."
    )


@pytest.mark.parametrize(
    ("policy", "facts"),
    [
        (DEFAULT, {"method": "GET", "sec_fetch_site": "cross-site"}),
        (CSRFPolicy(exempt_paths=["/hook"]), {"path": "/hook", "sec_fetch_site": "cross-site"}),
        (DEFAULT, {"origin": "https://evil.test"}),
        (TOKENLESS, {"origin": "http://example.com"}),
    ],
    ids=["safe-method", "exempt-path", "refused-on-origin", "tokenless"],
)
def test_the_secret_is_asked_only_when_a_token_is_checked(
    policy: CSRFPolicy, facts: dict[str, object]
) -> None:
    # A driver reads the secret lazily (cookie parsing, a malformed cookie's replacement):
    # the decision must not ask for it when no token will be compared.
    _, asked = first_verdict(policy, **facts)
    assert asked == 0


@pytest.mark.parametrize("method", sorted(csrf.SAFE_METHODS))
@pytest.mark.parametrize(
    "facts",
    [
        {},
        {"sec_fetch_site": "cross-site", "origin": "https://evil.test", "cookie": "bad"},
        {"scheme": "https", "referer": None, "content_type": FORM, "cookie": None},
    ],
)
def test_safe_methods_are_decided_on_the_method_alone(
    method: str, facts: dict[str, object]
) -> None:
    # Drivers skip gathering any other fact for a method in SAFE_METHODS (the ASGI
    # middleware does): that shortcut is only right because this holds for every fact.
    assert first_verdict(method=method, **facts) == (ACCEPT, 0)


def test_a_source_with_a_malformed_secret_fails_closed() -> None:
    class Broken:
        def secret_for_check(self) -> tuple[str | None, Reject | None]:
            return "\u00e9" * 32, None  # breaks the SecretSource promise

    decision = csrf.decide(
        DEFAULT,
        method="POST",
        path="/",
        scheme="http",
        host="example.com",
        secret=Broken(),
        header_token=TOKEN,
    )
    assert decision == Reject(csrf.REASON_COOKIE_INVALID_CHARACTERS)


def test_stored_secret_never_shows_the_secret() -> None:
    assert SECRET not in repr(StoredSecret(SECRET))
    assert StoredSecret(SECRET).secret_for_check() == (SECRET, None)
    assert StoredSecret(mask_secret(SECRET)).secret_for_check() == (SECRET, None)


@pytest.mark.parametrize("scheme", ["http", "https"])
@pytest.mark.parametrize(
    "host", ["example.com", "Example.COM", "example.com:80", "example.com:443", "[::1]:8000", ""]
)
@pytest.mark.parametrize(
    "origin",
    [
        "{scheme}://{host}",
        "{scheme}://{lower}",
        "{scheme}://{bare}",
        "http://evil.test",
        "{other}://{host}",
        "null",
    ],
)
def test_own_origin_rule_written_plainly(scheme: str, host: str, origin: str) -> None:
    # The literal ``scheme://Host`` comparison is tried first (it is what browsers send and
    # costs no parsing); the result must be the documented rule's, case by case.
    other = "https" if scheme == "http" else "http"
    lower = host.lower()
    bare = lower.removesuffix({"http": ":80", "https": ":443"}[scheme])
    sent = origin.format(scheme=scheme, host=host, lower=lower, bare=bare, other=other)
    own = {f"{scheme}://{host}", f"{scheme}://{bare}"}
    decision = decide(TOKENLESS, scheme=scheme, host=host, origin=sent, token=None)
    assert (decision == ACCEPT) is (sent in own), (scheme, host, sent)
