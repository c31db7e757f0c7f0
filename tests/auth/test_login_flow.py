"""Login and logout end to end through the ASGI stack, as a browser would see them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cookieguard.auth import PasswordHasher, SQLiteUserStore
from cookieguard.core.signing import KeyRing
from cookieguard.core.tokens import hash_session_id
from cookieguard.stores.memory import MemoryStore
from cookieguard.stores.sqlite import SQLiteStore
from tests.asgi.scopes import http_scope

from .login_app import build_app, client, form_token, log_in, post

KEY = "current-secret-key-0123456789"
OLD_KEY = "previous-secret-key-0123456789"
HOST = "testserver.local"  # how the cookie jar files cookies for http://testserver


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Site:
    app: Any
    store: Any
    users: SQLiteUserStore
    hasher: PasswordHasher
    clock: Clock
    alice_id: str
    bob_id: str

    def rebuild(self, keyring: KeyRing) -> Any:
        return build_app(self.store, self.users, keyring, self.hasher, self.clock)


@pytest.fixture(params=["memory", "sqlite"])
async def site(
    request: pytest.FixtureRequest, tmp_path: Path, fast_hasher: PasswordHasher
) -> AsyncIterator[Site]:
    store: Any = MemoryStore() if request.param == "memory" else SQLiteStore(tmp_path / "s.db")
    users = SQLiteUserStore(tmp_path / "users.db")
    alice = await users.create_user("alice", fast_hasher.hash("alice-pass"))
    bob = await users.create_user("bob", fast_hasher.hash("bob-pass"))
    clock = Clock()
    app = build_app(store, users, KeyRing(KEY), fast_hasher, clock)
    yield Site(app, store, users, fast_hasher, clock, alice.id, bob.id)
    await users.close()
    await store.close()


def sid(browser: Any) -> str | None:
    value = browser.cookies.get("sessionid", domain=HOST)
    return value or None


def plant(browser: Any, value: str) -> None:
    """Put a session cookie in the browser's jar as if the server had set it."""
    browser.cookies.set("sessionid", value, domain=HOST)


async def test_seed_flow(site: Site) -> None:
    async with client(site.app) as browser:
        page = await browser.get("/login")
        assert page.status_code == 200
        csrf_before = browser.cookies["csrftoken"]

        wrong = await log_in(browser, "alice", "nope")
        assert wrong.status_code == 200 and "wrong username or password" in wrong.text
        assert "sessionid" not in wrong.headers.get("set-cookie", "")
        assert browser.cookies["csrftoken"] == csrf_before
        assert sid(browser) is None

        right = await log_in(browser, "alice", "alice-pass")
        assert right.status_code == 303 and right.headers["location"] == "/records"
        session_id = sid(browser)
        assert session_id is not None
        assert browser.cookies["csrftoken"] != csrf_before
        set_cookie = right.headers.get_list("set-cookie")
        assert any(c.startswith("sessionid=") and "HttpOnly" in c for c in set_cookie)
        record = await site.store.load(hash_session_id(session_id), now=1.0)
        assert record is not None and record.user_id == site.alice_id
        assert "_auth_user_hash" in record.data and record.data["_auth_user_id"] == site.alice_id

        protected = await browser.get("/records")
        assert protected.status_code == 200 and protected.text == f"records of {site.alice_id}"

        bye = await post(browser, "/logout")
        assert bye.status_code == 303 and bye.headers["location"] == "/login"
        assert any(
            c.startswith("sessionid=") and "Max-Age=0" in c
            for c in bye.headers.get_list("set-cookie")
        )
        assert await site.store.load(hash_session_id(session_id), now=1.0) is None
        assert (await browser.get("/records")).status_code == 303


async def test_logout_is_server_side_even_for_a_copied_cookie(site: Site) -> None:
    async with client(site.app) as browser, client(site.app) as thief:
        await log_in(browser, "alice", "alice-pass")
        plant(thief, sid(browser) or "")
        assert (await thief.get("/records")).status_code == 200
        await post(browser, "/logout")
        assert (await thief.get("/records")).status_code == 303


