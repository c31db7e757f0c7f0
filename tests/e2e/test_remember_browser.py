"""Remember me in a real browser: log in with the box ticked, lose the session cookie (as
when the browser is closed), reload: logged in again, but a sensitive action asks for the
password, and after it the action works."""

from __future__ import annotations

from typing import Any

from tests.demo.server import DemoServer


def test_remember_me_restores_the_login_and_sudo_asks_again(browser: Any, site: DemoServer) -> None:
    assert site.demo_credentials is not None
    username, password = site.demo_credentials
    context = browser.new_context()
    context.set_default_timeout(15_000)
    page = context.new_page()

    page.goto(f"{site.url}/login")
    page.fill('input[name="username"]', username)
    page.fill('input[name="password"]', password)
    page.check('input[name="remember"]')
    with page.expect_navigation(url=f"{site.url}/records"):
        page.click('#login-form button[type="submit"]')
    jar = {c["name"]: c for c in context.cookies()}
    assert jar["remember"]["httpOnly"] and jar["remember"]["sameSite"] == "Lax"
    assert jar["remember"]["expires"] > 0  # persistent, unlike the session cookie
    assert "remember" not in page.evaluate("document.cookie")

    # The browser "restarts": every cookie but the remember cookie is gone.
    kept = [c for c in context.cookies() if c["name"] == "remember"]
    context.clear_cookies()
    context.add_cookies(kept)
    page.goto(f"{site.url}/records")
    assert page.url == f"{site.url}/records"  # logged in again, no login form
    assert username in page.locator(".who").inner_text()
    rotated = {c["name"]: c["value"] for c in context.cookies()}["remember"]
    assert rotated != kept[0]["value"]

    # A sensitive action asks for the password first, then works.
    page.goto(f"{site.url}/sessions")
    assert "Remember me" in page.content()
    with page.expect_navigation(url=f"{site.url}/reauth?next=/sessions"):
        page.click('#revoke-others button[type="submit"]')
    page.fill('#reauth-form input[name="password"]', password)
    with page.expect_navigation(url=f"{site.url}/sessions"):
        page.click('#reauth-form button[type="submit"]')
    with page.expect_navigation(url=f"{site.url}/sessions?ended=*"):
        page.click('#revoke-others button[type="submit"]')
    context.close()
