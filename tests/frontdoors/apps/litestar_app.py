"""The conformance app for Litestar, written as a Litestar user writes one.

The plugin in ``Litestar(plugins=[...])``, Litestar's own session API (``request.session``,
``request.clear_session()``), a route option for the exempt webhook, a guard for the private
page, a Jinja template with ``{{ csrf_field() }}`` for the form.
"""

from __future__ import annotations

from typing import Any, Literal

from litestar import Litestar, Request, WebSocket, get, post, websocket
from litestar.params import FromPath, URLEncodedBody
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Redirect, Template
from litestar.template import TemplateConfig

from cookieguard import SQLiteUserStore, authenticate, get_user_id, login, open_store
from cookieguard.integrations.litestar import CookieGuardPlugin, requires_login

KIND: Literal["asgi", "wsgi"] = "asgi"
HAS_WEBSOCKET = True

FORM = """<!doctype html><title>form</title>
<form method="post" action="{{ action }}">{{ csrf_field() }}
<input name="username"> <input name="password" type="password"> <button>Send</button></form>
"""

Form = URLEncodedBody[dict[str, str]]


@get("/form", sync_to_thread=False)
def show_form() -> Template:
    return Template(template_str=FORM, context={"action": "/form"})


@post("/form", status_code=200, sync_to_thread=False)
def submit_form() -> str:
    return "ok"


@post("/login", status_code=200)
async def do_login(request: Request[Any, Any, Any], data: Form) -> Redirect | Template:
    users: SQLiteUserStore = request.app.state.users
    user = await authenticate(users, data.get("username"), data.get("password"))
    if user is None:
        return Template(template_str=FORM, context={"action": "/login"})
    await login(request, user)
    return Redirect("/whoami", status_code=303)


@post("/logout", sync_to_thread=False)
def do_logout(request: Request[Any, Any, Any]) -> Redirect:
    request.clear_session()  # Litestar's own API: cookieguard deletes the session
    return Redirect("/form", status_code=303)


@get("/whoami", sync_to_thread=False)
def whoami(request: Request[Any, Any, Any]) -> dict[str, str | None]:
    return {"user": get_user_id(request)}


@post("/session/{key:str}", status_code=200, sync_to_thread=False)
def set_value(request: Request[Any, Any, Any], key: FromPath[str], data: Form) -> str:
    request.session[key] = data.get("value")
    return "ok"


@get("/session/{key:str}", sync_to_thread=False)
def get_value(request: Request[Any, Any, Any], key: FromPath[str]) -> dict[str, Any]:
    return {"value": request.session.get(key)}


@post("/hook", status_code=200, opt={"csrf_exempt": True}, sync_to_thread=False)
def hook() -> str:
    return "hooked"


@get("/private", guards=[requires_login], sync_to_thread=False)
def private(request: Request[Any, Any, Any]) -> dict[str, str | None]:
    return {"user": get_user_id(request)}


@websocket("/ws")
async def ws(socket: WebSocket[Any, Any, Any]) -> None:
    await socket.accept()
    await socket.send_text("hi")
    await socket.close()


def make_app(*, store_url: str, users_db: str, secret_key: str) -> Litestar:
    """The Litestar app with cookieguard's plugin (see the suite's contract)."""
    users = SQLiteUserStore(users_db)
    plugin = CookieGuardPlugin(store=open_store(store_url), secret_key=secret_key, users=users)
    app = Litestar(
        route_handlers=[
            show_form,
            submit_form,
            do_login,
            do_logout,
            whoami,
            set_value,
            get_value,
            hook,
            private,
            ws,
        ],
        plugins=[plugin],
        template_config=TemplateConfig(engine=JinjaTemplateEngine.from_environment(_env())),
    )
    app.state.users = users
    return app


def _env() -> Any:
    from jinja2 import Environment

    return Environment(autoescape=True)