async def test_login_replaces_the_pre_login_session(site: Site) -> None:
    async with client(site.app) as browser:
        await browser.get("/visit", params={"cart": "3 apples"})
        before = sid(browser)
        assert before is not None
        await log_in(browser, "alice", "alice-pass")
        after = sid(browser)
        assert after is not None and after != before
        assert await site.store.load(hash_session_id(before), now=1.0) is None
        data = (await browser.get("/session")).json()
        assert data["cart"] == "3 apples"  # anonymous data kept under the new id


async def test_an_attacker_chosen_id_is_never_adopted(site: Site) -> None:
    planted = "a" * 32
    async with client(site.app) as browser:
        plant(browser, planted)
        await log_in(browser, "alice", "alice-pass")
        assert sid(browser) not in (None, planted)
        assert await site.store.load(hash_session_id(planted), now=1.0) is None


async def test_login_as_another_user_flushes(site: Site) -> None:
    async with client(site.app) as browser:
        await log_in(browser, "alice", "alice-pass")
        await browser.get("/visit", params={"alice_note": "private"})
        alice_sid = sid(browser)
        response = await log_in(browser, "bob", "bob-pass")
        assert response.status_code == 303
        bob_sid = sid(browser)
        assert bob_sid != alice_sid
        data = (await browser.get("/session")).json()
        assert "alice_note" not in data and data["_auth_user_id"] == site.bob_id
        assert await site.store.load(hash_session_id(alice_sid or ""), now=1.0) is None
        assert await site.store.list_user(site.alice_id, now=1.0) == []


async def test_relogin_as_same_user_cycles_and_keeps_data(site: Site) -> None:
    async with client(site.app) as browser:
        await log_in(browser, "alice", "alice-pass")
        await browser.get("/visit", params={"theme": "dark"})
        first = sid(browser)
        await log_in(browser, "alice", "alice-pass")
        assert sid(browser) != first
        assert (await browser.get("/session")).json()["theme"] == "dark"


async def test_password_change_ends_other_sessions(site: Site) -> None:
    async with client(site.app) as laptop, client(site.app, "10.0.0.2") as phone:
        await log_in(laptop, "alice", "alice-pass")
        await log_in(phone, "alice", "alice-pass")
        assert len(await site.store.list_user(site.alice_id, now=1.0)) == 2
        old_laptop = sid(laptop)
        changed = await post(laptop, "/password", new_password="brand-new-pass")
        assert changed.status_code == 200
        assert sid(laptop) != old_laptop  # the surviving session got a new id too
        assert (await laptop.get("/records")).status_code == 200
        assert (await laptop.get("/whoami")).json() == {"user": "alice"}
        assert (await phone.get("/records")).status_code == 303
        assert len(await site.store.list_user(site.alice_id, now=1.0)) == 1
    async with client(site.app) as fresh:
        assert (await log_in(fresh, "alice", "alice-pass")).status_code == 200
        assert (await log_in(fresh, "alice", "brand-new-pass")).status_code == 303


async def test_stale_auth_hash_is_flushed_by_get_user(site: Site) -> None:
    async with client(site.app) as browser:
        await log_in(browser, "alice", "alice-pass")
        old = sid(browser)
        # The password changes behind cookieguard's back (another tool wrote the table).
        await site.users.set_password(site.alice_id, site.hasher.hash("changed-elsewhere"))
        who = await browser.get("/whoami")
        assert who.json() == {"user": None}
        assert any(c.startswith("sessionid=") for c in who.headers.get_list("set-cookie"))
        assert await site.store.load(hash_session_id(old or ""), now=1.0) is None
        assert (await browser.get("/records")).status_code == 303


