"""The front doors' shared contract (FRONTDOORS_SPEC): the same routes, statuses and cookies
from every framework's app, driven over HTTP as a browser drives them.

One test per row of the spec's table (and the store-outage rule), run over every module in
``tests/frontdoors/apps/`` and over the SQLite and memory stores; login and logout run over
Redis and PostgreSQL as well.
"""

from __future__ import annotations

import secrets
from types import ModuleType

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from .conftest import (
    ALL_STORES,
    FOREIGN_ORIGIN,
    SECRET_KEY,
    Browser,
    Door,
    UsersDB,
    open_door,
    serve,
    set_cookies,
    token_in,
)

all_stores = pytest.mark.parametrize("store_url", ALL_STORES, indirect=True)


def expired(attrs: dict[str, str]) -> bool:
    """True if a Set-Cookie line's attributes make the browser drop the cookie now."""
    return attrs.get("max-age") == "0" or "1970" in attrs.get("expires", "")


# GET /form


async def test_form_page_holds_the_token_input_and_sets_the_cookie_once(door: Door) -> None:
    browser = await door.browser()
    page = await browser.get("/form")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    token_in(page)
    assert "csrftoken" in set_cookies(page)
    again = await browser.get("/form")
    assert again.status_code == 200 and token_in(again) != token_in(page)  # masked anew
    assert "csrftoken" not in set_cookies(again)


# POST /form


