"""A real browser refuses to show the demo's pages inside another page's frame.

The framing page is served from http://127.0.0.1:P2 while the site is http://127.0.0.1:P1:
the same site to the browser (ports never make sites), so the SameSite=Lax session cookie
goes along with the frame's request. That is the clickjacking setting: only the site's
`frame-ancestors 'none'` / `X-Frame-Options: DENY` keep the logged-in page out of the frame.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.demo.server import DemoServer
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, _require_chromium

FRAMER = """<!doctype html><title>click here</title>
<iframe id="victim" src="{site}/sessions" width="800" height="600"></iframe>"""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServer]:
    directory = tmp_path_factory.mktemp("e2e-framing")
    server = DemoServer(directory / "demo.sqlite3", log=directory / "server.log")
    server.start().wait_ready()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def framer(site: DemoServer) -> Iterator[str]:
    """URL of a same-site page (another port on 127.0.0.1) that frames /sessions."""
    body = FRAMER.format(site=site.url).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/framer.html"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    _require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def test_a_same_site_page_cannot_frame_the_logged_in_sessions_page(
    browser: Any, site: DemoServer, framer: str
) -> None:
    assert site.demo_credentials is not None
    username, password = site.demo_credentials
    context = browser.new_context()
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.goto(f"{site.url}/login")
    page.fill('input[name="username"]', username)
    page.fill('input[name="password"]', password)
    with page.expect_navigation(url=f"{site.url}/records"):
        page.click('#login-form button[type="submit"]')

    with page.expect_response(f"{site.url}/sessions") as framed:
        page.goto(framer)
    # The request went out with the session (same-site) and the server answered the page...
    assert framed.value.status == 200
    assert "sessionid=" in framed.value.request.all_headers().get("cookie", "")
    page.wait_for_load_state("load")
    # ...but the browser did not render it inside the frame.
    frame = page.frame_locator("#victim")
    assert frame.locator("#revoke-others").count() == 0
    assert frame.locator("#sessions").count() == 0
    # Opened on its own, the page works: it is the framing that was refused.
    page.goto(f"{site.url}/sessions")
    assert page.locator("#revoke-others").count() == 1
    context.close()