async def test_fallback_key_hashes_verify_and_are_upgraded(site: Site) -> None:
    old_site = site.rebuild(KeyRing(OLD_KEY))
    rotated = site.rebuild(KeyRing(KEY, fallbacks=[OLD_KEY]))
    new_only = site.rebuild(KeyRing(KEY))
    async with client(old_site) as browser:
        await log_in(browser, "alice", "alice-pass")
        cookie = sid(browser) or ""
    async with client(rotated) as browser:
        plant(browser, cookie)
        assert (await browser.get("/whoami")).json() == {"user": "alice"}
        upgraded = sid(browser)
        assert upgraded not in (None, cookie)
    async with client(new_only) as browser:
        plant(browser, upgraded or "")
        assert (await browser.get("/whoami")).json() == {"user": "alice"}
    async with client(new_only) as browser:  # never upgraded: the old hash fails now
        await log_in(browser, "alice", "alice-pass")
    async with client(old_site) as browser:
        await log_in(browser, "alice", "alice-pass")
        stale = sid(browser) or ""
    async with client(new_only) as browser:
        plant(browser, stale)
        assert (await browser.get("/whoami")).json() == {"user": None}


async def test_throttling_and_retry_after(site: Site) -> None:
    async with client(site.app) as browser:
        for _ in range(10):
            assert (await log_in(browser, "alice", "guess")).status_code == 200
        site.clock.now += 60
        locked = await log_in(browser, "alice", "alice-pass")
        assert locked.status_code == 429
        assert int(locked.headers["retry-after"]) == 900 - 60
        assert sid(browser) is None
        # Case variants are the same account for the counter.
        assert (await log_in(browser, "ALICE", "guess")).status_code == 429
        # Another username, and the same username from another address, are unaffected.
        assert (await log_in(browser, "bob", "bob-pass")).status_code == 303
        async with client(site.app, "10.9.9.9") as elsewhere:
            assert (await log_in(elsewhere, "alice", "alice-pass")).status_code == 303
        site.clock.now += 840  # the window has passed
        assert (await log_in(browser, "alice", "alice-pass")).status_code == 303


async def test_success_resets_the_counter(site: Site) -> None:
    async with client(site.app) as browser:
        for _ in range(9):
            assert (await log_in(browser, "alice", "guess")).status_code == 200
        assert (await log_in(browser, "alice", "alice-pass")).status_code == 303
        for _ in range(10):
            assert (await log_in(browser, "alice", "guess")).status_code == 200
        assert (await log_in(browser, "alice", "alice-pass")).status_code == 429


async def test_many_users_behind_one_address_are_not_blocked(site: Site) -> None:
    async with client(site.app, "192.0.2.1") as office:
        token = await form_token(office)
        for i in range(100):
            data = {"csrfmiddlewaretoken": token, "username": f"user{i}", "password": "x"}
            assert (await office.post("/login", data=data)).status_code == 200
        assert (await log_in(office, "alice", "alice-pass")).status_code == 303


@pytest.mark.parametrize(
    ("next_url", "location"),
    [
        ("/records?page=2", "/records?page=2"),
        ("//evil.example/", "/records"),
        ("///evil.example/", "/records"),
        ("https://evil.example/", "/records"),
        ("/\\evil.example", "/records"),
        ("\\\\evil.example", "/records"),
        ("javascript:alert(1)", "/records"),
        ("/\t/evil.example", "/records"),
        ("/" + "a" * 3000, "/records"),
    ],
)
async def test_next_is_same_site_only(site: Site, next_url: str, location: str) -> None:
    async with client(site.app) as browser:
        response = await log_in(browser, "alice", "alice-pass", next=next_url)
        assert response.status_code == 303 and response.headers["location"] == location


async def test_login_required_redirects_browsers_and_refuses_apis(site: Site) -> None:
    async with client(site.app) as browser:
        page = await browser.get("/records", params={"q": "a&b"})
        assert page.status_code == 303
        assert page.headers["location"] == "/login?next=/records%3Fq%3Da%2526b"
        api = await browser.get("/api/me")
        assert api.status_code == 401 and api.json() == {"error": "authentication required"}
        json_client = await browser.get("/records", headers={"Accept": "application/json"})
        assert json_client.status_code == 401
        await log_in(browser, "alice", "alice-pass")
        assert (await browser.get("/api/me")).json() == {"user_id": site.alice_id}


