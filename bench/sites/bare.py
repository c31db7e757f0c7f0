"""The ceiling: the contract's routes with no session, CSRF or login.

The "logged-in" user is whatever the unsigned `uid` cookie says (default "1"), so the bench
can keep the reading user's 10 records apart from the writing user's growing list. Anyone can
be anyone here: this site measures what the routes cost with no security at all.

Run: DB=path uvicorn --factory bare:create_app (see bench/run.py).
"""

from __future__ import annotations

import json
import os

from pages import login_page, records_page
from peerdb import PeerDB, record_text_error
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route


def create_app() -> Starlette:
    db = PeerDB(os.environ["BENCH_DB"])

    def user_of(request: Request) -> str:
        return request.cookies.get("uid", "1")

    async def login_form(request: Request) -> Response:
        return HTMLResponse(login_page("", request.query_params.get("next", "/records")))

    async def login(request: Request) -> Response:
        return RedirectResponse("/records", status_code=303)

    async def logout(request: Request) -> Response:
        return RedirectResponse("/login", status_code=303)

    async def records(request: Request) -> Response:
        user = user_of(request)
        return HTMLResponse(records_page(user, "", db.records(user)))

    async def add_record_form(request: Request) -> Response:
        form = await request.form()
        text = form.get("text")
        if not isinstance(text, str) or record_text_error({"text": text}):
            return HTMLResponse("bad text", status_code=400)
        db.add_record(user_of(request), text)
        return RedirectResponse("/records", status_code=303)

    async def api_records(request: Request) -> Response:
        rows = db.records(user_of(request))
        return JSONResponse([{"id": i, "text": t} for i, t in rows])

    async def api_add(request: Request) -> Response:
        try:
            body = json.loads(await request.body())
        except ValueError:
            return JSONResponse({"error": "body is not JSON"}, status_code=400)
        error = record_text_error(body)
        if error:
            return JSONResponse({"error": error}, status_code=400)
        text = body["text"]
        record_id = db.add_record(user_of(request), text)
        return JSONResponse({"id": record_id, "text": text}, status_code=201)

    return Starlette(
        routes=[
            Route("/login", login_form, methods=["GET"]),
            Route("/login", login, methods=["POST"]),
            Route("/logout", logout, methods=["POST"]),
            Route("/records", records, methods=["GET"]),
            Route("/records", add_record_form, methods=["POST"]),
            Route("/api/records", api_records, methods=["GET"]),
            Route("/api/records", api_add, methods=["POST"]),
        ]
    )
