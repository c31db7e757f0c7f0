"""The README's Quart example, driven through Quart's test client as a browser would."""

from __future__ import annotations

import time

from cookieguard.auth._passwords import PasswordHasher
from cookieguard.core.tokens import hash_session_id

from .conftest import Loader, token_in


def _cookie(client: object, name: str) -> str | None:
    jar = getattr(client, "cookie_jar")
    return next((c.value for c in jar if c.name == name), None)


async def test_quart_example(load: Loader) -> None:
    example = load("quart_app")
    hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    await example.users.create_user("alice", hasher.hash("correct horse battery"))
    app = example.app
    async with app.test_app():
        client = app.test_client()
        home = await client.get("/", headers={"Accept": "text/html"})
        assert home.status_code == 303 and home.headers["Location"] == "/login?next=/"
        api = await client.get("/", headers={"Accept": "application/json"})
        assert api.status_code == 401
        page = await client.get("/login?next=/")
        token = token_in(await page.get_data(as_text=True))
        form = {"csrfmiddlewaretoken": token, "username": "alice"}
        assert (await client.post("/login", form={**form, "password": "x"})).status_code == 200
        assert (await client.post("/login?next=/", form=form)).status_code == 200
        assert _cookie(client, "sessionid") is None
        no_token = {"username": "alice", "password": "correct horse battery"}
        assert (await client.post("/login?next=/", form=no_token)).status_code == 403
        logged_in = await client.post(
            "/login?next=/", form={**form, "password": "correct horse battery"}
        )
        assert logged_in.status_code == 303 and logged_in.headers["Location"] == "/"
        for visit in (1, 2):
            greeting = await (await client.get("/")).get_data(as_text=True)
            assert greeting == f"Hello, user 1: visit {visit}"
        session_id = _cookie(client, "sessionid")
        assert session_id is not None
        store = example.store
        stored = await store.load(hash_session_id(session_id), now=time.time())
        assert stored is not None and stored.data["visits"] == 2

        hook = app.test_client()  # no cookie, no token: only the exempt route lets it in
        assert await (await hook.post("/hooks/payment")).get_json() == {"received": True}
        assert (await hook.post("/logout")).status_code == 403

        token = token_in(await (await client.get("/login")).get_data(as_text=True))
        out = await client.post("/logout", form={"csrfmiddlewaretoken": token})
        assert out.status_code == 303 and out.headers["Location"] == "/login"
        assert await store.load(hash_session_id(session_id), now=time.time()) is None
        assert (await client.get("/", headers={"Accept": "text/html"})).status_code == 303

        token = token_in(await (await client.get("/login")).get_data(as_text=True))
        for _ in range(10):
            await client.post(
                "/login", form={**form, "csrfmiddlewaretoken": token, "password": "x"}
            )
        throttled = await client.post(
            "/login", form={**form, "csrfmiddlewaretoken": token, "password": "x"}
        )
        assert throttled.status_code == 429 and int(throttled.headers["Retry-After"]) > 0
