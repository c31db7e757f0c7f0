from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from cookieguard import KeyRing
from cookieguard.asgi.session import SessionMiddleware
from cookieguard.auth import (
    AuthConfig,
    AuthMiddleware,
    LoginThrottle,
    RememberConfig,
    RememberMiddleware,
    SQLiteUserStore,
    authenticate,
    client_address,
    login,
    reauthenticate,
    remember,
)
from cookieguard.integrations.starlette_recent import require_recent_login
from cookieguard.stores.sqlite import SQLiteStore

store = SQLiteStore("site.db")  # sessions, throttle counters and remember-me series
users = SQLiteUserStore("site.db")
throttle = LoginThrottle(store)


async def login_post(request: Request) -> Response:
    form = await request.form()
    user = await authenticate(users, form.get("username"), form.get("password"))
    if user is None:
        return PlainTextResponse("Wrong username or password", 401)
    await login(request, user)  # the password was just checked: a recent login
    if form.get("remember") == "1":
        await remember(request, user)  # persistent cookie; its login is never "recent"
    return PlainTextResponse("Logged in")


async def reauth_post(request: Request) -> Response:
    form = await request.form()
    ok = await reauthenticate(  # wrong passwords count toward the login throttle
        request, users, form.get("password"), throttle=throttle, address=client_address(request)
    )
    return PlainTextResponse("Confirmed" if ok else "Wrong password", 200 if ok else 401)


@require_recent_login(max_age=600)  # else 303 to /reauth?next=..., or 403 JSON for APIs
async def delete_account(request: Request) -> Response:
    return PlainTextResponse("Sensitive action done")


site = Starlette(
    routes=[
        Route("/login", login_post, methods=["POST"]),
        Route("/reauth", reauth_post, methods=["POST"]),
        Route("/account/delete", delete_account, methods=["GET"]),
    ]
)
config = AuthConfig(keyring=KeyRing("replace-me-with-32-random-bytes!"), user_store=users)
remembered = RememberMiddleware(site, RememberConfig(store))  # inside AuthMiddleware
app = SessionMiddleware(AuthMiddleware(remembered, config), store)
