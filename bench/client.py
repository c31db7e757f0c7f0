"""Log a user in the way a browser does and seed records, before wrk takes over.

Standard library only, so any Python can run it. `login()` returns the Cookie header and
the CSRF token that the workloads then replay; the same flow works on every subject that
serves the demo contract (cookieguard, Django, the starsessions stack).
"""

from __future__ import annotations

import http.client
import json
import re
import urllib.parse
from dataclasses import dataclass, field

_FIELD = re.compile(r"<input\b[^>]*\bname=\"csrfmiddlewaretoken\"[^>]*>", re.IGNORECASE | re.DOTALL)
_VALUE = re.compile(r"\bvalue=\"([^\"]*)\"")


class SetupError(RuntimeError):
    """The subject did not behave as the contract says during login or seeding."""


@dataclass
class Browser:
    """A tiny cookie-keeping HTTP client for one origin."""

    host: str
    port: int
    cookies: dict[str, str] = field(default_factory=dict)

    @property
    def origin(self) -> str:
        return f"http://{self.host}:{self.port}"

    def cookie_header(self) -> str:
        return "; ".join(f"{k}={v}" for k, v in self.cookies.items())

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, list[str]], bytes]:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            sent = {"Host": f"{self.host}:{self.port}", **(headers or {})}
            if self.cookies:
                sent["Cookie"] = self.cookie_header()
            conn.request(method, path, body=body, headers=sent)
            response = conn.getresponse()
            data = response.read()
            got: dict[str, list[str]] = {}
            for name, value in response.getheaders():
                got.setdefault(name.lower(), []).append(value)
        finally:
            conn.close()
        for line in got.get("set-cookie", []):
            self._store_cookie(line)
        return response.status, got, data

    def _store_cookie(self, line: str) -> None:
        first, *attributes = line.split(";")
        name, _, value = first.strip().partition("=")
        value = value.strip()
        expired = any(
            a.strip().lower() in ("max-age=0", "expires=thu, 01 jan 1970 00:00:00 gmt")
            for a in attributes
        )
        if expired or value in ("", '""', "''"):
            self.cookies.pop(name, None)
        else:
            self.cookies[name] = value

    def unsafe_headers(self) -> dict[str, str]:
        """What a browser adds to a same-origin form post or fetch(), plus the CSRF header."""
        headers = {"Origin": self.origin, "Sec-Fetch-Site": "same-origin"}
        token = self.cookies.get("csrftoken")
        if token:
            headers["X-CSRFToken"] = token
        return headers


def login(host: str, port: int, username: str, password: str) -> Browser:
    """GET /login, then POST the form with its token; returns the logged-in browser."""
    browser = Browser(host, port)
    status, _, page = browser.request("GET", "/login")
    if status != 200:
        raise SetupError(f"GET /login answered {status}")
    match = _FIELD.search(page.decode("utf-8", "replace"))
    value = _VALUE.search(match.group(0)) if match else None
    form_token = value.group(1) if value else ""
    body = urllib.parse.urlencode(
        {
            "csrfmiddlewaretoken": form_token,
            "username": username,
            "password": password,
            "next": "/records",
        }
    ).encode()
    headers = browser.unsafe_headers()
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    status, _, page = browser.request("POST", "/login", body, headers)
    if status not in (302, 303):
        raise SetupError(f"POST /login answered {status}: {page[:200]!r}")
    if "sessionid" not in browser.cookies:
        raise SetupError("POST /login set no sessionid cookie")
    return browser


def record_count(browser: Browser) -> int:
    status, _, data = browser.request("GET", "/api/records")
    if status != 200:
        raise SetupError(f"GET /api/records answered {status}")
    rows = json.loads(data)
    if not isinstance(rows, list):
        raise SetupError("GET /api/records did not answer a list")
    return len(rows)


def seed(browser: Browser, count: int) -> None:
    """Add records through POST /api/records until the user has `count` of them."""
    for i in range(count - record_count(browser)):
        headers = browser.unsafe_headers()
        headers["Content-Type"] = "application/json"
        body = json.dumps({"text": f"Record {i + 1}: <seeded> & escaped"}).encode()
        status, _, data = browser.request("POST", "/api/records", body, headers)
        if status != 201:
            raise SetupError(f"POST /api/records answered {status}: {data[:200]!r}")
    if record_count(browser) != count:
        raise SetupError(f"expected {count} records after seeding")
