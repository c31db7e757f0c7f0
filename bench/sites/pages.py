"""HTML pages shared by the Starlette peer subjects (one Jinja2 environment, autoescaped).

Configured like the cookieguard demo's: templates compiled once, never re-checked on disk.
"""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

_ENV = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(default=True),
    auto_reload=False,  # as a tuned deployment (and the demo) runs: no stat() per render
)
_LOGIN = _ENV.get_template("login.html")
_RECORDS = _ENV.get_template("records.html")


def login_page(token: str, next_url: str, error: str | None = None) -> str:
    return _LOGIN.render(token=token, next=next_url, error=error)


def records_page(
    username: str, token: str, records: list[tuple[int, str]], error: str | None = None
) -> str:
    return _RECORDS.render(username=username, token=token, records=records, error=error)
