"""Every layer of a deployed app, its settings from the environment.

``COOKIEGUARD_SECRET_KEY`` is required (``cookieguard secret`` makes one); during a key
rotation ``COOKIEGUARD_OLD_SECRET_KEYS`` lists the retired keys, comma-separated.
``SESSION_STORE`` is a store URL (default: ``sqlite:///sessions.db``), ``USERS_DB`` the
users file. Serve it with uvicorn; see the deployment guide for the proxy flags.
"""

import html
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from cookieguard import (
    AuthConfig,
    AuthMiddleware,
    BodyLimitMiddleware,
    CSRFMiddleware,
    KeyRing,
    SecurityHeadersMiddleware,
    SessionConfig,
    SessionMiddleware,
    SQLiteUserStore,
    authenticate,
    csrf_input,
    get_user,
    login,
    open_store,
)
from cookieguard.stores.purge import Purger

# Newest key first: it signs; the old ones still verify what they signed until it expires.
old_keys = [key for key in os.environ.get("COOKIEGUARD_OLD_SECRET_KEYS", "").split(",") if key]
keyring = KeyRing(os.environ["COOKIEGUARD_SECRET_KEY"], fallbacks=old_keys)
store = open_store(os.environ.get("SESSION_STORE", "sqlite:///sessions.db"))
users = SQLiteUserStore(os.environ.get("USERS_DB", "users.db"))


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    async with Purger(store):  # deletes expired sessions every five minutes
        yield
    await store.close()
    await users.close()


async def page(request: Request) -> Response:
    user = await get_user(request)  # re-checks the session's auth hash against the key ring
    if user is None:
        return HTMLResponse(
            f'<form method="post" action="/login">{csrf_input(request)}'
            '<input name="username"> <input name="password" type="password">'
            "<button>Log in</button></form>"
        )
    return HTMLResponse(
        f"<p>Hello, {html.escape(user.username)}</p>"
        f'<form method="post" action="/notes">{csrf_input(request)}'
        '<textarea name="text"></textarea> <button>Save</button></form>'
    )


async def login_post(request: Request) -> Response:
    form = await request.form(max_files=0)
    user = await authenticate(users, form.get("username"), form.get("password"))
    if user is not None:
        await login(request, user)
    return RedirectResponse("/", 303)


async def add_note(request: Request) -> Response:
    form = await request.form(max_files=0)  # no uploads here: a file part is a 400
    return PlainTextResponse(f"saved {len(str(form.get('text', '')))} characters")


site = Starlette(
    routes=[
        Route("/", page),
        Route("/login", login_post, methods=["POST"]),
        Route("/notes", add_note, methods=["POST"]),
    ],
    lifespan=lifespan,
)
auth = AuthMiddleware(site, AuthConfig(keyring=keyring, user_store=users))
csrf = CSRFMiddleware(auth)  # CSRFConfig defaults: Django's names, tokens required
sessions = SessionMiddleware(csrf, store, SessionConfig(idle_timeout=8 * 3600))
limited = BodyLimitMiddleware(sessions, 16 * 1024, path_limits={"/notes": 64 * 1024})
app = SecurityHeadersMiddleware(limited, no_store=True)
