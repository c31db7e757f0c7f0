"""The pages every bench app renders (the Starlette app and the Flask app): f-strings only."""

from __future__ import annotations

import html


def safe_next(value: object) -> str:
    if isinstance(value, str) and value.startswith("/") and not value.startswith(("//", "/\\")):
        return value
    return "/records"


def _hidden(token: str) -> str:
    return f'<input type="hidden" name="csrfmiddlewaretoken" value="{token}">'


def login_page(token: str, next_url: str, error: str = "") -> str:
    notice = f'<p class="error">{html.escape(error)}</p>' if error else ""
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Log in</title>'
        f"</head><body><h1>Log in</h1>{notice}"
        f'<form method="post" action="/login">{_hidden(token)}'
        f'<input type="hidden" name="next" value="{html.escape(next_url)}">'
        '<label>Username <input name="username" autocomplete="username"></label>'
        '<label>Password <input name="password" type="password"></label>'
        "<button>Log in</button></form></body></html>"
    )


def records_page(username: str, token: str, rows: list[tuple[int, str]], error: str = "") -> str:
    items = "".join(f"<li>{html.escape(text)}</li>" for _, text in rows)
    notice = f'<p class="error">{html.escape(error)}</p>' if error else ""
    field = _hidden(token)
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Records</title>'
        f"</head><body><p>Logged in as {html.escape(username)}</p>"
        f'<form method="post" action="/logout">{field}<button>Log out</button></form>'
        f"<h1>Records</h1>{notice}<ul>{items}</ul>"
        f'<form method="post" action="/records">{field}'
        '<input name="text" required><button>Add</button></form></body></html>'
    )
