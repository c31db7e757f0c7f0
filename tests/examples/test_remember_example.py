"""examples/remember_sudo_starlette.py, driven in-process: remember me restores a login that
is not recent, so the sensitive route asks for the password; after it the route answers."""

from __future__ import annotations

from pathlib import Path

from cookieguard.auth import PasswordHasher

from .conftest import Loader, browser, set_cookie


async def test_remember_and_sudo_example(load: Loader, tmp_path: Path) -> None:
    example = load("remember_sudo_starlette")
    hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    await example.users.create_user("alice", hasher.hash("correct horse"))
    credentials = {"username": "alice", "password": "correct horse", "remember": "1"}
    async with browser(example.app) as http:
        logged_in = await http.post("/login", data=credentials)
        assert logged_in.status_code == 200
        line = set_cookie(logged_in, "remember")
        assert line is not None and "HttpOnly" in line and "SameSite=Lax" in line
        assert (await http.get("/account/delete")).status_code == 200
        http.cookies.delete("sessionid")  # the browser was closed
        again = await http.get("/account/delete")
        assert again.status_code == 303
        assert again.headers["location"] == "/reauth?next=/account/delete"
        assert (await http.post("/reauth", data={"password": "nope"})).status_code == 401
        assert (await http.post("/reauth", data={"password": "correct horse"})).status_code == 200
        assert (await http.get("/account/delete")).text == "Sensitive action done"