async def test_form_post_with_the_form_field_or_the_header_is_ok(door: Door) -> None:
    browser = await door.browser()
    by_field = await browser.post("/form", data={"csrfmiddlewaretoken": await browser.token()})
    assert (by_field.status_code, by_field.text) == (200, "ok")
    by_header = await browser.post("/form", headers={"X-CSRFToken": await browser.token()})
    assert (by_header.status_code, by_header.text) == (200, "ok")


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("no token", "CSRF token missing."),
        ("wrong token", "CSRF token from POST incorrect."),
        ("no cookie", "CSRF cookie not set."),
    ],
)
async def test_form_post_without_a_valid_token_is_403_with_django_reason(
    door: Door, case: str, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    browser = await door.browser()
    data: dict[str, str] = {"text": "hello"}
    if case == "wrong token":
        await browser.token()
        data["csrfmiddlewaretoken"] = secrets.token_hex(32)
    elif case == "no token":
        await browser.token()
    else:
        data["csrfmiddlewaretoken"] = await (await door.browser()).token()
    with caplog.at_level("WARNING"):
        refused = await browser.post("/form", data=data)
    assert refused.status_code == 403
    assert reason in refused.text or reason in caplog.text


@pytest.mark.parametrize(
    "headers", [{"Origin": FOREIGN_ORIGIN}, {"Sec-Fetch-Site": "cross-site"}], ids=str
)
async def test_cross_site_post_is_403_even_with_a_valid_token(
    door: Door, headers: dict[str, str]
) -> None:
    browser = await door.browser()
    token = await browser.token()
    refused = await browser.post("/form", data={"csrfmiddlewaretoken": token}, headers=headers)
    assert refused.status_code == 403
    accepted = await browser.post("/form", data={"csrfmiddlewaretoken": token})
    assert accepted.status_code == 200  # the same token, from the site itself


# POST /login


@all_stores
async def test_login_sets_a_new_session_and_rotates_the_csrf_cookie(door: Door) -> None:
    browser = await door.browser()
    old_token = await browser.token()
    old_secret = browser.cookie("csrftoken")
    response = await browser.login()
    assert response.status_code == 303
    assert response.headers["location"] == "/whoami"
    cookies = set_cookies(response)
    session_value, session_attrs = cookies["sessionid"]
    assert session_value and "httponly" in session_attrs
    assert session_attrs.get("samesite", "").lower() == "lax"
    assert cookies["csrftoken"][0] not in ("", old_secret)
    assert (await browser.get("/whoami")).json() == {"user": door.user_id}
    # A token from before the login is dead with its secret.
    stale = await browser.post("/form", data={"csrfmiddlewaretoken": old_token})
    assert stale.status_code == 403


@all_stores
async def test_login_replaces_an_existing_session_id(door: Door) -> None:
    browser = await door.browser()
    stored = await browser.post(
        "/session/colour", data={"value": "blue", "csrfmiddlewaretoken": await browser.token()}
    )
    assert stored.status_code == 200
    before = browser.cookie("sessionid")
    assert before
    assert (await browser.login()).status_code == 303
    after = browser.cookie("sessionid")
    assert after and after != before
    replay = await door.browser(cookie=f"sessionid={before}")
    assert (await replay.get("/session/colour")).json() == {"value": None}
    assert (await replay.get("/whoami")).json() == {"user": None}


async def test_wrong_password_shows_the_form_again_and_changes_no_cookie(door: Door) -> None:
    browser = await door.browser()
    await browser.token()
    secret = browser.cookie("csrftoken")
    response = await browser.login(password="wrong-pass")
    assert response.status_code == 200
    token_in(response)
    cookies = set_cookies(response)
    assert "sessionid" not in cookies
    assert cookies.get("csrftoken", (secret, {}))[0] == secret
    assert browser.cookie("csrftoken") == secret
    assert (await browser.get("/whoami")).json() == {"user": None}


# POST /logout


@all_stores
async def test_logout_deletes_the_session_server_side(door: Door) -> None:
    browser = await door.browser()
    assert (await browser.login()).status_code == 303
    session_id = browser.cookie("sessionid")
    response = await browser.post("/logout", data={"csrfmiddlewaretoken": await browser.token()})
    assert response.status_code == 303
    assert response.headers["location"] == "/form"
    _, attrs = set_cookies(response)["sessionid"]
    assert expired(attrs)
    assert (await browser.get("/whoami")).json() == {"user": None}
    # The old cookie, replayed: the record is gone from the store, not just from the browser.
    replay = await door.browser(cookie=f"sessionid={session_id}")
    assert (await replay.get("/whoami")).json() == {"user": None}
    assert (await replay.get("/private", headers={"Accept": "application/json"})).status_code == 401


async def test_logout_needs_the_token(door: Door) -> None:
    browser = await door.browser()
    assert (await browser.login()).status_code == 303
    assert (await browser.post("/logout")).status_code == 403
    assert (await browser.get("/whoami")).json() == {"user": door.user_id}


# GET /whoami


async def test_whoami_is_null_for_anonymous_requests(door: Door) -> None:
    browser = await door.browser()
    response = await browser.get("/whoami")
    assert response.status_code == 200
    assert response.json() == {"user": None}


# /session/{key}


async def test_session_values_round_trip_through_the_framework_session(door: Door) -> None:
    browser = await door.browser()
    token = await browser.token()
    stored = await browser.post(
        "/session/colour", data={"value": "blue", "csrfmiddlewaretoken": token}
    )
    assert (stored.status_code, stored.text) == (200, "ok")
    assert (await browser.get("/session/colour")).json() == {"value": "blue"}
    assert (await browser.get("/session/size")).json() == {"value": None}
    other = await door.browser()
    assert (await other.get("/session/colour")).json() == {"value": None}
    # A write without the token is refused and changes nothing.
    refused = await browser.post("/session/colour", data={"value": "red"})
    assert refused.status_code == 403
    assert (await browser.get("/session/colour")).json() == {"value": "blue"}


# POST /hook


async def test_the_exempt_hook_needs_no_token(door: Door) -> None:
    browser = await door.browser()  # no cookie, no token, not even a visit before
    response = await browser.post("/hook", content=b'{"event": "paid"}')
    assert (response.status_code, response.text) == (200, "hooked")
    neighbour = await browser.post("/form")
    assert neighbour.status_code == 403  # the exemption is the hook's alone


# GET /private


async def test_private_answers_api_clients_401_json(door: Door) -> None:
    browser = await door.browser()
    response = await browser.get("/private", headers={"Accept": "application/json"})
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/json")
    assert "error" in response.json()


async def test_private_redirects_browsers_to_the_login_page(door: Door) -> None:
    browser = await door.browser()
    response = await browser.get("/private", headers={"Accept": "text/html"})
    assert response.status_code in (302, 303)
    assert response.headers["location"] == "/login?next=/private"


@all_stores
async def test_private_serves_the_logged_in_user(door: Door) -> None:
    browser = await door.browser()
    assert (await browser.login()).status_code == 303
    response = await browser.get("/private", headers={"Accept": "application/json"})
    assert response.status_code == 200
    assert response.json() == {"user": door.user_id}


# The store is down


async def test_a_request_with_a_session_answers_503_while_the_store_is_down(
    door_module: ModuleType, down_store_url: str, users: UsersDB, session_id: str
) -> None:
    async with open_door(door_module, down_store_url, users) as door:
        anonymous = await door.browser()
        token = await anonymous.token()  # no session cookie: no store round trip
        browser: Browser = await door.browser(cookie=f"sessionid={session_id}")
        assert (await browser.get("/whoami")).status_code == 503
        write = await browser.post(
            "/session/colour",
            data={"value": "blue", "csrfmiddlewaretoken": token},
            headers={
                "cookie": f"sessionid={session_id}; csrftoken={anonymous.cookie('csrftoken')}"
            },
        )
        assert write.status_code == 503


# WS /ws


async def test_websocket_accepts_the_site_and_refuses_a_foreign_origin(
    ws_module: ModuleType, users: UsersDB
) -> None:
    app = ws_module.make_app(store_url="memory://", users_db=users.path, secret_key=SECRET_KEY)
    async with serve(app) as address:
        async with connect(f"ws://{address}/ws", origin=f"http://{address}") as ws:
            assert await ws.recv() == "hi"
        with pytest.raises(InvalidStatus) as refused:
            async with connect(f"ws://{address}/ws", origin=FOREIGN_ORIGIN):
                pass
        assert refused.value.response.status_code == 403


def test_every_app_module_is_collected() -> None:
    from .conftest import APP_MODULES

    assert {"starlette_app", "fastapi_app"} <= set(APP_MODULES)
