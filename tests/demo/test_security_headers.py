"""Every demo response forbids framing; every dynamic one forbids caching.

Run over real HTTP against `cookieguard demo`, anonymous and logged in, for each route of
the contract plus the extra pages, including the error answers (403, 404, 405, 400) that
middlewares or Starlette send rather than the endpoints.
"""

from __future__ import annotations

import httpx
import pytest

from tests.demo.server import csrf_token

ROUTES = [
    ("GET", "/"),
    ("GET", "/login"),
    ("POST", "/login"),
    ("POST", "/logout"),
    ("GET", "/records"),
    ("POST", "/records"),
    ("GET", "/api/records"),
    ("POST", "/api/records"),
    ("GET", "/sessions"),
    ("POST", "/sessions/revoke"),
    ("POST", "/sessions/revoke-others"),
    ("GET", "/no-such-page"),
    ("DELETE", "/records"),
]


def assert_not_frameable(response: httpx.Response) -> None:
    assert response.headers.get_list("x-frame-options") == ["DENY"], response.headers
    assert response.headers.get_list("content-security-policy") == ["frame-ancestors 'none'"]


def assert_not_cacheable(response: httpx.Response) -> None:
    assert response.headers.get_list("cache-control") == ["no-store"], response.headers


def request(client: httpx.Client, method: str, path: str, *, with_token: bool) -> httpx.Response:
    """`method path` as the site's own pages would send it (with a token) or as a forgery."""
    if method != "POST":
        return client.request(method, path)
    token = csrf_token(client.get("/login").text) if with_token else ""
    if path.startswith("/api/"):
        return client.post(path, json={"text": "headers"}, headers={"X-CSRFToken": token})
    form = {"csrfmiddlewaretoken": token, "text": "headers", "session": "x" * 20}
    if path == "/login":
        form |= {"username": "nobody", "password": "wrong"}
    return client.post(path, data=form)


@pytest.mark.parametrize(("method", "path"), ROUTES, ids=[f"{m} {p}" for m, p in ROUTES])
@pytest.mark.parametrize("with_token", [True, False], ids=["token", "no-token"])
def test_anonymous_responses(
    client: httpx.Client, method: str, path: str, *, with_token: bool
) -> None:
    response = request(client, method, path, with_token=with_token)
    assert response.status_code < 500
    assert_not_frameable(response)
    assert_not_cacheable(response)


@pytest.mark.parametrize(("method", "path"), ROUTES, ids=[f"{m} {p}" for m, p in ROUTES])
@pytest.mark.parametrize("with_token", [True, False], ids=["token", "no-token"])
def test_logged_in_responses(
    user_client: httpx.Client, method: str, path: str, *, with_token: bool
) -> None:
    response = request(user_client, method, path, with_token=with_token)
    assert response.status_code < 500
    assert_not_frameable(response)
    assert_not_cacheable(response)


def test_the_logged_in_pages_themselves(user_client: httpx.Client) -> None:
    for path in ("/login", "/records", "/sessions", "/api/records"):
        response = user_client.get(path)
        assert response.status_code == 200, path
        assert_not_frameable(response)
        assert_not_cacheable(response)


def test_the_stylesheet_keeps_its_own_cache_policy(client: httpx.Client) -> None:
    response = client.get("/static/style.css")
    assert response.status_code == 200
    assert_not_frameable(response)
    assert response.headers.get_list("cache-control") == ["public, max-age=3600"]
