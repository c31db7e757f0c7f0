"""A cookieguard service logging in the users of an existing Django site, from its own
``auth_user`` table, unchanged: Django's PBKDF2 and Argon2 hashes verify as they are.

Django's table is read, never written (this store offers no ``set_password``, so hashes are
not upgraded here). The cookie names, the token field and the header are Django's defaults,
so a form rendered by Django posts to this service when both share the cookie: serve them on
one host, or give both the same cookie domain (``CSRF_COOKIE_DOMAIN`` in Django, ``domain=``
here).
"""

from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from cookieguard import (
    AuthConfig,
    AuthMiddleware,
    CSRFMiddleware,
    KeyRing,
    SessionMiddleware,
    authenticate,
    get_user_id,
    login,
)
from cookieguard.auth import User
from cookieguard.stores import open_store
from cookieguard.stores.sqlite_db import SQLiteDatabase


class DjangoUsers:
    """A `UserStore` over Django's ``auth_user`` table (SQLite here; PostgreSQL is the same
    two queries)."""

    def __init__(self, path: str) -> None:
        self.db = SQLiteDatabase(path, label="django users")

    @staticmethod
    def _user(row: Any) -> User | None:
        if row is None:
            return None
        user_id, username, password, is_active = row
        return User(str(user_id), username, password, bool(is_active))

    async def get_by_id(self, user_id: str) -> User | None:
        if not user_id.isdecimal():
            return None
        sql = "SELECT id, username, password, is_active FROM auth_user WHERE id = ?"
        return self._user(await self.db.fetchone(sql, (int(user_id),)))

    async def get_by_username(self, username: str) -> User | None:
        sql = "SELECT id, username, password, is_active FROM auth_user WHERE username = ?"
        return self._user(await self.db.fetchone(sql, (username,)))

    async def close(self) -> None:
        self.db.close()


users = DjangoUsers("db.sqlite3")  # the Django project's database
store = open_store("sqlite:///sessions.db")  # this service's sessions


async def login_post(request: Request) -> Response:
    form = await request.form()  # posted by a form Django rendered, with Django's token
    user = await authenticate(users, form.get("username"), form.get("password"))
    if user is None:
        return PlainTextResponse("Wrong username or password", 200)
    await login(request, user)
    return RedirectResponse("/", 303)


async def home(request: Request) -> Response:
    return PlainTextResponse(f"user {get_user_id(request)}")


site = Starlette(routes=[Route("/", home), Route("/login", login_post, methods=["POST"])])
config = AuthConfig(keyring=KeyRing("this-service-own-secret-key"), user_store=users)
app = SessionMiddleware(CSRFMiddleware(AuthMiddleware(site, config)), store)
