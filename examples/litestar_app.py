import asyncio
from typing import Any

from jinja2 import DictLoader, Environment
from litestar import Litestar, Request, get, post
from litestar.params import URLEncodedBody
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Redirect, Template
from litestar.template import TemplateConfig

from cookieguard import KeyRing, SQLiteUserStore, authenticate, get_user_id, login, open_store
from cookieguard.auth import default_hasher
from cookieguard.integrations.litestar import CookieGuardPlugin, requires_login

users = SQLiteUserStore("site.db")
templates = DictLoader(
    {
        "login.html": """<form method="post" action="/login">{{ csrf_field() }}
  <input name="username"> <input name="password" type="password"> <button>Log in</button>
</form>""",
    }
)


@get("/login", sync_to_thread=False)
def login_page() -> Template:
    return Template(template_name="login.html")


@post("/login", status_code=200)  # 200 for the form again; the redirect is 303
async def do_login(
    request: Request[Any, Any, Any], data: URLEncodedBody[dict[str, str]]
) -> Redirect | Template:
    user = await authenticate(users, data.get("username"), data.get("password"))
    if user is None:
        return Template(template_name="login.html")
    await login(request, user)  # new session id, new CSRF secret
    return Redirect("/", status_code=303)


@post("/logout", sync_to_thread=False)
def do_logout(request: Request[Any, Any, Any]) -> Redirect:
    request.clear_session()  # Litestar's API: the session is deleted server-side
    return Redirect("/login", status_code=303)


@get("/", guards=[requires_login], sync_to_thread=False)  # browsers: 303 to /login?next=/
def home(request: Request[Any, Any, Any]) -> dict[str, str | None]:
    return {"user": get_user_id(request)}  # from the session: no query


@post("/hooks/payment", opt={"csrf_exempt": True}, sync_to_thread=False)
def payment_hook() -> dict[str, bool]:
    return {"received": True}  # signed by the provider instead of a CSRF token


app = Litestar(
    route_handlers=[login_page, do_login, do_logout, home, payment_hook],
    plugins=[
        CookieGuardPlugin(
            store=open_store("sqlite:///site.db"),
            secret_key=KeyRing("replace-me-with-32-random-bytes!"),
            users=users,
        )
    ],
    template_config=TemplateConfig(
        instance=JinjaTemplateEngine.from_environment(
            Environment(loader=templates, autoescape=True)
        )
    ),
)

if __name__ == "__main__":  # create a user once, then: uvicorn litestar_app:app
    asyncio.run(users.create_user("alice", default_hasher().hash("correct horse battery")))
