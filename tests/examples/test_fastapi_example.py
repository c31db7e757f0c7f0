"""examples/fastapi_app.py (the README's "FastAPI" section), run as its README says and
driven as a browser and a script would: `CookieGuard` and the typed dependencies."""

from __future__ import annotations

import runpy
import sqlite3
from contextlib import closing
from pathlib import Path

from asgi_lifespan import LifespanManager

from .conftest import EXAMPLES, Loader, browser, set_cookie, token_in


async def test_fastapi_example(load: Loader, tmp_path: Path) -> None:
    # `python examples/fastapi_app.py` creates alice (its own event loop, so in a thread).
    import asyncio

    script = await asyncio.to_thread(
        runpy.run_path, str(EXAMPLES / "fastapi_app.py"), run_name="__main__"
    )
    await script["users"].close()  # the process would end here; its connection with it
    example = load("fastapi_app")
    async with LifespanManager(example.app) as started, browser(started.app) as http:
        page = await http.get("/")
        assert page.status_code == 200 and set_cookie(page, "csrftoken") is not None
        anonymous = await http.post("/api/cart/tea", headers={"X-CSRFToken": token_in(page.text)})
        assert anonymous.status_code == 401 and anonymous.json()["error"]
        assert (await http.post("/login", data={"username": "alice"})).status_code == 403
        logged_in = await http.post(
            "/login",
            data={
                "username": "alice",
                "password": "correct horse",
                "csrfmiddlewaretoken": token_in(page.text),
            },
        )
        assert logged_in.status_code == 303
        assert set_cookie(logged_in, "sessionid") is not None
        assert "Hello, alice" in (await http.get("/")).text
        token = (await http.get("/api/token")).json()["csrftoken"]
        cart = await http.post("/api/cart/tea", headers={"X-CSRFToken": token})
        assert cart.json() == {"cart": ["tea"]}
        cart = await http.post("/api/cart/jam", headers={"X-CSRFToken": token})
        assert cart.json() == {"cart": ["tea", "jam"]}
        spec = (await http.get("/openapi.json")).json()
        assert spec["paths"]["/api/cart/{item}"]["post"]["security"] == [{"sessionid": []}]
        home = token_in((await http.get("/")).text)
        out = await http.post("/logout", data={"csrfmiddlewaretoken": home})
        assert out.status_code == 303
    with closing(sqlite3.connect(tmp_path / "shop.db")) as db:
        (rows,) = db.execute("SELECT count(*) FROM cookieguard_sessions").fetchone()
    assert rows == 0  # logout deleted the session server-side
    async with browser(example.app) as hook:  # no cookie, no token: only the exempt route
        assert (await hook.post("/hooks/payment")).json() == {"received": True}
