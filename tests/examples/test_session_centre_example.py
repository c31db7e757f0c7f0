"""examples/session_centre.py, driven by two browsers: the list, the alerts, revocation."""

from __future__ import annotations

import asyncio
import runpy
from collections.abc import Iterator
from types import ModuleType

import httpx
import pytest

from cookieguard import events

from .conftest import EXAMPLES, Loader, browser, token_in

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0"
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_5 like Mac OS X) AppleWebKit/605.1.15"
    " (KHTML, like Gecko) Version/18.5 Mobile/15E148 Safari/604.1"
)


@pytest.fixture
def example(load: Loader) -> Iterator[ModuleType]:
    module = load("session_centre")
    script = runpy.run_path(str(EXAMPLES / "session_centre.py"), run_name="__main__")  # alice
    asyncio.run(script["users"].close())  # the process would end here; its connection with it
    yield module
    for callback in (module.alert, script["alert"]):  # subscriptions are process-wide
        events.unsubscribe(callback)


async def _login(http: httpx.AsyncClient, user_agent: str) -> str:
    http.headers["user-agent"] = user_agent
    token = token_in((await http.get("/login")).text)
    form = {"username": "alice", "password": "correct horse battery", "csrfmiddlewaretoken": token}
    response = await http.post("/login", data=form)
    assert response.status_code == 200, response.text
    return token_in((await http.get("/login")).text)


async def test_the_session_centre_example(example: ModuleType) -> None:
    async with (
        browser(example.app, "203.0.113.7") as laptop,
        browser(example.app, "2001:db8:1:2::3") as phone,
    ):
        token = await _login(laptop, FIREFOX)
        await _login(phone, IPHONE)
        listed = (await laptop.get("/sessions")).json()
        assert sorted((s["device"], s["network"], s["current"]) for s in listed) == [
            ("Firefox on Linux", "203.0.113.0/24", True),
            ("Safari on iPhone", "2001:db8:1::/48", False),
        ]
        assert [e.device for e in example.alerts] == ["Firefox on Linux", "Safari on iPhone"]
        ended = await laptop.post(
            "/sessions/revoke", data={"which": "others", "csrfmiddlewaretoken": token}
        )
        assert ended.json() == {"ended": 1}
        assert (await phone.get("/sessions")).status_code in (303, 401)
