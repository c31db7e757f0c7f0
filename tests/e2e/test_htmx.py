"""The demo's records page through HTMX in Chromium, and the same flow without JavaScript.

With JavaScript, adding and deleting a record swaps the records section in place (a marker set
on ``window`` survives: no page load happened), every HTMX request carries ``X-CSRFToken``, and
the token still works after an ``hx-boost`` navigation. A stale token sent by a swapped form
with no header gets the styled 403 in place of the page. Without JavaScript the same forms are
plain forms answered with 303. The `site` and `browser` fixtures are in conftest.py.
"""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.demo.server import DemoServer


def _log_in(page: Any, site: DemoServer) -> None:
    assert site.demo_credentials is not None
    username, password = site.demo_credentials
    page.goto(f"{site.url}/login")
    page.fill('input[name="username"]', username)
    page.fill('input[name="password"]', password)
    with page.expect_navigation(url=f"{site.url}/records"):
        page.click('#login-form button[type="submit"]')


def _texts(page: Any) -> list[str]:
    return list(page.locator("#records li .text").all_inner_texts())


def test_add_and_delete_through_htmx_survive_boosted_navigation(
    browser: Any, site: DemoServer
) -> None:
    context = browser.new_context()
    context.set_default_timeout(15_000)
    page = context.new_page()
    _log_in(page, site)
    page.wait_for_function("window.htmx !== undefined")
    page.evaluate("window.__no_reload = 'kept'")
    sent: list[dict[str, str]] = []
    page.on(
        "request",
        lambda r: (
            sent.append(r.headers) if r.method == "POST" and "hx-request" in r.headers else None
        ),
    )

    # Add through HTMX: the fragment answers 200 and the page was not reloaded.
    page.fill('#add-record textarea[name="text"]', "added by htmx")
    with page.expect_response(lambda r: r.url == f"{site.url}/records") as added:
        page.click('#add-record button[type="submit"]')
    assert added.value.status == 200
    expect(page.locator("#records li .text").last).to_have_text("added by htmx")
    assert page.evaluate("window.__no_reload") == "kept"
    secret = next(c["value"] for c in context.cookies() if c["name"] == "csrftoken")
    assert sent[-1]["x-csrftoken"] == secret

    # Delete through HTMX.
    count = page.locator("#records li").count()
    with page.expect_response(lambda r: r.url.endswith("/delete")) as deleted:
        page.locator("#records li").last.locator('button[type="submit"]').click()
    assert deleted.value.status == 200
    expect(page.locator("#records li")).to_have_count(count - 1)
    assert "added by htmx" not in _texts(page)
    assert page.evaluate("window.__no_reload") == "kept"

    # hx-boost: to My sessions and back, both swapped in by HTMX, then add again.
    with page.expect_response(lambda r: r.url == f"{site.url}/sessions"):
        page.click('nav a[href="/sessions"]')
    page.wait_for_url(f"{site.url}/sessions")
    with page.expect_response(lambda r: r.url == f"{site.url}/records"):
        page.click('nav a[href="/records"]')
    expect(page.locator("#add-record")).to_be_visible()
    assert page.evaluate("window.__no_reload") == "kept"
    page.fill('#add-record textarea[name="text"]', "added after hx-boost")
    with page.expect_response(lambda r: r.url == f"{site.url}/records") as again:
        page.click('#add-record button[type="submit"]')
    assert again.value.status == 200
    expect(page.locator("#records li .text").last).to_have_text("added after hx-boost")
    assert page.evaluate("window.__no_reload") == "kept"

    # Bad input: an HTMX request with a stale form token and no header: the styled 403
    # replaces the page, nothing is added.
    page.evaluate(
        "document.addEventListener('htmx:configRequest',"
        " e => { delete e.detail.headers['X-CSRFToken'] });"
        "document.querySelector('#add-record input[name=csrfmiddlewaretoken]').value ="
        " 'A'.repeat(64)"
    )
    page.fill('#add-record textarea[name="text"]', "forged through htmx")
    with page.expect_response(lambda r: r.url == f"{site.url}/records") as refused:
        page.click('#add-record button[type="submit"]')
    assert refused.value.status == 403
    expect(page.locator('#problem[data-status="403"]')).to_be_visible()
    assert page.evaluate("window.__no_reload") == "kept"
    listed = context.request.get(f"{site.url}/api/records").json()
    assert "forged through htmx" not in [r["text"] for r in listed]
    assert "added after hx-boost" in [r["text"] for r in listed]
    context.close()


def test_the_same_forms_work_without_javascript(browser: Any, site: DemoServer) -> None:
    context = browser.new_context(java_script_enabled=False)
    context.set_default_timeout(15_000)
    page = context.new_page()
    _log_in(page, site)
    page.fill('#add-record textarea[name="text"]', "added without javascript")
    with page.expect_navigation(url=f"{site.url}/records") as navigation:
        page.click('#add-record button[type="submit"]')
    assert navigation.value.status == 200  # after the 303
    assert navigation.value.request.redirected_from is not None
    assert navigation.value.request.redirected_from.method == "POST"
    assert _texts(page)[-1] == "added without javascript"
    count = page.locator("#records li").count()
    with page.expect_navigation(url=f"{site.url}/records"):
        page.locator("#records li").last.locator('button[type="submit"]').click()
    assert page.locator("#records li").count() == count - 1
    assert "added without javascript" not in _texts(page)
    context.close()
