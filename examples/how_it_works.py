"""The two cookies and the session row, step by step: a browser (an httpx client) logs in to
a small site, and after each step the script checks what the browser and the server hold.

Run it with ``python examples/how_it_works.py`` (it needs httpx); it keeps its data in
``how_it_works.db`` in the current directory and prints one line per step.
"""

import asyncio
import json
import sqlite3
from contextlib import closing
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from cookieguard import (
    AuthConfig,
    AuthMiddleware,
    CSRFMiddleware,
    KeyRing,
    SessionMiddleware,
    SQLiteStore,
    SQLiteUserStore,
    authenticate,
    csrf_input,
    login,
    logout,
)
from cookieguard.auth import default_hasher
from cookieguard.core.tokens import hash_session_id, unmask_token

DB = "how_it_works.db"
users = SQLiteUserStore(DB)
store = SQLiteStore(DB)


async def login_page(request: Request) -> Response:
    return HTMLResponse(
        f'<form method="post">{csrf_input(request)}'
        '<input name="username"> <input name="password" type="password"> <button>Log in</button>'
        "</form>"
    )


async def login_post(request: Request) -> Response:
    form = await request.form()
    user = await authenticate(users, form.get("username"), form.get("password"))
    if user is None:
        return PlainTextResponse("Wrong username or password")
    await login(request, user)  # new session id, new CSRF secret
    return RedirectResponse("/login", 303)


async def logout_post(request: Request) -> Response:
    await logout(request)  # the row is deleted before this returns
    return RedirectResponse("/login", 303)


site = Starlette(
    routes=[
        Route("/login", login_page, methods=["GET"]),
        Route("/login", login_post, methods=["POST"]),
        Route("/logout", logout_post, methods=["POST"]),
    ]
)
auth = AuthConfig(keyring=KeyRing("how-it-works-secret-key"), user_store=users)
app = SessionMiddleware(CSRFMiddleware(AuthMiddleware(site, auth)), store)


def session_rows() -> list[tuple[str, dict[str, Any], float]]:
    """What the server holds: the rows of the sessions table (key hash, data, expiry)."""
    with closing(sqlite3.connect(DB)) as db:
        tables = "SELECT 1 FROM sqlite_master WHERE name = 'cookieguard_sessions'"
        if db.execute(tables).fetchone() is None:  # the store creates it on first use
            return []
        query = "SELECT key, data, expires_at FROM cookieguard_sessions"
        return [(key, json.loads(data), expires) for key, data, expires in db.execute(query)]


def form_token(page: httpx.Response) -> str:
    """The masked token of the page's hidden csrfmiddlewaretoken field."""
    return page.text.split('name="csrfmiddlewaretoken" value="', 1)[1].split('"', 1)[0]


async def story(browser: httpx.AsyncClient) -> None:
    # 1. GET /login: a csrftoken cookie (the 32-character secret) and, in the form, a
    #    64-character masked token that unmasks to it. No session yet: nothing is stored.
    page = await browser.get("/login")
    secret, token = browser.cookies["csrftoken"], form_token(page)
    assert len(secret) == 32 and len(token) == 64 and unmask_token(token) == secret
    assert "sessionid" not in browser.cookies and session_rows() == []
    print("1. GET /login: csrftoken cookie + masked form token; no session")

    # 2. A POST without the token is refused before the app runs.
    no_token = await browser.post("/login", data={"username": "alice", "password": "?"})
    assert no_token.status_code == 403
    print("2. POST /login without the token: 403")

    # 3. The wrong password: the page says so, and nothing changes on either side.
    fields = {"csrfmiddlewaretoken": token, "username": "alice"}
    wrong = await browser.post("/login", data={**fields, "password": "wrong"})
    assert wrong.status_code == 200 and browser.cookies["csrftoken"] == secret
    assert "sessionid" not in browser.cookies and session_rows() == []
    print("3. wrong password: cookies and store unchanged")

    # 4. The right password: a new CSRF secret, a sessionid cookie, and one row whose key is
    #    the SHA-256 of the cookie's value (the id itself is stored nowhere).
    right = await browser.post("/login", data={**fields, "password": "correct horse battery"})
    assert right.status_code == 303 and browser.cookies["csrftoken"] != secret
    session_id = browser.cookies["sessionid"]
    [(key, data, expires_at)] = session_rows()
    assert key == hash_session_id(session_id) and data["_auth_user_id"] == "1"
    print(f"4. logged in: new csrftoken, sessionid; row {key[:12]}... holds {sorted(data)}")

    # 5. Every unsafe request is checked: the token of the page before login carries the old
    #    secret and is refused; a page rendered now carries a token that passes.
    stale = await browser.post("/logout", data={"csrfmiddlewaretoken": token})
    assert stale.status_code == 403 and len(session_rows()) == 1
    print("5. POST with the token from before login: 403")

    # 6. Logout: the row is deleted, the sessionid cookie expired, the CSRF secret rotated.
    fresh = form_token(await browser.get("/login"))
    out = await browser.post("/logout", data={"csrfmiddlewaretoken": fresh})
    assert out.status_code == 303 and "sessionid" not in browser.cookies
    assert session_rows() == [] and expires_at > 0
    print("6. logged out: row deleted, sessionid cleared")


async def main() -> None:
    await users.create_user("alice", default_hasher().hash("correct horse battery"))
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            await story(http)
    finally:
        await store.close()
        await users.close()


if __name__ == "__main__":
    asyncio.run(main())
