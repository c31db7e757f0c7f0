import asyncio
import html

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from cookieguard import (
    AuthConfig,
    AuthMiddleware,
    CSRFMiddleware,
    KeyRing,
    SessionMiddleware,
    SQLiteUserStore,
    authenticate,
    csrf_input,
    get_user_id,
    login,
    logout,
    open_store,
)
from cookieguard.auth import default_hasher

users = SQLiteUserStore("example.db")
store = open_store("sqlite:///example.db")
api = FastAPI()


@api.get("/", response_class=HTMLResponse)
async def home(request: Request) -> str:
    user_id = get_user_id(request)  # from the session: no database query
    if user_id is None:
        return f"""<form method="post" action="/login">{csrf_input(request)}
            <input name="username"> <input name="password" type="password">
            <button>Log in</button></form>"""
    return f"""<p>Hello, user {html.escape(user_id)}</p>
        <form method="post" action="/logout">{csrf_input(request)}<button>Log out</button></form>"""


@api.post("/login")
async def do_login(request: Request) -> RedirectResponse:
    form = await request.form()
    user = await authenticate(users, form.get("username"), form.get("password"))
    if user is not None:
        await login(request, user)  # new session id, new CSRF secret
    return RedirectResponse("/", status_code=303)


@api.post("/logout")
async def do_logout(request: Request) -> RedirectResponse:
    await logout(request)  # session deleted server-side, cookie cleared
    return RedirectResponse("/", status_code=303)


auth = AuthConfig(keyring=KeyRing("change-me-to-a-long-random-secret"), user_store=users)
app = SessionMiddleware(CSRFMiddleware(AuthMiddleware(api, auth)), store)

if __name__ == "__main__":  # create a user once, then: uvicorn quickstart_fastapi:app
    asyncio.run(users.create_user("alice", default_hasher().hash("correct horse")))
