"""examples/litestar_app.py, driven as a browser and a payment provider would."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from litestar.testing import AsyncTestClient

from cookieguard.auth import default_hasher

from .conftest import Loader, set_cookie, token_in


def _sessions(tmp_path: Path) -> int:
    with closing(sqlite3.connect(tmp_path / "site.db")) as db:
        (count,) = db.execute("SELECT count(*) FROM cookieguard_sessions").fetchone()
    return int(count)


async def test_litestar_example(load: Loader, tmp_path: Path) -> None:
    example = load("litestar_app")
    await example.users.create_user("alice", default_hasher().hash("correct horse battery"))
    async with AsyncTestClient(example.app) as http:
        http.follow_redirects = False
        away = await http.get("/", headers={"Accept": "text/html"})
        assert away.status_code == 303 and away.headers["location"] == "/login?next=/"
        page = await http.get("/login")
        assert page.status_code == 200 and set_cookie(page, "csrftoken") is not None
        form = {"username": "alice", "password": "correct horse battery"}
        assert (await http.post("/login", data=form)).status_code == 403  # no token
        wrong = {**form, "password": "wrong", "csrfmiddlewaretoken": token_in(page.text)}
        again = await http.post("/login", data=wrong)
        assert again.status_code == 200 and set_cookie(again, "sessionid") is None
        right = await http.post("/login", data={**form, "csrfmiddlewaretoken": token_in(page.text)})
        assert right.status_code == 303 and set_cookie(right, "sessionid") is not None
        assert (await http.get("/")).json() == {"user": "1"}
        assert _sessions(tmp_path) == 1
        token = token_in((await http.get("/login")).text)
        out = await http.post("/logout", data={"csrfmiddlewaretoken": token})
        assert out.status_code == 303
        cleared = set_cookie(out, "sessionid")
        assert cleared is not None and "Max-Age=0" in cleared
        assert _sessions(tmp_path) == 0
        hook = await http.post("/hooks/payment", headers={"Origin": "https://pay.example"})
        assert hook.status_code == 201 and hook.json() == {"received": True}
