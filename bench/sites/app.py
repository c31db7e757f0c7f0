"""The one app every ASGI subject serves; subjects differ only in the security layer.

Routes W1..W4 of the demo contract (GET/POST /login, POST /logout, GET/POST /records,
GET/POST /api/records) on Starlette's ordinary router, records in plain sqlite3
(`peerdb.PeerDB`), pages built with f-strings. `BENCH_SECURITY` picks the layer:

- ``none``: no session, CSRF or login; the "user" is whatever the unsigned `uid` cookie says.
  The ceiling every ratio is taken against.
- ``cookieguard``: ``cookieguard.CookieGuard(app, store=..., secret_key=..., users=...)``, the
  README's one-line entry; users in a `SQLiteUserStore` in the same file as the records.
- ``starsessions``: starsessions (memory or Redis store) + starlette-csrf, as people
  assemble a Starlette stack today.
- ``floor``: the least code the workloads' protection needs (`floor.py`): a lower bound,
  not a peer.

The handlers are the same code for all three: a layer only says who the user is, what token a
form carries, and how to log in and out. Environment: BENCH_DB (SQLite file), BENCH_STORE (a
store URL), BENCH_SECRET, BENCH_REDIS_PREFIX.

Run: BENCH_SECURITY=cookieguard BENCH_DB=... uvicorn --factory app:create_app
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from pages import login_page, records_page, safe_next
from peerdb import PeerDB, adduser_command, record_text_error
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

# Who is logged in: (user_id, username), or None.
User = tuple[str, str] | None


class Layer:
    """What the handlers ask of the security layer; this base is the `none` layer."""

    def __init__(self) -> None:
        self.middleware: list[Middleware] = []

    def user(self, request: Request) -> User:
        uid = request.cookies.get("uid", "1")
        return uid, uid

    def token(self, request: Request) -> str:
        return ""

    async def login(self, request: Request, username: object, password: object) -> bool:
        return True

    async def logout(self, request: Request) -> None:
        return None


class StarsessionsLayer(Layer):
    """starsessions + starlette-csrf; login regenerates the session id, as documented."""

    def __init__(self, db: PeerDB, store_url: str, secret: str) -> None:
        from starlette_csrf import CSRFMiddleware
        from starsessions import InMemoryStore, SessionAutoloadMiddleware, SessionMiddleware

        if store_url.startswith("redis://"):
            from starsessions.stores.redis import RedisStore

            prefix = os.environ.get("BENCH_REDIS_PREFIX", "bench-starsessions:")
            store: Any = RedisStore(store_url, prefix=prefix)
        else:
            store = InMemoryStore()
        super().__init__()
        self.db = db
        self.middleware = [
            Middleware(
                SessionMiddleware,
                store=store,
                cookie_name="sessionid",
                cookie_https_only=False,
                lifetime=14 * 24 * 3600,
            ),
            Middleware(SessionAutoloadMiddleware),
            Middleware(CSRFMiddleware, secret=secret, cookie_name="csrftoken"),
        ]

    def user(self, request: Request) -> User:
        session = request.session
        user_id = session.get("user_id")
        return None if user_id is None else (user_id, session["username"])

    def token(self, request: Request) -> str:
        # starlette-csrf's cookie is the token (it reads it back from X-CSRFToken only).
        return request.cookies.get("csrftoken", "")

    async def login(self, request: Request, username: object, password: object) -> bool:
        from starsessions import regenerate_session_id

        user_id = None
        if isinstance(username, str) and isinstance(password, str):
            user_id = self.db.authenticate(username, password)
        if user_id is None:
            return False
        regenerate_session_id(request)
        request.session.clear()
        request.session["user_id"] = user_id
        request.session["username"] = username
        return True

    async def logout(self, request: Request) -> None:
        request.session.clear()


class CookieGuardLayer(Layer):
    """cookieguard's public API only: `CookieGuard` wraps the app (see `create_app`)."""

    def __init__(self, users: Any) -> None:
        import cookieguard

        super().__init__()
        self.cg = cookieguard
        self.users = users

    def user(self, request: Request) -> User:
        user_id = self.cg.get_user_id(request)
        if user_id is None:
            return None
        return user_id, self.cg.get_session(request).get("username", "")

    def token(self, request: Request) -> str:
        return self.cg.get_csrf_token(request)

    async def login(self, request: Request, username: object, password: object) -> bool:
        user = await self.cg.authenticate(self.users, username, password)
        if user is None:
            return False
        await self.cg.login(request, user)
        self.cg.get_session(request)["username"] = user.username
        return True

    async def logout(self, request: Request) -> None:
        await self.cg.logout(request)


