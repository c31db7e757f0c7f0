"""The Starlette stack people assemble today: starsessions + starlette-csrf.

Sessions in starsessions' memory or Redis store (env BENCH_STORE: memory:// or a redis:// URL),
CSRF by starlette-csrf's signed double-submit cookie (it reads the token from the
`X-CSRFToken` header only, so the bench client sends the header with its form posts too).
Login regenerates the session id, as starsessions documents.
"""

from __future__ import annotations

import json
import os
import secrets

from pages import login_page, records_page
from peerdb import PeerDB, record_text_error
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette_csrf import CSRFMiddleware
from starsessions import (
    InMemoryStore,
    SessionAutoloadMiddleware,
    SessionMiddleware,
    SessionStore,
    regenerate_session_id,
)
from starsessions.stores.redis import RedisStore


def _store(url: str) -> SessionStore:
    if url.startswith("memory://"):
        return InMemoryStore()
    if url.startswith("redis://"):
        prefix = os.environ.get("BENCH_REDIS_PREFIX", "bench-starsessions:")
        return RedisStore(url, prefix=prefix)
    raise SystemExit(f"unsupported store {url!r}")


def _safe_next(value: str | None) -> str:
    if value and value.startswith("/") and not value.startswith(("//", "/\\")):
        return value
    return "/records"


def create_app() -> Starlette:
    db = PeerDB(os.environ["BENCH_DB"])
    secret = os.environ.get("BENCH_SECRET") or secrets.token_urlsafe(32)

    def token(request: Request) -> str:
        # starlette-csrf sets its cookie on the response only when the request has none; a
        # fresh form before that has nothing to embed, which is why its docs use the header.
        return request.cookies.get("csrftoken", "")

    async def login_form(request: Request) -> Response:
        return HTMLResponse(
            login_page(token(request), _safe_next(request.query_params.get("next")))
        )

    async def login(request: Request) -> Response:
        form = await request.form()
        username, password = form.get("username"), form.get("password")
        user_id = None
        if isinstance(username, str) and isinstance(password, str):
            user_id = db.authenticate(username, password)
        if user_id is None:
            page = login_page(token(request), "/records", "Wrong username or password.")
            return HTMLResponse(page, status_code=200)
        regenerate_session_id(request)
        request.session.clear()
        request.session["user_id"] = user_id
        request.session["username"] = username
        next_url = form.get("next")
        return RedirectResponse(_safe_next(next_url if isinstance(next_url, str) else None), 303)

    async def logout(request: Request) -> Response:
        request.session.clear()
        return RedirectResponse("/login", status_code=303)

    async def records(request: Request) -> Response:
        user_id = request.session.get("user_id")
        if user_id is None:
            return RedirectResponse("/login?next=/records", status_code=303)
        page = records_page(request.session["username"], token(request), db.records(user_id))
        return HTMLResponse(page)

    async def add_record_form(request: Request) -> Response:
        user_id = request.session.get("user_id")
        if user_id is None:
            return RedirectResponse("/login?next=/records", status_code=303)
        form = await request.form()
        text = form.get("text")
        error = record_text_error({"text": text})
        if error or not isinstance(text, str):
            rows = db.records(user_id)
            page = records_page(request.session["username"], token(request), rows, error)
            return HTMLResponse(page, status_code=400)
        db.add_record(user_id, text)
        return RedirectResponse("/records", status_code=303)

    async def api_records(request: Request) -> Response:
        user_id = request.session.get("user_id")
        if user_id is None:
            return JSONResponse({"error": "not logged in"}, status_code=401)
        return JSONResponse([{"id": i, "text": t} for i, t in db.records(user_id)])

    async def api_add(request: Request) -> Response:
        user_id = request.session.get("user_id")
        if user_id is None:
            return JSONResponse({"error": "not logged in"}, status_code=401)
        try:
            body = json.loads(await request.body())
        except ValueError:
            return JSONResponse({"error": "body is not JSON"}, status_code=400)
        error = record_text_error(body)
        if error:
            return JSONResponse({"error": error}, status_code=400)
        text = body["text"]
        return JSONResponse({"id": db.add_record(user_id, text), "text": text}, status_code=201)

    return Starlette(
        routes=[
            Route("/login", login_form, methods=["GET"]),
            Route("/login", login, methods=["POST"]),
            Route("/logout", logout, methods=["POST"]),
            Route("/records", records, methods=["GET"]),
            Route("/records", add_record_form, methods=["POST"]),
            Route("/api/records", api_records, methods=["GET"]),
            Route("/api/records", api_add, methods=["POST"]),
        ],
        middleware=[
            Middleware(
                SessionMiddleware,
                store=_store(os.environ.get("BENCH_STORE", "memory://")),
                cookie_name="sessionid",
                cookie_https_only=False,
                lifetime=14 * 24 * 3600,
            ),
            Middleware(SessionAutoloadMiddleware),
            Middleware(CSRFMiddleware, secret=secret, cookie_name="csrftoken"),
        ],
    )