async def test_my_sessions_list_and_revoke(site: Site) -> None:
    async with client(site.app) as laptop, client(site.app) as phone, client(site.app) as eve:
        await log_in(laptop, "alice", "alice-pass")
        await log_in(phone, "alice", "alice-pass")
        await log_in(eve, "bob", "bob-pass")
        listed = (await laptop.get("/sessions", headers={"User-Agent": "Laptop"})).json()
        assert len(listed) == 2 and sum(s["current"] for s in listed) == 1
        handles = [s["handle"] for s in listed]
        assert all(len(h) == 20 for h in handles)
        assert sid(laptop) not in handles and sid(phone) not in handles
        phone_handle = next(s["handle"] for s in listed if not s["current"])

        # Bob cannot end Alice's session even knowing its handle.
        assert (await post(eve, "/sessions/revoke", handle=phone_handle)).status_code == 404
        assert (await phone.get("/records")).status_code == 200

        assert (await post(laptop, "/sessions/revoke", handle=phone_handle)).status_code == 200
        assert (await phone.get("/records")).status_code == 303
        assert (await laptop.get("/records")).status_code == 200

        await log_in(phone, "alice", "alice-pass")
        ended = await post(laptop, "/sessions/revoke-others")
        assert ended.text == "1"
        assert (await phone.get("/records")).status_code == 303
        assert (await eve.get("/records")).status_code == 200

        mine = next(s["handle"] for s in (await laptop.get("/sessions")).json())
        assert (await post(laptop, "/sessions/revoke", handle=mine)).status_code == 200
        assert (await laptop.get("/records")).status_code == 303  # that was a logout


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"username": "alice"},
        {"password": "alice-pass"},
        {"username": "a" * 100_000, "password": "x"},
        {"username": "alice", "password": "p" * 100_000},
    ],
)
async def test_bad_login_forms_are_4xx(site: Site, body: dict[str, str]) -> None:
    async with client(site.app) as browser:
        token = await form_token(browser)
        response = await browser.post("/login", data={"csrfmiddlewaretoken": token, **body})
        assert 400 <= response.status_code < 500
        assert sid(browser) is None


@pytest.mark.parametrize(
    "raw",
    [
        b"username=al%FFice&password=%FE%FF",
        b"username=\xff\xfe&password=\xc3\x28",
        b"username=alice&password=alice-pass&username=bob",
        b"%%%&&&===",
        b"username=alice&password=" + b"x" * 3_000_000,
    ],
)
async def test_malformed_bodies_never_500(site: Site, raw: bytes) -> None:
    async with client(site.app) as browser:
        token = await form_token(browser)
        response = await browser.post(
            "/login",
            content=b"csrfmiddlewaretoken=" + token.encode() + b"&" + raw,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert response.status_code in (200, 303, 400, 401, 413)
        if response.status_code == 303:  # only the well-formed duplicate case may log in
            assert raw.startswith(b"username=alice&password=alice-pass")
        else:  # refused or shown the form again: nobody is logged in
            assert "sessionid" not in response.cookies


async def test_forms_rendered_before_login_stop_working(site: Site) -> None:
    async with client(site.app) as browser:
        old_token = await form_token(browser)
        await log_in(browser, "alice", "alice-pass")
        stale = await browser.post("/logout", data={"csrfmiddlewaretoken": old_token})
        assert stale.status_code == 403
        assert (await browser.get("/records")).status_code == 200


async def test_session_claiming_a_user_without_hash_is_flushed_at_login(site: Site) -> None:
    async with client(site.app) as browser:
        await browser.get("/visit", params={"_auth_user_id": site.alice_id, "junk": "1"})
        before = sid(browser)
        assert (await browser.get("/whoami")).json() == {"user": None}  # no hash: flushed
        await browser.get("/visit", params={"_auth_user_id": site.alice_id, "junk": "1"})
        await log_in(browser, "alice", "alice-pass")
        assert sid(browser) not in (None, before)
        data = (await browser.get("/session")).json()
        assert "junk" not in data and data["_auth_user_id"] == site.alice_id


async def test_anonymous_logout_is_harmless(site: Site) -> None:
    async with client(site.app) as browser:
        response = await post(browser, "/logout")
        assert response.status_code == 303 and sid(browser) is None


async def test_login_needs_a_user() -> None:
    from cookieguard.auth import login

    with pytest.raises(TypeError):
        await login(http_scope(), None)  # type: ignore[arg-type]
