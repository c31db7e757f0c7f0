import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from cookieguard.asgi.csrf import CSRFMiddleware, csrf_input
from cookieguard.asgi.session import SessionMiddleware, get_session
from cookieguard.auth import AuthMiddleware, authenticate, change_password, get_user, login, logout
from cookieguard.django import from_django_settings
from cookieguard.errors import StoreUnavailable
from cookieguard.stores.purge import Purger

# The Django site's settings, as its settings.py has them (unset names: Django's defaults).
django = from_django_settings(
    {
        "SECRET_KEY": os.environ["DJANGO_SECRET_KEY"],
        "SECRET_KEY_FALLBACKS": [],
        "SESSION_COOKIE_NAME": "sessionid",
        "CSRF_COOKIE_NAME": "csrftoken",
        "DATABASES": {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": "db.sqlite3"}},
    }
)
database = os.environ.get("DJANGO_DB")  # or a postgresql:// DSN; None: DATABASES["default"]
sessions = django.session_backend(database)  # Django's django_session rows
users = django.user_store(database)  # Django's auth_user rows
auth = django.auth_config(users, recheck_interval=int(os.environ.get("RECHECK", "60")))


async def whoami(request: Request) -> Response:
    user = await get_user(request)
    return JSONResponse({"user": user.username if user else None})


async def login_page(request: Request) -> Response:
    return HTMLResponse(
        f'<form method="post">{csrf_input(request)}<input name="username">'
        '<input name="password" type="password"><button>Log in</button></form>'
    )


async def login_post(request: Request) -> Response:
    form = await request.form()
    user = await authenticate(users, form.get("username"), form.get("password"), hasher=auth.hasher)
    if user is None:
        return PlainTextResponse("Wrong username or password", 401)
    await login(request, user)  # Django's session keys; Django sees the login at once
    return PlainTextResponse("Logged in")


async def logout_post(request: Request) -> Response:
    await logout(request)  # the django_session row is deleted: logged out on both sides
    return PlainTextResponse("Logged out")


async def password_post(request: Request) -> Response:
    user = await get_user(request)
    new = (await request.form()).get("new_password")
    if user is None or not isinstance(new, str):
        return PlainTextResponse("Log in first", 403)
    await change_password(request, users, user, new)  # a hash Django reads; other sessions end
    return PlainTextResponse("Password changed")


async def form_page(request: Request) -> Response:
    return HTMLResponse(f'<form method="post">{csrf_input(request)}<input name="text"></form>')


async def form_post(request: Request) -> Response:
    text = (await request.form()).get("text")
    get_session(request)["last_text"] = text if isinstance(text, str) else ""
    return PlainTextResponse("Accepted")


routes = [
    Route("/whoami", whoami),
    Route("/login", login_page, methods=["GET"]),
    Route("/login", login_post, methods=["POST"]),
    Route("/logout", logout_post, methods=["POST"]),
    Route("/password", password_post, methods=["POST"]),
    Route("/form", form_page, methods=["GET"]),
    Route("/form", form_post, methods=["POST"]),
]


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    # Deletes expired rows as `manage.py clearsessions` does; either (or both) may run.
    async with Purger(sessions.store, interval=float(os.environ.get("PURGE_INTERVAL", "300"))):
        yield
    await sessions.close()
    await users.close()


async def unavailable(request: Request, exc: Exception) -> Response:
    return PlainTextResponse("The database is unavailable; try again", 503)


site = Starlette(
    routes=routes, lifespan=lifespan, exception_handlers={StoreUnavailable: unavailable}
)
app = SessionMiddleware(
    CSRFMiddleware(AuthMiddleware(site, auth), django.csrf), sessions, django.session
)