def routes(db: PeerDB, layer: Layer) -> list[Route]:
    """The contract's routes; identical for every layer."""

    async def login_form(request: Request) -> Response:
        next_url = safe_next(request.query_params.get("next"))
        return HTMLResponse(login_page(layer.token(request), next_url))

    async def login(request: Request) -> Response:
        form = await request.form()
        if not await layer.login(request, form.get("username"), form.get("password")):
            page = login_page(layer.token(request), "/records", "Wrong username or password.")
            return HTMLResponse(page)
        return RedirectResponse(safe_next(form.get("next")), status_code=303)

    async def logout(request: Request) -> Response:
        await layer.logout(request)
        return RedirectResponse("/login", status_code=303)

    async def records(request: Request) -> Response:
        user = layer.user(request)
        if user is None:
            return RedirectResponse("/login?next=/records", status_code=303)
        return HTMLResponse(records_page(user[1], layer.token(request), db.records(user[0])))

    async def add_record_form(request: Request) -> Response:
        user = layer.user(request)
        if user is None:
            return RedirectResponse("/login?next=/records", status_code=303)
        form = await request.form()
        text = form.get("text")
        error = record_text_error({"text": text})
        if error or not isinstance(text, str):
            page = records_page(user[1], layer.token(request), db.records(user[0]), error or "")
            return HTMLResponse(page, status_code=400)
        db.add_record(user[0], text)
        return RedirectResponse("/records", status_code=303)

    async def api_records(request: Request) -> Response:
        user = layer.user(request)
        if user is None:
            return JSONResponse({"error": "not logged in"}, status_code=401)
        return JSONResponse([{"id": i, "text": t} for i, t in db.records(user[0])])

    async def api_add(request: Request) -> Response:
        user = layer.user(request)
        if user is None:
            return JSONResponse({"error": "not logged in"}, status_code=401)
        try:
            body = json.loads(await request.body())
        except ValueError:
            return JSONResponse({"error": "body is not JSON"}, status_code=400)
        error = record_text_error(body)
        if error:
            return JSONResponse({"error": error}, status_code=400)
        text = body["text"]
        return JSONResponse({"id": db.add_record(user[0], text), "text": text}, status_code=201)

    return [
        Route("/login", login_form, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/records", records, methods=["GET"]),
        Route("/records", add_record_form, methods=["POST"]),
        Route("/api/records", api_records, methods=["GET"]),
        Route("/api/records", api_add, methods=["POST"]),
    ]


def _closing(db: PeerDB, *more: Callable[[], Awaitable[None]]) -> Any:
    """A lifespan that closes the database (and the stores in `more`) at server shutdown."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            db.close()
            for close in more:
                await close()

    return lifespan


def build(security: str, db_path: str, store_url: str, secret: str) -> Any:
    """The ASGI app for one subject; its lifespan shutdown closes what it opened."""
    db = PeerDB(db_path)
    if security == "none":
        return Starlette(routes=routes(db, Layer()), lifespan=_closing(db))
    if security == "starsessions":
        layer: Layer = StarsessionsLayer(db, store_url, secret)
        return Starlette(
            routes=routes(db, layer), middleware=layer.middleware, lifespan=_closing(db)
        )
    if security == "floor":
        from floor import Floor, FloorLayer

        floor = Floor(None)
        floor.app = Starlette(routes=routes(db, FloorLayer(db, floor)), lifespan=_closing(db))
        return floor
    if security == "cookieguard":
        import cookieguard

        users = cookieguard.SQLiteUserStore(db_path)
        options: dict[str, Any] = {}
        if store_url.startswith("redis://"):
            options["prefix"] = os.environ.get("BENCH_REDIS_PREFIX", "bench-cg:")
        if store_url.startswith("postgresql://") and os.environ.get("BENCH_PG_TABLE"):
            options["table"] = os.environ["BENCH_PG_TABLE"]
        store = cookieguard.open_store(store_url, **options)
        api = Starlette(
            routes=routes(db, CookieGuardLayer(users)),
            lifespan=_closing(db, users.close, store.close),
        )
        return cookieguard.CookieGuard(api, store=store, secret_key=secret, users=users)
    db.close()
    raise SystemExit(
        f"BENCH_SECURITY must be none, cookieguard, starsessions or floor: {security!r}"
    )


def create_app() -> Any:
    """The app `BENCH_SECURITY` asks for (uvicorn/granian factory)."""
    return build(
        os.environ.get("BENCH_SECURITY", "none"),
        os.environ["BENCH_DB"],
        os.environ.get("BENCH_STORE", "memory://"),
        os.environ.get("BENCH_SECRET") or secrets.token_urlsafe(32),
    )


def main() -> int:
    """`python app.py adduser cookieguard|starsessions|floor NAME DB`, the password on stdin."""
    return adduser_command("app.py", "starsessions", "floor")


if __name__ == "__main__":
    sys.exit(main())
