import os

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

# was: from starlette.middleware.sessions import SessionMiddleware
from cookieguard.integrations.starlette import SessionMiddleware
from cookieguard.stores import open_store


async def visit(request: Request) -> JSONResponse:
    request.session["visits"] = request.session.get("visits", 0) + 1
    return JSONResponse({"session": request.session})


async def forget(request: Request) -> JSONResponse:
    request.session.clear()  # ends the session: the stored row goes, the cookie expires
    return JSONResponse({"session": request.session})


store = open_store("sqlite:///sessions.db")
# Starlette's arguments, unchanged; `store=` keeps the data on the server (without it, the
# session is signed into the cookie, as with Starlette's middleware).
sessions = Middleware(
    SessionMiddleware,
    secret_key=os.environ.get("SECRET_KEY", "change-me-to-32-random-bytes!!"),
    https_only=False,
    store=store,
)
app = Starlette(
    routes=[Route("/visit", visit, methods=["POST"]), Route("/forget", forget, methods=["POST"])],
    middleware=[sessions],
)
