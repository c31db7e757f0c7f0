"""The WSGI CSRF layer: the core's decisions with the ASGI driver's pages, cookies and logs."""

from __future__ import annotations

import hashlib
import io
import json
import re
from typing import Any

import pytest

from cookieguard.stores.memory import SyncMemoryStore

from .site import client, guard

TOKEN = re.compile(r'value="([A-Za-z0-9]{64})"')


def _token(c: Any) -> str:
    page = c.get("/page")
    found = TOKEN.search(page.text)
    assert found is not None
    return found[1]


def test_first_page_sets_the_cookie_and_varies_on_cookie() -> None:
    c = client(guard(SyncMemoryStore()))
    page = c.get("/page")
    assert page.status_code == 200
    cookie = page.headers["set-cookie"]
    assert cookie.startswith("csrftoken=") and "SameSite=Lax" in cookie
    assert "Cookie" in page.headers["vary"]
    again = c.get("/page")
    assert "set-cookie" not in again.headers  # the browser already holds the secret
    assert TOKEN.search(again.text)[1] != TOKEN.search(page.text)[1]  # masked per page


def test_post_needs_the_token_and_logs_djangos_reason(caplog: pytest.LogCaptureFixture) -> None:
    c = client(guard(SyncMemoryStore()))
    token = _token(c)
    with caplog.at_level("WARNING", logger="cookieguard.csrf"):
        refused = c.post("/echo", data={"text": "hi"})
    assert refused.status_code == 403
    assert "CSRF verification failed" in refused.text
    assert "CSRF token missing." not in refused.text  # the reason only in debug
    assert "Forbidden (CSRF token missing.): /echo" in caplog.text
    assert c.post("/echo", data={"csrfmiddlewaretoken": token}).status_code == 200
    assert c.post("/echo", headers={"X-CSRFToken": token}).status_code == 200


def test_debug_shows_the_reason_in_the_page() -> None:
    c = client(guard(SyncMemoryStore(), debug=True))
    _token(c)
    refused = c.post("/echo", data={"csrfmiddlewaretoken": "x" * 64})
    assert refused.status_code == 403
    assert "CSRF token from POST incorrect." in refused.text


@pytest.mark.parametrize(
    "headers", [{"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"}], ids=str
)
def test_foreign_origin_and_cross_site_fetches_are_refused(headers: dict[str, str]) -> None:
    c = client(guard(SyncMemoryStore()))
    token = _token(c)
    assert c.post("/echo", data={"csrfmiddlewaretoken": token}, headers=headers).status_code == 403
    assert c.post("/echo", data={"csrfmiddlewaretoken": token}).status_code == 200


def test_api_prefixes_refuse_with_json() -> None:
    c = client(guard(SyncMemoryStore(), api_prefixes=["/api/"]))
    refused = c.post("/api/things", headers={"Accept": "text/html"})
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/json"
    assert refused.json()["error"] == "csrf_failed"


def test_exempt_paths_pass_without_a_token() -> None:
    c = client(guard(SyncMemoryStore(), exempt_paths=["/hook"]))
    assert c.post("/hook", content=b"{}").status_code == 200
    assert c.post("/hook/x", content=b"{}").status_code == 403  # exact paths only


def test_the_body_the_app_reads_is_the_body_the_client_sent() -> None:
    c = client(guard(SyncMemoryStore()))
    token = _token(c)
    upload = bytes(range(256)) * 2000  # 512 KB after the token: multipart, read in chunks
    response = c.post("/echo", data={"csrfmiddlewaretoken": token}, files={"f": ("a", upload)})
    assert response.status_code == 200
    length, digest = response.json()
    sent = response.request.content
    assert length == len(sent) and digest == hashlib.sha256(sent).hexdigest()


def test_a_body_over_max_body_size_is_413() -> None:
    c = client(guard(SyncMemoryStore(), max_body_size=1024))
    token = _token(c)
    response = c.post("/echo", data={"pad": "x" * 2000, "csrfmiddlewaretoken": token})
    assert response.status_code == 413


class CountingInput(io.BytesIO):
    reads = 0

    def read(self, size: int | None = -1) -> bytes:
        CountingInput.reads += 1
        return super().read(size)


def _call(app: Any, environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes]:
    seen: list[Any] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        seen[:] = [status, headers]
        return lambda data: None

    body = b"".join(app(environ, start_response))
    return seen[0], seen[1], body


def _environ(method: str, body: bytes, **extra: str) -> dict[str, Any]:
    return {
        "REQUEST_METHOD": method,
        "PATH_INFO": "/echo",
        "SCRIPT_NAME": "",
        "QUERY_STRING": "",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "HTTP_HOST": "testserver",
        "wsgi.url_scheme": "http",
        "wsgi.input": CountingInput(body),
        "CONTENT_LENGTH": str(len(body)),
        "CONTENT_TYPE": "application/x-www-form-urlencoded",
        **extra,
    }


def test_the_body_is_read_only_when_the_core_asks_for_the_form_token() -> None:
    app = guard(SyncMemoryStore())
    _, headers, _ = _call(app, {**_environ("GET", b""), "PATH_INFO": "/token"})
    cookie = next(v for k, v in headers if k == "Set-Cookie").split(";")[0]
    secret = cookie.partition("=")[2]
    CountingInput.reads = 0
    # Refused on the headers alone (cross-site, or no cookie): the body is never touched.
    status, _, _ = _call(app, _environ("POST", b"a=1", HTTP_SEC_FETCH_SITE="cross-site"))
    assert status.startswith("403") and CountingInput.reads == 0
    status, _, _ = _call(app, _environ("POST", b"a=1"))
    assert status.startswith("403") and CountingInput.reads == 0
    # The token in the header: accepted without reading the body (/ok never reads it).
    ok = _environ("POST", b"a=1", HTTP_COOKIE=cookie, HTTP_X_CSRFTOKEN=secret, PATH_INFO="/ok")
    status, _, _ = _call(app, ok)
    assert status.startswith("200") and CountingInput.reads == 0
    # Only a form without the header makes the layer read the body.
    form = _environ("POST", f"csrfmiddlewaretoken={secret}".encode(), HTTP_COOKIE=cookie)
    status, _, _ = _call(app, {**form, "PATH_INFO": "/ok"})
    assert status.startswith("200") and CountingInput.reads > 0


def test_the_session_holds_the_secret_with_use_session() -> None:
    store = SyncMemoryStore()
    c = client(guard(store, use_session=True))
    token = _token(c)
    assert "csrftoken" not in c.cookies  # no CSRF cookie: the secret is in the session
    assert c.cookies.get("sessionid")
    assert c.post("/echo", data={"csrfmiddlewaretoken": token}).status_code == 200
    assert json.loads(c.get("/get?_csrftoken").text) is not None
