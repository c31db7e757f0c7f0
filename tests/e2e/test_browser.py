"""A real browser against the demo: log in, add a record, then survive a cross-site attack.

The site runs on http://127.0.0.1:P1 and the attacker's page on http://localhost:P2: different
sites to a browser (ports never make sites), so the browser applies SameSite and sends
``Sec-Fetch-Site: cross-site``. Chromium is Debian's package at /usr/bin/chromium, driven by
Playwright (never ``playwright install``); the `site` and `browser` fixtures are in conftest.py.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.demo.server import DemoServer

FORM_ATTACK = """<!doctype html><title>win a prize</title>
<form id="f" method="post" action="{site}/records">
  <input name="csrfmiddlewaretoken" value="{fake}"><input name="text" value="forged by form">
</form>
<script>document.getElementById("f").submit();</script>"""

FETCH_ATTACK = """<!doctype html><title>win a prize</title>
<script>
fetch("{site}/records", {{
  method: "POST", mode: "no-cors", credentials: "include",
  headers: {{"Content-Type": "application/x-www-form-urlencoded"}},
  body: "csrfmiddlewaretoken={fake}&text=forged+by+fetch",
}}).finally(() => {{ document.title = "sent"; }});
</script>"""


@pytest.fixture(scope="module")
def attacker(site: DemoServer) -> Iterator[str]:
    """Base URL (on 'localhost', another site) of a server with the two attack pages."""
    fake = "A" * 64
    pages = {
        "/form.html": FORM_ATTACK.format(site=site.url, fake=fake).encode(),
        "/fetch.html": FETCH_ATTACK.format(site=site.url, fake=fake).encode(),
    }

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = pages.get(self.path)
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://localhost:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_login_add_record_and_refuse_cross_site_posts(
    browser: Any, site: DemoServer, attacker: str
) -> None:
    assert site.demo_credentials is not None
    username, password = site.demo_credentials
    context = browser.new_context()
    context.set_default_timeout(15_000)
    page = context.new_page()

    # Log in through the form.
    page.goto(f"{site.url}/login")
    page.fill('input[name="username"]', username)
    page.fill('input[name="password"]', password)
    with page.expect_navigation(url=f"{site.url}/records"):
        page.click('#login-form button[type="submit"]')
    cookies = page.evaluate("document.cookie")
    assert "csrftoken=" in cookies
    assert "sessionid" not in cookies  # HttpOnly: invisible to scripts

    # Add a record through the form (HTMX swaps the list in place).
    page.fill('textarea[name="text"]', "written in a real browser <b>")
    with page.expect_response(lambda r: r.url == f"{site.url}/records" and r.status == 200):
        page.click('#add-record button[type="submit"]')
    expect(page.locator("#records li .text").last).to_have_text("written in a real browser <b>")

    def record_count() -> int:
        response = context.request.get(f"{site.url}/api/records")
        assert response.status == 200
        return len(response.json())

    before = record_count()

    # Another site auto-submits a form to /records: refused, nothing added.
    with page.expect_response(
        lambda r: r.url == f"{site.url}/records" and r.request.method == "POST"
    ) as posted:
        page.goto(f"{attacker}/form.html")
    assert posted.value.status == 403
    sent = posted.value.request.all_headers()
    assert sent.get("sec-fetch-site") == "cross-site"
    assert "sessionid" not in sent.get("cookie", "")  # SameSite=Lax kept the session home

    # And a credentialed fetch: refused too.
    with page.expect_response(
        lambda r: r.url == f"{site.url}/records" and r.request.method == "POST"
    ) as fetched:
        page.goto(f"{attacker}/fetch.html")
    assert fetched.value.status == 403

    assert record_count() == before
    page.goto(f"{site.url}/records")  # still logged in: the attack did not log us out either
    assert page.url == f"{site.url}/records"
    context.close()
