"""The Flask and plain-WSGI examples, driven in-process as a browser would."""

from __future__ import annotations

import httpx

from cookieguard import PasswordHasher, SyncSQLiteUserStore

from .conftest import BASE_URL, Loader, set_cookie, token_in


def _add_alice() -> None:
    users = SyncSQLiteUserStore("users.db")  # the examples' relative path, in tmp_path
    users.create_user("alice", PasswordHasher().hash("alice-pass"))
    users.close()


async def test_flask_example(load: Loader) -> None:
    _add_alice()
    example = load("flask_app")
    client = example.app.test_client()
    home = client.get("/")
    assert home.status_code == 200 and "visits: 1" in home.text
    assert client.get_cookie("sessionid") is not None
    assert "visits: 2" in client.get("/").text  # flask.session kept server-side
    refused = client.post("/login", data={"username": "alice", "password": "alice-pass"})
    assert refused.status_code == 403 and "out of date" in refused.text  # the CSRFError page
    token = token_in(client.get("/").text)
    before = client.get_cookie("sessionid").value
    logged_in = client.post(
        "/login",
        data={"username": "alice", "password": "alice-pass", "csrfmiddlewaretoken": token},
    )
    assert logged_in.status_code == 303
    assert client.get_cookie("sessionid").value != before
    assert client.get("/account", headers={"Accept": "application/json"}).json == {"user": "1"}
    assert client.post("/hooks/payment").json == {"received": True}  # exempt
    token = token_in(client.get("/").text)
    assert client.post("/logout", data={"csrfmiddlewaretoken": token}).status_code == 303
    anonymous = client.get("/account", headers={"Accept": "application/json"})
    assert anonymous.status_code == 401
    assert client.get("/account").headers["Location"] == "/login?next=/account"


async def test_wsgi_example(load: Loader) -> None:
    _add_alice()
    example = load("wsgi_app")
    with httpx.Client(transport=httpx.WSGITransport(app=example.app), base_url=BASE_URL) as http:
        page = http.get("/")
        assert page.status_code == 200 and set_cookie(page, "csrftoken") is not None
        assert http.post("/login", data={"username": "alice"}).status_code == 403
        token = token_in(page.text)
        data = {"username": "alice", "password": "alice-pass", "csrfmiddlewaretoken": token}
        assert http.post("/login", data=data).status_code == 200
        assert http.get("/whoami").json()["user"] == "1"
        assert http.post("/hooks/payment").json() == {"received": True}
        token = token_in(http.get("/").text)
        http.post("/logout", data={"csrfmiddlewaretoken": token})
        assert http.get("/whoami").json()["user"] is None
