import asyncio

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from cookieguard import KeyRing, events
from cookieguard.asgi.csrf import CSRFMiddleware, csrf_input
from cookieguard.asgi.session import SessionMiddleware
from cookieguard.auth import (
    AuthConfig,
    AuthMiddleware,
    SQLiteUserStore,
    authenticate,
    default_hasher,
    list_sessions,
    login,
    revoke_all_sessions,
    revoke_other_sessions,
    revoke_session,
)
from cookieguard.config import SessionConfig
from cookieguard.events import EventType, SecurityEvent
from cookieguard.integrations.starlette import requires_login
from cookieguard.stores.sqlite import SQLiteStore

store = SQLiteStore("site.db")
users = SQLiteUserStore("site.db")
alerts: list[SecurityEvent] = []  # in a real site: e-mail the user, page the on-call


async def alert(event: SecurityEvent) -> None:  # sync or async; exceptions are only logged
    if event.type in (EventType.NEW_DEVICE, EventType.LOGIN_THROTTLED):
        alerts.append(event)


events.subscribe(alert)  # every event is also logged by cookieguard.events, never a secret


async def login_page(request: Request) -> Response:
    return HTMLResponse(f'<form method="post">{csrf_input(request)}<input name="username">...')


async def login_post(request: Request) -> Response:
    form = await request.form()
    user = await authenticate(users, form.get("username"), form.get("password"), conn=request)
    if user is None:
        return PlainTextResponse("Wrong username or password", 401)
    await login(request, user)  # ends the oldest sessions beyond the cap
    return PlainTextResponse("Welcome")


@requires_login
async def my_sessions(request: Request) -> Response:
    return JSONResponse(
        [
            {
                "handle": s.handle,  # a key-hash prefix: names the session, is no cookie
                "device": s.device,  # "Firefox on Linux" (cookieguard[devices])
                "network": s.client_address,  # "203.0.113.0/24"
                "last_seen": s.last_seen,
                "current": s.current,
            }
            for s in await list_sessions(request)
        ]
    )


@requires_login
async def revoke(request: Request) -> Response:
    form = await request.form()
    which = form.get("which")
    if which == "others":
        return JSONResponse({"ended": await revoke_other_sessions(request)})
    if which == "all":
        return JSONResponse({"ended": await revoke_all_sessions(request)})
    return JSONResponse({"ended": int(await revoke_session(request, which))})


site = Starlette(
    routes=[
        Route("/login", login_page, methods=["GET"]),
        Route("/login", login_post, methods=["POST"]),
        Route("/sessions", my_sessions),
        Route("/sessions/revoke", revoke, methods=["POST"]),
    ]
)
config = AuthConfig(
    keyring=KeyRing("replace-me-with-32-random-bytes!"), user_store=users, max_sessions_per_user=3
)
app = SessionMiddleware(
    CSRFMiddleware(AuthMiddleware(site, config)),
    store,
    SessionConfig(client_address="truncated"),  # or "full", or "none"
)

if __name__ == "__main__":  # python examples/session_centre.py: create the user alice
    asyncio.run(users.create_user("alice", default_hasher().hash("correct horse battery")))
