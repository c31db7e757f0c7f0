import asyncio
import html

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from cookieguard import KeyRing
from cookieguard.asgi.csrf import CSRFMiddleware, csrf_input
from cookieguard.asgi.session import SessionMiddleware
from cookieguard.auth import (
    AuthConfig,
    AuthMiddleware,
    LoginThrottle,
    SQLiteUserStore,
    authenticate,
    client_address,
    default_hasher,
    get_user_id,
    login,
    logout,
)
from cookieguard.core.redirects import safe_next
from cookieguard.errors import LoginThrottled
from cookieguard.integrations.starlette import requires_login
from cookieguard.stores.sqlite import SQLiteStore

store = SQLiteStore("site.db")  # sessions and throttle counters
users = SQLiteUserStore("site.db")  # the built-in users table
throttle = LoginThrottle(store)  # 10 failures / 15 min per (username, address)


async def login_page(request: Request) -> Response:
    next_url = safe_next(request.query_params.get("next"), "/")
    return HTMLResponse(
        f'<form method="post">{csrf_input(request)}'
        f'<input type="hidden" name="next" value="{html.escape(next_url, quote=True)}">'
        '<input name="username"> <input name="password" type="password"> <button>Log in</button>'
        "</form>"
    )


async def login_post(request: Request) -> Response:
    form = await request.form()
    try:
        user = await authenticate(
            users,
            form.get("username"),
            form.get("password"),
            throttle=throttle,
            address=client_address(request),
        )
    except LoginThrottled as exc:
        return PlainTextResponse(
            "Too many attempts", 429, headers={"Retry-After": str(exc.retry_after)}
        )
    if user is None:
        return PlainTextResponse("Wrong username or password", 200)
    await login(request, user)  # new session id, new CSRF secret
    next_url = form.get("next")
    return RedirectResponse(safe_next(next_url if isinstance(next_url, str) else None), 303)


async def logout_post(request: Request) -> Response:
    await logout(request)  # session deleted server-side, cookie cleared
    return RedirectResponse("/login", 303)


@requires_login  # browsers: 303 to /login?next=...; /api/ or JSON clients: 401
async def home(request: Request) -> Response:
    return PlainTextResponse(f"Hello, user {get_user_id(request)}")  # no user query


site = Starlette(
    routes=[
        Route("/", home),
        Route("/login", login_page, methods=["GET"]),
        Route("/login", login_post, methods=["POST"]),
        Route("/logout", logout_post, methods=["POST"]),
    ]
)
config = AuthConfig(keyring=KeyRing("replace-me-with-32-random-bytes!"), user_store=users)
app = SessionMiddleware(CSRFMiddleware(AuthMiddleware(site, config)), store)

if __name__ == "__main__":  # create a user once, then: uvicorn login_starlette:app
    asyncio.run(users.create_user("alice", default_hasher().hash("correct horse battery")))
