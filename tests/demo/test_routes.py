"""Every route of the demo contract, over real HTTP against `cookieguard demo`."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

import cookieguard.demo
from tests.demo.server import DemoServer, csrf_token, login

CSRF_ALNUM = re.compile(r"[A-Za-z0-9]{32}")


def set_cookies(response: httpx.Response) -> dict[str, str]:
    """Set-Cookie headers of `response` by cookie name (the whole header line as value)."""
    found = {}
    for line in response.headers.get_list("set-cookie"):
        found[line.split("=", 1)[0]] = line
    return found


def cookie_value(line: str) -> str:
    return line.split("=", 1)[1].split(";", 1)[0]


def token_for(client: httpx.Client, path: str = "/login") -> str:
    return csrf_token(client.get(path).text)


def session_of(client: httpx.Client) -> str:
    return client.cookies["sessionid"]


def replay(site: DemoServer, sessionid: str, path: str = "/api/records") -> httpx.Response:
    """GET `path` with only this session cookie (a fresh client)."""
    with httpx.Client(base_url=site.url, cookies={"sessionid": sessionid}) as other:
        return other.get(path)


# -- GET /login --------------------------------------------------------------------------


def test_login_form_has_fields_and_sets_csrf_cookie(client: httpx.Client) -> None:
    response = client.get("/login?next=/sessions")
    assert response.status_code == 200
    html = response.text
    assert re.search(r'name="csrfmiddlewaretoken" value="[A-Za-z0-9]{64}"', html)
    assert 'name="username"' in html and 'name="password"' in html
    assert 'name="next" value="/sessions"' in html
    line = set_cookies(response)["csrftoken"]
    assert CSRF_ALNUM.fullmatch(cookie_value(line))
    assert "HttpOnly" not in line and "SameSite=Lax" in line and "Path=/" in line


def test_login_form_replaces_a_malformed_csrf_cookie(site: DemoServer) -> None:
    with httpx.Client(base_url=site.url, cookies={"csrftoken": "not*a*token"}) as http:
        response = http.get("/login")
    assert response.status_code == 200
    assert CSRF_ALNUM.fullmatch(cookie_value(set_cookies(response)["csrftoken"]))


def test_login_form_drops_an_unsafe_next(client: httpx.Client) -> None:
    html = client.get("/login", params={"next": "//evil.example/"}).text
    assert 'name="next" value=""' in html


@pytest.mark.parametrize(
    "next_url", ['/"><script>alert(1)</script>', "/'onfocus='alert(1)", "/{{7*7}}"]
)
def test_login_form_never_echoes_a_next_built_for_xss(client: httpx.Client, next_url: str) -> None:
    response = client.get("/login", params={"next": next_url})
    assert response.status_code == 200
    assert 'name="next" value=""' in response.text
    assert "alert(1)" not in response.text and "{{" not in response.text


def test_login_form_is_shown_when_logged_in(user_client: httpx.Client) -> None:
    response = user_client.get("/login")
    assert response.status_code == 200
    assert 'name="password"' in response.text


# -- POST /login -------------------------------------------------------------------------


def test_login_without_token_is_forbidden(client: httpx.Client, demo_user: tuple[str, str]) -> None:
    client.get("/login")
    response = client.post("/login", data={"username": demo_user[0], "password": demo_user[1]})
    assert response.status_code == 403
    assert "sessionid" not in set_cookies(response)
    assert "CSRF token missing" in response.text  # the demo says what failed


@pytest.mark.parametrize(
    "headers",
    [{"Origin": "http://evil.example"}, {"Sec-Fetch-Site": "cross-site"}],
    ids=["foreign-origin", "cross-site-fetch"],
)
def test_cross_site_login_is_forbidden_even_with_a_token(
    client: httpx.Client, demo_user: tuple[str, str], headers: dict[str, str]
) -> None:
    token = token_for(client)
    form = {"csrfmiddlewaretoken": token, "username": demo_user[0], "password": demo_user[1]}
    response = client.post("/login", data=form, headers=headers)
    assert response.status_code == 403
    assert "sessionid" not in set_cookies(response)


def test_wrong_password_shows_the_form_again(
    client: httpx.Client, demo_user: tuple[str, str]
) -> None:
    before = token_for(client) and client.cookies["csrftoken"]
    response = login(client, demo_user[0], "not the password")
    assert response.status_code in (200, 401)
    assert "Wrong username or password" in response.text
    assert 'name="password"' in response.text
    cookies = set_cookies(response)
    assert "sessionid" not in cookies
    assert cookie_value(cookies.get("csrftoken", f"csrftoken={before}")) == before
    assert client.get("/api/records").status_code == 401


def test_login_sets_a_new_session_and_rotates_csrf(
    site: DemoServer, client: httpx.Client, demo_user: tuple[str, str]
) -> None:
    token_for(client)
    csrf_before = client.cookies["csrftoken"]
    response = login(client, *demo_user)
    assert response.status_code in (302, 303)
    assert response.headers["location"] == "/records"
    cookies = set_cookies(response)
    session_line = cookies["sessionid"]
    assert "HttpOnly" in session_line and "SameSite=Lax" in session_line
    assert "Path=/" in session_line and "Secure" not in session_line  # plain http here
    assert cookie_value(cookies["csrftoken"]) != csrf_before
    first = session_of(client)
    # Logging in again issues a new id; the previous one is gone server-side.
    assert login(client, *demo_user).status_code == 303
    assert session_of(client) != first
    assert replay(site, first).status_code == 401
    assert replay(site, session_of(client)).status_code == 200


@pytest.mark.parametrize(
    ("next_url", "expected"),
    [
        ("/api/records", "/api/records"),
        ("//evil.example/", "/records"),
        ("https://evil.example/", "/records"),
        ("/\\evil.example", "/records"),
        ('/"><script>alert(1)</script>', "/records"),
        ("/%22%3E%3Cscript%3E", "/%22%3E%3Cscript%3E"),
    ],
)
def test_login_redirects_to_safe_next_only(
    client: httpx.Client, demo_user: tuple[str, str], next_url: str, expected: str
) -> None:
    response = login(client, *demo_user, next=next_url)
    assert response.status_code == 303
    assert response.headers["location"] == expected


# -- POST /logout ------------------------------------------------------------------------


def test_logout_anonymous(client: httpx.Client) -> None:
    token = token_for(client)
    assert client.post("/logout").status_code == 403
    response = client.post("/logout", data={"csrfmiddlewaretoken": token})
    assert response.status_code in (302, 303)
    assert response.headers["location"] == "/login"


def test_logout_ends_the_session_server_side(site: DemoServer, user_client: httpx.Client) -> None:
    sessionid = session_of(user_client)
    assert user_client.post("/logout").status_code == 403  # CSRF-protected
    token = token_for(user_client, "/records")
    response = user_client.post("/logout", data={"csrfmiddlewaretoken": token})
    assert response.status_code in (302, 303)
    assert response.headers["location"] == "/login"
    line = set_cookies(response)["sessionid"]
    assert cookie_value(line) == "" and "Max-Age=0" in line
    stale = replay(site, sessionid, "/records")
    assert stale.status_code in (302, 303)
    assert stale.headers["location"] == "/login?next=/records"


# -- /records ----------------------------------------------------------------------------


def test_records_anonymous_redirects_to_login(client: httpx.Client) -> None:
    response = client.get("/records")
    assert response.status_code in (302, 303)
    assert response.headers["location"] == "/login?next=/records"


def test_records_page_escapes_text_and_has_the_form(user_client: httpx.Client) -> None:
    token = token_for(user_client, "/records")
    text = '<script>alert("x")</script> & more'
    response = user_client.post("/records", data={"csrfmiddlewaretoken": token, "text": text})
    assert response.status_code in (302, 303)
    assert response.headers["location"] == "/records"
    page = user_client.get("/records")
    assert page.status_code == 200
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; more" in page.text
    assert "<script>alert" not in page.text
    assert 'name="text"' in page.text
    assert re.search(r'name="csrfmiddlewaretoken" value="[A-Za-z0-9]{64}"', page.text)


@pytest.mark.parametrize("text", ["", "x" * 10_001], ids=["empty", "too-long"])
def test_records_rejects_bad_text_with_the_form(user_client: httpx.Client, text: str) -> None:
    before = len(user_client.get("/api/records").json())
    token = token_for(user_client, "/records")
    response = user_client.post("/records", data={"csrfmiddlewaretoken": token, "text": text})
    assert response.status_code == 400
    assert "Not added" in response.text and 'name="text"' in response.text
    assert len(user_client.get("/api/records").json()) == before


def test_records_accepts_exactly_ten_thousand_characters(user_client: httpx.Client) -> None:
    token = token_for(user_client, "/records")
    text = "é" * 10_000
    response = user_client.post("/records", data={"csrfmiddlewaretoken": token, "text": text})
    assert response.status_code == 303
    assert user_client.get("/api/records").json()[-1]["text"] == text


def test_records_post_needs_csrf_then_login(client: httpx.Client) -> None:
    assert client.post("/records", data={"text": "hello"}).status_code == 403
    token = token_for(client)
    response = client.post("/records", data={"csrfmiddlewaretoken": token, "text": "hello"})
    assert response.status_code in (302, 303)
    assert response.headers["location"].startswith("/login")


def test_records_post_without_token_adds_nothing(user_client: httpx.Client) -> None:
    before = len(user_client.get("/api/records").json())
    response = user_client.post("/records", data={"text": "forged"})
    assert response.status_code == 403
    assert "CSRF token missing" in response.text
    assert len(user_client.get("/api/records").json()) == before


# -- /api/records --------------------------------------------------------------------------


def test_api_anonymous(client: httpx.Client) -> None:
    response = client.get("/api/records")
    assert response.status_code == 401
    assert "error" in response.json()
    assert client.post("/api/records", json={"text": "x"}).status_code == 403
    token_for(client)
    headers = {"X-CSRFToken": client.cookies["csrftoken"]}
    response = client.post("/api/records", json={"text": "x"}, headers=headers)
    assert response.status_code == 401
    assert "error" in response.json()


def test_api_adds_and_lists_oldest_first(user_client: httpx.Client) -> None:
    masked = token_for(user_client, "/records")
    first = user_client.post(
        "/api/records", json={"text": "first"}, headers={"X-CSRFToken": masked}
    )
    bare = {"X-CSRFToken": user_client.cookies["csrftoken"]}
    second = user_client.post("/api/records", json={"text": "<second>"}, headers=bare)
    assert first.status_code == second.status_code == 201
    assert set(first.json()) == {"id", "text"} and first.json()["text"] == "first"
    assert isinstance(first.json()["id"], int)
    listed = user_client.get("/api/records")
    assert listed.status_code == 200
    assert listed.headers["content-type"].startswith("application/json")
    records = listed.json()
    ids = [r["id"] for r in records]
    assert ids == sorted(ids)
    assert records[-2:] == [first.json(), second.json()]


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"\xff\xfe",
        b'["text"]',
        b'"text"',
        b"{}",
        b'{"text": 5}',
        b'{"text": ""}',
        b'{"text": null}',
        b'{"text": "\\ud800"}',
        b'{"text": "' + b"y" * 10_001 + b'"}',
        b"[" * 50_000,
        b"",
    ],
    ids=[
        "not-json",
        "not-utf8",
        "array",
        "string",
        "no-text",
        "number",
        "empty",
        "null",
        "lone-surrogate",
        "too-long",
        "deeply-nested",
        "no-body",
    ],
)
def test_api_rejects_bad_bodies(user_client: httpx.Client, body: bytes) -> None:
    headers = {
        "X-CSRFToken": token_for(user_client, "/records"),
        "Content-Type": "application/json",
    }
    response = user_client.post("/api/records", content=body, headers=headers)
    assert response.status_code == 400
    assert isinstance(response.json()["error"], str)


def test_api_post_needs_a_valid_token(user_client: httpx.Client) -> None:
    before = len(user_client.get("/api/records").json())
    for headers in ({}, {"X-CSRFToken": "x" * 64}, {"X-CSRFToken": "A" * 32}):
        response = user_client.post("/api/records", json={"text": "forged"}, headers=headers)
        assert response.status_code == 403
    assert len(user_client.get("/api/records").json()) == before


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://evil.example"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site"},
    ],
    ids=["foreign-origin", "null-origin", "cross-site-fetch"],
)
def test_api_refuses_cross_site_even_with_a_token(
    user_client: httpx.Client, headers: dict[str, str]
) -> None:
    before = len(user_client.get("/api/records").json())
    headers = {**headers, "X-CSRFToken": user_client.cookies["csrftoken"]}
    response = user_client.post("/api/records", json={"text": "cross"}, headers=headers)
    assert response.status_code == 403
    assert len(user_client.get("/api/records").json()) == before


def test_api_lists_only_the_users_own_records(
    site: DemoServer, user_client: httpx.Client, other_user: tuple[str, str]
) -> None:
    with httpx.Client(base_url=site.url) as other:
        assert login(other, *other_user).status_code == 303
        token = {"X-CSRFToken": other.cookies["csrftoken"]}
        created = other.post("/api/records", json={"text": "mine only"}, headers=token)
        assert created.status_code == 201
        assert other.get("/api/records").json() == [created.json()]
    assert created.json() not in user_client.get("/api/records").json()


# -- malformed input never gets a 5xx ------------------------------------------------------

MALFORMED = [
    ("GET", "/records", {"Cookie": "sessionid=" + "a" * 5000}, b""),
    ("GET", "/records", {"Cookie": "sessionid=../../etc/passwd; csrftoken=\x7f"}, b""),
    ("GET", "/api/records", {"Cookie": "sessionid=" + "z" * 32}, b""),
    ("GET", "/login?next=%ff%00", {}, b""),
    ("GET", "/%ff", {}, b""),
    ("HEAD", "/records", {}, b""),
    ("DELETE", "/records", {}, b""),
    ("POST", "/login", {"Content-Type": "multipart/form-data; boundary=x"}, b"--x\r\ngarbage"),
    ("POST", "/login", {"Content-Type": "multipart/form-data"}, b"no boundary"),
    ("POST", "/login", {"Content-Type": "application/x-www-form-urlencoded"}, b"%zz=%ff&&="),
    ("POST", "/records", {"Content-Type": "text/plain"}, b"text=hi"),
    ("POST", "/api/records", {"Content-Type": "application/json"}, b"{"),
]


@pytest.mark.parametrize(("method", "path", "headers", "body"), MALFORMED)
def test_malformed_requests_get_no_5xx(
    user_client: httpx.Client, method: str, path: str, headers: dict[str, str], body: bytes
) -> None:
    token = user_client.cookies["csrftoken"]
    for extra in ({}, {"X-CSRFToken": token}):
        request = user_client.build_request(
            method, path, headers={**headers, **extra}, content=body
        )
        response = user_client.send(request)
        assert response.status_code < 500, (method, path, response.text)


def test_multipart_with_bogus_charset_gets_no_5xx(user_client: httpx.Client) -> None:
    token = token_for(user_client, "/records")
    body = (
        b'--b\r\nContent-Disposition: form-data; name="csrfmiddlewaretoken"\r\n\r\n'
        + token.encode()
        + b'\r\n--b\r\nContent-Disposition: form-data; name="text"\r\n'
        b"Content-Type: text/plain; charset=no-such-charset\r\n\r\n\xff\xfe\r\n--b--\r\n"
    )
    headers = {"Content-Type": "multipart/form-data; boundary=b; charset=bogus"}
    response = user_client.post("/records", content=body, headers=headers)
    assert response.status_code < 500, response.text


def test_templates_are_plain_ascii_and_the_title_shows_as_an_entity(client: httpx.Client) -> None:
    # One non-ASCII character makes every page cost a slow UTF-8 encode of all of it: the
    # templates spell such characters as entities (the browser still shows "·").
    templates = Path(cookieguard.demo.__file__).parent / "templates"
    for template in templates.glob("*.html"):
        assert template.read_bytes().isascii(), template.name
    page = client.get("/login")
    assert page.content.isascii() and "Log in &middot; cookieguard demo</title>" in page.text
