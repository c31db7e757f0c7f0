"""Login throttling (429 + Retry-After) and the "my sessions" page, against the running demo."""

from __future__ import annotations

import re

import httpx

from tests.demo.server import DemoServer, csrf_token, login


def client_from(site: DemoServer, address: str, user_agent: str = "test-browser") -> httpx.Client:
    """A client whose connections come from `address` (any 127.x.y.z reaches the server)."""
    transport = httpx.HTTPTransport(local_address=address)
    return httpx.Client(
        base_url=site.url, transport=transport, headers={"User-Agent": user_agent}, timeout=10
    )


def test_ten_wrong_passwords_lock_that_username_from_that_address(
    site: DemoServer, demo_user: tuple[str, str]
) -> None:
    with client_from(site, "127.0.0.42") as attacker:
        for attempt in range(10):
            response = login(attacker, demo_user[0], f"guess {attempt}")
            assert response.status_code in (200, 401), attempt
        locked = login(attacker, *demo_user)  # even the right password
        assert locked.status_code == 429
        retry_after = int(locked.headers["retry-after"])
        assert 0 < retry_after <= 900
        assert "sessionid" not in locked.cookies
        assert "Too many failed attempts" in locked.text
        assert attacker.get("/api/records").status_code == 401
    # Another address is not locked out, and nor is another username from the same address.
    with client_from(site, "127.0.0.43") as user:
        assert login(user, *demo_user).status_code == 303
    with client_from(site, "127.0.0.42") as same_address:
        assert login(same_address, "somebody-else", "x").status_code in (200, 401)


def test_a_forged_forwarded_for_header_does_not_dodge_the_throttle(site: DemoServer) -> None:
    # From 127.0.0.1, which uvicorn would trust for X-Forwarded-For by default.
    with client_from(site, "127.0.0.1") as attacker:
        for attempt in range(10):
            attacker.headers["X-Forwarded-For"] = f"198.51.100.{attempt}"
            assert login(attacker, "xff-victim", f"guess {attempt}").status_code in (200, 401)
        attacker.headers["X-Forwarded-For"] = "198.51.100.99"
        assert login(attacker, "xff-victim", "one more").status_code == 429


def _session_refs(page: str) -> dict[str, str]:
    """{user agent: session ref} of the other sessions listed on /sessions."""
    refs = {}
    for row in page.split("<tr")[1:]:
        agent = re.search(r'<td data-label="Device" class="device" title="([^"]*)">', row)
        ref = re.search(r'name="session" value="([0-9a-f]{20})"', row)
        if agent and ref:
            refs[agent[1]] = ref[1]
    return refs


def test_my_sessions_lists_and_revokes_one(
    site: DemoServer, demo_user: tuple[str, str], other_user: tuple[str, str]
) -> None:
    with (
        client_from(site, "127.0.0.1", "laptop") as laptop,
        client_from(site, "127.0.0.1", "phone") as phone,
        client_from(site, "127.0.0.1", "stranger") as stranger,
        client_from(site, "127.0.0.1", "stranger-phone") as stranger_phone,
    ):
        for client, user in (
            (laptop, demo_user),
            (phone, demo_user),
            (stranger, other_user),
            (stranger_phone, other_user),
        ):
            assert login(client, *user).status_code == 303
        page = laptop.get("/sessions")
        assert page.status_code == 200
        assert re.search(r'<tr class="current">\s*<td [^>]*title="laptop">', page.text)
        refs = _session_refs(page.text)
        assert "phone" in refs and "laptop" not in refs
        assert not {"stranger", "stranger-phone"} & set(refs)
        token = csrf_token(page.text)
        assert laptop.post("/sessions/revoke", data={"session": refs["phone"]}).status_code == 403
        # Another user's session cannot be revoked from here.
        foreign = _session_refs(stranger.get("/sessions").text)["stranger-phone"]
        laptop.post("/sessions/revoke", data={"csrfmiddlewaretoken": token, "session": foreign})
        assert stranger_phone.get("/api/records").status_code == 200
        response = laptop.post(
            "/sessions/revoke", data={"csrfmiddlewaretoken": token, "session": refs["phone"]}
        )
        assert response.status_code == 303
        assert phone.get("/api/records").status_code == 401
        assert laptop.get("/api/records").status_code == 200


def test_log_out_everywhere_else(site: DemoServer, other_user: tuple[str, str]) -> None:
    with (
        client_from(site, "127.0.0.1", "desk") as desk,
        client_from(site, "127.0.0.1", "tablet") as tablet,
    ):
        for client in (desk, tablet):
            assert login(client, *other_user).status_code == 303
        token = csrf_token(desk.get("/sessions").text)
        response = desk.post("/sessions/revoke-others", data={"csrfmiddlewaretoken": token})
        assert response.status_code == 303
        assert tablet.get("/api/records").status_code == 401
        assert desk.get("/api/records").status_code == 200
        page = desk.get(response.headers["location"])
        assert "Signed out" in page.text and _session_refs(page.text) == {}


def test_sessions_page_needs_login(client: httpx.Client) -> None:
    response = client.get("/sessions")
    assert response.status_code in (302, 303)
    assert response.headers["location"] == "/login?next=/sessions"
