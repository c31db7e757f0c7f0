"""examples/flask_account.py, driven with Flask's test client: remember me restores a login
that is not recent, so ending sessions asks for the password first; the session page lists
devices; the SPA endpoint's token works in the header; every step reaches the audit log."""

from __future__ import annotations

import logging
import re

import pytest

from cookieguard import PasswordHasher, SyncSQLiteUserStore

from .conftest import Loader, token_in

IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)


async def test_flask_account_example(load: Loader, caplog: pytest.LogCaptureFixture) -> None:
    users = SyncSQLiteUserStore("users.db")
    users.create_user("alice", PasswordHasher(time_cost=1, memory_cost=1024).hash("alice-pass"))
    users.close()
    example = load("flask_account")
    client = example.app.test_client()
    client.environ_base.update(HTTP_USER_AGENT=IPHONE, REMOTE_ADDR="198.51.100.23")
    home = client.get("/").text
    assert '<meta name="csrf-header" content="X-CSRFToken">' in home
    form = {"username": "alice", "password": "alice-pass", "remember": "1"}
    with caplog.at_level(logging.INFO, "audit"):
        logged_in = client.post("/login", data={**form, "csrfmiddlewaretoken": token_in(home)})
    assert logged_in.status_code == 303
    assert "login_succeeded" in caplog.text and "new_device" in caplog.text
    page = client.get("/sessions").text
    assert "Safari on iPhone from 198.51.100.0/24 (this one)" in page
    assert page.count('name="handle"') == 2  # this session and its remember-me series

    client.delete_cookie("sessionid")  # the browser was closed; the remember cookie stays
    client.get("/")  # logged in again from the cookie (the new session is saved after)
    page = client.get("/sessions").text
    assert "(this one)" in page
    refused = client.post("/sessions/others", data={"csrfmiddlewaretoken": token_in(page)})
    assert refused.status_code == 303
    assert refused.headers["Location"] == "/reauth?next=/sessions"  # not a recent login
    reauth = client.get("/reauth").text
    wrong = client.post("/reauth", data={"password": "x", "csrfmiddlewaretoken": token_in(reauth)})
    assert wrong.status_code == 200 and "Confirm it is you" in wrong.text
    right = client.post(
        "/reauth?next=/sessions",
        data={"password": "alice-pass", "csrfmiddlewaretoken": token_in(reauth)},
    )
    assert right.status_code == 303 and right.headers["Location"] == "/sessions"

    spa = client.get("/csrf")
    assert spa.headers["Cache-Control"] == "no-store"
    header = {spa.json["headerName"]: spa.json["csrfToken"]}
    with caplog.at_level(logging.INFO, "audit"):
        assert client.post("/sessions/others", headers=header).status_code == 303
    assert "session_revoked" in caplog.text
    assert len(re.findall('name="handle"', client.get("/sessions").text)) == 1
    assert client.post("/logout", headers=header).status_code == 303
    assert client.get_cookie("remember") is None
