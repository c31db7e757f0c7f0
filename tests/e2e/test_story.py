"""The seed's story in a real browser, on a phone-sized screen (375 x 800).

Log in, watch the inspector (one CSRF secret under a new mask on every page; a new secret and
a new session at login; the session row by its key hash while ``sessionid`` stays HttpOnly),
add and delete a dated record, forge a POST, see the styled 403 with its reason, and find the
browser's friendly name on /sessions. Every page is checked to fit the screen (no sideways
scrolling) and photographed into a temporary directory (its path is in the test's log).
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cookieguard.core.tokens import unmask_token
from tests.demo.server import DemoServer, RedisServer

PHONE = {"width": 375, "height": 800}
logger = logging.getLogger(__name__)


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("screenshots")
    logger.warning("screenshots in %s", directory)
    return directory


def fits(page: Any, shots: Path, name: str) -> None:
    """The page, with every <details> opened, is no wider than the screen; photograph it."""
    page.evaluate("document.querySelectorAll('details').forEach(d => { d.open = true; })")
    widths = page.evaluate(
        "[document.documentElement.scrollWidth, window.innerWidth, document.body.scrollWidth]"
    )
    page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
    assert widths[0] <= widths[1], f"{name}: scrollWidth {widths[0]} > innerWidth {widths[1]}"
    assert widths[2] <= widths[1], f"{name}: body {widths[2]} > innerWidth {widths[1]}"


def text(page: Any, selector: str) -> str:
    """What the element shows once visible: the inspector panel is opened first if closed."""
    if page.locator("#inspector:not([open])").count():
        page.click("#inspector summary")
    return str(page.locator(selector).inner_text()).strip()


def cookie(page: Any, name: str) -> str | None:
    found = re.search(rf"(?:^|; ){name}=([^;]*)", page.evaluate("document.cookie"))
    return found[1] if found else None


def test_the_whole_story_on_a_phone(browser: Any, site: DemoServer, shots: Path) -> None:
    assert site.demo_credentials is not None
    username, password = site.demo_credentials
    context = browser.new_context(viewport=PHONE)
    context.set_default_timeout(15_000)
    page = context.new_page()

    # A first visit: the inspector shows a masked token; the cookie is being set.
    page.goto(f"{site.url}/login")
    assert page.locator("#insp-cookie-none").count() == 1
    first_token = text(page, "#insp-token")
    assert len(first_token) == 64
    assert unmask_token(first_token) == cookie(page, "csrftoken")
    fits(page, shots, "01-login-first-visit")

    # Reload: a new mask over the same secret, which is the cookie.
    page.reload()
    secret = cookie(page, "csrftoken")
    assert secret is not None and len(secret) == 32
    assert text(page, "#insp-cookie") == secret
    assert text(page, "#insp-token") != first_token
    assert text(page, "#insp-secret") == secret
    assert page.locator("#insp-no-row").count() == 1  # anonymous: no session row
    fits(page, shots, "02-login-reloaded")

    # A wrong password: the CSRF secret stays; still no session.
    page.fill('input[name="username"]', username)
    page.fill('input[name="password"]', "not the password")
    with page.expect_navigation():
        page.click('#login-form button[type="submit"]')
    assert "Wrong username or password" in text(page, ".error")
    assert cookie(page, "csrftoken") == secret
    assert text(page, "#insp-cookie") == secret
    fits(page, shots, "03-wrong-password")

    # The right one: a new secret, a new session whose row the inspector shows by its hash.
    page.fill('input[name="password"]', password)
    with page.expect_navigation(url=f"{site.url}/records"):
        page.click('#login-form button[type="submit"]')
    new_secret = cookie(page, "csrftoken")
    assert new_secret is not None and new_secret != secret
    assert "sessionid" not in page.evaluate("document.cookie")  # HttpOnly
    [session_cookie] = [c for c in context.cookies() if c["name"] == "sessionid"]
    assert session_cookie["httpOnly"] is True
    key_hash = hashlib.sha256(session_cookie["value"].encode()).hexdigest()
    assert text(page, "#insp-key-hash") == key_hash
    assert (text(page, "#insp-csrf-before"), text(page, "#insp-csrf-after")) == (secret, new_secret)
    assert text(page, "#insp-session-after") == key_hash
    assert session_cookie["value"] not in page.content()  # the raw id is never shown
    fits(page, shots, "04-records-after-login")

    # Add a record: it is listed with its date; then delete it.
    page.fill('textarea[name="text"]', "a record with a date " + "and-a-long-word-" * 8)
    # HTMX swaps the records section in place (tests/e2e/test_htmx.py covers it in depth).
    before = page.locator("#records li").count()
    page.click('#add-record button[type="submit"]')
    page.wait_for_function(f"document.querySelectorAll('#records li').length === {before + 1}")
    item = page.locator("#records li").last
    assert item.locator(".text").inner_text().startswith("a record with a date")
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", item.locator("time").inner_text())
    fits(page, shots, "05-record-added")
    count = page.locator("#records li").count()
    item.locator('button[type="submit"]').click()
    page.wait_for_function(f"document.querySelectorAll('#records li').length === {count - 1}")

    # A forged POST: the page's own form with its token tampered with by script, sent as a
    # plain form (form.submit() bypasses HTMX, whose header would carry the real secret).
    page.fill('textarea[name="text"]', "forged")
    page.evaluate(
        "document.querySelector('#add-record input[name=csrfmiddlewaretoken]').value ="
        " 'A'.repeat(64)"
    )
    with page.expect_navigation() as navigation:
        page.evaluate("document.querySelector('#add-record').submit()")
    assert navigation.value.status == 403
    assert page.locator('#problem[data-status="403"]').count() == 1
    assert text(page, "#reason") == "CSRF token from POST incorrect."
    fits(page, shots, "06-forged-post-403")

    # Where am I signed in: the browser by name, not a raw User-Agent string.
    page.goto(f"{site.url}/sessions")
    device = text(page, "tr.current td.device")
    assert re.fullmatch(r"(Headless )?Chrome on Linux", device), device
    fits(page, shots, "07-sessions")

    page.goto(f"{site.url}/no-such-page")
    assert page.locator('#problem[data-status="404"]').count() == 1
    fits(page, shots, "08-not-found")
    context.close()


def test_a_throttled_login_fits_the_phone(browser: Any, site: DemoServer, shots: Path) -> None:
    context = browser.new_context(viewport=PHONE)
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.goto(f"{site.url}/login")
    for attempt in range(11):
        page.fill('input[name="username"]', "throttled-on-a-phone")
        page.fill('input[name="password"]', f"guess {attempt}")
        with page.expect_navigation() as navigation:
            page.click('#login-form button[type="submit"]')
    assert navigation.value.status == 429
    assert page.locator('[data-status="429"]').count() == 1
    fits(page, shots, "09-throttled-429")
    context.close()


@pytest.fixture(scope="module")
def redis_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DemoServer, Any]]:
    directory = tmp_path_factory.mktemp("e2e-redis")
    redis = RedisServer(directory)
    redis.start()
    server = DemoServer(directory / "demo.sqlite3", store=redis.url, log=directory / "log")
    try:
        server.start().wait_ready()
        yield server, redis
    finally:
        server.stop()
        redis.stop(save=False)


def test_the_503_page_fits_the_phone(
    browser: Any, redis_site: tuple[DemoServer, Any], shots: Path
) -> None:
    server, redis = redis_site
    assert server.demo_credentials is not None
    context = browser.new_context(viewport=PHONE)
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.goto(f"{server.url}/login")
    page.fill('input[name="username"]', server.demo_credentials[0])
    page.fill('input[name="password"]', server.demo_credentials[1])
    with page.expect_navigation(url=f"{server.url}/records"):
        page.click('#login-form button[type="submit"]')
    redis.stop(save=False)  # the session store goes away
    response = page.goto(f"{server.url}/records")
    assert response is not None and response.status == 503
    assert page.locator('#problem[data-status="503"]').count() == 1
    fits(page, shots, "10-store-down-503")
    context.close()
