"""Safe `next` targets: Django's lists, plus what browsers do with backslashes and controls."""

from __future__ import annotations

import pytest

from cookieguard.core.redirects import (
    MAX_REDIRECT_LENGTH,
    is_safe_redirect,
    login_redirect_url,
    next_for,
    safe_next,
)

BAD = [
    # Django's bad list (url_has_allowed_host_and_scheme tests).
    "http://example.com",
    "http:///example.com",
    "https://example.com",
    "ftp://example.com",
    "//example.com",
    "///example.com",
    "\\\\example.com",
    "/\\/example.com",
    "\\/example.com",
    "http:/\\//example.com",
    'javascript:alert("XSS")',
    "\njavascript:alert(x)",
    "\x08//example.com",
    "http://testserver\\@example.com",
    "http:999999999",
    "ftp:9999999999",
    "\n",
    "http://[2001:cdba:0000:0000:0000:0000:3257:9652",
    # Same-site only: even our own host spelled absolutely is refused.
    "https://testserver/",
    "//testserver/",
    # Relative references without a leading slash resolve against the login page.
    "view/?param=//example.com",
    "path/http:2222222222",
    # Browser normalisation tricks.
    "/\\evil",
    "/\t/evil",
    "/\n/evil",
    "/\r/evil",
    " /x",
    "/x y",
    "/\x00",
    "/\x7f",
    "/caf\u00e9",
    "/\uff0f/evil",
    "JAVASCRIPT:alert(1)",
    "data:text/html,<script>",
    "",
    None,
]

# Reflected XSS through an echoed `next` (the login form's hidden field, a link): characters
# that end an attribute, open a tag or a script string, or start client-side template
# injection. Each would be harmless percent-encoded; raw, it is refused.
XSS = [
    '/"><script>alert(1)</script>',
    "/'><script>alert(1)</script>",
    '/x"onmouseover="alert(1)',
    "/x'onfocus='alert(1)'autofocus='",
    "/<img/src=x/onerror=alert(1)>",
    "/</script><script>alert(1)</script>",
    "/x`onmouseover=alert(1)",
    "/records?q=<svg/onload=alert(1)>",
    '/records#"><script>alert(1)</script>',
    "/{{constructor.constructor('alert(1)')()}}",
    "/x|y",
    "/x^y",
    '/"',
    "/'",
    "/<",
    "/>",
    "/`",
    "/{",
    "/}",
]

GOOD = [
    "/view/?param=http://example.com",
    "/view/?param=https://example.com",
    "/view?param=ftp://example.com",
    "/view/?param=//example.com",
    "/url%20with%20spaces/",
    "/",
    "/records",
    "/records?page=2&sort=-id#top",
    "/path/http:2222222222",
    "/%2F%2Fstill-a-path",
    # The percent-encoded forms of what XSS refuses raw are fine: they are inert when echoed.
    "/%22%3E%3Cscript%3Ealert(1)%3C/script%3E",
    "/it%27s?q=%3Cb%3E%60%7B%7D%7C%5E",
    "/search?tags[]=a&tags[]=b",
    "/a;b=c,d@e:f!$*+~",
]


@pytest.mark.parametrize("url", BAD)
def test_unsafe_targets_are_refused(url: str | None) -> None:
    assert not is_safe_redirect(url)
    assert safe_next(url, "/records") == "/records"


@pytest.mark.parametrize("url", XSS)
def test_targets_unsafe_to_echo_are_refused(url: str) -> None:
    assert not is_safe_redirect(url)
    assert safe_next(url, "/records") == "/records"
    assert login_redirect_url("/login", url) == "/login"


def test_no_raw_html_or_script_character_is_ever_accepted() -> None:
    # Whatever else changes in the allowed set, these never pass raw, anywhere in a target.
    for char in "\"'<>`{}|^\\ \t\r\n\x00\x0b\x0c\x7f\x85\xa0\u2028\ufeff":
        for url in (f"/{char}", f"/a{char}b", f"/a?q={char}", f"/a#{char}"):
            assert not is_safe_redirect(url), repr(url)


@pytest.mark.parametrize("url", GOOD)
def test_same_site_paths_are_kept(url: str) -> None:
    assert is_safe_redirect(url)
    assert safe_next(url) == url


def test_length_limit() -> None:
    assert is_safe_redirect("/" + "a" * (MAX_REDIRECT_LENGTH - 1))
    assert not is_safe_redirect("/" + "a" * MAX_REDIRECT_LENGTH)


def test_unsafe_default_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="same-site"):
        safe_next("/x", default="https://example.com/")


def test_next_for_encodes_the_request_path() -> None:
    assert next_for("/records") == "/records"
    assert next_for("/records", b"page=2&q=a b") == "/records?page=2&q=a%20b"
    assert next_for("/caf\u00e9 menu") == "/caf%C3%A9%20menu"
    # A request path the router accepted but that would read as another host: no `next`.
    assert next_for("//evil.example/") is None
    assert next_for("/\\evil") == "/%5Cevil"
    assert next_for("/100%") == "/100%25"
    assert next_for("/x", b"q=%41%20b") == "/x?q=%41%20b"
    # Characters refused raw come out percent-encoded, so a real page still gets its `next`.
    assert next_for("/it's") == "/it%27s"
    assert next_for('/a"<b>`{c}|^') == "/a%22%3Cb%3E%60%7Bc%7D%7C%5E"
    assert next_for("/x", b"q='<script>'") == "/x?q=%27%3Cscript%3E%27"
    assert next_for("/x", b"tags[]=a") == "/x?tags%5B%5D=a"


def test_login_redirect_url() -> None:
    assert login_redirect_url("/login", "/records") == "/login?next=/records"
    assert login_redirect_url("/login", "/r?a=1&b=2") == "/login?next=/r%3Fa%3D1%26b%3D2"
    assert login_redirect_url("/login?x=1", "/r") == "/login?x=1&next=/r"
    assert login_redirect_url("/login", "//evil") == "/login"
    assert login_redirect_url("/login", None) == "/login"
