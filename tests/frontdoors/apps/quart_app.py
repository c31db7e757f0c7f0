"""The conformance app for Quart, written as a Quart user writes one (FRONTDOORS_SPEC.md).

Settings go through ``app.config``; Quart's own ``session`` carries the data and ``clear()``
logs out; ``@guard.exempt`` and ``@login_required`` decorate views; the form is a Jinja
template using the ``csrf_input()`` global.
"""

from __future__ import annotations

from typing import Any, Literal

from quart import Quart, redirect, render_template_string, request, session, websocket

from cookieguard import SQLiteUserStore, authenticate, get_user_id, login
from cookieguard.integrations.quart import CookieGuard, login_required

KIND: Literal["asgi", "wsgi"] = "asgi"
HAS_WEBSOCKET = True

FORM = """<!doctype html>
<title>form</title>
<form method="post" action="{{ action }}">
  {{ csrf_input() }}
  <input name="username"> <input name="password" type="password"> <button>Send</button>
</form>
"""


def make_app(*, store_url: str, users_db: str, secret_key: str) -> Any:
    """A Quart app serving every route of the spec, with cookieguard as its extension."""
    app = Quart(__name__)
    app.config.from_mapping(COOKIEGUARD_STORE=store_url, COOKIEGUARD_SECRET_KEY=secret_key)
    users = SQLiteUserStore(users_db)
    guard = CookieGuard(app, users=users)
    app.after_serving(users.close)

    @app.get("/form")
    async def form_page() -> str:
        return await render_template_string(FORM, action="/form")

    @app.post("/form")
    async def form_post() -> str:
        return "ok"

    @app.post("/login")
    async def login_post() -> Any:
        form = await request.form
        user = await authenticate(users, form.get("username"), form.get("password"))
        if user is None:
            return await render_template_string(FORM, action="/login")
        await login(request, user)
        return redirect("/whoami", 303)

    @app.post("/logout")
    async def logout_post() -> Any:
        session.clear()  # ends the session server-side, as cookieguard's logout() does
        return redirect("/form", 303)

    @app.get("/whoami")
    async def whoami() -> dict[str, Any]:
        return {"user": get_user_id(request)}

    @app.post("/session/<key>")
    async def session_set(key: str) -> str:
        session[key] = (await request.form).get("value")
        return "ok"

    @app.get("/session/<key>")
    async def session_get(key: str) -> dict[str, Any]:
        return {"value": session.get(key)}

    @app.post("/hook")
    @guard.exempt
    async def hook() -> str:
        return "hooked"

    @app.get("/private")
    @login_required
    async def private() -> dict[str, Any]:
        return {"user": get_user_id(request)}

    @app.websocket("/ws")
    async def ws() -> None:
        await websocket.accept()
        await websocket.send("hi")
        await websocket.close(1000)

    return app
